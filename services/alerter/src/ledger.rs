//! The delivery ledger: which (subscription, story) pairs and which (subscription, story
//! cluster) pairs were alerted, ever, and how many stories of each recent cluster the alerter
//! has seen (for `cluster_size`). SQLite in WAL mode at `<data_dir>/alerter.db`, so the answers
//! survive restarts and redeliveries.
//!
//! Cluster membership is bounded: at most `max_tracked_cluster_stories` (story, cluster) rows
//! are kept; the oldest are dropped first, so a cluster not seen for a long time starts counting
//! again from the stories still kept.
//!
//! The alerter checks the ledger before delivering and records right after a successful
//! delivery. A crash between the two re-delivers once after restart; receivers deduplicate on
//! `X-Wirewatch-Delivery` (the alert id, which is deterministic).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use wirewatch_proto::v1::Alert;
use wirewatch_runtime::http::ReadyCheck;

use crate::error::AlerterError;

/// Schema version kept in `PRAGMA user_version`.
/// Version 2 added `cluster_alerts` and `cluster_stories`; version 3 the subscriptions table,
/// the outbox of alerts decided but not yet delivered, the matches held for digests and rate
/// limits, the rate-limit windows, and `delivered.status` (older databases upgrade in place).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: [&str; 9] = [
    "CREATE TABLE IF NOT EXISTS delivered (
    subscription_id TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    alert_id        TEXT NOT NULL,
    delivered_at    TEXT NOT NULL,
    alert_json      TEXT NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS cluster_alerts (
    subscription_id TEXT NOT NULL,
    cluster_id      TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    PRIMARY KEY (subscription_id, cluster_id)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS cluster_stories (
    cluster_id TEXT NOT NULL,
    story_id   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, story_id)
) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS cluster_stories_seq ON cluster_stories (seq)",
    "CREATE TABLE IF NOT EXISTS subscriptions (
    id         TEXT PRIMARY KEY,
    spec_json  TEXT NOT NULL,
    source     TEXT NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        TEXT NOT NULL UNIQUE,
    subscription_id TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    severity        INTEGER,
    alert_json      TEXT NOT NULL,
    created_at      TEXT NOT NULL
)",
    "CREATE INDEX IF NOT EXISTS outbox_subscription ON outbox (subscription_id, seq)",
    "CREATE TABLE IF NOT EXISTS held (
    subscription_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    window_start    INTEGER NOT NULL,
    story_id        TEXT NOT NULL,
    item_json       TEXT NOT NULL,
    PRIMARY KEY (subscription_id, kind, window_start, story_id)
) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS rate_windows (
    subscription_id TEXT NOT NULL,
    window_start    INTEGER NOT NULL,
    sent            INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, window_start)
) WITHOUT ROWID",
];

/// How often (in new cluster rows) the cluster table is trimmed to its bound.
const TRIM_EVERY: u64 = 256;

/// Default bound on (cluster, story) rows kept for `cluster_size`.
pub const DEFAULT_MAX_CLUSTER_ROWS: u64 = 200_000;

/// The ledger. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Ledger {
    pub(crate) pool: SqlitePool,
    /// Serialises write transactions of this process (SQLite has one writer; taking turns
    /// here avoids busy errors when a read transaction would have to upgrade).
    pub(crate) write: std::sync::Arc<tokio::sync::Mutex<()>>,
    path: PathBuf,
    max_cluster_rows: u64,
    inserted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Ledger {
    /// Open (creating if needed) `<data_dir>/alerter.db`, keeping the default bound on
    /// cluster membership rows.
    pub async fn open(data_dir: &Path) -> Result<Self, AlerterError> {
        Self::open_with(data_dir, DEFAULT_MAX_CLUSTER_ROWS).await
    }

    /// Open `<data_dir>/alerter.db`, keeping at most `max_cluster_rows` (cluster, story) rows.
    pub async fn open_with(data_dir: &Path, max_cluster_rows: u64) -> Result<Self, AlerterError> {
        let path = data_dir.join("alerter.db");
        let fail = |reason: String| AlerterError::LedgerOpen {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", data_dir.display())))?;
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(fail(format!(
                "schema version {version} is newer than this alerter's ({SCHEMA_VERSION})"
            )));
        }
        for stmt in SCHEMA {
            sqlx::query(stmt)
                .execute(&pool)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        // `delivered.status`: `pending` (in the outbox), `delivered`, `held` (waiting for a
        // digest or summary), `failed` (dead-lettered). Rows of older versions were delivered.
        let has_status: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('delivered') WHERE name = 'status'",
        )
        .fetch_one(&pool)
        .await
        .map_err(|e| fail(e.to_string()))?;
        if has_status == 0 {
            sqlx::query(
                "ALTER TABLE delivered ADD COLUMN status TEXT NOT NULL DEFAULT 'delivered'",
            )
            .execute(&pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        }
        sqlx::query(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .execute(&pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            pool,
            path,
            max_cluster_rows: max_cluster_rows.max(1),
            inserted: Default::default(),
            write: Default::default(),
        })
    }

    /// Note that `story_id` belongs to `cluster_id` (idempotent) and return how many stories
    /// of the cluster are known, this one included.
    pub async fn see_cluster_story(
        &self,
        cluster_id: &str,
        story_id: &str,
    ) -> Result<u64, AlerterError> {
        let err = |source| AlerterError::Ledger {
            op: "cluster size",
            subscription: String::new(),
            story_id: story_id.into(),
            source,
        };
        let done = sqlx::query(
            "INSERT INTO cluster_stories (cluster_id, story_id, seq)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cluster_stories))
             ON CONFLICT (cluster_id, story_id) DO NOTHING",
        )
        .bind(cluster_id)
        .bind(story_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        if done.rows_affected() > 0 {
            let n = self
                .inserted
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_multiple_of(TRIM_EVERY) {
                self.trim_clusters().await.map_err(err)?;
            }
        }
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM cluster_stories WHERE cluster_id = ?1")
                .bind(cluster_id)
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0).max(1))
    }

    /// Drop the oldest cluster rows beyond the bound.
    async fn trim_clusters(&self) -> Result<(), sqlx::Error> {
        let keep = i64::try_from(self.max_cluster_rows).unwrap_or(i64::MAX);
        sqlx::query(
            "DELETE FROM cluster_stories WHERE seq <= (SELECT MAX(seq) FROM cluster_stories) - ?1",
        )
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rows in the cluster membership table (for tests and diagnostics).
    pub async fn cluster_rows(&self) -> Result<u64, AlerterError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cluster_stories")
            .fetch_one(&self.pool)
            .await
            .map_err(|source| AlerterError::Ledger {
                op: "cluster rows",
                subscription: String::new(),
                story_id: String::new(),
                source,
            })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The story already alerted for (subscription, cluster), if any.
    pub async fn cluster_alerted(
        &self,
        subscription_id: &str,
        cluster_id: &str,
    ) -> Result<Option<String>, AlerterError> {
        sqlx::query_scalar(
            "SELECT story_id FROM cluster_alerts WHERE subscription_id = ?1 AND cluster_id = ?2",
        )
        .bind(subscription_id)
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|source| AlerterError::Ledger {
            op: "cluster lookup",
            subscription: subscription_id.into(),
            story_id: String::new(),
            source,
        })
    }

    /// The alert delivered for (subscription, story), if any. `Ok(Some(None))` when the pair
    /// was delivered but its stored alert no longer decodes.
    pub async fn lookup(
        &self,
        subscription_id: &str,
        story_id: &str,
    ) -> Result<Option<Option<Alert>>, AlerterError> {
        let row = sqlx::query(
            "SELECT alert_json FROM delivered WHERE subscription_id = ?1 AND story_id = ?2",
        )
        .bind(subscription_id)
        .bind(story_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|source| AlerterError::Ledger {
            op: "lookup",
            subscription: subscription_id.into(),
            story_id: story_id.into(),
            source,
        })?;
        Ok(row.map(|r| {
            r.try_get::<String, _>(0)
                .ok()
                .and_then(|j| serde_json::from_str::<Alert>(&j).ok())
        }))
    }

    /// Close the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl ReadyCheck for Ledger {
    fn name(&self) -> String {
        "alerter-ledger".into()
    }

    async fn ready(&self) -> Result<(), String> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn counts_cluster_stories_idempotently_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open_with(dir.path(), 300).await.unwrap();
        assert_eq!(l.see_cluster_story("c1", "a").await.unwrap(), 1);
        assert_eq!(l.see_cluster_story("c1", "b").await.unwrap(), 2);
        // A redelivered story is not counted twice.
        assert_eq!(l.see_cluster_story("c1", "b").await.unwrap(), 2);
        assert_eq!(l.see_cluster_story("c2", "a").await.unwrap(), 1);
        for i in 0..600 {
            l.see_cluster_story(&format!("x{i}"), "s").await.unwrap();
        }
        // Trimmed every TRIM_EVERY inserts: never more than bound + TRIM_EVERY rows.
        let rows = l.cluster_rows().await.unwrap();
        assert!(rows <= 300 + TRIM_EVERY, "{rows} rows");
        // The oldest cluster was dropped first.
        assert_eq!(l.see_cluster_story("c1", "c").await.unwrap(), 1);
        l.close().await;
        // Survives a reopen.
        let l = Ledger::open_with(dir.path(), 300).await.unwrap();
        assert_eq!(l.see_cluster_story("x599", "t").await.unwrap(), 2);
    }
}
