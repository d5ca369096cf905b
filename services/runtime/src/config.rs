//! Shared configuration sections. Every struct rejects unknown keys and documents each field;
//! `config/wirewatch.toml` is the reference. Defaults live in the `Default` impls, in one place.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info` or `wirewatch_fetcher=debug,info`. `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The HTTP server every process runs: `/metrics`, `/healthz`, `/readyz` (and the store's API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// Maximum time to answer one request.
    pub request_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            request_timeout_ms: 10_000,
        }
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGINT/SIGTERM, how long in-flight work may take before the process gives up.
    pub grace_period_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period_secs: 30,
        }
    }
}

/// The bus between stages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// Prefix of every topic name (`<prefix>.stories.raw.v1`).
    pub topic_prefix: String,
    /// Capacity of each in-process channel (single-process mode); a full channel blocks the
    /// producer (backpressure).
    pub channel_capacity: usize,
    /// Retry delay for a failed publish or a retryable processing error, first attempt.
    pub retry_initial_ms: u64,
    /// Ceiling of the retry delay.
    pub retry_max_ms: u64,
    /// Messages a stage may have processed whose outputs are still being delivered. Acks stay
    /// in order; a larger window hides the broker's round trip (one at a time is ~7 ms each).
    /// 1 is one at a time.
    pub max_in_flight: usize,
    /// Kafka settings (used by `wirewatch serve` and `wirewatch topics`).
    pub kafka: KafkaConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            topic_prefix: wirewatch_proto::DEFAULT_TOPIC_PREFIX.into(),
            channel_capacity: 1024,
            retry_initial_ms: 200,
            retry_max_ms: 30_000,
            max_in_flight: 256,
            kafka: KafkaConfig::default(),
        }
    }
}

/// Kafka client settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Prefix of consumer group ids: a stage's group is `<prefix>.<stage>`.
    pub group_prefix: String,
    /// `session.timeout.ms`: how soon a dead consumer's partitions move to another member.
    pub session_timeout_ms: u64,
    /// How often stored offsets are committed (also on revoke and shutdown).
    pub commit_interval_ms: u64,
    /// How long one publish may wait for delivery before it is retried.
    pub delivery_timeout_ms: u64,
    /// Partitions per topic for `wirewatch topics create`.
    pub partitions: i32,
    /// Replication factor for `wirewatch topics create`.
    pub replication_factor: i32,
    /// How often librdkafka reports statistics (`statistics.interval.ms`), from which
    /// consumer lag per partition (`wirewatch_bus_consumer_lag_messages`) is updated; 0 turns
    /// the statistics off.
    pub statistics_interval_ms: u64,
    /// Producers' `linger.ms`: how long a message may wait to be batched with others. 0 sends
    /// at once (librdkafka still batches what queues up while a request is in flight).
    pub linger_ms: u64,
    /// Consumers' `fetch.wait.max.ms`: how long the broker may hold a fetch that finds no new
    /// data. Brokers that answer only when this expires (nisshi) add it to every hop's latency.
    pub fetch_wait_max_ms: u64,
    /// Any librdkafka option, passed through to producers and consumers
    /// (e.g. `"security.protocol" = "SASL_SSL"`). Wins over the settings above.
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_prefix: "wirewatch".into(),
            session_timeout_ms: 10_000,
            commit_interval_ms: 1_000,
            delivery_timeout_ms: 30_000,
            partitions: 3,
            replication_factor: 1,
            statistics_interval_ms: 5_000,
            linger_ms: 0,
            fetch_wait_max_ms: 10,
            librdkafka: BTreeMap::new(),
        }
    }
}

/// Where stages keep their state (SQLite files) by default.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// A database URL without its password (`postgres://user:***@host/db`), for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{scheme}://{user}:***@{host}{}",
                tail.split('?').next().unwrap_or("")
            )
        }
        None => format!(
            "{scheme}://{authority}{}",
            tail.split('?').next().unwrap_or("")
        ),
    }
}
