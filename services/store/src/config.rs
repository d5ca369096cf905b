//! The `[store]` config section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where and how the store keeps its SQLite database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database file. Default: `<data_dir>/store.db`. Its directory is created if missing.
    pub path: Option<PathBuf>,
    /// Most connections in the pool (writes are serialised by SQLite; extra connections serve
    /// API reads concurrently with the sink in WAL mode). At least 1.
    pub max_connections: u32,
    /// How long a statement waits for another connection's write lock before failing with
    /// `SQLITE_BUSY` (the sink then retries the message).
    pub busy_timeout_ms: u64,
    /// How long a caller waits for a free pool connection before giving up (retryable).
    pub acquire_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_connections: 4,
            busy_timeout_ms: 5_000,
            acquire_timeout_ms: 10_000,
        }
    }
}

impl StoreConfig {
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
    }
}
