//! The `[store]` config section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where and how the store keeps its database, and for how long.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`). When set, the store uses
    /// PostgreSQL and ignores `path` and `busy_timeout_ms`; when absent, it uses the SQLite
    /// file at `path`. Holds a password: never logged.
    pub url: Option<String>,
    /// SQLite database file. Default: `<data_dir>/store.db`. Its directory is created if
    /// missing.
    pub path: Option<PathBuf>,
    /// Most connections in the pool (writes are serialised by SQLite; extra connections serve
    /// API reads concurrently with the sink in WAL mode). At least 1.
    pub max_connections: u32,
    /// How long a statement waits for another connection's write lock before failing with
    /// `SQLITE_BUSY` (the sink then retries the message).
    pub busy_timeout_ms: u64,
    /// How long a caller waits for a free pool connection before giving up (retryable).
    pub acquire_timeout_ms: u64,
    /// Most stories written in one transaction by [`crate::StoreSink::process_batch`] and
    /// [`crate::Store::upsert_stories`] (bigger batches amortise commits; at least 1).
    pub batch_max_rows: usize,
    /// Delete stories older than this many days (by published time, or fetch time when
    /// undated), and links, alerts, feed-health events and dead letters older than it.
    /// 0 keeps everything.
    pub retention_days: u32,
    /// Per-topic retention in days, overriding `retention_days` for stories with that topic
    /// id (a story with several overridden topics is kept for the longest; 0 keeps it).
    pub retention_topic_days: BTreeMap<String, u32>,
    /// Seconds between retention passes.
    pub retention_interval_secs: u64,
    /// Rows deleted per retention transaction: small batches keep the write lock short so
    /// ingestion is never blocked for long.
    pub retention_batch_rows: u32,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("path", &self.path)
            .field("max_connections", &self.max_connections)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("batch_max_rows", &self.batch_max_rows)
            .field("retention_days", &self.retention_days)
            .field("retention_topic_days", &self.retention_topic_days)
            .field("retention_interval_secs", &self.retention_interval_secs)
            .field("retention_batch_rows", &self.retention_batch_rows)
            .finish()
    }
}

pub use wirewatch_runtime::config::redact_url;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            path: None,
            max_connections: 4,
            busy_timeout_ms: 5_000,
            acquire_timeout_ms: 10_000,
            batch_max_rows: 500,
            retention_days: 0,
            retention_topic_days: BTreeMap::new(),
            retention_interval_secs: 3_600,
            retention_batch_rows: 1_000,
        }
    }
}

impl StoreConfig {
    /// Whether `url` selects PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    /// The database file: `path`, or `<data_dir>/store.db`.
    pub fn db_path(&self, data_dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| data_dir.join("store.db"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_under_data_dir() {
        let c = StoreConfig::default();
        assert_eq!(c.db_path(Path::new("/d")), PathBuf::from("/d/store.db"));
        let c = StoreConfig {
            path: Some("/x/y.db".into()),
            ..StoreConfig::default()
        };
        assert_eq!(c.db_path(Path::new("/d")), PathBuf::from("/x/y.db"));
    }

    #[test]
    fn rejects_unknown_keys() {
        let e = serde_json::from_str::<StoreConfig>(r#"{"max_conections": 2}"#);
        assert!(e.is_err());
        let c: StoreConfig = serde_json::from_str(r#"{"max_connections": 2}"#).unwrap();
        assert_eq!(c.max_connections, 2);
        assert_eq!(c.busy_timeout_ms, 5_000);
        let c: StoreConfig = serde_json::from_str(
            r#"{"url": "postgres://u:secret@db:5432/w?sslmode=require", "retention_topic_days": {"weather": 7}}"#,
        )
        .unwrap();
        assert!(c.is_postgres());
        assert_eq!(c.retention_topic_days["weather"], 7);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("postgres://u:***@db:5432/w"), "{dbg}");
        assert!(!StoreConfig::default().is_postgres());
    }
}
