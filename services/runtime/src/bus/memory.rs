//! The in-process bus: one bounded channel per subscriber, fan-out per topic.
//!
//! Subscribers must be created before anything is published (a topic with no subscriber drops
//! its messages, as a Kafka topic nobody reads would keep them unread). Acknowledgement is a
//! no-op: in one process there is nothing to redeliver from; graceful shutdown drains each
//! stage in pipeline order instead (see [`super::Subscriber::next`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::Topic;

use super::{BusError, Delivery, Publisher, Record, Subscriber};
use crate::metrics;

/// The in-process bus. Cheap to clone.
#[derive(Clone)]
pub struct MemoryBus {
    prefix: String,
    capacity: usize,
    routes: Arc<Mutex<HashMap<Topic, Vec<mpsc::Sender<Delivery>>>>>,
    seq: Arc<AtomicI64>,
}

impl MemoryBus {
    /// A bus whose channels hold `capacity` messages each.
    pub fn new(prefix: &str, capacity: usize) -> Self {
        Self {
            prefix: prefix.to_string(),
            capacity: capacity.max(1),
            routes: Arc::default(),
            seq: Arc::default(),
        }
    }

    /// A subscriber receiving every message published on `topics` from now on. It counts
    /// nothing in `wirewatch_bus_messages_consumed_total`: stages use [`Self::subscribe_for`].
    pub fn subscribe(&self, topics: &[Topic]) -> MemorySubscriber {
        self.subscriber(None, topics)
    }

    /// A subscriber for `stage`: as [`Self::subscribe`], and each message handed out counts in
    /// `wirewatch_bus_messages_consumed_total{stage,topic}`, as with Kafka.
    pub fn subscribe_for(&self, stage: &'static str, topics: &[Topic]) -> MemorySubscriber {
        self.subscriber(Some(stage), topics)
    }

    fn subscriber(&self, stage: Option<&'static str>, topics: &[Topic]) -> MemorySubscriber {
        let (tx, rx) = mpsc::channel(self.capacity);
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        for t in topics {
            routes.entry(*t).or_default().push(tx.clone());
        }
        MemorySubscriber { rx, stage }
    }

    /// A publisher for `stage` (the name labels the blocked-time metric).
    pub fn publisher(&self, stage: &'static str) -> MemoryPublisher {
        metrics::bus().blocked_seconds.with_label_values(&[stage]);
        metrics::bus().publish_seconds.with_label_values(&[stage]);
        MemoryPublisher {
            bus: self.clone(),
            stage,
        }
    }
}

/// Publishes into a [`MemoryBus`].
#[derive(Clone)]
pub struct MemoryPublisher {
    bus: MemoryBus,
    stage: &'static str,
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, record: Record) -> Result<(), BusError> {
        let senders = {
            let routes = self.bus.routes.lock().unwrap_or_else(|e| e.into_inner());
            routes.get(&record.topic).cloned().unwrap_or_default()
        };
        let offset = self.bus.seq.fetch_add(1, Ordering::Relaxed);
        let delivery = Delivery {
            topic: record.topic,
            topic_name: record.topic.name(&self.bus.prefix),
            partition: None,
            offset: Some(offset),
            key: Some(record.key.into_bytes()),
            payload: record.payload,
            headers: record.headers,
        };
        let publish_start = Instant::now();
        for tx in senders {
            let start = Instant::now();
            match tx.try_send(delivery.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(d)) => {
                    // Backpressure: wait for the consumer, and count the time spent blocked.
                    tx.send(d).await.map_err(|_| BusError::Closed)?;
                    metrics::bus()
                        .blocked_seconds
                        .with_label_values(&[self.stage])
                        .inc_by(start.elapsed().as_secs_f64());
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    // The subscriber has stopped (shutdown); nothing is waiting for this topic.
                }
            }
        }
        metrics::bus()
            .produced
            .with_label_values(&[self.stage, record.topic.suffix()])
            .inc();
        metrics::bus()
            .publish_seconds
            .with_label_values(&[self.stage])
            .observe(publish_start.elapsed().as_secs_f64());
        Ok(())
    }

    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Receives from a [`MemoryBus`].
pub struct MemorySubscriber {
    rx: mpsc::Receiver<Delivery>,
    /// Stage label of the consumed-messages counter (`None`: not counted).
    stage: Option<&'static str>,
}

impl MemorySubscriber {
    fn counted(&self, m: Option<Delivery>) -> Option<Delivery> {
        if let (Some(stage), Some(d)) = (self.stage, &m) {
            metrics::bus()
                .consumed
                .with_label_values(&[stage, d.topic.suffix()])
                .inc();
        }
        m
    }
}

#[async_trait]
impl Subscriber for MemorySubscriber {
    async fn next(&mut self, shutdown: &CancellationToken) -> Result<Option<Delivery>, BusError> {
        if shutdown.is_cancelled() {
            // Draining: hand out what is queued, then stop.
            let m = self.rx.try_recv().ok();
            return Ok(self.counted(m));
        }
        // A record already queued needs no wait (and no shutdown listener registered and
        // dropped again for each one).
        if let Ok(m) = self.rx.try_recv() {
            return Ok(self.counted(Some(m)));
        }
        let m = tokio::select! {
            m = self.rx.recv() => m,
            _ = shutdown.cancelled() => self.rx.try_recv().ok(),
        };
        Ok(self.counted(m))
    }

    fn ack(&mut self, _delivery: &Delivery) -> Result<(), BusError> {
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: Topic, key: &str) -> Record {
        Record {
            topic,
            key: key.into(),
            payload: b"{}".to_vec(),
            headers: vec![],
        }
    }

    #[tokio::test]
    async fn fans_out_and_drains_on_shutdown() {
        let bus = MemoryBus::new("t", 4);
        let mut a = bus.subscribe(&[Topic::StoriesEnriched]);
        let mut b = bus.subscribe(&[Topic::StoriesEnriched, Topic::Alerts]);
        let p = bus.publisher("test");
        p.publish(rec(Topic::StoriesEnriched, "k1")).await.unwrap();
        p.publish(rec(Topic::Alerts, "k2")).await.unwrap();
        let stop = CancellationToken::new();
        stop.cancel();
        // Cancelled, but queued messages are still handed out.
        let m = a.next(&stop).await.unwrap().unwrap();
        assert_eq!(m.topic_name, "t.stories.enriched.v1");
        assert!(a.next(&stop).await.unwrap().is_none());
        assert_eq!(b.next(&stop).await.unwrap().unwrap().key.unwrap(), b"k1");
        assert_eq!(b.next(&stop).await.unwrap().unwrap().key.unwrap(), b"k2");
        assert!(b.next(&stop).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn stage_subscribers_count_consumed_messages() {
        let bus = MemoryBus::new("t", 4);
        let mut s = bus.subscribe_for("test-consumed", &[Topic::StoriesLinks]);
        let p = bus.publisher("test");
        p.publish(rec(Topic::StoriesLinks, "k")).await.unwrap();
        p.publish(rec(Topic::StoriesLinks, "k")).await.unwrap();
        let stop = CancellationToken::new();
        stop.cancel();
        while s.next(&stop).await.unwrap().is_some() {}
        let c = metrics::bus()
            .consumed
            .with_label_values(&["test-consumed", "stories.links"])
            .get();
        assert_eq!(c, 2);
    }

    #[tokio::test]
    async fn full_channel_blocks_publisher() {
        let bus = MemoryBus::new("t", 1);
        let mut s = bus.subscribe(&[Topic::StoriesRaw]);
        let p = bus.publisher("test");
        p.publish(rec(Topic::StoriesRaw, "1")).await.unwrap();
        let p2 = p.clone();
        let second = tokio::spawn(async move { p2.publish(rec(Topic::StoriesRaw, "2")).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "publisher must block while the channel is full"
        );
        let stop = CancellationToken::new();
        s.next(&stop).await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(s.next(&stop).await.unwrap().unwrap().key.unwrap(), b"2");
    }
}
