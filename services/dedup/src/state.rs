//! Persistent dedup state in SQLite (`<data_dir>/dedup.db`, WAL): per decided story its
//! verdict and the identity keys it claimed, the similarity entries (signature and cluster
//! terms) of unique stories, and per-feed GUID trust. Loaded into the [`Index`] at start (only
//! the window), written once per story before its outputs are published.
//!
//! The format is versioned with `PRAGMA user_version` ([`STATE_VERSION`]):
//! - **1** (text keys: `<tag>:<hex of 12 bytes of SHA-256>` in `dedup_keys`, verdicts in
//!   `dedup_verdicts`) is migrated in place at open: the verdicts gain a `keys` column (empty
//!   for old rows, their redeliveries still get the same verdict), `dedup_keys` is renamed
//!   `dedup_keys_v1` and its keys stay in force until they leave the window (SHA-256 is one
//!   way, so they cannot be re-hashed; while any is held, a story's version-1 keys are
//!   computed too), then the table is dropped. Similarity entries keep their format.
//! - **2**: `dedup_verdicts.keys` holds the 64-bit keys (9 bytes each: kind, key
//!   little-endian), `dedup_meta` the key seed, `dedup_feeds` the GUID trust per feed.
//!   `dedup_similar.entities` (the story's entity keys, 4 bytes each) was added within
//!   version 2: a file without the column gains it at open (rows before it have none and
//!   cluster by text and time alone), and a build that does not know it ignores it.
//!
//! A file of a newer version is refused ([`DedupError::Version`]) rather than misread.

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use futures::TryStreamExt;

use crate::config::DedupConfig;
use crate::entities::MAX_ENTITIES;
use crate::error::DedupError;
use crate::index::{Checked, FeedTrust, GuidDistrust, Index, Key, KeyKind, Verdict};
use crate::minhash::{PERMS, SIG_VERSION};
use crate::sim::SimEntry;

/// Version of the state file format written by this build.
pub const STATE_VERSION: i64 = 2;

fn u32s(b: &[u8]) -> Option<Box<[u32]>> {
    b.len().is_multiple_of(4).then(|| {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

/// The persisted form of a story's keys: per key its kind (one byte) and value (8 bytes LE).
pub fn encode_keys(keys: &[Key]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * 9);
    for k in keys {
        out.push(k.kind as u8);
        out.extend_from_slice(&k.key.to_le_bytes());
    }
    out
}

/// Inverse of [`encode_keys`]; `None` when the blob is malformed.
pub fn decode_keys(b: &[u8]) -> Option<Vec<Key>> {
    if !b.len().is_multiple_of(9) {
        return None;
    }
    b.chunks_exact(9)
        .map(|c| {
            let kind = *KeyKind::ALL.get(c[0] as usize)?;
            let mut v = [0u8; 8];
            v.copy_from_slice(&c[1..]);
            Some(Key {
                kind,
                key: u64::from_le_bytes(v),
            })
        })
        .collect()
}

/// The state file.
pub struct State {
    pool: SqlitePool,
    seed: u64,
}

async fn table_exists(pool: &SqlitePool, name: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

impl State {
    /// Open (creating, or migrating from an older version) the state file.
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
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&pool)
            .await
            .map_err(open_err)?;
        if version > STATE_VERSION {
            return Err(DedupError::Version {
                path: PathBuf::from(path),
                found: version,
                supported: STATE_VERSION,
            });
        }
        let v1 = version == 0
            && table_exists(&pool, "dedup_verdicts")
                .await
                .map_err(open_err)?;
        let mut tx = pool.begin().await.map_err(open_err)?;
        if v1 {
            for stmt in [
                "ALTER TABLE dedup_verdicts ADD COLUMN keys BLOB",
                "ALTER TABLE dedup_keys RENAME TO dedup_keys_v1",
                "DROP INDEX IF EXISTS dedup_keys_seen",
                "CREATE INDEX IF NOT EXISTS dedup_keys_v1_seen ON dedup_keys_v1(seen_at)",
            ] {
                sqlx::query(stmt)
                    .execute(&mut *tx)
                    .await
                    .map_err(open_err)?;
            }
        }
        for stmt in [
            "CREATE TABLE IF NOT EXISTS dedup_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS dedup_verdicts (story_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, seen_at INTEGER NOT NULL, keys BLOB)",
            "CREATE INDEX IF NOT EXISTS dedup_verdicts_seen ON dedup_verdicts(seen_at)",
            "CREATE TABLE IF NOT EXISTS dedup_similar (story_id TEXT PRIMARY KEY, cluster_id TEXT, feed INTEGER NOT NULL, story_time INTEGER NOT NULL, version INTEGER NOT NULL, sig BLOB, terms BLOB NOT NULL, title_terms BLOB NOT NULL, seen_at INTEGER NOT NULL, entities BLOB)",
            "CREATE INDEX IF NOT EXISTS dedup_similar_seen ON dedup_similar(seen_at)",
            "CREATE TABLE IF NOT EXISTS dedup_feeds (feed INTEGER PRIMARY KEY, reuse INTEGER NOT NULL, rotation INTEGER NOT NULL, distrust TEXT, last_event INTEGER NOT NULL)",
        ] {
            sqlx::query(stmt)
                .execute(&mut *tx)
                .await
                .map_err(open_err)?;
        }
        let has_entities: bool = sqlx::query_scalar(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('dedup_similar') WHERE name = 'entities'",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(open_err)?;
        if !has_entities {
            sqlx::query("ALTER TABLE dedup_similar ADD COLUMN entities BLOB")
                .execute(&mut *tx)
                .await
                .map_err(open_err)?;
        }
        // A random seed per state file: nobody outside can aim a link at another story's key.
        let fresh = std::collections::hash_map::RandomState::new().hash_one((
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        ));
        sqlx::query("INSERT OR IGNORE INTO dedup_meta (name, value) VALUES ('key_seed', ?)")
            .bind(fresh as i64)
            .execute(&mut *tx)
            .await
            .map_err(open_err)?;
        let seed: i64 = sqlx::query_scalar("SELECT value FROM dedup_meta WHERE name = 'key_seed'")
            .fetch_one(&mut *tx)
            .await
            .map_err(open_err)?;
        sqlx::query(&format!("PRAGMA user_version = {STATE_VERSION}"))
            .execute(&mut *tx)
            .await
            .map_err(open_err)?;
        tx.commit().await.map_err(open_err)?;
        if v1 {
            tracing::info!(path = %path.display(), "dedup state migrated from version 1 to 2");
        }
        Ok(Self {
            pool,
            seed: seed as u64,
        })
    }

    /// The key seed of this file.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Load everything seen since `since` into a fresh index (default similarity settings),
    /// and delete what is older.
    pub async fn load(&self, since: DateTime<Utc>) -> Result<Index, DedupError> {
        self.load_with(since, &DedupConfig::default()).await
    }

    /// Load everything seen since `since` into a fresh index built with `cfg`'s similarity
    /// settings (banding, window), and delete what is older. Verdicts and their keys are
    /// replayed in the order they were decided, then similarity entries oldest first
    /// (entries hashed with another [`SIG_VERSION`] are skipped: the LSH bands are recomputed
    /// from the stored signatures, so a banding change loses nothing).
    pub async fn load_with(
        &self,
        since: DateTime<Utc>,
        cfg: &DedupConfig,
    ) -> Result<Index, DedupError> {
        let cutoff = since.timestamp();
        let legacy = table_exists(&self.pool, "dedup_keys_v1").await?;
        for stmt in [
            "DELETE FROM dedup_verdicts WHERE seen_at < ?",
            "DELETE FROM dedup_similar WHERE seen_at < ?",
            "DELETE FROM dedup_feeds WHERE last_event < ?",
        ]
        .into_iter()
        .chain(legacy.then_some("DELETE FROM dedup_keys_v1 WHERE seen_at < ?"))
        {
            sqlx::query(stmt).bind(cutoff).execute(&self.pool).await?;
        }
        let mut ix = Index::with_seed(self.seed);
        let mut rows = sqlx::query(
            "SELECT story_id, verdict, seen_at, keys FROM dedup_verdicts ORDER BY seen_at, rowid",
        )
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let id: &str = row.try_get(0)?;
            let json: &str = row.try_get(1)?;
            let corrupt = |reason: String| DedupError::Corrupt {
                story_id: id.to_string(),
                reason,
            };
            let v: Verdict = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
            let keys: Option<&[u8]> = row.try_get(3)?;
            let keys = match keys {
                None => Vec::new(),
                Some(b) => decode_keys(b).ok_or_else(|| corrupt("malformed keys blob".into()))?,
            };
            ix.restore_story(id, v, row.try_get(2)?, &keys);
        }
        drop(rows);
        let mut rows = sqlx::query(
            "SELECT story_id, cluster_id, feed, story_time, sig, terms, title_terms, entities FROM dedup_similar WHERE version = ? ORDER BY story_time, rowid",
        )
        .bind(SIG_VERSION)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let story_id: String = row.try_get(0)?;
            let cluster_id: Option<String> = row.try_get(1)?;
            let feed: i64 = row.try_get(2)?;
            let time: i64 = row.try_get(3)?;
            let sig: Option<&[u8]> = row.try_get(4)?;
            let terms: &[u8] = row.try_get(5)?;
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
            let title: &[u8] = row.try_get(6)?;
            let terms =
                u32s(terms).ok_or_else(|| corrupt("terms blob length is not a multiple of 4"))?;
            let title_terms = u32s(title)
                .ok_or_else(|| corrupt("title terms blob length is not a multiple of 4"))?;
            let entities: Option<&[u8]> = row.try_get(7)?;
            let entities = match entities {
                None => Box::default(),
                Some(b) => {
                    u32s(b).ok_or_else(|| corrupt("entities blob length is not a multiple of 4"))?
                }
            };
            if entities.len() > MAX_ENTITIES || !entities.is_sorted() {
                return Err(corrupt(
                    "entities blob is not a sorted list of at most MAX_ENTITIES keys",
                ));
            }
            ix.restore_entry(
                SimEntry {
                    cluster_id: cluster_id.filter(|c| c != &story_id).map(Into::into),
                    story_id: story_id.into(),
                    feed: feed as u32,
                    time,
                    sig,
                    terms,
                    title_terms,
                    entities,
                },
                cfg,
            );
        }
        drop(rows);
        if legacy {
            let mut rows = sqlx::query(
                "SELECT key, story_id, cluster_id, seen_at FROM dedup_keys_v1 ORDER BY seen_at",
            )
            .fetch(&self.pool);
            let mut n = 0usize;
            while let Some(row) = rows.try_next().await? {
                ix.restore_legacy_key(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                n += 1;
            }
            drop(rows);
            if n == 0 {
                // Every version-1 key left the window: the upgrade is complete.
                sqlx::query("DROP TABLE dedup_keys_v1")
                    .execute(&self.pool)
                    .await?;
            }
        }
        for row in
            sqlx::query("SELECT feed, reuse, rotation, distrust, last_event FROM dedup_feeds")
                .fetch_all(&self.pool)
                .await?
        {
            let feed: i64 = row.try_get(0)?;
            let distrust: Option<String> = row.try_get(3)?;
            ix.restore_feed(
                feed as u32,
                FeedTrust {
                    reuse: row.try_get::<i64, _>(1)? as u32,
                    rotation: row.try_get::<i64, _>(2)? as u32,
                    distrust: distrust.as_deref().and_then(GuidDistrust::parse),
                    last_event: row.try_get(4)?,
                },
            );
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
        let mut tx = self.pool.begin().await?;
        write(&mut tx, story_id, checked, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Persist many decisions in one transaction, with multi-row inserts (bulk loads and
    /// measurements; the stage saves each story before publishing it). Idempotent like
    /// [`State::save`].
    pub async fn save_batch(
        &self,
        decisions: &[(&str, &Checked)],
        now: DateTime<Utc>,
    ) -> Result<(), DedupError> {
        const ROWS: usize = 200;
        let mut tx = self.pool.begin().await?;
        for chunk in decisions.chunks(ROWS) {
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO dedup_verdicts (story_id, verdict, seen_at, keys) ",
            );
            let mut rows = Vec::with_capacity(chunk.len());
            for (id, c) in chunk {
                rows.push((*id, verdict_json(id, &c.verdict)?, encode_keys(&c.new_keys)));
            }
            q.push_values(rows, |mut b, (id, v, keys)| {
                b.push_bind(id)
                    .push_bind(v)
                    .push_bind(now.timestamp())
                    .push_bind(keys);
            });
            q.build().execute(&mut *tx).await?;
            let entries: Vec<SimRow> = chunk
                .iter()
                .filter_map(|(_, c)| c.new_entry.as_ref().map(SimRow::of))
                .collect();
            if !entries.is_empty() {
                let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                    "INSERT OR IGNORE INTO dedup_similar (story_id, cluster_id, feed, story_time, version, sig, terms, title_terms, seen_at, entities) ",
                );
                q.push_values(entries, |mut b, r| {
                    b.push_bind(r.story_id)
                        .push_bind(r.cluster_id)
                        .push_bind(r.feed)
                        .push_bind(r.time)
                        .push_bind(SIG_VERSION)
                        .push_bind(r.sig)
                        .push_bind(r.terms)
                        .push_bind(r.title_terms)
                        .push_bind(now.timestamp())
                        .push_bind(r.entities);
                });
                q.build().execute(&mut *tx).await?;
            }
            for (_, c) in chunk {
                if let Some(ft) = &c.feed_trust {
                    write_feed(&mut tx, ft).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DedupError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A similarity entry as stored: signature and term lists as little-endian blobs.
struct SimRow {
    story_id: String,
    cluster_id: Option<String>,
    feed: i64,
    time: i64,
    sig: Option<Vec<u8>>,
    terms: Vec<u8>,
    title_terms: Vec<u8>,
    entities: Vec<u8>,
}

impl SimRow {
    fn of(e: &SimEntry) -> Self {
        Self {
            story_id: e.story_id.to_string(),
            cluster_id: e.cluster_id.as_deref().map(str::to_string),
            feed: e.feed as i64,
            time: e.time,
            sig: e
                .sig
                .as_ref()
                .map(|s| s.iter().flat_map(|v| v.to_le_bytes()).collect()),
            terms: e.terms.iter().flat_map(|v| v.to_le_bytes()).collect(),
            title_terms: e.title_terms.iter().flat_map(|v| v.to_le_bytes()).collect(),
            entities: e.entities.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

fn verdict_json(story_id: &str, v: &Verdict) -> Result<String, DedupError> {
    serde_json::to_string(v).map_err(|e| DedupError::Corrupt {
        story_id: story_id.to_string(),
        reason: e.to_string(),
    })
}

async fn write_feed(
    tx: &mut Transaction<'_, Sqlite>,
    (feed, t): &(u32, FeedTrust),
) -> Result<(), DedupError> {
    sqlx::query("INSERT OR REPLACE INTO dedup_feeds (feed, reuse, rotation, distrust, last_event) VALUES (?, ?, ?, ?, ?)")
        .bind(*feed as i64)
        .bind(t.reuse as i64)
        .bind(t.rotation as i64)
        .bind(t.distrust.map(GuidDistrust::as_str))
        .bind(t.last_event)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn write(
    tx: &mut Transaction<'_, Sqlite>,
    story_id: &str,
    checked: &Checked,
    now: DateTime<Utc>,
) -> Result<(), DedupError> {
    sqlx::query(
        "INSERT OR IGNORE INTO dedup_verdicts (story_id, verdict, seen_at, keys) VALUES (?, ?, ?, ?)",
    )
    .bind(story_id)
    .bind(verdict_json(story_id, &checked.verdict)?)
    .bind(now.timestamp())
    .bind(encode_keys(&checked.new_keys))
    .execute(&mut **tx)
    .await?;
    if let Some(e) = &checked.new_entry {
        let r = SimRow::of(e);
        sqlx::query("INSERT OR IGNORE INTO dedup_similar (story_id, cluster_id, feed, story_time, version, sig, terms, title_terms, seen_at, entities) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(r.story_id)
            .bind(r.cluster_id)
            .bind(r.feed)
            .bind(r.time)
            .bind(SIG_VERSION)
            .bind(r.sig)
            .bind(r.terms)
            .bind(r.title_terms)
            .bind(now.timestamp())
            .bind(r.entities)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(ft) = &checked.feed_trust {
        write_feed(tx, ft).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_proto::v1::RawStory;

    fn raw(id: &str, feed: &str, guid: &str, link: &str, title: &str) -> RawStory {
        RawStory::from_json_lenient(
            &serde_json::json!({
                "id": id, "title": title, "link": link, "guid": guid,
                "feed": {"id": feed, "url": format!("https://{feed}/rss")},
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn keys_blob_round_trips_and_rejects_garbage() {
        let ks = vec![
            Key {
                kind: KeyKind::Guid,
                key: 1,
            },
            Key {
                kind: KeyKind::Content,
                key: u64::MAX,
            },
        ];
        assert_eq!(decode_keys(&encode_keys(&ks)), Some(ks));
        assert_eq!(decode_keys(&[0u8; 8]), None);
        assert_eq!(decode_keys(&[9u8; 9]), None);
    }

    #[tokio::test]
    async fn version_1_file_is_migrated_and_its_keys_still_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.db");
        let now = Utc::now();
        {
            // A state file as the previous build wrote it.
            let pool = SqlitePoolOptions::new()
                .connect_with(
                    SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                        .unwrap()
                        .create_if_missing(true),
                )
                .await
                .unwrap();
            for stmt in [
                "CREATE TABLE dedup_keys (key TEXT PRIMARY KEY, story_id TEXT NOT NULL, cluster_id TEXT NOT NULL, seen_at INTEGER NOT NULL)",
                "CREATE TABLE dedup_verdicts (story_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, seen_at INTEGER NOT NULL)",
                "CREATE INDEX dedup_keys_seen ON dedup_keys(seen_at)",
            ] {
                sqlx::query(stmt).execute(&pool).await.unwrap();
            }
            let mut d = <sha2::Sha256 as sha2::Digest>::new();
            for p in ["f1", "g1"] {
                sha2::Digest::update(&mut d, p.as_bytes());
                sha2::Digest::update(&mut d, [0u8]);
            }
            let key = format!("g:{}", hex::encode(&sha2::Digest::finalize(d)[..12]));
            sqlx::query("INSERT INTO dedup_keys VALUES (?, 'old', 'old', ?)")
                .bind(key)
                .bind(now.timestamp())
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO dedup_verdicts VALUES ('old', '{\"verdict\":\"unique\",\"cluster_id\":\"old\"}', ?)")
                .bind(now.timestamp())
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let st = State::open(&path).await.unwrap();
        let cfg = DedupConfig::default();
        let mut ix = st
            .load_with(now - chrono::Duration::days(7), &cfg)
            .await
            .unwrap();
        // The old verdict answers a redelivery; the old GUID key catches a copy.
        let old = raw(
            "old",
            "f1",
            "g1",
            "https://x.com/1",
            "A title long enough to hash",
        );
        let c = ix.check(&old, &cfg);
        assert!(c.redelivery);
        let copy = raw(
            "new",
            "f1",
            "g1",
            "https://x.com/other",
            "A title long enough to hash",
        );
        let c = ix.check(&copy, &cfg);
        assert!(
            matches!(c.verdict, Verdict::Duplicate { ref duplicate_of, .. } if duplicate_of == "old"),
            "{:?}",
            c.verdict
        );
        st.save(&copy.id, &c, now).await.unwrap();
        // Reopened: version 2 now, same seed, the new story's 64-bit keys restored.
        let seed = st.seed();
        drop(st);
        let st = State::open(&path).await.unwrap();
        assert_eq!(st.seed(), seed);
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&st.pool)
            .await
            .unwrap();
        assert_eq!(version, STATE_VERSION);
        let mut ix = st
            .load_with(now - chrono::Duration::days(7), &cfg)
            .await
            .unwrap();
        let third = raw(
            "third",
            "f9",
            "g9",
            "https://x.com/other?utm_source=a",
            "Something else entirely here",
        );
        assert!(matches!(
            ix.check(&third, &cfg).verdict,
            Verdict::Duplicate { ref duplicate_of, .. } if duplicate_of == "old"
        ));
        // Past the window the version-1 table is dropped.
        drop(ix);
        st.load_with(now + chrono::Duration::days(1), &cfg)
            .await
            .unwrap();
        assert!(!table_exists(&st.pool, "dedup_keys_v1").await.unwrap());
    }

    /// The index of a week's window, as the stage loads it at start.
    async fn load_week(st: &State, cfg: &DedupConfig, now: DateTime<Utc>) -> Index {
        st.load_with(now - chrono::Duration::days(7), cfg)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.db");
        let st = State::open(&path).await.unwrap();
        sqlx::query("PRAGMA user_version = 99")
            .execute(&st.pool)
            .await
            .unwrap();
        st.pool.close().await;
        let e = State::open(&path).await.err().unwrap();
        assert!(matches!(e, DedupError::Version { found: 99, .. }), "{e}");
        assert!(!e.retryable());
    }

    #[tokio::test]
    async fn guid_distrust_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.db");
        let cfg = DedupConfig::default();
        let now = Utc::now();
        let st = State::open(&path).await.unwrap();
        let mut ix = load_week(&st, &cfg, now).await;
        for poll in 0..4 {
            let s = raw(
                &format!("p{poll}"),
                "rotor",
                &format!("urn:{poll}"),
                "https://rot.com/a",
                "The same story at every poll of the feed",
            );
            let c = ix.check(&s, &cfg);
            st.save(&s.id, &c, now).await.unwrap();
        }
        assert!(!ix.guid_trusted("rotor"));
        let ix = load_week(&st, &cfg, now).await;
        assert!(!ix.guid_trusted("rotor"));
        assert!(ix.guid_trusted("other"));
    }

    #[tokio::test]
    async fn entities_survive_restart_and_an_older_file_gains_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.db");
        {
            // A version-2 file from before the entities column.
            let st = State::open(&path).await.unwrap();
            sqlx::query("ALTER TABLE dedup_similar DROP COLUMN entities")
                .execute(&st.pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO dedup_similar (story_id, cluster_id, feed, story_time, version, sig, terms, title_terms, seen_at) VALUES ('old', NULL, 1, ?, ?, NULL, X'01000000', X'01000000', ?)")
                .bind(Utc::now().timestamp())
                .bind(SIG_VERSION)
                .bind(Utc::now().timestamp())
                .execute(&st.pool)
                .await
                .unwrap();
            st.pool.close().await;
        }
        let cfg = DedupConfig::default();
        let now = Utc::now();
        let st = State::open(&path).await.unwrap();
        let mut ix = load_week(&st, &cfg, now).await;
        assert_eq!(ix.similar_len(), 1, "the old row loads without entities");
        let a = raw(
            "a",
            "f1",
            "g1",
            "https://x.com/a",
            "Volcano erupts near Catania as Etna sends ash over Sicily",
        );
        let c = ix.check(&a, &cfg);
        // Volcano (first word, not a stopword), Catania, Etna, Sicily.
        assert_eq!(c.new_entry.as_ref().map(|e| e.entities.len()), Some(4));
        st.save(&a.id, &c, now).await.unwrap();
        // After a restart the entities are back: the shared names explain the match.
        let mut ix = load_week(&st, &cfg, now).await;
        let b = raw(
            "b",
            "f2",
            "g2",
            "https://y.com/b",
            "Etna erupts, ash cloud over Sicily closes Catania airport",
        );
        match ix.check(&b, &cfg).verdict {
            Verdict::Unique {
                cluster_id,
                shared_entities,
                ..
            } => {
                assert_eq!(cluster_id, "a");
                assert_eq!(shared_entities, ["Etna", "Sicily", "Catania"]);
            }
            v => panic!("{v:?}"),
        }
    }

    #[tokio::test]
    async fn batch_save_restores_like_single_saves() {
        let dir = tempfile::tempdir().unwrap();
        let st = State::open(&dir.path().join("dedup.db")).await.unwrap();
        let cfg = DedupConfig::default();
        let now = Utc::now();
        let mut ix = Index::with_seed(st.seed());
        let stories: Vec<RawStory> = (0..450)
            .map(|i| {
                raw(
                    &format!("s{i}"),
                    "f",
                    &format!("g{i}"),
                    &format!("https://x.com/{i}"),
                    &format!("Story {i} has a title long enough to hash"),
                )
            })
            .collect();
        let checked: Vec<Checked> = stories.iter().map(|s| ix.check(s, &cfg)).collect();
        let refs: Vec<(&str, &Checked)> = stories
            .iter()
            .map(|s| s.id.as_str())
            .zip(checked.iter())
            .collect();
        st.save_batch(&refs, now).await.unwrap();
        st.save_batch(&refs, now).await.unwrap(); // idempotent
        let mut back = st
            .load_with(now - chrono::Duration::days(7), &cfg)
            .await
            .unwrap();
        assert_eq!(back.len(), ix.len());
        assert_eq!(back.similar_len(), ix.similar_len());
        assert!(back.check(&stories[7], &cfg).redelivery);
        let copy = raw(
            "copy",
            "other",
            "x",
            "https://x.com/300?utm_source=a",
            "Unrelated words here for the title",
        );
        // The same decision as the index that wrote the file.
        let v = back.check(&copy, &cfg).verdict;
        assert!(matches!(v, Verdict::Duplicate { .. }), "{v:?}");
        assert_eq!(v, ix.check(&copy, &cfg).verdict);
    }
}
