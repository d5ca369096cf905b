//! [`Store`]: the database behind one interface, SQLite (embedded default) or PostgreSQL
//! (chosen by `store.url`), its writes and its queries.
//!
//! Both back-ends have the same tables and columns (`migrations/sqlite`, `migrations/postgres`,
//! each versioned by sqlx's migrator), so every statement except full-text search is one SQL
//! text run against either pool: the [`with_pool!`] macro expands a block once per back-end,
//! and parameters are written `$1, $2, …` in order, which SQLite reads as numbered names.
//! Full-text search differs: FTS5 (external content, kept in step by triggers, ranked by bm25)
//! on SQLite; a stored weighted `tsvector` with a GIN index (ranked by `ts_rank`) on
//! PostgreSQL.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use wirewatch_proto::v1::{Alert, DeadLetter, DuplicateLink, EnrichedStory, FeedHealth};

use crate::config::{redact_url, StoreConfig};
use crate::error::StoreError;
use crate::metrics::{metrics, STAGE};
use crate::query::{Cursor, SearchQuery, Sort, TextQuery, MAX_LIMIT, MAX_OFFSET};
use crate::rows::{
    fts_bucket, fts_bucket_last, fts_bucket_start, fts_rowid, ts, AlertRow, DeadLetterRow,
    FeedHealthRow, LinkRow, StoryRow, FTS_SEQ_BITS,
};

/// The SQLite schema, applied in order on open (`_sqlx_migrations` records what ran).
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL schema.
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Page size set before the first table is created (larger pages suit the long text
/// columns and the FTS index).
const PAGE_SIZE: u32 = 16_384;

/// Most duplicates, alerts and cluster members returned with one story or cluster.
pub const MAX_RELATED: i64 = 500;

/// Most feeds listed by [`Store::feeds`].
pub const MAX_FEEDS: i64 = 10_000;

/// Row counts, for `/api/stats`, tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Enriched stories.
    pub stories: u64,
    /// Duplicate links.
    pub duplicates: u64,
    /// Alerts delivered.
    pub alerts: u64,
    /// Feed-health events.
    pub feed_health: u64,
    /// Dead letters.
    pub dead_letters: u64,
}

/// What a batch of story upserts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// New rows.
    pub inserted: u64,
    /// Existing rows that took newer content.
    pub updated: u64,
    /// Redeliveries, and older versions of stored stories: nothing written.
    pub unchanged: u64,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The stories, as stored event JSON.
    pub stories: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// Which database a [`Store`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl BackendKind {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$p` bound to the pool of whichever back-end `$store` uses. The body is
/// compiled once per back-end, so the same sqlx calls type-check against each database.
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($p) => $body,
            Backend::Postgres($p) => $body,
        }
    };
}

/// Append the search filters shared by both back-ends to a query builder whose SQL so far
/// ends inside a `WHERE` (`stories` is aliased `s`).
macro_rules! push_filters {
    ($qb:expr, $q:expr) => {
        push_filters!($qb, $q, country_in_index = false)
    };
    // `country_in_index`: the country is already part of SQLite's full-text MATCH (its tag).
    ($qb:expr, $q:expr, country_in_index = $skip_country:expr) => {{
        let q: &SearchQuery = $q;
        if let Some(topic) = &q.topic {
            $qb.push(
                " AND EXISTS (SELECT 1 FROM story_topics t WHERE t.story_id = s.id AND t.topic = ",
            )
            .push_bind(crate::rows::norm_topic(topic))
            .push(")");
        }
        if let Some(country) = q.country.as_ref().filter(|_| !$skip_country) {
            $qb.push(
                " AND EXISTS (SELECT 1 FROM story_countries c WHERE c.story_id = s.id AND c.country = ",
            )
            .push_bind(crate::rows::norm_country(country))
            .push(")");
        }
        if let Some(entity) = &q.entity {
            $qb.push(
                " AND EXISTS (SELECT 1 FROM story_entities e WHERE e.story_id = s.id AND e.entity = ",
            )
            .push_bind(entity.clone())
            .push(")");
        }
        if let Some(source) = &q.source {
            $qb.push(" AND s.feed_id = ").push_bind(source.clone());
        }
        if let Some(language) = &q.language {
            $qb.push(" AND s.language = ").push_bind(language.clone());
        }
        if let Some(sev) = q.min_severity {
            $qb.push(" AND s.severity >= ").push_bind(i64::from(sev));
        }
        if let Some(since) = q.since {
            $qb.push(" AND s.sort_at >= ").push_bind(ts(since));
        }
        if let Some(until) = q.until {
            $qb.push(" AND s.sort_at < ").push_bind(ts(until));
        }
    }};
}

/// Append the time-order keyset condition of `q`'s cursor (rows strictly after it, newest
/// first) to a query builder inside a `WHERE`; nothing without a time cursor.
macro_rules! push_after {
    ($qb:expr, $q:expr) => {{
        let q: &SearchQuery = $q;
        if let Some(Cursor::Time {
            sort_at,
            fetched_at,
            seq,
        }) = &q.after
        {
            $qb.push(" AND (s.sort_at, s.fetched_at, s.seq) < (")
                .push_bind(sort_at.clone())
                .push(", ")
                .push_bind(fetched_at.clone())
                .push(", ")
                .push_bind(*seq)
                .push(")");
        }
    }};
}

/// The store database. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    path: Arc<PathBuf>,
    batch_max_rows: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind().as_str())
            .field("path", &self.path)
            .finish()
    }
}

impl Store {
    /// Open the database and apply the migrations: PostgreSQL when `cfg.url` is set, else the
    /// SQLite file at `cfg.path` or `<data_dir>/store.db` (created if missing). Fails on an
    /// unusable config, an unwritable directory, a file that is not a database, a server that
    /// cannot be reached, or a schema newer than this build knows.
    pub async fn open(cfg: &StoreConfig, data_dir: &Path) -> Result<Self, StoreError> {
        if cfg.max_connections == 0 {
            return Err(StoreError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        if cfg.batch_max_rows == 0 {
            return Err(StoreError::Config(
                "batch_max_rows must be at least 1".into(),
            ));
        }
        if cfg.retention_batch_rows == 0 {
            return Err(StoreError::Config(
                "retention_batch_rows must be at least 1".into(),
            ));
        }
        let (backend, path) = match cfg.url.as_deref() {
            Some(url) if cfg.is_postgres() => (Self::open_postgres(cfg, url).await?, {
                PathBuf::from(redact_url(url))
            }),
            Some(url) => {
                return Err(StoreError::Config(format!(
                    "url {} must start with postgres:// (leave it out for SQLite)",
                    redact_url(url)
                )))
            }
            None => {
                let path = cfg.db_path(data_dir);
                (Self::open_sqlite(cfg, &path).await?, path)
            }
        };
        let store = Store {
            backend,
            path: Arc::new(path),
            batch_max_rows: cfg.batch_max_rows,
        };
        crate::metrics::touch();
        let stats = store.stats().await?;
        metrics()
            .stories
            .with_label_values(&[STAGE])
            .set(i64::try_from(stats.stories).unwrap_or(i64::MAX));
        tracing::info!(backend = store.kind().as_str(), path = %store.path.display(), stories = stats.stories, "store database open");
        Ok(store)
    }

    async fn open_sqlite(cfg: &StoreConfig, path: &Path) -> Result<Backend, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        // sqlx sets page_size first, before journal_mode and before any table exists.
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms.max(1)))
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        SQLITE_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Backend::Sqlite(pool))
    }

    async fn open_postgres(cfg: &StoreConfig, url: &str) -> Result<Backend, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms.max(1)))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source,
            })?;
        PG_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::MigratePostgres {
                url: redact_url(url),
                source,
            })?;
        Ok(Backend::Postgres(pool))
    }

    /// Which database this is.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The SQLite database file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite pool, for tools and tests; `None` on PostgreSQL.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(p) => Some(p),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for tools and tests; `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(p) => Some(p),
            Backend::Sqlite(_) => None,
        }
    }

    /// Close the pool, waiting for connections to be returned (checkpoints the WAL).
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    /// The statement that starts a write transaction. On SQLite, IMMEDIATE takes the write
    /// lock up front (waiting up to busy_timeout), so the existence check and the write see
    /// the same database.
    fn begin_write(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        }
    }

    async fn timed<T>(
        kind: &'static str,
        n: u64,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let m = metrics();
        let start = Instant::now();
        let r = fut.await;
        m.write_seconds
            .with_label_values(&[STAGE, kind])
            .observe(start.elapsed().as_secs_f64());
        match &r {
            Ok(_) => m.writes.with_label_values(&[STAGE, kind]).inc_by(n),
            Err(_) => m.write_errors.with_label_values(&[STAGE, kind]).inc(),
        }
        r
    }

    /// Insert or update a story, its topic, country and entity rows and its full-text entry,
    /// in one transaction. A redelivery (same content) or an older classification of a
    /// stored story changes nothing.
    pub async fn upsert_story(&self, s: &EnrichedStory) -> Result<(), StoreError> {
        self.upsert_stories(std::slice::from_ref(s))
            .await
            .map(|_| ())
    }

    /// Upsert many stories, `batch_max_rows` per transaction (one commit amortised over the
    /// batch: the difference between fsync-bound and CPU-bound ingestion). Every story is
    /// validated before anything is written, so an invalid one fails the whole call with
    /// [`StoreError::Invalid`] and writes nothing; callers that need to isolate it (the sink)
    /// retry the stories one by one.
    pub async fn upsert_stories(
        &self,
        stories: &[EnrichedStory],
    ) -> Result<BatchOutcome, StoreError> {
        let rows = stories
            .iter()
            .map(StoryRow::from_event)
            .collect::<Result<Vec<_>, _>>()?;
        let mut total = BatchOutcome::default();
        for chunk in rows.chunks(self.batch_max_rows.max(1)) {
            let n = chunk.len() as u64;
            let o = Self::timed("story", n, self.write_stories(chunk)).await?;
            metrics()
                .batch_rows
                .with_label_values(&[STAGE])
                .observe(n as f64);
            if o.inserted > 0 {
                metrics()
                    .stories
                    .with_label_values(&[STAGE])
                    .add(i64::try_from(o.inserted).unwrap_or(i64::MAX));
            }
            total.inserted += o.inserted;
            total.updated += o.updated;
            total.unchanged += o.unchanged;
        }
        tracing::debug!(stories = rows.len(), ?total, "stories stored");
        Ok(total)
    }

    /// Write one batch in one transaction with multi-row statements: look up which ids
    /// exist, upsert all rows (the conflict clause skips redeliveries and older versions;
    /// `RETURNING id` names the rows written), then rewrite the side rows of the written
    /// stories. A story twice in one batch is written once, in its newest version.
    async fn write_stories(&self, rows: &[StoryRow]) -> Result<BatchOutcome, StoreError> {
        let first_id = rows.first().map(|r| r.id.clone()).unwrap_or_default();
        let werr = |source| StoreError::Write {
            kind: "story",
            id: first_id.clone(),
            source,
        };
        // Older duplicates within the batch are redeliveries as far as the caller cares.
        let all = rows.len() as u64;
        let mut rows = newest_per_id(rows);
        // Oldest first: new stories then get rising `seq`s in time order, so their SQLite
        // full-text rowids (time bucket, seq) rise too, and FTS5 writes one segment per
        // transaction instead of flushing at every rowid that goes backwards.
        rows.sort_by(|a, b| a.sort_at.cmp(&b.sort_at));
        let mut out = BatchOutcome {
            unchanged: all - rows.len() as u64,
            inserted: 0,
            updated: 0,
        };
        let stored_at = ts(chrono::Utc::now());
        let begin = self.begin_write();
        let (existing, written): (HashSet<String>, HashSet<String>) = with_pool!(self, p => {
            let mut tx = p.begin_with(begin).await.map_err(werr)?;
            let mut existing = HashSet::new();
            let mut written = HashSet::new();
            for part in rows.chunks(ROWS_PER_STATEMENT) {
                let mut qb = QueryBuilder::new("SELECT id FROM stories WHERE id IN (");
                let mut sep = qb.separated(", ");
                for r in part {
                    sep.push_bind(r.id.clone());
                }
                qb.push(")");
                let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(werr)?;
                existing.extend(ids);
                let mut qb = QueryBuilder::new(UPSERT_STORY_HEAD);
                qb.push_values(part, |mut b, r| {
                    b.push_bind(r.id.clone())
                        .push_bind(r.cluster_id.clone())
                        .push_bind(r.feed_id.clone())
                        .push_bind(r.feed_url.clone())
                        .push_bind(r.title.clone())
                        .push_bind(r.link.clone())
                        .push_bind(r.summary.clone())
                        .push_bind(r.content.clone())
                        .push_bind(r.language.clone())
                        .push_bind(r.severity)
                        .push_bind(r.published.clone())
                        .push_bind(r.fetched_at.clone())
                        .push_bind(r.classified_at.clone())
                        .push_bind(r.sort_at.clone())
                        .push_bind(r.topics_json.clone())
                        .push_bind(r.countries_json.clone())
                        .push_bind(r.entities_json.clone())
                        .push_bind(r.raw.clone())
                        .push_bind(stored_at.clone());
                });
                qb.push(UPSERT_STORY_TAIL);
                let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(werr)?;
                let part_written: Vec<&StoryRow> = part.iter().copied().filter(|r| ids.contains(&r.id)).collect();
                written.extend(ids);
                if part_written.is_empty() {
                    continue;
                }
                let rewritten: Vec<&&StoryRow> = part_written.iter().filter(|r| existing.contains(&r.id)).collect();
                if !rewritten.is_empty() {
                    for table in ["story_topics", "story_countries", "story_entities"] {
                        let mut qb = QueryBuilder::new(format!("DELETE FROM {table} WHERE story_id IN ("));
                        let mut sep = qb.separated(", ");
                        for r in &rewritten {
                            sep.push_bind(r.id.clone());
                        }
                        qb.push(")");
                        qb.build().execute(&mut *tx).await.map_err(werr)?;
                    }
                }
                let topics: Vec<(&str, &str, f64)> = part_written
                    .iter()
                    .flat_map(|r| r.topics.iter().map(|(t, sc)| (r.id.as_str(), t.as_str(), *sc)))
                    .collect();
                for chunk in topics.chunks(SIDE_ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::new("INSERT INTO story_topics (story_id, topic, score) ");
                    qb.push_values(chunk, |mut b, (id, t, sc)| {
                        b.push_bind(id.to_string()).push_bind(t.to_string()).push_bind(*sc);
                    });
                    qb.build().execute(&mut *tx).await.map_err(werr)?;
                }
                for (table, pick) in [
                    ("story_countries (story_id, country)", 0),
                    ("story_entities (story_id, entity)", 1),
                ] {
                    let pairs: Vec<(&str, &str)> = part_written
                        .iter()
                        .flat_map(|r| {
                            let list = if pick == 0 { &r.countries } else { &r.entity_ids };
                            list.iter().map(|v| (r.id.as_str(), v.as_str()))
                        })
                        .collect();
                    for chunk in pairs.chunks(SIDE_ROWS_PER_STATEMENT) {
                        let mut qb = QueryBuilder::new(format!("INSERT INTO {table} "));
                        qb.push_values(chunk, |mut b, (id, v)| {
                            b.push_bind(id.to_string()).push_bind(v.to_string());
                        });
                        qb.build().execute(&mut *tx).await.map_err(werr)?;
                    }
                }
            }
            tx.commit().await.map_err(werr)?;
            (existing, written)
        });
        for r in &rows {
            match (written.contains(&r.id), existing.contains(&r.id)) {
                (true, true) => out.updated += 1,
                (true, false) => out.inserted += 1,
                (false, _) => out.unchanged += 1,
            }
        }
        Ok(out)
    }

    /// Insert a duplicate link unless its id is already stored. The original story may not
    /// be stored yet: links are joined to stories at query time.
    pub async fn upsert_link(&self, l: &DuplicateLink) -> Result<(), StoreError> {
        Self::timed("link", 1, async {
            let r = LinkRow::from_event(l)?;
            let werr = |source| StoreError::Write {
                kind: "link",
                id: r.id.clone(),
                source,
            };
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO duplicates (id, story_id, duplicate_of, cluster_id, rule, score, \
                       link, title, feed_id, raw, deduped_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT(id) DO NOTHING",
                )
                .bind(&r.id)
                .bind(&r.story_id)
                .bind(&r.duplicate_of)
                .bind(&r.cluster_id)
                .bind(r.rule)
                .bind(r.score)
                .bind(&r.link)
                .bind(&r.title)
                .bind(&r.feed_id)
                .bind(&r.raw)
                .bind(&r.deduped_at)
                .execute(p)
                .await
                .map_err(werr)?;
            });
            Ok(())
        })
        .await
    }

    /// Insert an alert unless its id is already stored.
    pub async fn upsert_alert(&self, a: &Alert) -> Result<(), StoreError> {
        Self::timed("alert", 1, async {
            let r = AlertRow::from_event(a)?;
            let werr = |source| StoreError::Write {
                kind: "alert",
                id: r.id.clone(),
                source,
            };
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO alerts (id, subscription_id, story_id, raw, delivered_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT(id) DO NOTHING",
                )
                .bind(&r.id)
                .bind(&r.subscription_id)
                .bind(&r.story_id)
                .bind(&r.raw)
                .bind(&r.delivered_at)
                .execute(p)
                .await
                .map_err(werr)?;
            });
            Ok(())
        })
        .await
    }

    /// Insert a feed-health event unless its id is already stored.
    pub async fn upsert_feed_health(&self, h: &FeedHealth) -> Result<(), StoreError> {
        Self::timed("feed_health", 1, async {
            let r = FeedHealthRow::from_event(h)?;
            let werr = |source| StoreError::Write {
                kind: "feed_health",
                id: r.id.clone(),
                source,
            };
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO feed_health (id, feed_id, status, raw, observed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT(id) DO NOTHING",
                )
                .bind(&r.id)
                .bind(&r.feed_id)
                .bind(r.status)
                .bind(&r.raw)
                .bind(&r.observed_at)
                .execute(p)
                .await
                .map_err(werr)?;
            });
            Ok(())
        })
        .await
    }

    /// Insert a dead letter unless its id is already stored.
    pub async fn upsert_dead_letter(&self, d: &DeadLetter) -> Result<(), StoreError> {
        Self::timed("dead_letter", 1, async {
            let r = DeadLetterRow::from_event(d)?;
            let werr = |source| StoreError::Write {
                kind: "dead_letter",
                id: r.id.clone(),
                source,
            };
            with_pool!(self, p => {
                sqlx::query(
                    "INSERT INTO dead_letters (id, stage, topic, reason, raw, failed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(id) DO NOTHING",
                )
                .bind(&r.id)
                .bind(&r.stage)
                .bind(&r.topic)
                .bind(&r.reason)
                .bind(&r.raw)
                .bind(&r.failed_at)
                .execute(p)
                .await
                .map_err(werr)?;
            });
            Ok(())
        })
        .await
    }

    /// Stories matching `q` in its order, as the stored event JSON (one page; see
    /// [`Store::search_page`] for the cursor). A bad `q` is reported as an invalid parameter,
    /// never as a server error.
    pub async fn search(&self, q: &SearchQuery) -> Result<Vec<Value>, StoreError> {
        Ok(self.search_page(q).await?.stories)
    }

    /// One page of stories matching `q`, and the cursor of the next page.
    pub async fn search_page(&self, q: &SearchQuery) -> Result<Page, StoreError> {
        let text = match &q.text {
            Some(t) => TextQuery::parse(t)?,
            None => None,
        };
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let relevance = q.sort == Sort::Relevance && text.is_some();
        let offset = if relevance || q.after.is_none() {
            q.offset.min(MAX_OFFSET)
        } else {
            0
        };
        if let (Backend::Sqlite(p), Some(t), false) = (&self.backend, &text, relevance) {
            let rows = search_time_fts(p, q, t, limit, offset).await?;
            return page_from_rows(&rows, limit, false, offset);
        }
        let qerr = |e| query_error("search", e);
        let rows: Vec<(i64, String, String, String, String)> = with_pool!(self, p => {
            let pg = matches!(self.backend, Backend::Postgres(_));
            let mut qb = QueryBuilder::new("SELECT s.seq, s.id, s.raw, s.sort_at, s.fetched_at FROM ");
            match (&text, relevance, pg) {
                (Some(t), true, false) => {
                    qb.push(FTS_JOIN).push_bind(t.to_fts5_indexed(q.country.as_deref()));
                }
                (Some(t), true, true) => {
                    qb.push("stories s, to_tsquery('simple', ")
                        .push_bind(t.to_tsquery())
                        .push(") query WHERE s.tsv @@ query");
                }
                (Some(_), false, false) => {
                    unreachable!("newest-first full-text search on SQLite is search_time_fts")
                }
                (Some(t), false, true) => {
                    qb.push("stories s WHERE s.tsv @@ to_tsquery('simple', ")
                        .push_bind(t.to_tsquery())
                        .push(")");
                }
                (None, _, _) => {
                    qb.push("stories s WHERE 1 = 1");
                }
            }
            // On SQLite the country of a full-text query is a tag in the MATCH.
            let country_in_index = !pg && text.is_some();
            push_filters!(qb, q, country_in_index = country_in_index);
            if !relevance {
                push_after!(qb, q);
            }
            match (relevance, pg) {
                // bm25 weights per column (title, summary, content); lower is better.
                (true, false) => qb.push(" ORDER BY bm25(stories_fts, 10.0, 4.0, 4.0, 0.0), s.seq DESC"),
                // ts_rank's default weights: A (title) 1.0, B (summary, content) 0.4.
                (true, true) => qb.push(" ORDER BY ts_rank(s.tsv, query) DESC, s.seq DESC"),
                (false, _) => qb.push(" ORDER BY s.sort_at DESC, s.fetched_at DESC, s.seq DESC"),
            };
            qb.push(" LIMIT ")
                .push_bind(i64::from(limit))
                .push(" OFFSET ")
                .push_bind(i64::from(offset));
            let rows = qb.build().fetch_all(p).await.map_err(qerr)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i64, _>(0).map_err(qerr)?,
                        r.try_get::<String, _>(1).map_err(qerr)?,
                        r.try_get::<String, _>(2).map_err(qerr)?,
                        r.try_get::<String, _>(3).map_err(qerr)?,
                        r.try_get::<String, _>(4).map_err(qerr)?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        });
        page_from_rows(&rows, limit, relevance, offset)
    }

    /// How many stories match `q`, ignoring `limit`, `offset` and the cursor.
    pub async fn count(&self, q: &SearchQuery) -> Result<u64, StoreError> {
        let text = match &q.text {
            Some(t) => TextQuery::parse(t)?,
            None => None,
        };
        if let (Backend::Sqlite(p), Some(t)) = (&self.backend, &text) {
            return count_fts(p, q, t).await;
        }
        let n: i64 = with_pool!(self, p => {
            let pg = matches!(self.backend, Backend::Postgres(_));
            let mut qb = QueryBuilder::new("SELECT count(*) FROM stories s WHERE 1 = 1");
            match (&text, pg) {
                (Some(_), false) => unreachable!("SQLite full-text counts are count_fts"),
                (Some(t), true) => {
                    qb.push(" AND s.tsv @@ to_tsquery('simple', ")
                        .push_bind(t.to_tsquery())
                        .push(")");
                }
                (None, _) => {}
            }
            push_filters!(qb, q);
            qb.build_query_scalar()
                .fetch_one(p)
                .await
                .map_err(|e| query_error("count", e))?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn links_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let qerr = |e| query_error("links", e);
        let sql = format!(
            "SELECT id, story_id, duplicate_of, cluster_id, rule, score, link, title, feed_id, \
               deduped_at FROM duplicates WHERE {column} = $1 ORDER BY deduped_at, id LIMIT $2"
        );
        with_pool!(self, p => {
            let rows = sqlx::query(&sql)
                .bind(value)
                .bind(MAX_RELATED)
                .fetch_all(p)
                .await
                .map_err(qerr)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let get = |c: &str| r.try_get::<Option<String>, _>(c).map_err(qerr);
                let score: f64 = r.try_get("score").map_err(qerr)?;
                out.push(serde_json::json!({
                    "id": get("id")?,
                    "story_id": get("story_id")?,
                    "duplicate_of": get("duplicate_of")?,
                    "cluster_id": get("cluster_id")?,
                    "rule": get("rule")?,
                    "score": score,
                    "link": get("link")?,
                    "title": get("title")?,
                    "feed_id": get("feed_id")?,
                    "deduped_at": get("deduped_at")?,
                }));
            }
            Ok(out)
        })
    }

    /// One story as stored, plus `duplicates` (links whose `duplicate_of` is this story) and
    /// `alerts` (alerts for it); `None` if unknown.
    pub async fn story(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let qerr = |e| query_error("story", e);
        let (raw, alert_rows): (Option<String>, Vec<(String, String)>) = with_pool!(self, p => {
            let raw = sqlx::query_scalar::<_, String>("SELECT raw FROM stories WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .map_err(qerr)?;
            let alerts = if raw.is_some() {
                sqlx::query_as::<_, (String, String)>(
                    "SELECT id, raw FROM alerts WHERE story_id = $1 ORDER BY delivered_at, id LIMIT $2",
                )
                .bind(id)
                .bind(MAX_RELATED)
                .fetch_all(p)
                .await
                .map_err(qerr)?
            } else {
                Vec::new()
            };
            (raw, alerts)
        });
        let Some(raw) = raw else {
            return Ok(None);
        };
        let mut story = parse_raw("story", id, &raw)?;
        let duplicates = self.links_where("duplicate_of", id).await?;
        let mut alerts = Vec::with_capacity(alert_rows.len());
        for (aid, raw) in &alert_rows {
            alerts.push(parse_raw("alert", aid, raw)?);
        }
        match story.as_object_mut() {
            Some(obj) => {
                obj.insert("duplicates".into(), Value::Array(duplicates));
                obj.insert("alerts".into(), Value::Array(alerts));
            }
            None => {
                return Err(StoreError::Corrupt {
                    kind: "story",
                    id: id.to_string(),
                    source: serde::de::Error::custom("raw is not a JSON object"),
                })
            }
        }
        Ok(Some(story))
    }

    /// A cluster: `{"id", "stories": [...], "links": [...]}` with the stored stories whose
    /// `cluster_id` is `id` (oldest first) and the duplicate links into it (at most
    /// [`MAX_RELATED`] of each); `None` when neither exists.
    pub async fn cluster(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let qerr = |e| query_error("cluster", e);
        let rows: Vec<(String, String)> = with_pool!(self, p => {
            sqlx::query_as::<_, (String, String)>(
                "SELECT id, raw FROM stories WHERE cluster_id = $1 ORDER BY sort_at, seq LIMIT $2",
            )
            .bind(id)
            .bind(MAX_RELATED)
            .fetch_all(p)
            .await
            .map_err(qerr)?
        });
        let links = self.links_where("cluster_id", id).await?;
        if rows.is_empty() && links.is_empty() {
            return Ok(None);
        }
        let stories = rows
            .iter()
            .map(|(sid, raw)| parse_raw("story", sid, raw))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(serde_json::json!({
            "id": id,
            "stories": stories,
            "links": links,
        })))
    }

    /// The latest health event of every feed that reported one (by feed id, at most
    /// [`MAX_FEEDS`]): `{"feed_id", "status", "observed_at", "stories", "health": {...}}`.
    pub async fn feeds(&self) -> Result<Vec<Value>, StoreError> {
        let qerr = |e| query_error("feeds", e);
        let rows: Vec<(String, String, String, String, i64)> = with_pool!(self, p => {
            sqlx::query_as::<_, (String, String, String, String, i64)>(
                "SELECT h.id, h.feed_id, h.status, h.raw, \
                   (SELECT count(*) FROM stories s WHERE s.feed_id = h.feed_id) AS stories \
                 FROM (SELECT id, feed_id, status, raw, ROW_NUMBER() OVER \
                         (PARTITION BY feed_id ORDER BY observed_at DESC, id DESC) AS rn \
                       FROM feed_health) h \
                 WHERE h.rn = 1 ORDER BY h.feed_id LIMIT $1",
            )
            .bind(MAX_FEEDS)
            .fetch_all(p)
            .await
            .map_err(qerr)?
        });
        rows.iter()
            .map(|(hid, feed_id, status, raw, stories)| {
                let health = parse_raw("feed_health", hid, raw)?;
                Ok(serde_json::json!({
                    "feed_id": feed_id,
                    "status": status,
                    "observed_at": health.get("observed_at").cloned().unwrap_or(Value::Null),
                    "stories": stories,
                    "health": health,
                }))
            })
            .collect()
    }

    /// Row counts of every table.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let qerr = |e| query_error("stats", e);
        let (stories, duplicates, alerts, feed_health, dead_letters): (i64, i64, i64, i64, i64) = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM stories) AS stories, \
                        (SELECT count(*) FROM duplicates) AS duplicates, \
                        (SELECT count(*) FROM alerts) AS alerts, \
                        (SELECT count(*) FROM feed_health) AS feed_health, \
                        (SELECT count(*) FROM dead_letters) AS dead_letters",
            )
            .fetch_one(p)
            .await
            .map_err(qerr)?
        });
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Stats {
            stories: n(stories),
            duplicates: n(duplicates),
            alerts: n(alerts),
            feed_health: n(feed_health),
            dead_letters: n(dead_letters),
        })
    }

    /// Delete up to `limit` stories (with their topic, country and entity rows) whose
    /// `sort_at` is before `cutoff`, that carry `topic` (when given) and none of
    /// `keep_topics`; one short transaction. Returns how many were deleted.
    pub(crate) async fn delete_stories_batch(
        &self,
        cutoff: &str,
        topic: Option<&str>,
        keep_topics: &[String],
        limit: u32,
    ) -> Result<u64, StoreError> {
        let werr = |source| StoreError::Write {
            kind: "story",
            id: "retention".into(),
            source,
        };
        let begin = self.begin_write();
        let sqlite = self.kind() == BackendKind::Sqlite;
        with_pool!(self, p => {
            let mut tx = p.begin_with(begin).await.map_err(werr)?;
            let mut qb = QueryBuilder::new("SELECT s.id, s.seq, s.sort_at FROM stories s WHERE s.sort_at < ");
            qb.push_bind(cutoff.to_string());
            if let Some(t) = topic {
                qb.push(" AND EXISTS (SELECT 1 FROM story_topics t WHERE t.story_id = s.id AND t.topic = ")
                    .push_bind(t.to_string())
                    .push(")");
            }
            if !keep_topics.is_empty() {
                qb.push(" AND NOT EXISTS (SELECT 1 FROM story_topics t WHERE t.story_id = s.id AND t.topic IN (");
                let mut sep = qb.separated(", ");
                for k in keep_topics {
                    sep.push_bind(k.clone());
                }
                qb.push("))");
            }
            qb.push(" ORDER BY s.sort_at LIMIT ").push_bind(i64::from(limit));
            let mut victims: Vec<(String, i64, String)> = qb
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(werr)?;
            if victims.is_empty() {
                return Ok(0);
            }
            let ids: Vec<String> = victims.iter().map(|v| v.0.clone()).collect();
            for table in ["story_topics", "story_countries", "story_entities"] {
                let mut qb = QueryBuilder::new(format!("DELETE FROM {table} WHERE story_id IN ("));
                let mut sep = qb.separated(", ");
                for id in &ids {
                    sep.push_bind(id.clone());
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await.map_err(werr)?;
            }
            if sqlite {
                // One by one in full-text rowid order: FTS5 flushes its pending changes
                // whenever a rowid goes backwards, and `seq IN (…)` deletes in seq order.
                victims.sort_by_key(|(_, seq, sort_at)| fts_rowid(sort_at, *seq));
                for (_, seq, _) in &victims {
                    sqlx::query("DELETE FROM stories WHERE seq = $1")
                        .bind(*seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(werr)?;
                }
            } else {
                let mut qb = QueryBuilder::new("DELETE FROM stories WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in &ids {
                    sep.push_bind(id.clone());
                }
                qb.push(")");
                qb.build().execute(&mut *tx).await.map_err(werr)?;
            }
            tx.commit().await.map_err(werr)?;
            Ok(ids.len() as u64)
        })
    }

    /// Delete up to `limit` rows of a side table older than `cutoff`; duplicate links only
    /// once their original story is gone. Returns how many were deleted.
    pub(crate) async fn delete_old_batch(
        &self,
        table: &'static str,
        cutoff: &str,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let (time_col, extra) = match table {
            "duplicates" => (
                "deduped_at",
                " AND NOT EXISTS (SELECT 1 FROM stories s WHERE s.id = x.duplicate_of)",
            ),
            "alerts" => ("delivered_at", ""),
            "feed_health" => ("observed_at", ""),
            "dead_letters" => ("failed_at", ""),
            other => {
                return Err(StoreError::Config(format!(
                    "retention does not know table {other}"
                )))
            }
        };
        let sql = format!(
            "DELETE FROM {table} WHERE id IN (SELECT x.id FROM {table} x \
               WHERE x.{time_col} < $1{extra} ORDER BY x.{time_col} LIMIT $2)"
        );
        let n = with_pool!(self, p => {
            sqlx::query(&sql)
                .bind(cutoff)
                .bind(i64::from(limit))
                .execute(p)
                .await
                .map_err(|source| StoreError::Write {
                    kind: "retention",
                    id: table.into(),
                    source,
                })?
                .rows_affected()
        });
        Ok(n)
    }

    /// The `/readyz` check: the database answers `SELECT 1`.
    pub fn ready_check(&self) -> Arc<dyn wirewatch_runtime::http::ReadyCheck> {
        Arc::new(ReadyStore(self.clone()))
    }
}

/// Stories per multi-row statement: 19 parameters each, well under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const ROWS_PER_STATEMENT: usize = 250;
/// Side-table rows (2–3 parameters each) per multi-row statement.
const SIDE_ROWS_PER_STATEMENT: usize = 2_000;

/// The rows to write for a batch: one per id, the newest classification (the last one on a
/// tie), in first-seen order. Pure.
pub(crate) fn newest_per_id(rows: &[StoryRow]) -> Vec<&StoryRow> {
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<&StoryRow> = Vec::with_capacity(rows.len());
    for r in rows {
        match index.get(r.id.as_str()) {
            Some(&i) => {
                if r.classified_at >= out[i].classified_at {
                    out[i] = r;
                }
            }
            None => {
                index.insert(&r.id, out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Multi-row upsert of stories (both back-ends), followed by `VALUES (…), (…)` and
/// [`UPSERT_STORY_TAIL`]: a no-op for a redelivery (same `raw`) or an older classification;
/// `RETURNING` yields the ids of the rows written.
const UPSERT_STORY_HEAD: &str =
    "INSERT INTO stories (id, cluster_id, feed_id, feed_url, title, link, \
       summary, content, language, severity, published, fetched_at, classified_at, sort_at, \
       topics, countries, entities, raw, stored_at) ";

/// The conflict clause of [`UPSERT_STORY_HEAD`].
const UPSERT_STORY_TAIL: &str = " ON CONFLICT(id) DO UPDATE SET \
       cluster_id = excluded.cluster_id, feed_id = excluded.feed_id, \
       feed_url = excluded.feed_url, title = excluded.title, link = excluded.link, \
       summary = excluded.summary, content = excluded.content, \
       language = excluded.language, severity = excluded.severity, \
       published = excluded.published, \
       fetched_at = excluded.fetched_at, classified_at = excluded.classified_at, \
       sort_at = excluded.sort_at, topics = excluded.topics, \
       countries = excluded.countries, entities = excluded.entities, \
       raw = excluded.raw, stored_at = excluded.stored_at \
     WHERE excluded.raw IS DISTINCT FROM stories.raw \
       AND excluded.classified_at >= stories.classified_at \
     RETURNING id";

/// SQLite: `stories_fts` joined to its story (the rowid holds `seq`, see
/// [`crate::rows::fts_rowid`]); followed by the bound MATCH expression.
const FTS_JOIN: &str = "stories_fts JOIN stories s ON s.seq = (stories_fts.rowid & 137438953471) \
     WHERE stories_fts MATCH ";

/// The sort key of a newest-first candidate: `(seq, sort_at, fetched_at, fts rowid)`.
type Candidate = (i64, String, String, i64);

/// Turn rows `(seq, id, raw, sort_at, fetched_at)`, in result order, into a [`Page`]: the
/// next cursor is a keyset after the last row (time order) or the next offset (relevance),
/// given only when the page is full.
fn page_from_rows(
    rows: &[(i64, String, String, String, String)],
    limit: u32,
    relevance: bool,
    offset: u32,
) -> Result<Page, StoreError> {
    let full = rows.len() == limit as usize;
    let next_cursor = match rows.last() {
        Some((seq, _, _, sort_at, fetched_at)) if full && !relevance => Some(Cursor::Time {
            sort_at: sort_at.clone(),
            fetched_at: fetched_at.clone(),
            seq: *seq,
        }),
        Some(_) if full && offset + limit <= MAX_OFFSET => Some(Cursor::Offset(offset + limit)),
        _ => None,
    };
    let stories = rows
        .iter()
        .map(|(_, id, raw, _, _)| parse_raw("story", id, raw))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        stories,
        next_cursor,
    })
}

/// The full-text rowid range a query can match on SQLite: buckets of `since`, `until` and the
/// cursor (the exact comparisons stay in the SQL). Inclusive bounds.
fn fts_rowid_range(q: &SearchQuery) -> (Option<i64>, Option<i64>) {
    let lo = q.since.map(|t| fts_bucket_start(fts_bucket(&ts(t))));
    let mut hi = q.until.map(|t| fts_bucket_last(fts_bucket(&ts(t))));
    if let Some(Cursor::Time { sort_at, .. }) = &q.after {
        let h = fts_bucket_last(fts_bucket(sort_at));
        hi = Some(hi.map_or(h, |x| x.min(h)));
    }
    (lo, hi)
}

/// Newest-first candidates of a full-text query on SQLite, keys only: rows matching `m` and
/// the filters with an FTS rowid in `lo..=hi`, at most `n`. `by_rowid` orders by the FTS
/// rowid, which FTS5 walks itself, so the query stops after `n` matches; otherwise the rows
/// are sorted exactly (used within one time bucket).
async fn fts_candidates(
    p: &SqlitePool,
    q: &SearchQuery,
    m: &str,
    (lo, hi): (Option<i64>, Option<i64>),
    by_rowid: bool,
    n: i64,
) -> Result<Vec<Candidate>, StoreError> {
    let mut qb =
        QueryBuilder::new("SELECT s.seq, s.sort_at, s.fetched_at, stories_fts.rowid FROM ");
    qb.push(FTS_JOIN).push_bind(m.to_string());
    if let Some(lo) = lo {
        qb.push(" AND stories_fts.rowid >= ").push_bind(lo);
    }
    if let Some(hi) = hi {
        qb.push(" AND stories_fts.rowid <= ").push_bind(hi);
    }
    push_filters!(qb, q, country_in_index = true);
    push_after!(qb, q);
    if by_rowid {
        qb.push(" ORDER BY stories_fts.rowid DESC");
    } else {
        qb.push(" ORDER BY s.sort_at DESC, s.fetched_at DESC, s.seq DESC");
    }
    qb.push(" LIMIT ").push_bind(n);
    qb.build_query_as::<Candidate>()
        .fetch_all(p)
        .await
        .map_err(|e| query_error("search", e))
}

/// Newest-first full-text search on SQLite, rows `(seq, id, raw, sort_at, fetched_at)` of
/// the page `offset..offset + limit`.
///
/// The FTS rowid is `minute bucket << 37 | seq` (migration 0003), so walking it downwards
/// yields matches newest first to the minute: the first `offset + limit` of them (query A)
/// hold every match of a newer minute than the last one's. Matches of that last minute that
/// A did not reach may still sort before some of A's (order within a minute is by `seq`, not
/// time), so query B fetches the best `offset + limit` of the rest of that minute in exact
/// order; the page is the exact top of A ∪ B. Both stop early instead of walking whole
/// doclists; B only reads one minute.
async fn search_time_fts(
    p: &SqlitePool,
    q: &SearchQuery,
    t: &TextQuery,
    limit: u32,
    offset: u32,
) -> Result<Vec<(i64, String, String, String, String)>, StoreError> {
    let m = t.to_fts5_indexed(q.country.as_deref());
    let want = usize::try_from(limit + offset).unwrap_or(usize::MAX);
    let n = i64::from(limit + offset);
    let (lo, hi) = fts_rowid_range(q);
    let mut cands = fts_candidates(p, q, &m, (lo, hi), true, n).await?;
    if let Some(&(_, _, _, last)) = cands.last().filter(|_| cands.len() == want) {
        let start = fts_bucket_start(last >> FTS_SEQ_BITS);
        let lo_b = Some(lo.map_or(start, |l| l.max(start)));
        let rest = fts_candidates(p, q, &m, (lo_b, Some(last - 1)), false, n).await?;
        cands.extend(rest);
    }
    cands.sort_unstable_by(|a, b| (&b.1, &b.2, b.0).cmp(&(&a.1, &a.2, a.0)));
    let seqs: Vec<i64> = cands
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|c| c.0)
        .collect();
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb =
        QueryBuilder::new("SELECT seq, id, raw, sort_at, fetched_at FROM stories WHERE seq IN (");
    let mut sep = qb.separated(", ");
    for s in &seqs {
        sep.push_bind(*s);
    }
    qb.push(")");
    let mut rows: Vec<(i64, String, String, String, String)> = qb
        .build_query_as()
        .fetch_all(p)
        .await
        .map_err(|e| query_error("search", e))?;
    // Back into page order (a story deleted in between simply drops out).
    let pos: std::collections::HashMap<i64, usize> =
        seqs.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    rows.sort_by_key(|r| pos.get(&r.0).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// How many stories match a full-text query on SQLite. With no filter but the country (a tag
/// in the MATCH), the index alone answers, without reading a story row.
async fn count_fts(p: &SqlitePool, q: &SearchQuery, t: &TextQuery) -> Result<u64, StoreError> {
    let m = t.to_fts5_indexed(q.country.as_deref());
    let index_only = q.topic.is_none()
        && q.entity.is_none()
        && q.source.is_none()
        && q.language.is_none()
        && q.min_severity.is_none()
        && q.since.is_none()
        && q.until.is_none();
    let mut qb = if index_only {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM stories_fts WHERE stories_fts MATCH ");
        qb.push_bind(m);
        qb
    } else {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM ");
        qb.push(FTS_JOIN).push_bind(m);
        let (lo, hi) = fts_rowid_range(&SearchQuery {
            after: None,
            ..q.clone()
        });
        if let Some(lo) = lo {
            qb.push(" AND stories_fts.rowid >= ").push_bind(lo);
        }
        if let Some(hi) = hi {
            qb.push(" AND stories_fts.rowid <= ").push_bind(hi);
        }
        push_filters!(qb, q, country_in_index = true);
        qb
    };
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(p)
        .await
        .map_err(|e| query_error("count", e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A query error; a full-text expression the database rejects is the caller's `q`.
fn query_error(what: &'static str, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let msg = db.message();
        if msg.starts_with("fts5:")
            || msg.contains("malformed MATCH")
            || (db.code().as_deref() == Some("42601") && msg.contains("tsquery"))
        {
            return StoreError::InvalidParam {
                param: "q",
                reason: msg.to_string(),
            };
        }
    }
    StoreError::Query { what, source: e }
}

fn parse_raw(kind: &'static str, id: &str, raw: &str) -> Result<Value, StoreError> {
    serde_json::from_str(raw).map_err(|source| StoreError::Corrupt {
        kind,
        id: id.to_string(),
        source,
    })
}

struct ReadyStore(Store);

#[async_trait]
impl wirewatch_runtime::http::ReadyCheck for ReadyStore {
    fn name(&self) -> String {
        "store".into()
    }

    async fn ready(&self) -> Result<(), String> {
        with_pool!(self.0, p => {
            sqlx::query_scalar::<_, i64>("SELECT CAST(1 AS BIGINT)")
                .fetch_one(p)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The SQL in migration 0003 and `rows::fts_rowid` compute the same full-text rowids,
    /// including clamped, pre-2000, unparsable and far-future times.
    #[tokio::test]
    async fn fts_rowids_in_sql_agree_with_rust() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::default(), dir.path())
            .await
            .unwrap();
        let p = store.sqlite_pool().unwrap();
        let times = [
            "2024-05-01T12:00:00.000000Z",
            "2024-05-01T12:00:59.999999Z",
            "2024-05-01T12:01:00.000000Z",
            "2000-01-01T00:00:00.000000Z",
            "1999-12-31T23:59:59.000000Z",
            "1970-01-01T00:00:00.000000Z",
            "0001-01-01T00:00:00.000000Z",
            "2127-08-01T00:00:00.000000Z",
            "9999-12-31T23:59:59.999999Z",
            "+10000-01-01T00:00:00.000000Z",
            "garbage",
        ];
        for (i, t) in times.iter().enumerate() {
            sqlx::query(
                "INSERT INTO stories (id, cluster_id, feed_id, feed_url, title, sort_at, \
                   fetched_at, classified_at, topics, countries, entities, raw, stored_at) \
                 VALUES ($1, $1, 'f', 'u', 'probe', $2, $2, $2, '[]', '[\"UA\"]', '[]', '{}', $2)",
            )
            .bind(format!("s{i}"))
            .bind(*t)
            .execute(p)
            .await
            .unwrap();
        }
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, sort_at FROM stories")
            .fetch_all(p)
            .await
            .unwrap();
        let mut want: Vec<i64> = rows.iter().map(|(seq, t)| fts_rowid(t, *seq)).collect();
        want.sort_unstable();
        let got: Vec<i64> = sqlx::query_scalar(
            "SELECT rowid FROM stories_fts WHERE stories_fts MATCH 'probe AND tags : c5541' \
             ORDER BY rowid",
        )
        .fetch_all(p)
        .await
        .unwrap();
        assert_eq!(got, want);
        let computed: Vec<i64> = sqlx::query_scalar("SELECT fts_rowid FROM stories ORDER BY 1")
            .fetch_all(p)
            .await
            .unwrap();
        assert_eq!(computed, want);
        assert!(FTS_JOIN.contains(&format!("& {})", crate::rows::FTS_SEQ_MASK)));
        store.close().await;
    }
}
