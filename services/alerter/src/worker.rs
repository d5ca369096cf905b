//! The delivery worker: drains the outbox ([`crate::outbox`]) beside the stage's run-loop.
//!
//! - Each subscription's alerts go in order, one at a time; different subscriptions go
//!   concurrently, up to `max_concurrent_deliveries`. A slow or dead endpoint therefore
//!   holds up only its own subscription, and never the run-loop (matching, offsets).
//! - Each delivery tries every channel of the subscription (with the channel's retries);
//!   the outcome is recorded in the ledger ([`Ledger::finish`]) and then the alert event is
//!   published to `alerts.v1`, and each channel that gave up becomes a dead letter.
//! - Once a second it turns due digest / summary windows into outbox rows, and reloads the
//!   subscriptions if another process changed them.
//! - On shutdown it stops taking rows, gives deliveries in flight `SHUTDOWN_GRACE` to end,
//!   then abandons them: their rows stay in the outbox and go out after the restart (the
//!   receiver may see that alert twice, with the same `X-Wirewatch-Delivery` id).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{Alert, AlertKind, DeadLetter};
use wirewatch_runtime::backoff::Backoff;
use wirewatch_runtime::bus::{Record, SharedPublisher};
use wirewatch_runtime::stage::{publish_with_retry, LoopOptions};

use crate::error::AlerterError;
use crate::metrics::{self, STAGE};
use crate::outbox::{HeldWindow, Pending};
use crate::{deliver, Inner};

/// How long deliveries in flight may take to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often held windows and the subscriptions table are checked.
const TICK: Duration = Duration::from_secs(1);

/// Longest dead-letter payload kept, like the run-loop's.
const MAX_DEAD_LETTER_PAYLOAD: usize = 64 * 1024;

/// Run the worker until `shutdown`.
pub(crate) async fn run(
    inner: Arc<Inner>,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
) {
    let limit = inner.cfg.concurrency();
    let mut busy: HashSet<String> = HashSet::new();
    let mut by_task: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        if tasks.len() < limit {
            match inner.ledger.outbox_heads(limit + busy.len()).await {
                Ok(heads) => {
                    backoff.reset();
                    for p in heads {
                        if tasks.len() >= limit {
                            break;
                        }
                        let sub = p.alert.subscription_id.clone();
                        if busy.contains(&sub) {
                            continue;
                        }
                        busy.insert(sub.clone());
                        let h = tasks.spawn(deliver_and_publish(
                            inner.clone(),
                            p,
                            publisher.clone(),
                            opts.clone(),
                            shutdown.clone(),
                        ));
                        by_task.insert(h.id(), sub);
                    }
                }
                Err(e) => {
                    let d = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "cannot read the outbox");
                    tokio::select! {
                        _ = tokio::time::sleep(d) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        update_gauges(&inner).await;
        tokio::select! {
            _ = inner.notify.notified() => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => {
                        tracing::error!(error = %e, "a delivery task failed");
                        e.id()
                    }
                };
                if let Some(sub) = by_task.remove(&id) {
                    busy.remove(&sub);
                }
            }
            _ = tick.tick() => {
                flush_held(&inner, Utc::now()).await;
                if let Err(e) = inner.registry.reload_if_changed().await {
                    tracing::warn!(error = %e, "cannot check the subscriptions table for changes");
                }
            }
            _ = shutdown.cancelled() => break,
        }
    }
    if !tasks.is_empty() {
        tracing::info!(
            in_flight = tasks.len(),
            "alerter: waiting for deliveries in flight"
        );
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "deliveries still in flight at shutdown; they stay in the outbox and are retried after the restart"
            );
            tasks.abort_all();
        }
    }
}

async fn update_gauges(inner: &Inner) {
    let m = metrics::get();
    if let Ok(n) = inner.ledger.outbox_len().await {
        m.outbox.with_label_values(&[STAGE]).set(n as i64);
    }
    if let Ok(n) = inner.ledger.held_len().await {
        m.held.with_label_values(&[STAGE]).set(n as i64);
    }
}

/// The length of the window `w` belongs to, from its subscription's current settings; a
/// subscription gone or changed since has its window flushed at once.
fn window_len(inner: &Inner, w: &HeldWindow) -> Option<i64> {
    let live = inner.registry.live();
    let c = live.get(&w.subscription_id)?;
    match w.kind {
        AlertKind::Digest => c.flood.digest_secs,
        _ => c.flood.rate.map(|(_, len)| len),
    }
}

/// Queue the digests and summaries whose window has ended by `now`.
pub(crate) async fn flush_held(inner: &Inner, now: chrono::DateTime<Utc>) {
    let windows = match inner.ledger.held_windows().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read held matches");
            return;
        }
    };
    let mut queued = false;
    for w in windows {
        let due = match window_len(inner, &w) {
            Some(len) => w.window_start + len <= now.timestamp(),
            None => true,
        };
        if !due {
            continue;
        }
        let live = inner.registry.live();
        let sub = live.get(&w.subscription_id).map(|c| c.sub.clone());
        let r = inner
            .ledger
            .flush_held(&w, now, |items, total| {
                let sub = sub?;
                deliver::build_batch(&sub, w.kind, w.window_start, items, total, now)
            })
            .await;
        match r {
            Ok(Some(a)) => {
                queued = true;
                tracing::info!(subscription = %a.subscription_id, kind = a.kind.as_str(), stories = a.sources.unwrap_or(0), "held matches queued as one message");
            }
            Ok(None) => {
                tracing::info!(subscription = %w.subscription_id, "held matches of a removed subscription dropped");
            }
            Err(e) => {
                tracing::warn!(subscription = %w.subscription_id, error = %e, "cannot flush held matches")
            }
        }
    }
    if queued {
        inner.notify.notify_one();
    }
}

async fn deliver_and_publish(
    inner: Arc<Inner>,
    p: Pending,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
) {
    let id = p.alert.id.clone();
    for r in deliver_one(&inner, p, &shutdown).await {
        if let Err(e) = publish_with_retry(&publisher, r, &opts, &shutdown, STAGE).await {
            tracing::error!(alert_id = %id, error = %e, "cannot publish the alert's event");
        }
    }
}

/// Deliver one outbox row on every channel of its subscription and record the outcome;
/// returns the records to publish (the alert event when a channel worked, a dead letter per
/// channel that gave up).
pub(crate) async fn deliver_one(
    inner: &Inner,
    p: Pending,
    shutdown: &CancellationToken,
) -> Vec<Record> {
    let live = inner.registry.live();
    let mut alert = p.alert;
    let Some(c) = live.get(&alert.subscription_id).filter(|c| c.active()) else {
        tracing::info!(subscription = %alert.subscription_id, alert_id = %alert.id, "subscription paused or removed since the match; dropping its queued alert");
        metrics::get()
            .suppressed
            .with_label_values(&[STAGE, "paused"])
            .inc();
        finish(inner, p.seq, &alert, "dropped", shutdown).await;
        return vec![];
    };
    let sub = &c.sub;
    let mut planned = Vec::new();
    if sub.file.is_some() {
        planned.push("file".to_string());
    }
    if c.webhook.is_some() {
        planned.push("webhook".to_string());
    }
    if c.slack.is_some() {
        planned.push("slack".to_string());
    }
    if c.email.is_some() {
        planned.push("email".to_string());
    }
    alert.channels = planned;
    alert.delivered_at = Utc::now();
    let body = match serde_json::to_vec(&alert) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(alert_id = %alert.id, error = %e, "cannot encode alert");
            finish(inner, p.seq, &alert, "failed", shutdown).await;
            return vec![];
        }
    };
    let d = &inner.deliverer;
    let mut delivered = Vec::new();
    let mut records = Vec::new();
    if let Some(path) = &sub.file {
        let mut line = body.clone();
        line.push(b'\n');
        let r = d.file(sub, path, &line).await;
        match r.result {
            Ok(()) => delivered.push("file".to_string()),
            Err(e) => records.extend(dead_letter(inner, &alert, &body, "file", &e, r.attempts)),
        }
    }
    if let Some(url) = &c.webhook {
        let r = d.webhook(sub, url, &alert.id, &body).await;
        match r.result {
            Ok(()) => delivered.push("webhook".to_string()),
            Err(e) => records.extend(dead_letter(inner, &alert, &body, "webhook", &e, r.attempts)),
        }
    }
    if let Some(url) = &c.slack {
        let r = d.slack(sub, url, &alert, p.severity).await;
        match r.result {
            Ok(()) => delivered.push("slack".to_string()),
            Err(e) => records.extend(dead_letter(inner, &alert, &body, "slack", &e, r.attempts)),
        }
    }
    if let Some(target) = &c.email {
        let r = d.email(sub, target, &alert, p.severity).await;
        match r.result {
            Ok(()) => delivered.push("email".to_string()),
            Err(e) => records.extend(dead_letter(inner, &alert, &body, "email", &e, r.attempts)),
        }
    }
    let ok = !delivered.is_empty();
    if ok {
        alert.channels = delivered;
    }
    finish(
        inner,
        p.seq,
        &alert,
        if ok { "delivered" } else { "failed" },
        shutdown,
    )
    .await;
    if ok {
        metrics::get()
            .sent
            .with_label_values(&[STAGE, alert.kind.as_str()])
            .inc();
        if let (AlertKind::Story | AlertKind::Update, Some(f)) = (alert.kind, alert.fetched_at) {
            metrics::observe_alerted(f);
        }
        tracing::info!(
            subscription = %alert.subscription_id,
            story_id = %alert.story_id,
            alert_id = %alert.id,
            kind = alert.kind.as_str(),
            channels = ?alert.channels,
            "alert delivered"
        );
        match Record::event(&alert, STAGE) {
            Ok(r) => records.insert(0, r),
            Err(e) => {
                tracing::error!(alert_id = %alert.id, error = %e, "cannot encode the alert event")
            }
        }
    }
    records
}

/// Record the outcome, retrying ledger errors until it sticks or shutdown (then the row
/// stays in the outbox and is delivered again after the restart).
async fn finish(
    inner: &Inner,
    seq: i64,
    alert: &Alert,
    status: &str,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        match inner.ledger.finish(seq, alert, status).await {
            Ok(()) => return,
            Err(e) => {
                let d = backoff.next_delay();
                tracing::warn!(alert_id = %alert.id, error = %e, retry_in_ms = d.as_millis() as u64, "cannot record the delivery, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}

fn dead_letter(
    inner: &Inner,
    alert: &Alert,
    body: &[u8],
    channel: &str,
    err: &AlerterError,
    attempts: u32,
) -> Option<Record> {
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
        topic: inner.alerts_topic.clone(),
        partition: None,
        offset: None,
        key: Some(alert.subscription_id.clone()),
        reason,
        payload,
        failed_at: Utc::now(),
    };
    match Record::event(&dl, STAGE) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(alert_id = %alert.id, error = %e, "cannot encode the dead letter");
            None
        }
    }
}
