//! The delivery ledger: which (subscription, story) pairs were alerted, ever. SQLite in WAL
//! mode at `<data_dir>/alerter.db`, so the answer survives restarts and redeliveries.
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
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS delivered (
    subscription_id TEXT NOT NULL,
    story_id        TEXT NOT NULL,
    alert_id        TEXT NOT NULL,
    delivered_at    TEXT NOT NULL,
    alert_json      TEXT NOT NULL,
    PRIMARY KEY (subscription_id, story_id)
) WITHOUT ROWID";

/// The ledger. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: SqlitePool,
    path: PathBuf,
}

impl Ledger {
    /// Open (creating if needed) `<data_dir>/alerter.db`.
    pub async fn open(data_dir: &Path) -> Result<Self, AlerterError> {
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
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        sqlx::query(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .execute(&pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self { pool, path })
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

    /// Record a delivered alert. Recording the same pair twice keeps the first.
    pub async fn record(&self, alert: &Alert) -> Result<(), AlerterError> {
        let err = |source| AlerterError::Ledger {
            op: "record",
            subscription: alert.subscription_id.clone(),
            story_id: alert.story_id.clone(),
            source,
        };
        let json = serde_json::to_string(alert).map_err(|e| AlerterError::Encode {
            alert_id: alert.id.clone(),
            reason: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO delivered (subscription_id, story_id, alert_id, delivered_at, alert_json)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (subscription_id, story_id) DO NOTHING",
        )
        .bind(&alert.subscription_id)
        .bind(&alert.story_id)
        .bind(&alert.id)
        .bind(
            alert
                .delivered_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
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
