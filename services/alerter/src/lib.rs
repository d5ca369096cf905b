//! # wirewatch-alerter — the alerting sink
//!
//! Reads `stories.enriched.v1` ([`EnrichedStory`]), evaluates every enabled subscription's
//! query against each story, and delivers an [`Alert`] for each match — once per
//! (subscription, story), ever — to the subscription's webhook and/or JSON-lines file. Writes
//! `alerts.v1` (one [`Alert`] per delivered alert, for the store) and `deadletter.v1` (alerts
//! whose delivery failed after its retries, and undecodable input).
//!
//! Per story:
//! 1. decode (an undecodable message is poison: dead-lettered by the run-loop);
//! 2. count it in its cluster ([`ledger::Ledger::see_cluster_story`], for `cluster_size`) and
//!    match it against the enabled subscriptions that can match it ([`percolate::Percolator`]) ([`query::Query::matches_index`], pure);
//! 3. for each match, concurrently up to `max_concurrent_deliveries`: if the [`ledger`] already
//!    has the pair, deliver nothing and re-publish the stored alert event (so the store gets it
//!    even if the first publish was lost); if the subscription has `once_per_cluster` (the
//!    default) and another story of the same cluster was already alerted, deliver nothing and
//!    count it in `wirewatch_alerter_suppressed_total{reason="cluster"}`; otherwise append to the file, POST to the webhook
//!    (retries with backoff on connect errors, timeouts, 5xx and 429), record the pair in the
//!    ledger right after, and output the alert event. A channel that still fails becomes a
//!    [`DeadLetter`] record (stage `alerter`, topic = the alerts topic, payload = the alert);
//!    it is not recorded, so a redelivered story tries it again. When one channel of a
//!    subscription succeeds and the other fails, the pair is recorded (with the channels that
//!    worked) and the failed channel is dead-lettered.
//!
//! A ledger error is retryable: the whole story is processed again later; pairs already
//! recorded are not delivered twice. Webhook receivers can also deduplicate on the
//! `X-Wirewatch-Delivery` header (the alert id, a hash of subscription and story id).
//!
//! Modules:
//! - [`config`] — [`AlerterConfig`], the `[alerter]` section;
//! - [`subscription`] — the subscriptions file ([`load_subscriptions`]);
//! - [`query`] — the query language (tokenizer, recursive-descent parser, matcher);
//! - [`deliver`] — webhook, Slack, email (SMTP) and file channels, HMAC signature, retry classification;
//! - [`ledger`] — the SQLite record of delivered alerts (`<data_dir>/alerter.db`);
//! - [`percolate`] — the subscription index (only candidate subscriptions are evaluated);
//! - [`metrics`] — `wirewatch_alerter_*`;
//! - [`error`] — [`AlerterError`].

pub mod config;
pub mod deliver;
pub mod error;
pub mod ledger;
pub mod metrics;
pub mod percolate;
pub mod query;
pub mod subscription;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use wirewatch_proto::v1::{Alert, DeadLetter, EnrichedStory};
use wirewatch_proto::{stable_id, Topic};
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::http::ReadyCheck;
use wirewatch_runtime::stage::{decode, ProcessError, Processor};

pub use config::AlerterConfig;
pub use error::AlerterError;
pub use subscription::{load_subscriptions, Subscription};

use deliver::Deliverer;
use ledger::Ledger;
use metrics::STAGE;
use percolate::Percolator;
use query::StoryIndex;
use subscription::Compiled;

/// Longest dead-letter payload kept, like the run-loop's.
const MAX_DEAD_LETTER_PAYLOAD: usize = 64 * 1024;

/// The alerter stage. Build with [`Alerter::open`]; run it with
/// `wirewatch_runtime::stage::run_processor` on the `stories.enriched` topic.
pub struct Alerter {
    subs: Vec<Compiled>,
    /// Enabled subscriptions, indexed by position in `subs`.
    index: Percolator,
    ledger: Ledger,
    deliverer: Deliverer,
    concurrency: usize,
    alerts_topic: String,
}

impl Alerter {
    /// Load and compile the subscriptions in `cfg.subscriptions_file`, open the ledger at
    /// `<data_dir>/alerter.db` and build the HTTP client. Fails on a bad subscriptions file
    /// (naming file, subscription and query position) or an unusable ledger.
    pub async fn open(
        cfg: &AlerterConfig,
        data_dir: &Path,
        topic_prefix: &str,
    ) -> Result<Self, AlerterError> {
        let subs = load_subscriptions(&cfg.subscriptions_file)?;
        let subs = subscription::compile(&subs, &cfg.subscriptions_file)?;
        let ledger = Ledger::open_with(data_dir, cfg.max_tracked_cluster_stories).await?;
        let deliverer = Deliverer::new(cfg)?;
        metrics::touch();
        let enabled = subs.iter().filter(|c| c.sub.enabled).count();
        metrics::get()
            .subscriptions
            .with_label_values(&[STAGE])
            .set(enabled as i64);
        tracing::info!(
            file = %cfg.subscriptions_file.display(),
            subscriptions = subs.len(),
            enabled,
            ledger = %ledger.path().display(),
            "alerter ready"
        );
        let index = Percolator::new(
            subs.iter()
                .enumerate()
                .filter(|(_, c)| c.sub.enabled)
                .map(|(i, c)| (i, &c.query)),
        );
        tracing::info!(
            indexed = index.len() - index.unindexed(),
            evaluated_for_every_story = index.unindexed(),
            "subscription index built"
        );
        Ok(Self {
            subs,
            index,
            ledger,
            deliverer,
            concurrency: cfg.concurrency(),
            alerts_topic: Topic::Alerts.name(topic_prefix),
        })
    }

    /// A `/readyz` check: the ledger database answers `SELECT 1`.
    pub fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(self.ledger.clone())
    }

    /// The subscriptions loaded (enabled or not).
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subs.iter().map(|c| &c.sub)
    }

    /// Close the ledger (on shutdown, or before reopening the same data dir).
    pub async fn close(&self) {
        self.ledger.close().await;
    }

    /// Match `story` and deliver its alerts; returns the records to publish (alert events and
    /// dead letters). Fails only with a retryable ledger error or a fatal encoding bug.
    pub async fn process_story(&self, story: &EnrichedStory) -> Result<Vec<Record>, ProcessError> {
        let m = metrics::get();
        m.evaluated.with_label_values(&[STAGE]).inc();
        let cluster_size = self
            .ledger
            .see_cluster_story(&story.cluster_id, &story.story.id)
            .await
            .map_err(|e| ProcessError::Retryable(e.to_string()))?;
        let index = StoryIndex::with_cluster_size(story, cluster_size);
        let matched: Vec<&Compiled> = self
            .index
            .matching(&index, |i| self.subs.get(i).map(|c| &c.query))
            .into_iter()
            .filter_map(|i| self.subs.get(i))
            .collect();
        if matched.is_empty() {
            return Ok(vec![]);
        }
        m.matches
            .with_label_values(&[STAGE])
            .inc_by(matched.len() as u64);
        // `buffered` keeps the output order stable while running deliveries concurrently.
        // The futures are made before the stream (not in a `map` closure) so that the future
        // of `process` stays `Send` (a closure here trips a higher-ranked lifetime limit).
        let deliveries: Vec<_> = matched.into_iter().map(|c| self.handle(c, story)).collect();
        let results: Vec<Result<Vec<Record>, ProcessError>> = futures::stream::iter(deliveries)
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut out = Vec::new();
        let mut first_err = None;
        for r in results {
            match r {
                Ok(recs) => out.extend(recs),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// One (subscription, story) pair: check the ledger, deliver, record.
    async fn handle(
        &self,
        c: &Compiled,
        story: &EnrichedStory,
    ) -> Result<Vec<Record>, ProcessError> {
        let sub = &c.sub;
        let story_id = &story.story.id;
        let ledger_err = |e: AlerterError| ProcessError::Retryable(e.to_string());
        if let Some(previous) = self
            .ledger
            .lookup(&sub.id, story_id)
            .await
            .map_err(ledger_err)?
        {
            metrics::get().duplicates.with_label_values(&[STAGE]).inc();
            tracing::debug!(subscription = %sub.id, story_id = %story_id, "already alerted, not delivering again");
            return match previous {
                Some(alert) => Ok(vec![event(&alert)?]),
                None => Ok(vec![]),
            };
        }
        if sub.once_per_cluster {
            if let Some(first) = self
                .ledger
                .cluster_alerted(&sub.id, &story.cluster_id)
                .await
                .map_err(ledger_err)?
            {
                metrics::get()
                    .suppressed
                    .with_label_values(&[STAGE, "cluster"])
                    .inc();
                tracing::debug!(
                    subscription = %sub.id,
                    story_id = %story_id,
                    cluster_id = %story.cluster_id,
                    alerted_story_id = %first,
                    "cluster already alerted, not alerting again"
                );
                return Ok(vec![]);
            }
        }

        let mut channels = Vec::new();
        if sub.file.is_some() {
            channels.push("file".to_string());
        }
        if c.webhook.is_some() {
            channels.push("webhook".to_string());
        }
        if c.slack.is_some() {
            channels.push("slack".to_string());
        }
        if c.email.is_some() {
            channels.push("email".to_string());
        }
        let mut alert = deliver::build_alert(sub, story, channels, Utc::now());
        let body = serde_json::to_vec(&alert).map_err(|e| {
            ProcessError::Fatal(
                AlerterError::Encode {
                    alert_id: alert.id.clone(),
                    reason: e.to_string(),
                }
                .to_string(),
            )
        })?;

        let mut delivered = Vec::new();
        let mut records = Vec::new();
        if let Some(path) = &sub.file {
            let mut line = body.clone();
            line.push(b'\n');
            let r = self.deliverer.file(sub, path, &line).await;
            match r.result {
                Ok(()) => delivered.push("file".to_string()),
                Err(e) => records.push(self.dead_letter(&alert, &body, "file", &e, r.attempts)?),
            }
        }
        if let Some(url) = &c.webhook {
            let r = self.deliverer.webhook(sub, url, &alert.id, &body).await;
            match r.result {
                Ok(()) => delivered.push("webhook".to_string()),
                Err(e) => records.push(self.dead_letter(&alert, &body, "webhook", &e, r.attempts)?),
            }
        }
        if let Some(url) = &c.slack {
            let r = self.deliverer.slack(sub, url, &alert, story.severity).await;
            match r.result {
                Ok(()) => delivered.push("slack".to_string()),
                Err(e) => records.push(self.dead_letter(&alert, &body, "slack", &e, r.attempts)?),
            }
        }
        if let Some(target) = &c.email {
            let r = self
                .deliverer
                .email(sub, target, &alert, story.severity)
                .await;
            match r.result {
                Ok(()) => delivered.push("email".to_string()),
                Err(e) => records.push(self.dead_letter(&alert, &body, "email", &e, r.attempts)?),
            }
        }
        if delivered.is_empty() {
            return Ok(records);
        }
        alert.channels = delivered;
        self.ledger.record(&alert).await.map_err(ledger_err)?;
        // Fetch to first successful delivery, once per alert (a redelivery returns above).
        metrics::observe_alerted(story.story.fetched_at);
        tracing::info!(
            subscription = %sub.id,
            story_id = %story_id,
            alert_id = %alert.id,
            channels = ?alert.channels,
            "alert delivered"
        );
        records.insert(0, event(&alert)?);
        Ok(records)
    }

    fn dead_letter(
        &self,
        alert: &Alert,
        body: &[u8],
        channel: &str,
        err: &AlerterError,
        attempts: u32,
    ) -> Result<Record, ProcessError> {
        let reason = format!("{err} (gave up after {attempts} attempt(s))");
        tracing::warn!(
            subscription = %alert.subscription_id,
            story_id = %alert.story_id,
            alert_id = %alert.id,
            channel,
            attempts,
            error = %err,
            "alert delivery failed, sending it to the dead-letter topic"
        );
        let mut payload = String::from_utf8_lossy(body).into_owned();
        if payload.len() > MAX_DEAD_LETTER_PAYLOAD {
            let mut cut = MAX_DEAD_LETTER_PAYLOAD;
            while !payload.is_char_boundary(cut) {
                cut -= 1;
            }
            payload.truncate(cut);
        }
        let dl = DeadLetter {
            id: stable_id(&[STAGE, &alert.id, channel]),
            stage: STAGE.to_string(),
            topic: self.alerts_topic.clone(),
            partition: None,
            offset: None,
            key: Some(alert.subscription_id.clone()),
            reason,
            payload,
            failed_at: Utc::now(),
        };
        Record::event(&dl, STAGE).map_err(|e| ProcessError::Fatal(e.to_string()))
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
