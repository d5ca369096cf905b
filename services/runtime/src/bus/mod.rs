//! The bus: how stages hand events to each other.
//!
//! One interface, two implementations:
//! - [`kafka`]: rdkafka. Idempotent producer with `acks=all`; consumer groups with
//!   `enable.auto.offset.store=false`: an offset is stored only when the stage acknowledges a
//!   message, after every output of it was delivered; stored offsets are committed every
//!   `commit_interval_ms`, on partition revoke and on shutdown.
//! - [`memory`]: bounded tokio channels for the single-process mode; a full channel blocks
//!   the publisher (backpressure).

pub mod kafka;
pub mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::{cloudevent_headers, Event, Topic};

/// A message to publish.
#[derive(Debug, Clone)]
pub struct Record {
    /// Logical topic; the bus adds prefix and version.
    pub topic: Topic,
    /// Partitioning key.
    pub key: String,
    /// JSON payload.
    pub payload: Vec<u8>,
    /// Headers (CloudEvents attributes and `content-type`).
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// Serialise an event with its CloudEvents headers; `source` is the producing stage.
    pub fn event<E: Event>(event: &E, source: &str) -> Result<Record, BusError> {
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Encode {
            topic: E::TOPIC,
            reason: e.to_string(),
        })?;
        Ok(Record {
            topic: E::TOPIC,
            key: event.key(),
            payload,
            headers: cloudevent_headers(event, &format!("wirewatch/{source}")),
        })
    }
}

/// A received message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Logical topic.
    pub topic: Topic,
    /// Full topic name.
    pub topic_name: String,
    /// Partition (Kafka only).
    pub partition: Option<i32>,
    /// Offset (Kafka) or sequence number (in-process).
    pub offset: Option<i64>,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Headers whose values are UTF-8.
    pub headers: Vec<(String, String)>,
}

impl Delivery {
    /// Decode the JSON payload as `E`. A message that does not decode is poison: retrying
    /// cannot help.
    pub fn decode<E: Event>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// Where this message came from, for logs and errors.
    pub fn position(&self) -> String {
        match (self.partition, self.offset) {
            (Some(p), Some(o)) => format!("{}[{p}]@{o}", self.topic_name),
            (None, Some(o)) => format!("{}@{o}", self.topic_name),
            _ => self.topic_name.clone(),
        }
    }
}

/// Bus errors. `retryable()` says whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The event could not be serialised (a bug; permanent).
    #[error("cannot encode event for {topic}: {reason}")]
    Encode {
        /// Topic.
        topic: Topic,
        /// Serde's message.
        reason: String,
    },
    /// The broker did not confirm delivery (retryable).
    #[error("delivery to {topic} failed: {reason}")]
    Delivery {
        /// Full topic name.
        topic: String,
        /// librdkafka's message.
        reason: String,
    },
    /// Consuming failed (retryable).
    #[error("consume from {topics} failed: {reason}")]
    Consume {
        /// Topics subscribed.
        topics: String,
        /// Reason.
        reason: String,
    },
    /// Committing offsets failed (retryable; the messages will be redelivered at worst).
    #[error("commit failed: {0}")]
    Commit(String),
    /// Client configuration or creation failed (permanent).
    #[error("kafka client config: {0}")]
    Config(String),
    /// The in-process bus was shut down.
    #[error("bus closed")]
    Closed,
}

impl BusError {
    /// Whether retrying the same operation may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            BusError::Delivery { .. } | BusError::Consume { .. } | BusError::Commit(_)
        )
    }
}

/// Publishes records; `publish` returns once the bus confirmed delivery (Kafka: acked by all
/// in-sync replicas; in-process: enqueued for every subscriber).
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publish one record and wait for delivery.
    async fn publish(&self, record: Record) -> Result<(), BusError>;
    /// Whether the bus is reachable (for `/readyz`).
    async fn ready(&self) -> Result<(), String>;
}

/// Receives messages for one consumer group.
#[async_trait]
pub trait Subscriber: Send {
    /// The next message, or `None` once `shutdown` is cancelled (the in-process bus first
    /// drains what is already queued, so that a pipeline can shut down without losing work).
    async fn next(&mut self, shutdown: &CancellationToken) -> Result<Option<Delivery>, BusError>;
    /// Mark a message processed: its offset may be committed. Call only after every output of
    /// the message was delivered.
    fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError>;
    /// Commit acknowledged offsets now (on shutdown).
    async fn commit(&mut self) -> Result<(), BusError>;
}

/// A shared publisher.
pub type SharedPublisher = Arc<dyn Publisher>;
