//! The subscription registry: every subscription lives in the ledger's `subscriptions`
//! table. Those of the subscriptions file (`source = file`) are synced into it at start
//! (added, changed, removed as the file says; the creation time of one already known is
//! kept); those created over the HTTP API (`source = api`) are written there directly.
//!
//! The alerter matches against [`LiveSet`], the compiled and indexed set, rebuilt after
//! every change made through this process and, when another process (`wirewatch subs`)
//! changed the table, on the worker's next check ([`Registry::reload_if_changed`]). A row
//! that no longer compiles (edited by hand) is logged and skipped: one broken subscription
//! never stops the others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;

use crate::error::AlerterError;
use crate::ledger::Ledger;
use crate::percolate::Percolator;
use crate::subscription::{compile, Compiled, Meta, Source, Subscription};

/// The compiled subscriptions and their index. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct LiveSet {
    /// Every subscription (active or not), ordered by id.
    pub subs: Vec<Compiled>,
    /// Active subscriptions, by position in `subs`.
    pub index: Percolator,
    by_id: HashMap<String, usize>,
}

impl LiveSet {
    fn new(mut subs: Vec<Compiled>) -> Self {
        subs.sort_by(|a, b| a.sub.id.cmp(&b.sub.id));
        let index = Percolator::new(
            subs.iter()
                .enumerate()
                .filter(|(_, c)| c.active())
                .map(|(i, c)| (i, &c.query)),
        );
        let by_id = subs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.sub.id.clone(), i))
            .collect();
        Self { subs, index, by_id }
    }

    /// The subscription `id`.
    pub fn get(&self, id: &str) -> Option<&Compiled> {
        self.by_id.get(id).and_then(|&i| self.subs.get(i))
    }

    /// Active subscriptions.
    pub fn active(&self) -> usize {
        self.subs.iter().filter(|c| c.active()).count()
    }
}

/// The registry (see the module docs).
#[derive(Debug)]
pub struct Registry {
    ledger: Ledger,
    live: RwLock<Arc<LiveSet>>,
    /// `COUNT(*)` and `MAX(updated_at)` of the table when `live` was built.
    signature: tokio::sync::Mutex<(i64, String)>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

fn db_err(op: &'static str, id: &str) -> impl Fn(sqlx::Error) -> AlerterError {
    let id = id.to_string();
    move |source| AlerterError::Ledger {
        op,
        subscription: id.clone(),
        story_id: String::new(),
        source,
    }
}

fn encode(s: &Subscription) -> Result<String, AlerterError> {
    serde_json::to_string(s).map_err(|e| AlerterError::Encode {
        alert_id: format!("subscription {}", s.id),
        reason: e.to_string(),
    })
}

impl Registry {
    /// Sync the file's subscriptions (`file_subs`, already checked, read from `file`) into
    /// the table and build the live set.
    pub async fn open(
        ledger: Ledger,
        file_subs: &[Subscription],
        file: &Path,
    ) -> Result<Self, AlerterError> {
        let r = Self {
            ledger,
            live: RwLock::new(Arc::new(LiveSet::default())),
            signature: tokio::sync::Mutex::new((-1, String::new())),
        };
        r.sync_file(file_subs, file).await?;
        r.reload().await?;
        Ok(r)
    }

    async fn sync_file(&self, file_subs: &[Subscription], file: &Path) -> Result<(), AlerterError> {
        let pool = &self.ledger.pool;
        let _w = self.ledger.write.lock().await;
        let err = db_err("sync subscriptions", "");
        let mut tx = pool.begin().await.map_err(&err)?;
        let rows = sqlx::query("SELECT id, spec_json, source FROM subscriptions")
            .fetch_all(&mut *tx)
            .await
            .map_err(&err)?;
        let mut known: HashMap<String, (String, String)> = HashMap::new();
        for r in rows {
            known.insert(
                r.try_get(0).map_err(&err)?,
                (r.try_get(1).map_err(&err)?, r.try_get(2).map_err(&err)?),
            );
        }
        let now = ts(Utc::now());
        for s in file_subs {
            let spec = encode(s)?;
            match known.remove(&s.id) {
                None => {
                    sqlx::query(
                        "INSERT INTO subscriptions (id, spec_json, source, paused, created_at, updated_at)
                         VALUES (?1, ?2, 'file', 0, ?3, ?3)",
                    )
                    .bind(&s.id)
                    .bind(&spec)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
                    tracing::info!(subscription = %s.id, file = %file.display(), "new subscription from the file; it alerts stories published from now on");
                }
                Some((old_spec, source)) => {
                    if source != Source::File.as_str() {
                        tracing::warn!(subscription = %s.id, file = %file.display(), "the subscriptions file now defines a subscription created over the API; the file's definition replaces it");
                    }
                    if old_spec != spec || source != Source::File.as_str() {
                        sqlx::query(
                            "UPDATE subscriptions SET spec_json = ?2, source = 'file', updated_at = ?3 WHERE id = ?1",
                        )
                        .bind(&s.id)
                        .bind(&spec)
                        .bind(&now)
                        .execute(&mut *tx)
                        .await
                        .map_err(&err)?;
                    }
                }
            }
        }
        for (id, (_, source)) in known {
            if source == Source::File.as_str() {
                sqlx::query("DELETE FROM subscriptions WHERE id = ?1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
                tracing::info!(subscription = %id, file = %file.display(), "subscription removed from the file");
            }
        }
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    async fn table_signature(&self) -> Result<(i64, String), AlerterError> {
        let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), '') FROM subscriptions")
            .fetch_one(&self.ledger.pool)
            .await
            .map_err(db_err("subscriptions", ""))?;
        Ok((
            r.try_get(0).map_err(db_err("subscriptions", ""))?,
            r.try_get(1).map_err(db_err("subscriptions", ""))?,
        ))
    }

    /// Rebuild the live set from the table.
    pub async fn reload(&self) -> Result<(), AlerterError> {
        let mut sig = self.signature.lock().await;
        let new_sig = self.table_signature().await?;
        let err = db_err("load subscriptions", "");
        let rows = sqlx::query(
            "SELECT id, spec_json, source, paused, created_at, updated_at FROM subscriptions ORDER BY id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .map_err(&err)?;
        let origin = PathBuf::from(format!(
            "{} (subscriptions table)",
            self.ledger.path().display()
        ));
        let mut subs = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0).map_err(&err)?;
            let spec: String = r.try_get(1).map_err(&err)?;
            let source: String = r.try_get(2).map_err(&err)?;
            let meta = Meta {
                source: if source == "api" {
                    Source::Api
                } else {
                    Source::File
                },
                paused: r.try_get::<i64, _>(3).map_err(&err)? != 0,
                created_at: parse_ts(&r.try_get::<String, _>(4).map_err(&err)?),
                updated_at: parse_ts(&r.try_get::<String, _>(5).map_err(&err)?),
            };
            let parsed = serde_json::from_str::<Subscription>(&spec)
                .map_err(|e| e.to_string())
                .and_then(|s| compile(&[s], &origin).map_err(|e| e.to_string()));
            match parsed {
                Ok(mut c) => {
                    if let Some(mut c) = c.pop() {
                        c.meta = meta;
                        subs.push(c);
                    }
                }
                Err(e) => {
                    tracing::error!(subscription = %id, error = %e, "stored subscription is not usable; skipping it");
                }
            }
        }
        let set = LiveSet::new(subs);
        let m = crate::metrics::get();
        m.subscriptions
            .with_label_values(&[crate::metrics::STAGE])
            .set(set.active() as i64);
        tracing::info!(
            subscriptions = set.subs.len(),
            active = set.active(),
            indexed = set.index.len() - set.index.unindexed(),
            evaluated_for_every_story = set.index.unindexed(),
            "subscriptions loaded"
        );
        if let Ok(mut live) = self.live.write() {
            *live = Arc::new(set);
        }
        *sig = new_sig;
        Ok(())
    }

    /// Rebuild the live set if the table changed since the last build (another process
    /// wrote to it). Returns whether it did.
    pub async fn reload_if_changed(&self) -> Result<bool, AlerterError> {
        let now = self.table_signature().await?;
        if *self.signature.lock().await == now {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// The live set.
    pub fn live(&self) -> Arc<LiveSet> {
        match self.live.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Create an API subscription. Fails with [`AlerterError::Conflict`] when the id exists,
    /// or a validation error naming the problem.
    pub async fn create(&self, sub: Subscription, paused: bool) -> Result<(), AlerterError> {
        compile(std::slice::from_ref(&sub), Path::new("request"))?;
        let spec = encode(&sub)?;
        {
            let _w = self.ledger.write.lock().await;
            let now = ts(Utc::now());
            let done = sqlx::query(
                "INSERT INTO subscriptions (id, spec_json, source, paused, created_at, updated_at)
                 VALUES (?1, ?2, 'api', ?3, ?4, ?4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&sub.id)
            .bind(spec)
            .bind(i64::from(paused))
            .bind(now)
            .execute(&self.ledger.pool)
            .await
            .map_err(db_err("create subscription", &sub.id))?;
            if done.rows_affected() == 0 {
                return Err(AlerterError::Conflict {
                    id: sub.id.clone(),
                    reason: "a subscription with this id exists".into(),
                });
            }
        }
        self.reload().await
    }

    async fn source_of(&self, id: &str) -> Result<Source, AlerterError> {
        let source: Option<String> =
            sqlx::query_scalar("SELECT source FROM subscriptions WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.ledger.pool)
                .await
                .map_err(db_err("subscription", id))?;
        match source.as_deref() {
            None => Err(AlerterError::NotFound { id: id.to_string() }),
            Some("api") => Ok(Source::Api),
            Some(_) => Ok(Source::File),
        }
    }

    fn file_owned(id: &str) -> AlerterError {
        AlerterError::Conflict {
            id: id.to_string(),
            reason: "defined in the subscriptions file; change it there".into(),
        }
    }

    /// Replace the definition of API subscription `sub.id` (its creation time is kept).
    pub async fn replace(&self, sub: Subscription) -> Result<(), AlerterError> {
        compile(std::slice::from_ref(&sub), Path::new("request"))?;
        if self.source_of(&sub.id).await? == Source::File {
            return Err(Self::file_owned(&sub.id));
        }
        let spec = encode(&sub)?;
        {
            let _w = self.ledger.write.lock().await;
            sqlx::query("UPDATE subscriptions SET spec_json = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(&sub.id)
                .bind(spec)
                .bind(ts(Utc::now()))
                .execute(&self.ledger.pool)
                .await
                .map_err(db_err("update subscription", &sub.id))?;
        }
        self.reload().await
    }

    /// Delete API subscription `id`.
    pub async fn delete(&self, id: &str) -> Result<(), AlerterError> {
        if self.source_of(id).await? == Source::File {
            return Err(Self::file_owned(id));
        }
        {
            let _w = self.ledger.write.lock().await;
            sqlx::query("DELETE FROM subscriptions WHERE id = ?1")
                .bind(id)
                .execute(&self.ledger.pool)
                .await
                .map_err(db_err("delete subscription", id))?;
        }
        self.reload().await
    }

    /// Pause or resume subscription `id` (either source).
    pub async fn set_paused(&self, id: &str, paused: bool) -> Result<(), AlerterError> {
        self.source_of(id).await?;
        {
            let _w = self.ledger.write.lock().await;
            sqlx::query("UPDATE subscriptions SET paused = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(id)
                .bind(i64::from(paused))
                .bind(ts(Utc::now()))
                .execute(&self.ledger.pool)
                .await
                .map_err(db_err("pause subscription", id))?;
        }
        self.reload().await
    }
}
