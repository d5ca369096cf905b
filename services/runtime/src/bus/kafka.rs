//! Kafka bus over rdkafka.
//!
//! Producer: `enable.idempotence=true`, `acks=all`; [`Publisher::publish`] awaits the broker's
//! acknowledgement. Consumer: `enable.auto.commit=false`, `enable.auto.offset.store=false`;
//! [`Subscriber::ack`] stores the message's offset (librdkafka commits `offset + 1`), and stored offsets are
//! committed (whole consumer state) every `commit_interval_ms`, before partitions are revoked,
//! and on shutdown. A crash therefore redelivers at most the messages since the last commit:
//! at-least-once, made harmless by idempotent sinks.
//!
//! Metrics: consumers enable librdkafka statistics (`bus.kafka.statistics_interval_ms`) and
//! [`StageContext`] turns each report into `wirewatch_bus_consumer_lag_messages` per assigned
//! partition; the producer counts publishes awaiting acknowledgement in
//! `wirewatch_bus_produce_in_flight_messages`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
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
use rdkafka::statistics::Statistics;
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
            .set("linger.ms", k.linger_ms.to_string())
            .set("compression.type", "lz4")
            .set("message.timeout.ms", k.delivery_timeout_ms.to_string());
        apply_passthrough(&mut c, &k.librdkafka);
        let producer: FutureProducer = c
            .create()
            .map_err(|e| BusError::Config(format!("producer: {e}")))?;
        metrics::bus().produce_in_flight.with_label_values(&[stage]);
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
        let in_flight = metrics::bus()
            .produce_in_flight
            .with_label_values(&[self.stage]);
        in_flight.inc();
        let res = self.producer.send(fr, self.timeout).await;
        in_flight.dec();
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
        commit_on_revoke(consumer, rebalance);
    }
}

fn commit_on_revoke<C: ConsumerContext>(consumer: &BaseConsumer<C>, rebalance: &Rebalance<'_>) {
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

/// The context of a stage's consumer: commits on revoke (as [`CommitOnRevoke`]) and turns
/// librdkafka statistics into `wirewatch_bus_consumer_lag_messages{stage,topic,partition}`.
pub struct StageContext {
    stage: &'static str,
    prefix: String,
    /// Series currently exported, so partitions no longer assigned are removed.
    exported: Mutex<BTreeSet<(Topic, i32)>>,
}

impl StageContext {
    /// A context for `stage` whose topics carry `prefix`.
    pub fn new(stage: &'static str, prefix: &str) -> Self {
        Self {
            stage,
            prefix: prefix.to_string(),
            exported: Mutex::default(),
        }
    }

    /// Apply one statistics report: set the lag of every partition assigned to this member,
    /// remove the series of partitions that are not (any more).
    pub fn record_lag(&self, stats: &Statistics) {
        let lags = assigned_lags(stats, &self.prefix);
        let gauge = &metrics::bus().consumer_lag;
        let mut exported = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        for gone in exported.iter().filter(|k| !lags.contains_key(k)) {
            let _ = gauge.remove_label_values(&[self.stage, gone.0.suffix(), &gone.1.to_string()]);
        }
        for (&(topic, partition), &lag) in &lags {
            gauge
                .with_label_values(&[self.stage, topic.suffix(), &partition.to_string()])
                .set(lag);
        }
        *exported = lags.into_keys().collect();
    }
}

/// Lag per (topic, partition) of the partitions this member consumes, from one report.
/// librdkafka lists every partition of the subscribed topics; only those it fetches
/// (`fetch_state` not `none`/`stopped`) count, and the internal partition -1 and topics
/// outside the contract are skipped. See [`partition_lag`] for the value.
pub fn assigned_lags(stats: &Statistics, prefix: &str) -> BTreeMap<(Topic, i32), i64> {
    let mut out = BTreeMap::new();
    for (name, t) in &stats.topics {
        let Some(topic) = Topic::ALL.iter().copied().find(|x| &x.name(prefix) == name) else {
            continue;
        };
        for p in t.partitions.values() {
            tracing::trace!(
                topic = %name,
                partition = p.partition,
                fetch_state = %p.fetch_state,
                consumer_lag = p.consumer_lag,
                hi_offset = p.hi_offset,
                ls_offset = p.ls_offset,
                committed_offset = p.committed_offset,
                app_offset = p.app_offset,
                "kafka partition statistics"
            );
            let fetching = !matches!(p.fetch_state.as_str(), "none" | "stopped" | "");
            if p.partition < 0 || !fetching {
                continue;
            }
            if let Some(lag) = partition_lag(p) {
                out.insert((topic, p.partition), lag);
            }
        }
    }
    out
}

/// The lag of one partition: librdkafka's `consumer_lag` when it has one; otherwise the end
/// of the partition (last stable offset, or the high watermark when the broker reports no
/// stable offset) minus the group's committed offset, or minus the consumer's position
/// before anything was committed. Never negative (some brokers report a high watermark one
/// below the next offset); `None` while neither end nor position is known.
pub fn partition_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    if p.consumer_lag >= 0 {
        return Some(p.consumer_lag);
    }
    let end = if p.ls_offset >= 0 {
        p.ls_offset
    } else {
        p.hi_offset
    };
    let position = if p.committed_offset >= 0 {
        p.committed_offset
    } else {
        p.app_offset
    };
    (end >= 0 && position >= 0).then(|| (end - position).max(0))
}

impl ClientContext for StageContext {
    fn stats(&self, statistics: Statistics) {
        self.record_lag(&statistics);
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        commit_on_revoke(consumer, rebalance);
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts: Vec<String> = tpl
                    .elements()
                    .iter()
                    .map(|e| format!("{}[{}]", e.topic(), e.partition()))
                    .collect();
                tracing::info!(stage = self.stage, partitions = %parts.join(" "), "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(
                    stage = self.stage,
                    count = tpl.count(),
                    "partitions revoked"
                );
            }
            Rebalance::Error(e) => {
                tracing::warn!(stage = self.stage, error = %e, "rebalance error")
            }
        }
    }
}

/// A consumer-group member.
pub struct KafkaSubscriber {
    consumer: StreamConsumer<StageContext>,
    prefix: String,
    topics: Vec<Topic>,
    stage: &'static str,
    commit_every: Duration,
    last_commit: Instant,
    dirty: bool,
    /// Partitions this member has read from, so the first message of each is logged: where a
    /// member resumes is what to check when a restart loses or repeats messages.
    started: std::collections::HashSet<(String, i32)>,
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
            )
            .set(
                "statistics.interval.ms",
                k.statistics_interval_ms.to_string(),
            )
            .set("fetch.wait.max.ms", k.fetch_wait_max_ms.to_string());
        apply_passthrough(&mut c, &k.librdkafka);
        let consumer: StreamConsumer<StageContext> = c
            .create_with_context(StageContext::new(stage, &bus.topic_prefix))
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
            started: std::collections::HashSet::new(),
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
            if self
                .started
                .insert((msg.topic().to_string(), msg.partition()))
            {
                tracing::info!(
                    stage = self.stage,
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    "reading partition from offset"
                );
            }
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
            // rdkafka's `store_offset` calls librdkafka's `rd_kafka_offset_store`, which stores
            // `offset + 1` itself (the next offset to read). Passing `o + 1` here made every
            // restart skip one message per partition — found by the kill -9 test.
            self.consumer
                .store_offset(&d.topic_name, p, o)
                .map_err(|e| BusError::Commit(format!("store offset {}: {e}", d.position())))?;
            tracing::debug!(stage = self.stage, position = %d.position(), "offset stored");
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rdkafka::statistics::{Partition, Topic as TopicStats};

    fn stats(parts: &[(&str, i32, &str, i64)]) -> Statistics {
        let mut s = Statistics::default();
        for &(topic, partition, state, lag) in parts {
            let t = s
                .topics
                .entry(topic.to_string())
                .or_insert_with(|| TopicStats {
                    topic: topic.to_string(),
                    ..TopicStats::default()
                });
            t.partitions.insert(
                partition,
                Partition {
                    partition,
                    fetch_state: state.to_string(),
                    consumer_lag: lag,
                    // librdkafka's "unknown" offset.
                    ls_offset: -1001,
                    hi_offset: -1001,
                    committed_offset: -1001,
                    app_offset: -1001,
                    ..Partition::default()
                },
            );
        }
        s
    }

    #[test]
    fn lag_only_for_fetched_partitions_of_contract_topics() {
        let s = stats(&[
            ("p.stories.raw.v1", 0, "active", 7),
            ("p.stories.raw.v1", 1, "none", 3), // not assigned to this member
            ("p.stories.raw.v1", 2, "active", -1), // lag not known yet
            ("p.stories.raw.v1", -1, "active", 5), // librdkafka's internal partition
            ("other.topic", 0, "active", 9),
        ]);
        let lags = assigned_lags(&s, "p");
        assert_eq!(
            lags.into_iter().collect::<Vec<_>>(),
            vec![((Topic::StoriesRaw, 0), 7)]
        );
    }

    #[test]
    fn lag_without_librdkafka_lag_comes_from_offsets() {
        let p = |lag, ls, hi, committed, app| Partition {
            consumer_lag: lag,
            ls_offset: ls,
            hi_offset: hi,
            committed_offset: committed,
            app_offset: app,
            ..Partition::default()
        };
        // librdkafka's own value wins.
        assert_eq!(partition_lag(&p(5, 100, 100, 95, 97)), Some(5));
        // No stable offset reported: high watermark minus committed.
        assert_eq!(partition_lag(&p(-1, -1001, 40, 30, 35)), Some(10));
        // Nothing committed yet: minus the position.
        assert_eq!(partition_lag(&p(-1, -1001, 40, -1001, 35)), Some(5));
        // A watermark one below the committed offset is no lag, not -1.
        assert_eq!(partition_lag(&p(-1, -1001, 28, 29, 29)), Some(0));
        // Nothing known yet.
        assert_eq!(partition_lag(&p(-1, -1001, -1001, -1001, -1001)), None);
        assert_eq!(partition_lag(&p(-1, -1001, 12, -1001, -1001)), None);
    }

    #[test]
    fn revoked_partitions_lose_their_series() {
        let ctx = StageContext::new("test-lag", "q");
        ctx.record_lag(&stats(&[
            ("q.stories.unique.v1", 0, "active", 4),
            ("q.stories.unique.v1", 1, "active", 2),
        ]));
        let text = metrics::render();
        assert!(text.contains(
            r#"wirewatch_bus_consumer_lag_messages{partition="1",stage="test-lag",topic="stories.unique"} 2"#
        ));
        // Partition 1 moved to another member.
        ctx.record_lag(&stats(&[
            ("q.stories.unique.v1", 0, "active", 0),
            ("q.stories.unique.v1", 1, "none", 2),
        ]));
        let text = metrics::render();
        assert!(text.contains(
            r#"wirewatch_bus_consumer_lag_messages{partition="0",stage="test-lag",topic="stories.unique"} 0"#
        ));
        assert!(!text.contains(r#"partition="1",stage="test-lag""#));
    }
}
