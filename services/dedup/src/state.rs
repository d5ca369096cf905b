//! Persistent dedup state in SQLite (`<data_dir>/dedup.db`, WAL): the keys each story claimed
//! and the verdict it got. Loaded into the [`Index`] at start (only the window), written once
//! per story before its outputs are published.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use futures::TryStreamExt;

use crate::config::DedupConfig;
use crate::error::DedupError;
use crate::index::{Checked, Index, Verdict};
use crate::minhash::{PERMS, SIG_VERSION};
use crate::sim::SimEntry;

fn u32s(b: &[u8]) -> Option<Box<[u32]>> {
    b.len().is_multiple_of(4).then(|| {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

/// The state file.
pub struct State {
    pool: SqlitePool,
}

impl State {
    /// Open (creating) the state file.
    pub async fn open(path: &Path) -> Result<Self, DedupError> {
        let open_err = |source| DedupError::Open {
            path: PathBuf::from(path),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(sqlx::Error::Io(e)))?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS dedup_keys (key TEXT PRIMARY KEY, story_id TEXT NOT NULL, cluster_id TEXT NOT NULL, seen_at INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS dedup_verdicts (story_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, seen_at INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS dedup_keys_seen ON dedup_keys(seen_at)",
            "CREATE INDEX IF NOT EXISTS dedup_verdicts_seen ON dedup_verdicts(seen_at)",
            "CREATE TABLE IF NOT EXISTS dedup_similar (story_id TEXT PRIMARY KEY, cluster_id TEXT, feed INTEGER NOT NULL, story_time INTEGER NOT NULL, version INTEGER NOT NULL, sig BLOB, terms BLOB NOT NULL, title_terms BLOB NOT NULL, seen_at INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS dedup_similar_seen ON dedup_similar(seen_at)",
        ] {
            sqlx::query(stmt).execute(&pool).await.map_err(open_err)?;
        }
        Ok(Self { pool })
    }

    /// Load everything seen since `since` into a fresh index (default similarity settings),
    /// and delete what is older.
    pub async fn load(&self, since: DateTime<Utc>) -> Result<Index, DedupError> {
        self.load_with(since, &DedupConfig::default()).await
    }

    /// Load everything seen since `since` into a fresh index built with `cfg`'s similarity
    /// settings (banding, window), and delete what is older. Similarity entries are replayed
    /// oldest first; entries hashed with another [`SIG_VERSION`] are skipped.
    pub async fn load_with(
        &self,
        since: DateTime<Utc>,
        cfg: &DedupConfig,
    ) -> Result<Index, DedupError> {
        let cutoff = since.timestamp();
        sqlx::query("DELETE FROM dedup_keys WHERE seen_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM dedup_verdicts WHERE seen_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM dedup_similar WHERE seen_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        let mut ix = Index::new();
        let mut rows = sqlx::query(
            "SELECT story_id, cluster_id, feed, story_time, sig, terms, title_terms FROM dedup_similar WHERE version = ? ORDER BY story_time, rowid",
        )
        .bind(SIG_VERSION)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let story_id: String = row.try_get(0)?;
            let cluster_id: Option<String> = row.try_get(1)?;
            let feed: i64 = row.try_get(2)?;
            let time: i64 = row.try_get(3)?;
            let sig: Option<Vec<u8>> = row.try_get(4)?;
            let terms: Vec<u8> = row.try_get(5)?;
            let corrupt = |reason: &str| DedupError::Corrupt {
                story_id: story_id.clone(),
                reason: reason.into(),
            };
            let sig = match sig {
                None => None,
                Some(b) if b.len() == PERMS * 2 => {
                    let mut s = [0u16; PERMS];
                    for (o, c) in s.iter_mut().zip(b.chunks_exact(2)) {
                        *o = u16::from_le_bytes([c[0], c[1]]);
                    }
                    Some(Box::new(s))
                }
                Some(_) => return Err(corrupt("signature has the wrong length")),
            };
            let title: Vec<u8> = row.try_get(6)?;
            let terms =
                u32s(&terms).ok_or_else(|| corrupt("terms blob length is not a multiple of 4"))?;
            let title_terms = u32s(&title)
                .ok_or_else(|| corrupt("title terms blob length is not a multiple of 4"))?;
            ix.restore_entry(
                SimEntry {
                    cluster_id: cluster_id.filter(|c| c != &story_id).map(Into::into),
                    story_id: story_id.into(),
                    feed: feed as u32,
                    time,
                    sig,
                    terms,
                    title_terms,
                },
                cfg,
            );
        }
        drop(rows);
        for row in sqlx::query(
            "SELECT key, story_id, cluster_id, seen_at FROM dedup_keys ORDER BY seen_at",
        )
        .fetch_all(&self.pool)
        .await?
        {
            ix.restore_key_at(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
        }
        for row in
            sqlx::query("SELECT story_id, verdict, seen_at FROM dedup_verdicts ORDER BY seen_at")
                .fetch_all(&self.pool)
                .await?
        {
            let id: String = row.try_get(0)?;
            let json: String = row.try_get(1)?;
            let v: Verdict = serde_json::from_str(&json).map_err(|e| DedupError::Corrupt {
                story_id: id.clone(),
                reason: e.to_string(),
            })?;
            ix.restore_verdict_at(id, v, row.try_get(2)?);
        }
        Ok(ix)
    }

    /// Persist one decision (idempotent: re-running it changes nothing).
    pub async fn save(
        &self,
        story_id: &str,
        checked: &Checked,
        now: DateTime<Utc>,
    ) -> Result<(), DedupError> {
        let (owner, cluster) = match &checked.verdict {
            Verdict::Unique { cluster_id, .. } => (story_id.to_string(), cluster_id.clone()),
            Verdict::Duplicate {
                duplicate_of,
                cluster_id,
                ..
            } => (duplicate_of.clone(), cluster_id.clone()),
        };
        let verdict = serde_json::to_string(&checked.verdict).map_err(|e| DedupError::Corrupt {
            story_id: story_id.to_string(),
            reason: e.to_string(),
        })?;
        let mut tx = self.pool.begin().await?;
        for k in &checked.new_keys {
            sqlx::query("INSERT OR IGNORE INTO dedup_keys (key, story_id, cluster_id, seen_at) VALUES (?, ?, ?, ?)")
                .bind(&k.key)
                .bind(&owner)
                .bind(&cluster)
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(e) = &checked.new_entry {
            let sig: Option<Vec<u8>> = e
                .sig
                .as_ref()
                .map(|s| s.iter().flat_map(|v| v.to_le_bytes()).collect());
            let terms: Vec<u8> = e.terms.iter().flat_map(|v| v.to_le_bytes()).collect();
            let title: Vec<u8> = e.title_terms.iter().flat_map(|v| v.to_le_bytes()).collect();
            sqlx::query("INSERT OR IGNORE INTO dedup_similar (story_id, cluster_id, feed, story_time, version, sig, terms, title_terms, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(&*e.story_id)
                .bind(e.cluster_id.as_deref())
                .bind(e.feed as i64)
                .bind(e.time)
                .bind(SIG_VERSION)
                .bind(sig)
                .bind(terms)
                .bind(title)
                .bind(now.timestamp())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT OR IGNORE INTO dedup_verdicts (story_id, verdict, seen_at) VALUES (?, ?, ?)",
        )
        .bind(story_id)
        .bind(verdict)
        .bind(now.timestamp())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DedupError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
