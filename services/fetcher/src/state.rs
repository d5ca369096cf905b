//! Durable state in SQLite (`<data_dir>/fetcher.db`, WAL): per feed its validators and health,
//! and the ids of the stories already published, so a restart neither re-publishes nor
//! forgets.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use wirewatch_proto::v1::FeedStatus;

use crate::error::FetcherError;
use crate::http::Validators;

/// What is remembered about one feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRow {
    /// URL polled (and the validators belong to): the feeds file's, or where it moved to
    /// permanently (301/308) since.
    pub url: String,
    /// URL the feeds file gave when the row was made: while the file still says this, a
    /// moved feed keeps its new `url`.
    pub configured_url: String,
    /// Conditional-GET validators.
    pub validators: Validators,
    /// Current health.
    pub status: FeedStatus,
    /// Failed fetches in a row.
    pub consecutive_failures: u32,
}

/// `id, url, etag, last_modified, status, consecutive_failures, configured_url` of a `feeds`
/// row.
type FeedDbRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<String>,
);

/// The state database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS feeds (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        status TEXT NOT NULL DEFAULT 'healthy',
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TEXT NOT NULL
    )",
    // seq orders ids by insertion, so the oldest go first when a feed's set is trimmed.
    "CREATE TABLE IF NOT EXISTS seen (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        feed_id TEXT NOT NULL,
        story_id TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        UNIQUE (feed_id, story_id)
    )",
    "CREATE INDEX IF NOT EXISTS seen_feed_seq ON seen (feed_id, seq)",
    // Feeds added with `wirewatch feeds add` / `feeds import` (the feeds file has the others).
    "CREATE TABLE IF NOT EXISTS registry (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        title TEXT,
        category TEXT,
        interval_secs INTEGER,
        added_at TEXT NOT NULL
    )",
    // A counter bumped by every registry change (a running fetcher compares it).
    "CREATE TABLE IF NOT EXISTS registry_version (k INTEGER PRIMARY KEY CHECK (k = 0), v INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO registry_version (k, v) VALUES (0, 0)",
    // WebSub subscriptions (see websub.rs): lease_until NULL while pending verification.
    "CREATE TABLE IF NOT EXISTS websub (
        feed_id TEXT PRIMARY KEY,
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        secret TEXT NOT NULL,
        lease_until TEXT,
        last_push_at TEXT,
        requested_at TEXT
    )",
    // When each feed last succeeded and is next due, written at most every few minutes per
    // feed (for `wirewatch feeds list`).
    "CREATE TABLE IF NOT EXISTS schedule (
        id TEXT PRIMARY KEY,
        last_success_at TEXT,
        next_poll_at TEXT
    )",
];

/// One feed as `wirewatch feeds list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeedState {
    /// Feed id.
    pub id: String,
    /// URL polled.
    pub url: String,
    /// Health.
    pub status: String,
    /// Failed fetches in a row.
    pub consecutive_failures: i64,
    /// The last error, if the last fetch failed.
    pub last_error: Option<String>,
    /// Last successful fetch (RFC 3339).
    pub last_success_at: Option<String>,
    /// Next poll (RFC 3339), as last recorded.
    pub next_poll_at: Option<String>,
}

/// The text form of a status in the database (the same as in events).
pub fn status_str(s: FeedStatus) -> &'static str {
    match s {
        FeedStatus::Healthy => "healthy",
        FeedStatus::Failing => "failing",
        FeedStatus::Recovered => "recovered",
        FeedStatus::Redirected => "redirected",
        FeedStatus::Gone => "gone",
    }
}

fn parse_status(s: &str) -> FeedStatus {
    match s {
        "failing" => FeedStatus::Failing,
        "recovered" => FeedStatus::Recovered,
        "redirected" => FeedStatus::Redirected,
        "gone" => FeedStatus::Gone,
        _ => FeedStatus::Healthy,
    }
}

/// Ids per query when [`Store::register_many`] reads existing rows (well under SQLite's
/// limit on bound parameters).
const REGISTER_CHUNK: usize = 500;

/// The row of a feed configured with `url` given its stored row (`None`: new), and whether
/// it must be written (new, or the configured URL changed).
fn registered_row(stored: Option<FeedDbRow>, url: &str) -> (FeedRow, bool) {
    match stored {
        Some((_, old_url, etag, last_modified, status, failures, configured)) => {
            let configured = configured.unwrap_or_else(|| old_url.clone());
            let mut row = FeedRow {
                url: old_url,
                configured_url: configured.clone(),
                validators: Validators {
                    etag,
                    last_modified,
                },
                status: parse_status(&status),
                consecutive_failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
            };
            let changed = configured != url;
            if changed {
                row.url = url.to_string();
                row.configured_url = url.to_string();
                row.validators = Validators::default();
            }
            (row, changed)
        }
        None => (
            FeedRow {
                url: url.to_string(),
                configured_url: url.to_string(),
                validators: Validators::default(),
                status: FeedStatus::Healthy,
                consecutive_failures: 0,
            },
            true,
        ),
    }
}

/// The upsert of a feed's row (shared by [`Store::save`] and [`Store::register_many`]).
fn save_query<'q>(
    id: &'q str,
    row: &'q FeedRow,
    last_error: Option<&'q str>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    sqlx::query(
        "INSERT INTO feeds (id, url, etag, last_modified, status, consecutive_failures, last_error, updated_at, configured_url)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, etag = excluded.etag,
           configured_url = excluded.configured_url,
           last_modified = excluded.last_modified, status = excluded.status,
           consecutive_failures = excluded.consecutive_failures,
           last_error = excluded.last_error, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(&row.url)
    .bind(&row.validators.etag)
    .bind(&row.validators.last_modified)
    .bind(status_str(row.status))
    .bind(i64::from(row.consecutive_failures))
    .bind(last_error)
    .bind(Utc::now().to_rfc3339())
    .bind(&row.configured_url)
}

impl Store {
    /// Open (creating the directory, file and tables as needed) `<data_dir>/fetcher.db`.
    pub async fn open(data_dir: &Path) -> Result<Store, FetcherError> {
        // Two processes creating the file at the same moment (the fetcher and `wirewatch
        // feeds …` on a first start) can meet SQLite's lock while one switches the new file to
        // WAL, which does not wait for the busy timeout: try again briefly.
        let mut attempt = 0;
        loop {
            match Self::open_once(data_dir).await {
                Err(FetcherError::State { detail, .. })
                    if attempt < 20 && detail.contains("database is locked") =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn open_once(data_dir: &Path) -> Result<Store, FetcherError> {
        let path = data_dir.join("fetcher.db");
        let err = |detail: String| FetcherError::State {
            path: path.clone(),
            detail,
        };
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| err(format!("cannot create {}: {e}", data_dir.display())))?;
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| err(e.to_string()))?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| err(e.to_string()))?;
        for stmt in SCHEMA {
            sqlx::query(stmt)
                .execute(&pool)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        // Added with permanent-redirect tracking; NULL in older rows means "same as url".
        let has: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('feeds') WHERE name = 'configured_url'",
        )
        .fetch_one(&pool)
        .await
        .map_err(|e| err(e.to_string()))?;
        if has == 0 {
            // Another process (the fetcher and `wirewatch feeds …`) may add it at the same time.
            if let Err(e) = sqlx::query("ALTER TABLE feeds ADD COLUMN configured_url TEXT")
                .execute(&pool)
                .await
            {
                if !e.to_string().contains("duplicate column") {
                    return Err(err(e.to_string()));
                }
            }
        }
        Ok(Store { pool, path })
    }

    fn err(&self, what: &str, e: sqlx::Error) -> FetcherError {
        FetcherError::State {
            path: self.path.clone(),
            detail: format!("{what}: {e}"),
        }
    }

    /// The row of feed `id` configured with `url`, created if new. When the feeds file still
    /// gives the URL the row was made with, a permanent move recorded since is kept (the row's
    /// `url` is the new one); when the file gives another URL, that URL wins and the old
    /// validators are dropped (they belong to the old URL). Health and seen ids are kept.
    pub async fn register(&self, id: &str, url: &str) -> Result<FeedRow, FetcherError> {
        let mut rows = self.register_many(&[(id, url)]).await?;
        rows.pop().ok_or_else(|| FetcherError::State {
            path: self.path.clone(),
            detail: format!("register feed {id} ({url}): no row"),
        })
    }

    /// [`Store::register`] for many `(id, url)` feeds at once, the rows in the same order:
    /// existing rows are read [`REGISTER_CHUNK`] ids per query and the new or changed ones
    /// written in one transaction, so 100,000 feeds register in seconds rather than with one
    /// commit each.
    pub async fn register_many(
        &self,
        feeds: &[(&str, &str)],
    ) -> Result<Vec<FeedRow>, FetcherError> {
        let mut known: std::collections::HashMap<String, FeedDbRow> =
            std::collections::HashMap::new();
        for chunk in feeds.chunks(REGISTER_CHUNK) {
            let sql = format!(
                "SELECT id, url, etag, last_modified, status, consecutive_failures, configured_url FROM feeds WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query_as::<_, FeedDbRow>(&sql);
            for (id, _) in chunk {
                q = q.bind(*id);
            }
            let found = q
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(&format!("load {} feeds", chunk.len()), e))?;
            for row in found {
                known.insert(row.0.clone(), row);
            }
        }
        let mut rows = Vec::with_capacity(feeds.len());
        let mut changed = Vec::new();
        for (i, (id, url)) in feeds.iter().enumerate() {
            let (row, save) = registered_row(known.remove(*id), url);
            if save {
                changed.push(i);
            }
            rows.push(row);
        }
        if !changed.is_empty() {
            let what = || format!("register {} feeds", changed.len());
            let mut tx = self.pool.begin().await.map_err(|e| self.err(&what(), e))?;
            for &i in &changed {
                if let (Some((id, _)), Some(row)) = (feeds.get(i), rows.get(i)) {
                    save_query(id, row, None)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(&format!("save feed {id} ({})", row.url), e))?;
                }
            }
            tx.commit().await.map_err(|e| self.err(&what(), e))?;
        }
        Ok(rows)
    }

    /// Persist a feed's row.
    pub async fn save(
        &self,
        id: &str,
        row: &FeedRow,
        last_error: Option<&str>,
    ) -> Result<(), FetcherError> {
        save_query(id, row, last_error)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(&format!("save feed {id} ({})", row.url), e))?;
        Ok(())
    }

    /// Record when feed `id` last succeeded (when `success`) and is next due.
    pub async fn checkpoint(
        &self,
        id: &str,
        success: Option<chrono::DateTime<Utc>>,
        next_poll: chrono::DateTime<Utc>,
    ) -> Result<(), FetcherError> {
        sqlx::query(
            "INSERT INTO schedule (id, last_success_at, next_poll_at) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET next_poll_at = excluded.next_poll_at,
               last_success_at = COALESCE(excluded.last_success_at, schedule.last_success_at)",
        )
        .bind(id)
        .bind(success.map(|t| t.to_rfc3339()))
        .bind(next_poll.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(&format!("checkpoint feed {id}"), e))?;
        Ok(())
    }

    /// Every feed the state knows, by id, with health and schedule.
    pub async fn feed_states(&self) -> Result<Vec<FeedState>, FetcherError> {
        type Row = (
            String,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT f.id, f.url, f.status, f.consecutive_failures, f.last_error, s.last_success_at, s.next_poll_at
             FROM feeds f LEFT JOIN schedule s ON s.id = f.id ORDER BY f.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err("list feeds", e))?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    url,
                    status,
                    consecutive_failures,
                    last_error,
                    last_success_at,
                    next_poll_at,
                )| FeedState {
                    id,
                    url,
                    status,
                    consecutive_failures,
                    last_error,
                    last_success_at,
                    next_poll_at,
                },
            )
            .collect())
    }

    /// The WebSub subscription of `feed_id`, if any.
    pub async fn websub_get(
        &self,
        feed_id: &str,
    ) -> Result<Option<crate::websub::Subscription>, FetcherError> {
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT hub, topic, secret, lease_until, last_push_at, requested_at FROM websub WHERE feed_id = ?",
        )
        .bind(feed_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(&format!("websub of {feed_id}"), e))?;
        let t = |s: Option<String>| {
            s.and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        Ok(row.map(
            |(hub, topic, secret, lease, push, requested)| crate::websub::Subscription {
                hub,
                topic,
                secret,
                lease_until: t(lease),
                last_push_at: t(push),
                requested_at: t(requested),
            },
        ))
    }

    /// Record a subscription request (pending verification) with its secret.
    pub async fn websub_pending(
        &self,
        feed_id: &str,
        hub: &str,
        topic: &str,
        secret: &str,
    ) -> Result<(), FetcherError> {
        sqlx::query(
            "INSERT INTO websub (feed_id, hub, topic, secret, requested_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (feed_id) DO UPDATE SET hub = excluded.hub, topic = excluded.topic,
               secret = excluded.secret, requested_at = excluded.requested_at",
        )
        .bind(feed_id)
        .bind(hub)
        .bind(topic)
        .bind(secret)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(&format!("websub of {feed_id}"), e))?;
        Ok(())
    }

    /// The hub verified the subscription of `feed_id` until `until`.
    pub async fn websub_verified(
        &self,
        feed_id: &str,
        until: chrono::DateTime<Utc>,
    ) -> Result<(), FetcherError> {
        self.websub_set(
            "UPDATE websub SET lease_until = ? WHERE feed_id = ?",
            feed_id,
            until,
        )
        .await
    }

    /// A push for `feed_id` was accepted at `at`.
    pub async fn websub_pushed(
        &self,
        feed_id: &str,
        at: chrono::DateTime<Utc>,
    ) -> Result<(), FetcherError> {
        self.websub_set(
            "UPDATE websub SET last_push_at = ? WHERE feed_id = ?",
            feed_id,
            at,
        )
        .await
    }

    async fn websub_set(
        &self,
        sql: &'static str,
        feed_id: &str,
        at: chrono::DateTime<Utc>,
    ) -> Result<(), FetcherError> {
        sqlx::query(sql)
            .bind(at.to_rfc3339())
            .bind(feed_id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(&format!("websub of {feed_id}"), e))?;
        Ok(())
    }

    /// The feeds added with `wirewatch feeds add` / `feeds import`.
    pub async fn registry_feeds(&self) -> Result<Vec<crate::feeds::FeedSpec>, FetcherError> {
        type Row = (String, String, Option<String>, Option<String>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, url, title, category, interval_secs FROM registry ORDER BY added_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err("load registry", e))?;
        Ok(rows
            .into_iter()
            .map(
                |(id, url, title, category, interval)| crate::feeds::FeedSpec {
                    id,
                    url,
                    interval_secs: interval.and_then(|i| u64::try_from(i).ok()),
                    title,
                    category,
                },
            )
            .collect())
    }

    /// Add a feed to the registry; `false` when its id is taken.
    pub async fn registry_add(&self, f: &crate::feeds::FeedSpec) -> Result<bool, FetcherError> {
        let done = sqlx::query(
            "INSERT INTO registry (id, url, title, category, interval_secs, added_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&f.id)
        .bind(&f.url)
        .bind(&f.title)
        .bind(&f.category)
        .bind(f.interval_secs.and_then(|i| i64::try_from(i).ok()))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(&format!("add feed {} ({})", f.id, f.url), e))?;
        if done.rows_affected() > 0 {
            self.bump_registry().await?;
        }
        Ok(done.rows_affected() > 0)
    }

    /// Remove feed `id` from the registry (and its state); `false` when it is not there.
    pub async fn registry_remove(&self, id: &str) -> Result<bool, FetcherError> {
        let done = sqlx::query("DELETE FROM registry WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(&format!("remove feed {id}"), e))?;
        if done.rows_affected() > 0 {
            self.bump_registry().await?;
            for table in [
                "DELETE FROM feeds WHERE id = ?",
                "DELETE FROM schedule WHERE id = ?",
                "DELETE FROM seen WHERE feed_id = ?",
            ] {
                sqlx::query(table)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| self.err(&format!("remove feed {id}"), e))?;
            }
        }
        Ok(done.rows_affected() > 0)
    }

    async fn bump_registry(&self) -> Result<(), FetcherError> {
        sqlx::query("UPDATE registry_version SET v = v + 1 WHERE k = 0")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err("registry version", e))?;
        Ok(())
    }

    /// Changes whenever the registry changes (a counter: an addition and a removal between
    /// two looks are still a change).
    pub async fn registry_signature(&self) -> Result<i64, FetcherError> {
        sqlx::query_scalar("SELECT v FROM registry_version WHERE k = 0")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err("registry", e))
    }

    /// Whether `story_id` of `feed_id` was published already.
    pub async fn is_seen(&self, feed_id: &str, story_id: &str) -> Result<bool, FetcherError> {
        let hit: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM seen WHERE feed_id = ? AND story_id = ?")
                .bind(feed_id)
                .bind(story_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(&format!("look up story {story_id} of {feed_id}"), e))?;
        Ok(hit.is_some())
    }

    /// Remember that `story_id` was delivered. Call only after the bus confirmed delivery.
    pub async fn mark_seen(&self, feed_id: &str, story_id: &str) -> Result<(), FetcherError> {
        sqlx::query("INSERT OR IGNORE INTO seen (feed_id, story_id, seen_at) VALUES (?, ?, ?)")
            .bind(feed_id)
            .bind(story_id)
            .bind(Utc::now().to_rfc3339())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(&format!("mark story {story_id} of {feed_id}"), e))?;
        Ok(())
    }

    /// Keep only the `keep` most recently inserted ids of `feed_id`.
    pub async fn trim_seen(&self, feed_id: &str, keep: usize) -> Result<(), FetcherError> {
        let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
        sqlx::query(
            "DELETE FROM seen WHERE feed_id = ?1 AND seq < (
               SELECT seq FROM seen WHERE feed_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(feed_id)
        .bind(keep - 1)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(&format!("trim seen ids of {feed_id}"), e))?;
        Ok(())
    }

    /// How many ids of `feed_id` are remembered.
    pub async fn seen_count(&self, feed_id: &str) -> Result<u64, FetcherError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM seen WHERE feed_id = ?")
            .bind(feed_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(&format!("count seen ids of {feed_id}"), e))?;
        Ok(n.max(0) as u64)
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn state_survives_reopen_and_seen_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut row = store.register("f", "https://a/rss").await.unwrap();
        assert_eq!(row.status, FeedStatus::Healthy);
        row.validators.etag = Some("\"v1\"".into());
        row.status = FeedStatus::Failing;
        row.consecutive_failures = 3;
        store.save("f", &row, Some("boom")).await.unwrap();
        for i in 0..10 {
            store.mark_seen("f", &format!("s{i}")).await.unwrap();
        }
        store.mark_seen("f", "s9").await.unwrap(); // idempotent
        store.trim_seen("f", 4).await.unwrap();
        assert_eq!(store.seen_count("f").await.unwrap(), 4);
        assert!(!store.is_seen("f", "s5").await.unwrap());
        assert!(store.is_seen("f", "s6").await.unwrap());
        assert!(store.is_seen("f", "s9").await.unwrap());
        assert!(!store.is_seen("other", "s9").await.unwrap());
        store.close().await;

        let store = Store::open(dir.path()).await.unwrap();
        let back = store.register("f", "https://a/rss").await.unwrap();
        assert_eq!(back, row);
        assert!(store.is_seen("f", "s9").await.unwrap());
        // A new URL drops the validators, keeps health.
        let moved = store.register("f", "https://b/rss").await.unwrap();
        assert_eq!(moved.validators, Validators::default());
        assert_eq!(moved.status, FeedStatus::Failing);
    }

    #[tokio::test]
    async fn many_feeds_register_in_one_batch_like_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        // An existing feed, failing, moved since (its configured URL unchanged), and one whose
        // configured URL changes.
        let mut kept = store.register("kept", "https://k/rss").await.unwrap();
        kept.url = "https://k2/rss".into();
        kept.status = FeedStatus::Failing;
        kept.validators.etag = Some("\"e\"".into());
        store.save("kept", &kept, None).await.unwrap();
        store.register("renamed", "https://old/rss").await.unwrap();
        // More feeds than one read chunk.
        let n = REGISTER_CHUNK * 2 + 7;
        let ids: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
        let urls: Vec<String> = (0..n).map(|i| format!("https://h{i}/rss")).collect();
        let mut feeds: Vec<(&str, &str)> = ids
            .iter()
            .zip(&urls)
            .map(|(i, u)| (i.as_str(), u.as_str()))
            .collect();
        feeds.insert(300, ("kept", "https://k/rss"));
        feeds.push(("renamed", "https://new/rss"));
        let rows = store.register_many(&feeds).await.unwrap();
        assert_eq!(rows.len(), feeds.len());
        assert_eq!(rows[300], kept, "a stored row comes back as stored");
        assert_eq!(rows[0].url, "https://h0/rss");
        assert_eq!(rows[feeds.len() - 2].url, urls[n - 1]);
        let renamed = &rows[feeds.len() - 1];
        assert_eq!(renamed.url, "https://new/rss");
        assert_eq!(renamed.configured_url, "https://new/rss");
        // Written: a second registration reads them back (and the states list has them all).
        let again = store.register_many(&feeds).await.unwrap();
        assert_eq!(again, rows);
        assert_eq!(store.feed_states().await.unwrap().len(), n + 2);
        assert!(store.register_many(&[]).await.unwrap().is_empty());
    }
}
