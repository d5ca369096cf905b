//! Kafka bus over rdkafka.
//!
//! Producer: `enable.idempotence=true`, `acks=all`; [`Publisher::publish`] awaits the broker's
//! acknowledgement. Consumer: `enable.auto.commit=false`, `enable.auto.offset.store=false`;
//! [`Subscriber::ack`] stores `offset + 1` for the message's partition, and stored offsets are
//! committed (whole consumer state) every `commit_interval_ms`, before partitions are revoked,
//! and on shutdown. A crash therefore redelivers at most the messages since the last commit:
//! at-least-once, made harmless by idempotent sinks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::Topic;

use super::{BusError, Delivery, Publisher, Record, Subscriber};
use crate::config::{BusConfig, KafkaConfig};
use crate::metrics;

fn base_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers);
    c
}

fn apply_passthrough(c: &mut ClientConfig, extra: &BTreeMap<String, String>) {
    for (k, v) in extra {
        c.set(k, v);
    }
}

/// Idempotent Kafka producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    prefix: String,
    stage: &'static str,
    timeout: Duration,
}

impl KafkaPublisher {
    /// Create a producer for `stage`.
    pub fn new(bus: &BusConfig, stage: &'static str) -> Result<Self, BusError> {
        let k = &bus.kafka;
        let mut c = base_config(k);
        c.set("client.id", format!("wirewatch-{stage}"))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", k.delivery_timeout_ms.to_string());
        apply_passthrough(&mut c, &k.librdkafka);
        let producer: FutureProducer = c
            .create()
            .map_err(|e| BusError::Config(format!("producer: {e}")))?;
        Ok(Self {
            producer,
            prefix: bus.topic_prefix.clone(),
            stage,
            timeout: Duration::from_millis(k.delivery_timeout_ms),
        })
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, record: Record) -> Result<(), BusError> {
        let topic = record.topic.name(&self.prefix);
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (k, v) in &record.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let fr = FutureRecord::to(&topic)
            .key(&record.key)
            .payload(&record.payload)
            .headers(headers);
        let start = Instant::now();
        let res = self.producer.send(fr, self.timeout).await;
        metrics::bus()
            .publish_seconds
            .with_label_values(&[self.stage])
            .observe(start.elapsed().as_secs_f64());
        match res {
            Ok(_) => {
                metrics::bus()
                    .produced
                    .with_label_values(&[self.stage, record.topic.suffix()])
                    .inc();
                Ok(())
            }
            Err((e, _)) => {
                metrics::bus()
                    .errors
                    .with_label_values(&[self.stage, "produce"])
                    .inc();
                Err(BusError::Delivery {
                    topic,
                    reason: e.to_string(),
                })
            }
        }
    }

    async fn ready(&self) -> Result<(), String> {
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            p.client()
                .fetch_metadata(None, Duration::from_secs(3))
                .map(|_| ())
                .map_err(|e| format!("kafka metadata: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Commits the consumer state before partitions are taken away, so the next owner starts
/// right after what this member finished.
pub struct CommitOnRevoke;

impl ClientContext for CommitOnRevoke {}

impl ConsumerContext for CommitOnRevoke {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if tpl.count() > 0 {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) => tracing::info!(partitions = tpl.count(), "committed on revoke"),
                    Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(e) => tracing::warn!(error = %e, "commit on revoke failed"),
                }
            }
        }
    }
}

/// A consumer-group member.
pub struct KafkaSubscriber {
    consumer: StreamConsumer<CommitOnRevoke>,
    prefix: String,
    topics: Vec<Topic>,
    stage: &'static str,
    commit_every: Duration,
    last_commit: Instant,
    dirty: bool,
}

impl KafkaSubscriber {
    /// Join group `<group_prefix>.<group>` and subscribe to `topics`.
    pub fn new(
        bus: &BusConfig,
        stage: &'static str,
        group: &str,
        topics: &[Topic],
    ) -> Result<Self, BusError> {
        let k = &bus.kafka;
        let mut c = base_config(k);
        c.set("group.id", format!("{}.{group}", k.group_prefix))
            .set("client.id", format!("wirewatch-{stage}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", k.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (k.session_timeout_ms / 3).max(100).to_string(),
            );
        apply_passthrough(&mut c, &k.librdkafka);
        let consumer: StreamConsumer<CommitOnRevoke> = c
            .create_with_context(CommitOnRevoke)
            .map_err(|e| BusError::Config(format!("consumer: {e}")))?;
        let names: Vec<String> = topics.iter().map(|t| t.name(&bus.topic_prefix)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| BusError::Config(format!("subscribe {names:?}: {e}")))?;
        Ok(Self {
            consumer,
            prefix: bus.topic_prefix.clone(),
            topics: topics.to_vec(),
            stage,
            commit_every: Duration::from_millis(k.commit_interval_ms),
            last_commit: Instant::now(),
            dirty: false,
        })
    }

    fn topic_of(&self, name: &str) -> Option<Topic> {
        self.topics
            .iter()
            .copied()
            .find(|t| t.name(&self.prefix) == name)
    }

    fn commit_if_due(&mut self) {
        if self.dirty && self.last_commit.elapsed() >= self.commit_every {
            match self.consumer.commit_consumer_state(CommitMode::Async) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!(stage = self.stage, error = %e, "periodic commit failed"),
            }
            self.dirty = false;
            self.last_commit = Instant::now();
        }
    }
}

#[async_trait]
impl Subscriber for KafkaSubscriber {
    async fn next(&mut self, shutdown: &CancellationToken) -> Result<Option<Delivery>, BusError> {
        loop {
            self.commit_if_due();
            let recv = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(None),
                r = tokio::time::timeout(self.commit_every, self.consumer.recv()) => r,
            };
            let msg = match recv {
                Err(_elapsed) => continue, // no message: loop to commit if due
                Ok(Ok(m)) => m,
                Ok(Err(e)) => {
                    metrics::bus()
                        .errors
                        .with_label_values(&[self.stage, "consume"])
                        .inc();
                    return Err(BusError::Consume {
                        topics: format!("{:?}", self.topics),
                        reason: e.to_string(),
                    });
                }
            };
            let Some(topic) = self.topic_of(msg.topic()) else {
                tracing::warn!(topic = msg.topic(), "message from unexpected topic");
                continue;
            };
            let headers = msg
                .headers()
                .map(|hs| {
                    hs.iter()
                        .filter_map(|h| {
                            let v = std::str::from_utf8(h.value?).ok()?;
                            Some((h.key.to_string(), v.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            metrics::bus()
                .consumed
                .with_label_values(&[self.stage, topic.suffix()])
                .inc();
            return Ok(Some(Delivery {
                topic,
                topic_name: msg.topic().to_string(),
                partition: Some(msg.partition()),
                offset: Some(msg.offset()),
                key: msg.key().map(<[u8]>::to_vec),
                payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                headers,
            }));
        }
    }

    fn ack(&mut self, d: &Delivery) -> Result<(), BusError> {
        if let (Some(p), Some(o)) = (d.partition, d.offset) {
            self.consumer
                .store_offset(&d.topic_name, p, o + 1)
                .map_err(|e| BusError::Commit(format!("store offset {}: {e}", d.position())))?;
            self.dirty = true;
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                self.dirty = false;
                Ok(())
            }
            Err(e) => Err(BusError::Commit(e.to_string())),
        }
    }
}

/// Create every topic of the contract (`wirewatch topics create`). Topics that already exist
/// are reported, not errors. Returns `(name, outcome)` per topic.
pub async fn create_topics(bus: &BusConfig) -> Result<Vec<(String, String)>, BusError> {
    let k = &bus.kafka;
    let mut c = base_config(k);
    apply_passthrough(&mut c, &k.librdkafka);
    let admin: AdminClient<DefaultClientContext> = c
        .create()
        .map_err(|e| BusError::Config(format!("admin: {e}")))?;
    let names: Vec<String> = Topic::ALL
        .iter()
        .map(|t| t.name(&bus.topic_prefix))
        .collect();
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                k.partitions,
                TopicReplication::Fixed(k.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|e| BusError::Config(format!("create topics: {e}")))?;
    Ok(results
        .into_iter()
        .map(|r| match r {
            Ok(name) => (name, "created".to_string()),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => (name, "exists".to_string()),
            Err((name, code)) => (name, format!("error: {code}")),
        })
        .collect())
}

/// Build the publisher and, for consumers, the subscriber of one stage.
pub fn shared_publisher(
    bus: &BusConfig,
    stage: &'static str,
) -> Result<Arc<KafkaPublisher>, BusError> {
    Ok(Arc::new(KafkaPublisher::new(bus, stage)?))
}
