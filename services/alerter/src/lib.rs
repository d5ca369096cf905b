//! # wirewatch-alerter — the alerting sink
//!
//! Reads `stories.enriched.v1` ([`EnrichedStory`]), evaluates every active subscription's
//! query against each story, and delivers an [`Alert`] for each match — once per
//! (subscription, story cluster), ever — to the subscription's channels (webhook, Slack,
//! email, JSON-lines file). Writes `alerts.v1` (one [`Alert`] per message delivered, for the
//! store) and `deadletter.v1` (alerts whose delivery failed after its retries, and
//! undecodable input). Serves `/api/subscriptions` (create, list, update, delete, pause) with
//! an API token.
//!
//! Matching and delivery are split by a durable outbox in the ledger (`<data_dir>/alerter.db`):
//! 1. the run-loop decodes a story, counts it in its cluster (for `cluster_size`), matches it
//!    against the active subscriptions that can match it ([`percolate::Percolator`]), drops
//!    matches published before the subscription was created (unless its `since` allows),
//!    and for each match takes one decision in one transaction ([`ledger::Ledger::decide`]):
//!    known already / suppressed (cluster) / held for a digest or a rate-limit summary /
//!    queued in the outbox. Only then is the story acknowledged (its offset stored);
//! 2. the delivery worker ([`worker`]) drains the outbox: per subscription in order and one
//!    at a time, across subscriptions concurrently, so a slow endpoint delays only its own
//!    subscription. It records the outcome, publishes the alert event, dead-letters channels
//!    that gave up, and once a second queues digests and summaries whose window ended.
//!
//! A crash between match and delivery loses nothing (the outbox row survives) and sends
//! nothing twice (the decision is recorded with it); a crash during a delivery re-sends that
//! one alert after the restart, with the same `X-Wirewatch-Delivery` id to deduplicate on.
//!
//! Modules:
//! - [`config`] — [`AlerterConfig`], the `[alerter]` section;
//! - [`subscription`] — the subscription format, its checks, flood-control settings;
//! - [`registry`] — subscriptions in the ledger (file ones synced at start, API ones);
//! - [`query`] — the query language (tokenizer, recursive-descent parser, matcher);
//! - [`percolate`] — the subscription index (only candidate subscriptions are evaluated);
//! - [`ledger`], [`outbox`] — the SQLite ledger: decisions, outbox, held matches, clusters;
//! - [`worker`] — the delivery worker; [`deliver`] — the channels, HMAC, message formats;
//! - [`api`] — the HTTP API for subscriptions;
//! - [`backtest`] — `wirewatch subs test`: a query over stored stories;
//! - [`metrics`] — `wirewatch_alerter_*`; [`error`] — [`AlerterError`].

pub mod api;
pub mod backtest;
pub mod config;
pub mod deliver;
pub mod error;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod percolate;
pub mod query;
pub mod registry;
pub mod subscription;
pub mod worker;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::v1::{Alert, EnrichedStory};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::{Delivery, Record, SharedPublisher};
use wirewatch_runtime::http::ReadyCheck;
use wirewatch_runtime::stage::{decode, LoopOptions, ProcessError, Processor};

pub use config::AlerterConfig;
pub use error::AlerterError;
pub use subscription::{load_subscriptions, Subscription};

use deliver::Deliverer;
use ledger::Ledger;
use metrics::STAGE;
use outbox::Decision;
use query::StoryIndex;
use registry::Registry;

/// State shared by the run-loop side, the delivery worker and the API.
pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) ledger: Ledger,
    pub(crate) deliverer: Deliverer,
    pub(crate) cfg: AlerterConfig,
    pub(crate) alerts_topic: String,
    /// Wakes the worker when a match was queued.
    pub(crate) notify: tokio::sync::Notify,
}

/// The alerter stage. Build with [`Alerter::open`]; run it with
/// `wirewatch_runtime::stage::run_processor` on the `stories.enriched` topic, and its
/// delivery worker ([`Alerter::run_worker`]) beside it. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Alerter {
    inner: Arc<Inner>,
}

impl Alerter {
    /// Load and check the subscriptions file, open the ledger at `<data_dir>/alerter.db`,
    /// sync the file's subscriptions into it and build the HTTP client. Fails on a bad
    /// subscriptions file (naming file, subscription and query position) or an unusable
    /// ledger.
    pub async fn open(
        cfg: &AlerterConfig,
        data_dir: &Path,
        topic_prefix: &str,
    ) -> Result<Self, AlerterError> {
        let subs = load_subscriptions(&cfg.subscriptions_file)?;
        let ledger = Ledger::open_with(data_dir, cfg.max_tracked_cluster_stories).await?;
        metrics::touch();
        let registry = Registry::open(ledger.clone(), &subs, &cfg.subscriptions_file).await?;
        let deliverer = Deliverer::new(cfg)?;
        tracing::info!(
            file = %cfg.subscriptions_file.display(),
            ledger = %ledger.path().display(),
            api = cfg.api_token.is_some(),
            "alerter ready"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                ledger,
                deliverer,
                cfg: cfg.clone(),
                alerts_topic: Topic::Alerts.name(topic_prefix),
                notify: tokio::sync::Notify::new(),
            }),
        })
    }

    /// A `/readyz` check: the ledger database answers `SELECT 1`.
    pub fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(self.inner.ledger.clone())
    }

    /// The subscriptions loaded (active or not).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.inner
            .registry
            .live()
            .subs
            .iter()
            .map(|c| c.sub.clone())
            .collect()
    }

    /// The `/api/subscriptions` routes (see [`api`]).
    pub fn api_router(&self) -> axum::Router {
        api::router(self.inner.clone())
    }

    /// Run the delivery worker until `shutdown`, publishing alert events and dead letters
    /// with `publisher`.
    pub async fn run_worker(
        &self,
        publisher: SharedPublisher,
        opts: LoopOptions,
        shutdown: CancellationToken,
    ) {
        worker::run(self.inner.clone(), publisher, opts, shutdown).await;
    }

    /// Deliver everything in the outbox now, in the calling task (tests, benchmarks, one-shot
    /// tools), queueing due digests first; returns the records the worker would publish.
    pub async fn deliver_pending(&self) -> Result<Vec<Record>, AlerterError> {
        self.flush_due(Utc::now()).await;
        let token = CancellationToken::new();
        let mut out = Vec::new();
        loop {
            let heads = self.inner.ledger.outbox_heads(1024).await?;
            if heads.is_empty() {
                return Ok(out);
            }
            let runs: Vec<_> = heads
                .into_iter()
                .map(|p| worker::deliver_one(&self.inner, p, &token))
                .collect();
            for recs in futures::future::join_all(runs).await {
                out.extend(recs);
            }
        }
    }

    /// Queue the digests and summaries whose window has ended by `now` (the worker does this
    /// every second with the current time; tests pass a later time instead of waiting).
    pub async fn flush_due(&self, now: chrono::DateTime<Utc>) {
        worker::flush_held(&self.inner, now).await;
    }

    /// Alerts waiting in the outbox.
    pub async fn outbox_len(&self) -> Result<u64, AlerterError> {
        self.inner.ledger.outbox_len().await
    }

    /// Close the ledger (on shutdown, or before reopening the same data dir).
    pub async fn close(&self) {
        self.inner.ledger.close().await;
    }

    /// Match `story` and decide its alerts (queued in the outbox, held, or suppressed);
    /// returns the records to publish at once (alert events of pairs delivered before, for a
    /// redelivered story). Fails only with a retryable ledger error or a fatal encoding bug.
    pub async fn process_story(&self, story: &EnrichedStory) -> Result<Vec<Record>, ProcessError> {
        let inner = &self.inner;
        let m = metrics::get();
        m.evaluated.with_label_values(&[STAGE]).inc();
        let retryable = |e: AlerterError| {
            if e.retryable() {
                ProcessError::Retryable(e.to_string())
            } else {
                ProcessError::Fatal(e.to_string())
            }
        };
        let cluster_size = inner
            .ledger
            .see_cluster_story(&story.cluster_id, &story.story.id)
            .await
            .map_err(retryable)?;
        let live = inner.registry.live();
        let index = StoryIndex::with_cluster_size(story, cluster_size);
        let matched = live
            .index
            .matching(&index, |i| live.subs.get(i).map(|c| &c.query));
        if matched.is_empty() {
            return Ok(vec![]);
        }
        m.matches
            .with_label_values(&[STAGE])
            .inc_by(matched.len() as u64);
        let story_time = story.story.published.unwrap_or(story.story.fetched_at);
        let now = Utc::now();
        let mut out = Vec::new();
        let mut queued = false;
        for c in matched.into_iter().filter_map(|i| live.subs.get(i)) {
            if !c.accepts_time(story_time) {
                m.suppressed
                    .with_label_values(&[STAGE, "before_subscription"])
                    .inc();
                tracing::debug!(subscription = %c.sub.id, story_id = %story.story.id, "story published before the subscription was created; not alerting");
                continue;
            }
            let alert = deliver::build_alert(&c.sub, story, vec![], now);
            match inner
                .ledger
                .decide(c, alert, story.severity, cluster_size, now)
                .await
                .map_err(retryable)?
            {
                Decision::Known { status, alert } => {
                    m.duplicates.with_label_values(&[STAGE]).inc();
                    tracing::debug!(subscription = %c.sub.id, story_id = %story.story.id, status, "already decided, not alerting again");
                    if let (true, Some(a)) = (status == "delivered", alert) {
                        out.push(event(&a)?);
                    }
                }
                Decision::Suppressed(reason) | Decision::Held(reason) => {
                    m.suppressed.with_label_values(&[STAGE, reason]).inc();
                    tracing::debug!(subscription = %c.sub.id, story_id = %story.story.id, cluster_id = %story.cluster_id, reason, "match not alerted on its own");
                }
                Decision::Queued(_) => queued = true,
            }
        }
        if queued {
            inner.notify.notify_one();
        }
        Ok(out)
    }
}

fn event(alert: &Alert) -> Result<Record, ProcessError> {
    Record::event(alert, STAGE).map_err(|e| ProcessError::Fatal(e.to_string()))
}

#[async_trait]
impl Processor for Alerter {
    fn stage(&self) -> &'static str {
        STAGE
    }

    async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError> {
        let story: EnrichedStory = decode(msg)?;
        self.process_story(&story).await
    }
}
