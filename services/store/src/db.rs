//! [`Store`]: the SQLite database (sqlx pool), its writes and its queries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use wirewatch_proto::v1::{Alert, DeadLetter, DuplicateLink, EnrichedStory, FeedHealth};

use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::metrics::{metrics, STAGE};
use crate::query::{fts_match, SearchQuery, MAX_LIMIT};
use crate::rows::{ts, AlertRow, DeadLetterRow, FeedHealthRow, LinkRow, StoryRow};

/// The schema, applied in order on open (`_sqlx_migrations` records what ran).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Page size set before the first table is created (larger pages suit the long text
/// columns and the FTS index).
const PAGE_SIZE: u32 = 16_384;

/// Most duplicates and alerts returned with one story.
const MAX_RELATED: i64 = 500;

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

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// A new row.
    Inserted,
    /// An existing row took newer content.
    Updated,
    /// Nothing changed (a redelivery, or an older version of the story).
    Unchanged,
}

/// The store database. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (creating if missing) the database at `cfg.path` or `<data_dir>/store.db` and
    /// apply the migrations. Fails on an unusable config, an unwritable directory, a file
    /// that is not a database, or a schema newer than this build knows.
    pub async fn open(cfg: &StoreConfig, data_dir: &Path) -> Result<Self, StoreError> {
        if cfg.max_connections == 0 {
            return Err(StoreError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        let path = cfg.db_path(data_dir);
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
            .filename(&path)
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
                path: path.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        let store = Store {
            pool,
            path: Arc::new(path),
        };
        crate::metrics::touch();
        let stats = store.stats().await?;
        metrics()
            .stories
            .with_label_values(&[STAGE])
            .set(i64::try_from(stats.stories).unwrap_or(i64::MAX));
        tracing::info!(path = %store.path.display(), stories = stats.stories, "store database open");
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sqlx pool, for tools and tests.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Close the pool, waiting for connections to be returned (checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn timed<T>(
        kind: &'static str,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let m = metrics();
        let start = Instant::now();
        let r = fut.await;
        m.write_seconds
            .with_label_values(&[STAGE, kind])
            .observe(start.elapsed().as_secs_f64());
        match &r {
            Ok(_) => m.writes.with_label_values(&[STAGE, kind]).inc(),
            Err(_) => m.write_errors.with_label_values(&[STAGE, kind]).inc(),
        }
        r
    }

    /// Insert or update a story, its topic and country rows and its full-text entry, in one
    /// transaction. A redelivery (same content) or an older classification of a stored story
    /// changes nothing.
    pub async fn upsert_story(&self, s: &EnrichedStory) -> Result<(), StoreError> {
        let outcome = Self::timed("story", async {
            let row = StoryRow::from_event(s)?;
            self.write_story(&row).await
        })
        .await?;
        if outcome == Upsert::Inserted {
            metrics().stories.with_label_values(&[STAGE]).inc();
        }
        tracing::debug!(story_id = %s.story.id, ?outcome, "story stored");
        Ok(())
    }

    async fn write_story(&self, row: &StoryRow) -> Result<Upsert, StoreError> {
        let werr = |source| StoreError::Write {
            kind: "story",
            id: row.id.clone(),
            source,
        };
        // IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so the
        // existence check and the write see the same database.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(werr)?;
        let existed = sqlx::query_scalar::<_, i64>("SELECT seq FROM stories WHERE id = ?")
            .bind(&row.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(werr)?
            .is_some();
        let stored_at = ts(chrono::Utc::now());
        // The WHERE on DO UPDATE keeps redeliveries (same raw) and late older versions from
        // rewriting the row; RETURNING yields a row only when something was written.
        let written = sqlx::query_scalar::<_, i64>(
            "INSERT INTO stories (id, cluster_id, feed_id, feed_url, title, link, summary, content, \
               language, published, fetched_at, classified_at, sort_at, topics, countries, entities, \
               raw, stored_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET \
               cluster_id = excluded.cluster_id, feed_id = excluded.feed_id, \
               feed_url = excluded.feed_url, title = excluded.title, link = excluded.link, \
               summary = excluded.summary, content = excluded.content, \
               language = excluded.language, published = excluded.published, \
               fetched_at = excluded.fetched_at, classified_at = excluded.classified_at, \
               sort_at = excluded.sort_at, topics = excluded.topics, \
               countries = excluded.countries, entities = excluded.entities, \
               raw = excluded.raw, stored_at = excluded.stored_at \
             WHERE excluded.raw IS NOT stories.raw \
               AND excluded.classified_at >= stories.classified_at \
             RETURNING seq",
        )
        .bind(&row.id)
        .bind(&row.cluster_id)
        .bind(&row.feed_id)
        .bind(&row.feed_url)
        .bind(&row.title)
        .bind(&row.link)
        .bind(&row.summary)
        .bind(&row.content)
        .bind(&row.language)
        .bind(&row.published)
        .bind(&row.fetched_at)
        .bind(&row.classified_at)
        .bind(&row.sort_at)
        .bind(&row.topics_json)
        .bind(&row.countries_json)
        .bind(&row.entities_json)
        .bind(&row.raw)
        .bind(&stored_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(werr)?;
        if written.is_none() {
            tx.rollback().await.map_err(werr)?;
            return Ok(Upsert::Unchanged);
        }
        for table in ["story_topics", "story_countries"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE story_id = ?"))
                .bind(&row.id)
                .execute(&mut *tx)
                .await
                .map_err(werr)?;
        }
        for (topic, score) in &row.topics {
            sqlx::query("INSERT INTO story_topics (story_id, topic, score) VALUES (?, ?, ?)")
                .bind(&row.id)
                .bind(topic)
                .bind(score)
                .execute(&mut *tx)
                .await
                .map_err(werr)?;
        }
        for country in &row.countries {
            sqlx::query("INSERT INTO story_countries (story_id, country) VALUES (?, ?)")
                .bind(&row.id)
                .bind(country)
                .execute(&mut *tx)
                .await
                .map_err(werr)?;
        }
        tx.commit().await.map_err(werr)?;
        Ok(if existed {
            Upsert::Updated
        } else {
            Upsert::Inserted
        })
    }

    /// Insert a duplicate link unless its id is already stored. The original story may not
    /// be stored yet: links are joined to stories at query time.
    pub async fn upsert_link(&self, l: &DuplicateLink) -> Result<(), StoreError> {
        Self::timed("link", async {
            let r = LinkRow::from_event(l)?;
            sqlx::query(
                "INSERT INTO duplicates (id, story_id, duplicate_of, cluster_id, rule, score, \
                   link, title, feed_id, raw, deduped_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Write {
                kind: "link",
                id: r.id.clone(),
                source,
            })?;
            Ok(())
        })
        .await
    }

    /// Insert an alert unless its id is already stored.
    pub async fn upsert_alert(&self, a: &Alert) -> Result<(), StoreError> {
        Self::timed("alert", async {
            let r = AlertRow::from_event(a)?;
            sqlx::query(
                "INSERT INTO alerts (id, subscription_id, story_id, raw, delivered_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.subscription_id)
            .bind(&r.story_id)
            .bind(&r.raw)
            .bind(&r.delivered_at)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Write {
                kind: "alert",
                id: r.id.clone(),
                source,
            })?;
            Ok(())
        })
        .await
    }

    /// Insert a feed-health event unless its id is already stored.
    pub async fn upsert_feed_health(&self, h: &FeedHealth) -> Result<(), StoreError> {
        Self::timed("feed_health", async {
            let r = FeedHealthRow::from_event(h)?;
            sqlx::query(
                "INSERT INTO feed_health (id, feed_id, status, raw, observed_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.feed_id)
            .bind(r.status)
            .bind(&r.raw)
            .bind(&r.observed_at)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Write {
                kind: "feed_health",
                id: r.id.clone(),
                source,
            })?;
            Ok(())
        })
        .await
    }

    /// Insert a dead letter unless its id is already stored.
    pub async fn upsert_dead_letter(&self, d: &DeadLetter) -> Result<(), StoreError> {
        Self::timed("dead_letter", async {
            let r = DeadLetterRow::from_event(d)?;
            sqlx::query(
                "INSERT INTO dead_letters (id, stage, topic, reason, raw, failed_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.stage)
            .bind(&r.topic)
            .bind(&r.reason)
            .bind(&r.raw)
            .bind(&r.failed_at)
            .execute(&self.pool)
            .await
            .map_err(|source| StoreError::Write {
                kind: "dead_letter",
                id: r.id.clone(),
                source,
            })?;
            Ok(())
        })
        .await
    }

    /// Stories matching `q`, newest first (published, or fetched when undated; then fetched),
    /// as the stored event JSON. An FTS5 error is reported as an invalid `q`, never as a
    /// server error.
    pub async fn search(&self, q: &SearchQuery) -> Result<Vec<Value>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT s.id, s.raw FROM stories s WHERE 1 = 1");
        push_filters(&mut qb, q)?;
        qb.push(" ORDER BY s.sort_at DESC, s.fetched_at DESC, s.seq DESC LIMIT ")
            .push_bind(i64::from(q.limit.clamp(1, MAX_LIMIT)))
            .push(" OFFSET ")
            .push_bind(i64::from(q.offset));
        let rows = qb
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| query_error("search", e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(|e| query_error("search", e))?;
                let raw: String = r.try_get("raw").map_err(|e| query_error("search", e))?;
                parse_raw("story", &id, &raw)
            })
            .collect()
    }

    /// How many stories match `q`, ignoring `limit` and `offset`.
    pub async fn count(&self, q: &SearchQuery) -> Result<u64, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM stories s WHERE 1 = 1");
        push_filters(&mut qb, q)?;
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(|e| query_error("count", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// One story as stored, plus `duplicates` (links whose `duplicate_of` is this story) and
    /// `alerts` (alerts for it); `None` if unknown.
    pub async fn story(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let qerr = |e| query_error("story", e);
        let Some(raw) = sqlx::query_scalar::<_, String>("SELECT raw FROM stories WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(qerr)?
        else {
            return Ok(None);
        };
        let mut story = parse_raw("story", id, &raw)?;
        let links = sqlx::query(
            "SELECT id, story_id, cluster_id, rule, score, link, title, feed_id, deduped_at \
             FROM duplicates WHERE duplicate_of = ? ORDER BY deduped_at, id LIMIT ?",
        )
        .bind(id)
        .bind(MAX_RELATED)
        .fetch_all(&self.pool)
        .await
        .map_err(qerr)?;
        let mut duplicates = Vec::with_capacity(links.len());
        for r in &links {
            let get = |c: &str| r.try_get::<Option<String>, _>(c).map_err(qerr);
            let score: f64 = r.try_get("score").map_err(qerr)?;
            duplicates.push(serde_json::json!({
                "id": get("id")?,
                "story_id": get("story_id")?,
                "duplicate_of": id,
                "cluster_id": get("cluster_id")?,
                "rule": get("rule")?,
                "score": score,
                "link": get("link")?,
                "title": get("title")?,
                "feed_id": get("feed_id")?,
                "deduped_at": get("deduped_at")?,
            }));
        }
        let alert_rows = sqlx::query(
            "SELECT id, raw FROM alerts WHERE story_id = ? ORDER BY delivered_at, id LIMIT ?",
        )
        .bind(id)
        .bind(MAX_RELATED)
        .fetch_all(&self.pool)
        .await
        .map_err(qerr)?;
        let mut alerts = Vec::with_capacity(alert_rows.len());
        for r in &alert_rows {
            let aid: String = r.try_get("id").map_err(qerr)?;
            let raw: String = r.try_get("raw").map_err(qerr)?;
            alerts.push(parse_raw("alert", &aid, &raw)?);
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

    /// Row counts of every table.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM stories) AS stories, \
                    (SELECT count(*) FROM duplicates) AS duplicates, \
                    (SELECT count(*) FROM alerts) AS alerts, \
                    (SELECT count(*) FROM feed_health) AS feed_health, \
                    (SELECT count(*) FROM dead_letters) AS dead_letters",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| query_error("stats", e))?;
        let n = |c: &str| -> Result<u64, StoreError> {
            let v: i64 = row.try_get(c).map_err(|e| query_error("stats", e))?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(Stats {
            stories: n("stories")?,
            duplicates: n("duplicates")?,
            alerts: n("alerts")?,
            feed_health: n("feed_health")?,
            dead_letters: n("dead_letters")?,
        })
    }

    /// The `/readyz` check: the database answers `SELECT 1`.
    pub fn ready_check(&self) -> Arc<dyn wirewatch_runtime::http::ReadyCheck> {
        Arc::new(ReadyStore(self.pool.clone()))
    }
}

fn push_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &SearchQuery) -> Result<(), StoreError> {
    if let Some(text) = &q.text {
        if let Some(m) = fts_match(text)? {
            qb.push(" AND s.seq IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ")
                .push_bind(m)
                .push(")");
        }
    }
    if let Some(topic) = &q.topic {
        qb.push(" AND EXISTS (SELECT 1 FROM story_topics t WHERE t.story_id = s.id AND t.topic = ")
            .push_bind(crate::rows::norm_topic(topic))
            .push(")");
    }
    if let Some(country) = &q.country {
        qb.push(
            " AND EXISTS (SELECT 1 FROM story_countries c WHERE c.story_id = s.id AND c.country = ",
        )
        .push_bind(crate::rows::norm_country(country))
        .push(")");
    }
    if let Some(since) = q.since {
        qb.push(" AND s.sort_at >= ").push_bind(ts(since));
    }
    Ok(())
}

/// A query error; FTS5 complaints about the MATCH expression are the caller's `q`.
fn query_error(what: &'static str, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let msg = db.message();
        if msg.starts_with("fts5:") || msg.contains("malformed MATCH") {
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

struct ReadyStore(SqlitePool);

#[async_trait]
impl wirewatch_runtime::http::ReadyCheck for ReadyStore {
    fn name(&self) -> String {
        "store".into()
    }

    async fn ready(&self) -> Result<(), String> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
