//! Durable state: per feed its validators and health, and the ids of the stories already
//! published, so a restart neither re-publishes nor forgets; the feed registry (`wirewatch
//! feeds add/import`); WebSub subscriptions; each feed's last success and next poll.
//!
//! Two back-ends with one schema and the same SQL (`$n` parameters, `ON CONFLICT`): SQLite
//! (`<data_dir>/fetcher.db`, WAL; the default, shared by processes on one host) and PostgreSQL
//! (`[fetcher] state_url`), which fetcher shards on different machines share. Each feed's
//! state rows are written only by the shard that polls it; the registry and its version
//! counter are shared by all.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
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
    pool: Pool,
    /// The SQLite file, or the PostgreSQL URL without its password (for errors).
    path: PathBuf,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$p` bound to the store's pool, whichever back-end it is (the SQL is the
/// same for both; each arm is type-checked against its own driver).
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// The tables, for either back-end: `{seq}` is the auto-increment key, `{int}` a 64-bit integer.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS feeds (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        status TEXT NOT NULL DEFAULT 'healthy',
        consecutive_failures {int} NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TEXT NOT NULL,
        configured_url TEXT
    )",
    // seq orders ids by insertion, so the oldest go first when a feed's set is trimmed.
    "CREATE TABLE IF NOT EXISTS seen (
        seq {seq},
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
        interval_secs {int},
        added_at TEXT NOT NULL
    )",
    // A counter bumped by every registry change (a running fetcher compares it).
    "CREATE TABLE IF NOT EXISTS registry_version (k {int} PRIMARY KEY CHECK (k = 0), v {int} NOT NULL)",
    "INSERT INTO registry_version (k, v) VALUES (0, 0) ON CONFLICT (k) DO NOTHING",
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
const SAVE_SQL: &str = "INSERT INTO feeds (id, url, etag, last_modified, status, consecutive_failures, last_error, updated_at, configured_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (id) DO UPDATE SET url = excluded.url, etag = excluded.etag,
       configured_url = excluded.configured_url,
       last_modified = excluded.last_modified, status = excluded.status,
       consecutive_failures = excluded.consecutive_failures,
       last_error = excluded.last_error, updated_at = excluded.updated_at";

/// [`SAVE_SQL`] with its arguments bound, for whichever back-end executes it.
macro_rules! save_query {
    ($id:expr, $row:expr, $last_error:expr) => {
        sqlx::query(SAVE_SQL)
            .bind($id)
            .bind(&$row.url)
            .bind(&$row.validators.etag)
            .bind(&$row.validators.last_modified)
            .bind(status_str($row.status))
            .bind(i64::from($row.consecutive_failures))
            .bind($last_error)
            .bind(Utc::now().to_rfc3339())
            .bind(&$row.configured_url)
    };
}

/// Keep the newest `$2 + 1` seen ids of feed `$1`.
const TRIM_SQL: &str = "DELETE FROM seen WHERE feed_id = $1 AND seq < (
    SELECT seq FROM seen WHERE feed_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)";

/// A change to the state, applied with others in one transaction by [`Store::apply`].
#[derive(Debug, Clone)]
pub enum Write {
    /// Remember that `ids` of `feed` were delivered (only after the bus confirmed them).
    Seen {
        /// Feed id.
        feed: String,
        /// Story ids.
        ids: Vec<String>,
    },
    /// Persist `feed`'s row (with its last error).
    Row {
        /// Feed id.
        feed: String,
        /// The row.
        row: FeedRow,
        /// The error of the last failed poll, if it failed.
        last_error: Option<String>,
    },
    /// Keep only the `keep` newest seen ids of `feed`.
    Trim {
        /// Feed id.
        feed: String,
        /// Ids kept.
        keep: usize,
    },
    /// Record when `feed` last succeeded (when `success`) and is next due (for `wirewatch
    /// feeds list`).
    Checkpoint {
        /// Feed id.
        feed: String,
        /// When the poll succeeded (`None`: it failed; the last success is kept).
        success: Option<chrono::DateTime<Utc>>,
        /// When the feed is next due.
        next_poll: chrono::DateTime<Utc>,
    },
}

/// The upsert of a feed's schedule row.
const CHECKPOINT_SQL: &str =
    "INSERT INTO schedule (id, last_success_at, next_poll_at) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET next_poll_at = excluded.next_poll_at,
       last_success_at = COALESCE(excluded.last_success_at, schedule.last_success_at)";

/// A connection taken from the store's pool and kept by its user ([`crate::writer`]) across
/// many transactions: no pool checkout per commit, and no test query when it goes back (the
/// pool pings every connection returned to it, a round trip to SQLite's thread each time).
pub enum Held {
    /// SQLite.
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

/// Run `$body` with `$c` bound to the held connection, whichever back-end it is.
macro_rules! on_held {
    ($held:expr, $c:ident => $body:expr) => {
        match $held {
            Held::Sqlite($c) => $body,
            Held::Postgres($c) => $body,
        }
    };
}

/// Which SQL dialect a statement of [`SCHEMA`] is made for.
fn schema_sql(stmt: &str, postgres: bool) -> String {
    let (seq, int) = if postgres {
        ("BIGSERIAL PRIMARY KEY", "BIGINT")
    } else {
        ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER")
    };
    stmt.replace("{seq}", seq).replace("{int}", int)
}

/// An arbitrary key for PostgreSQL's advisory lock around schema creation.
const SCHEMA_LOCK_KEY: i64 = 0x7769_7265_6665_7463; // "wirefetc"

impl Store {
    /// Open the state named by the configuration: PostgreSQL when `state_url` is set (shared
    /// by fetchers on several machines), else SQLite under `data_dir`.
    pub async fn open_at(data_dir: &Path, state_url: Option<&str>) -> Result<Store, FetcherError> {
        match state_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Self::open_postgres(url).await,
            None => Self::open(data_dir).await,
        }
    }

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
        // Two connections: the poller's group commit (`crate::writer`) holds one for its
        // lifetime and does the hot reads and writes on it; the other serves the rest (the
        // registry, WebSub, `feeds list`). More would only invalidate each other's page
        // caches on every commit (SQLite writes one at a time anyway).
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            // A local file, not a network peer: a ping before each query only cost a round
            // trip to the connection's thread (a tenth of the database's time at 10,000 feeds).
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(|e| err(e.to_string()))?;
        for stmt in SCHEMA {
            sqlx::query(&schema_sql(stmt, false))
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
        Ok(Store {
            pool: Pool::Sqlite(pool),
            path,
        })
    }

    async fn open_postgres(url: &str) -> Result<Store, FetcherError> {
        let path = PathBuf::from(wirewatch_runtime::config::redact_url(url));
        let err = |detail: String| FetcherError::State {
            path: path.clone(),
            detail,
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| err(e.to_string()))?;
        // `CREATE TABLE IF NOT EXISTS` is not safe when several fetchers start at once: they
        // create the tables one at a time, under an advisory lock held by the transaction.
        let mut tx = pool.begin().await.map_err(|e| err(e.to_string()))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(|e| err(e.to_string()))?;
        for stmt in SCHEMA {
            sqlx::query(&schema_sql(stmt, true))
                .execute(&mut *tx)
                .await
                .map_err(|e| err(e.to_string()))?;
        }
        tx.commit().await.map_err(|e| err(e.to_string()))?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            path,
        })
    }

    /// The SQLite file, or the PostgreSQL URL without its password (named in errors).
    pub fn path(&self) -> &Path {
        &self.path
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
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, url, etag, last_modified, status, consecutive_failures, configured_url FROM feeds WHERE id IN ({})",
                params.join(", ")
            );
            let found: Vec<FeedDbRow> = on_pool!(self, p => {
                let mut q = sqlx::query_as::<_, FeedDbRow>(&sql);
                for (id, _) in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(p).await
            })
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
            let write = |i: usize| feeds.get(i).map(|f| f.0).zip(rows.get(i));
            on_pool!(self, p => async {
                let mut tx = p.begin().await?;
                for (id, row) in changed.iter().filter_map(|&i| write(i)) {
                    save_query!(id, row, None::<&str>).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await)
            .map_err(|e| self.err(&format!("register {} feeds", changed.len()), e))?;
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
        on_pool!(self, p => save_query!(id, row, last_error)
            .execute(p)
            .await
            .map(|_| ()))
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
        self.apply(&[Write::Checkpoint {
            feed: id.to_string(),
            success,
            next_poll,
        }])
        .await
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
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(
            "SELECT f.id, f.url, f.status, f.consecutive_failures, f.last_error, s.last_success_at, s.next_poll_at
             FROM feeds f LEFT JOIN schedule s ON s.id = f.id ORDER BY f.id",
        )
        .fetch_all(p)
        .await)
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
        let row: Option<Row> = on_pool!(self, p => sqlx::query_as(
            "SELECT hub, topic, secret, lease_until, last_push_at, requested_at FROM websub WHERE feed_id = $1",
        )
        .bind(feed_id)
        .fetch_optional(p)
        .await)
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
        on_pool!(self, p => sqlx::query(
            "INSERT INTO websub (feed_id, hub, topic, secret, requested_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (feed_id) DO UPDATE SET hub = excluded.hub, topic = excluded.topic,
               secret = excluded.secret, requested_at = excluded.requested_at",
        )
        .bind(feed_id)
        .bind(hub)
        .bind(topic)
        .bind(secret)
        .bind(Utc::now().to_rfc3339())
        .execute(p)
        .await
        .map(|_| ()))
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
            "UPDATE websub SET lease_until = $1 WHERE feed_id = $2",
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
            "UPDATE websub SET last_push_at = $1 WHERE feed_id = $2",
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
        on_pool!(self, p => sqlx::query(sql)
            .bind(at.to_rfc3339())
            .bind(feed_id)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| self.err(&format!("websub of {feed_id}"), e))?;
        Ok(())
    }

    /// The feeds added with `wirewatch feeds add` / `feeds import`.
    pub async fn registry_feeds(&self) -> Result<Vec<crate::feeds::FeedSpec>, FetcherError> {
        type Row = (String, String, Option<String>, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, url, title, category, interval_secs FROM registry ORDER BY added_at, id",
        )
        .fetch_all(p)
        .await)
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
        let added = on_pool!(self, p => sqlx::query(
            "INSERT INTO registry (id, url, title, category, interval_secs, added_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&f.id)
        .bind(&f.url)
        .bind(&f.title)
        .bind(&f.category)
        .bind(f.interval_secs.and_then(|i| i64::try_from(i).ok()))
        .bind(Utc::now().to_rfc3339())
        .execute(p)
        .await
        .map(|done| done.rows_affected() > 0))
        .map_err(|e| self.err(&format!("add feed {} ({})", f.id, f.url), e))?;
        if added {
            self.bump_registry().await?;
        }
        Ok(added)
    }

    /// Remove feed `id` from the registry (and its state); `false` when it is not there.
    pub async fn registry_remove(&self, id: &str) -> Result<bool, FetcherError> {
        let removed = self
            .delete("DELETE FROM registry WHERE id = $1", id)
            .await?;
        if removed {
            self.bump_registry().await?;
            for table in [
                "DELETE FROM feeds WHERE id = $1",
                "DELETE FROM schedule WHERE id = $1",
                "DELETE FROM seen WHERE feed_id = $1",
            ] {
                self.delete(table, id).await?;
            }
        }
        Ok(removed)
    }

    /// Run a `DELETE … WHERE … = $1` for feed `id`; whether it removed anything.
    async fn delete(&self, sql: &'static str, id: &str) -> Result<bool, FetcherError> {
        on_pool!(self, p => sqlx::query(sql)
            .bind(id)
            .execute(p)
            .await
            .map(|done| done.rows_affected() > 0))
        .map_err(|e| self.err(&format!("remove feed {id}"), e))
    }

    async fn bump_registry(&self) -> Result<(), FetcherError> {
        on_pool!(self, p => sqlx::query("UPDATE registry_version SET v = v + 1 WHERE k = 0")
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| self.err("registry version", e))?;
        Ok(())
    }

    /// Changes whenever the registry changes (a counter: an addition and a removal between
    /// two looks are still a change).
    pub async fn registry_signature(&self) -> Result<i64, FetcherError> {
        on_pool!(self, p => sqlx::query_scalar("SELECT v FROM registry_version WHERE k = 0")
            .fetch_one(p)
            .await)
        .map_err(|e| self.err("registry", e))
    }

    /// Take a connection out of the pool for [`Self::apply_on`] and [`Self::seen_among_on`]
    /// (dropped, it goes back).
    pub async fn hold(&self) -> Result<Held, FetcherError> {
        match &self.pool {
            Pool::Sqlite(p) => p.acquire().await.map(Held::Sqlite),
            Pool::Postgres(p) => p.acquire().await.map(Held::Postgres),
        }
        .map_err(|e| self.err("connect", e))
    }

    /// Apply `writes` in one transaction (all or none).
    pub async fn apply(&self, writes: &[Write]) -> Result<(), FetcherError> {
        let mut held = self.hold().await?;
        self.apply_on(&mut held, writes).await
    }

    /// [`Self::apply`] on a held connection: the poller's group commit (see
    /// [`crate::writer`]) — one commit for the writes of many polls instead of one each.
    pub async fn apply_on(&self, held: &mut Held, writes: &[Write]) -> Result<(), FetcherError> {
        let now = Utc::now().to_rfc3339();
        on_held!(held, c => async {
            let mut tx = sqlx::Connection::begin(&mut **c).await?;
            for w in writes {
                match w {
                    Write::Seen { feed, ids } => {
                        // One statement per 300 ids (900 parameters: within SQLite's limit).
                        for chunk in ids.chunks(300) {
                            let mut q = sqlx::QueryBuilder::new(
                                "INSERT INTO seen (feed_id, story_id, seen_at) ",
                            );
                            q.push_values(chunk, |mut b, id| {
                                b.push_bind(feed).push_bind(id).push_bind(&now);
                            });
                            q.push(" ON CONFLICT (feed_id, story_id) DO NOTHING");
                            q.build().execute(&mut *tx).await?;
                        }
                    }
                    Write::Row { feed, row, last_error } => {
                        save_query!(feed, row, last_error.as_deref())
                            .execute(&mut *tx)
                            .await?;
                    }
                    Write::Trim { feed, keep } => {
                        let keep = i64::try_from((*keep).max(1)).unwrap_or(i64::MAX);
                        sqlx::query(TRIM_SQL)
                            .bind(feed)
                            .bind(keep - 1)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Write::Checkpoint { feed, success, next_poll } => {
                        sqlx::query(CHECKPOINT_SQL)
                            .bind(feed)
                            .bind(success.map(|t| t.to_rfc3339()))
                            .bind(next_poll.to_rfc3339())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await
        }
        .await)
        .map_err(|e| self.err(&format!("write {} state changes", writes.len()), e))
    }

    /// Which of `story_ids` of `feed_id` were published already (one query per 500 ids).
    pub async fn seen_among(
        &self,
        feed_id: &str,
        story_ids: &[String],
    ) -> Result<Vec<String>, FetcherError> {
        let mut held = self.hold().await?;
        self.seen_among_on(&mut held, feed_id, story_ids).await
    }

    /// [`Self::seen_among`] on a held connection.
    pub async fn seen_among_on(
        &self,
        held: &mut Held,
        feed_id: &str,
        story_ids: &[String],
    ) -> Result<Vec<String>, FetcherError> {
        let mut found = Vec::new();
        for chunk in story_ids.chunks(500) {
            let hits: Vec<String> = on_held!(held, c => {
                let mut q = sqlx::QueryBuilder::new("SELECT story_id FROM seen WHERE feed_id = ");
                q.push_bind(feed_id).push(" AND story_id IN (");
                let mut ids = q.separated(", ");
                for id in chunk {
                    ids.push_bind(id);
                }
                q.push(")");
                q.build_query_scalar().fetch_all(&mut **c).await
            })
            .map_err(|e| {
                self.err(
                    &format!("look up {} story ids of {feed_id}", chunk.len()),
                    e,
                )
            })?;
            found.extend(hits);
        }
        Ok(found)
    }

    /// Whether `story_id` of `feed_id` was published already.
    pub async fn is_seen(&self, feed_id: &str, story_id: &str) -> Result<bool, FetcherError> {
        let found = self.seen_among(feed_id, &[story_id.to_string()]).await?;
        Ok(!found.is_empty())
    }

    /// Remember that `story_id` was delivered. Call only after the bus confirmed delivery.
    pub async fn mark_seen(&self, feed_id: &str, story_id: &str) -> Result<(), FetcherError> {
        self.apply(&[Write::Seen {
            feed: feed_id.into(),
            ids: vec![story_id.into()],
        }])
        .await
    }

    /// Keep only the `keep` most recently inserted ids of `feed_id`.
    pub async fn trim_seen(&self, feed_id: &str, keep: usize) -> Result<(), FetcherError> {
        self.apply(&[Write::Trim {
            feed: feed_id.into(),
            keep,
        }])
        .await
    }

    /// How many ids of `feed_id` are remembered.
    pub async fn seen_count(&self, feed_id: &str) -> Result<u64, FetcherError> {
        let n: i64 =
            on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM seen WHERE feed_id = $1")
            .bind(feed_id)
            .fetch_one(p)
            .await)
            .map_err(|e| self.err(&format!("count seen ids of {feed_id}"), e))?;
        Ok(n.max(0) as u64)
    }

    /// Close the pool (flushes SQLite's WAL).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}
