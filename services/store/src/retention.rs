//! Retention: deleting what is older than the configured age, in small batches.
//!
//! A story's age is its `sort_at` (published, or fetched when undated). A story with a topic
//! listed in `retention_topic_days` is kept for the longest of those overrides (0 = forever);
//! other stories for `retention_days` (0 = forever). Duplicate links go once they are older
//! than `retention_days` and their original story is gone; alerts, feed-health events and
//! dead letters once they are older than `retention_days`.
//!
//! Each batch is its own short transaction of at most `retention_batch_rows` rows, so the
//! sink's writes interleave with a long purge instead of waiting for it. [`run_retention`] is
//! the background task; [`purge`] one pass (for tests and tools). Deleted rows are counted in
//! `wirewatch_store_retention_deleted_total{table}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use wirewatch_runtime::CancellationToken;

use crate::config::StoreConfig;
use crate::db::Store;
use crate::error::StoreError;
use crate::metrics::{metrics, STAGE};
use crate::rows::{norm_topic, ts};

/// One story deletion pass: stories older than `days`, carrying `topic` (or any topic when
/// `None`), and none of `keep_topics` (topics whose retention is longer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Age limit in days (> 0).
    pub days: u32,
    /// Only stories with this topic.
    pub topic: Option<String>,
    /// Spare stories with any of these topics.
    pub keep_topics: Vec<String>,
}

/// The story passes a configuration implies. Pure.
pub fn plan(default_days: u32, topic_days: &BTreeMap<String, u32>) -> Vec<Pass> {
    let overrides: BTreeMap<String, u32> = topic_days
        .iter()
        .map(|(t, d)| (norm_topic(t), *d))
        .filter(|(t, _)| !t.is_empty())
        .collect();
    // 0 means forever: longer than any age.
    let longer = |d: u32, than: u32| d == 0 || d > than;
    let mut passes = Vec::new();
    if default_days > 0 {
        passes.push(Pass {
            days: default_days,
            topic: None,
            keep_topics: overrides.keys().cloned().collect(),
        });
    }
    for (topic, &days) in &overrides {
        if days == 0 {
            continue;
        }
        passes.push(Pass {
            days,
            topic: Some(topic.clone()),
            keep_topics: overrides
                .iter()
                .filter(|(t, &d)| *t != topic && longer(d, days))
                .map(|(t, _)| t.clone())
                .collect(),
        });
    }
    passes
}

/// Rows one [`purge`] deleted, by table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeReport {
    /// Stories (with their topic, country and entity rows).
    pub stories: u64,
    /// Duplicate links.
    pub duplicates: u64,
    /// Alerts.
    pub alerts: u64,
    /// Feed-health events.
    pub feed_health: u64,
    /// Dead letters.
    pub dead_letters: u64,
}

fn cutoff(now: DateTime<Utc>, days: u32) -> String {
    ts(now - TimeDelta::days(i64::from(days)))
}

/// One retention pass as of `now`, batch by batch until nothing old is left or `stop` is
/// cancelled. Fails on the first database error (the rows deleted so far stay deleted).
pub async fn purge(
    store: &Store,
    cfg: &StoreConfig,
    now: DateTime<Utc>,
    stop: &CancellationToken,
) -> Result<PurgeReport, StoreError> {
    let m = metrics();
    let batch = cfg.retention_batch_rows.max(1);
    let mut report = PurgeReport::default();
    for pass in plan(cfg.retention_days, &cfg.retention_topic_days) {
        let cut = cutoff(now, pass.days);
        while !stop.is_cancelled() {
            let n = store
                .delete_stories_batch(&cut, pass.topic.as_deref(), &pass.keep_topics, batch)
                .await?;
            report.stories += n;
            m.retention_deleted
                .with_label_values(&[STAGE, "stories"])
                .inc_by(n);
            m.stories
                .with_label_values(&[STAGE])
                .sub(i64::try_from(n).unwrap_or(0));
            if n < u64::from(batch) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    if cfg.retention_days > 0 {
        let cut = cutoff(now, cfg.retention_days);
        for table in ["duplicates", "alerts", "feed_health", "dead_letters"] {
            while !stop.is_cancelled() {
                let n = store.delete_old_batch(table, &cut, batch).await?;
                match table {
                    "duplicates" => report.duplicates += n,
                    "alerts" => report.alerts += n,
                    "feed_health" => report.feed_health += n,
                    _ => report.dead_letters += n,
                }
                m.retention_deleted
                    .with_label_values(&[STAGE, table])
                    .inc_by(n);
                if n < u64::from(batch) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    }
    if report != PurgeReport::default() {
        tracing::info!(?report, "retention pass deleted old rows");
    }
    Ok(report)
}

/// The retention task: a [`purge`] every `retention_interval_secs` (the first right away)
/// until `stop` is cancelled. Does nothing but wait when nothing is configured to expire. A
/// failed pass is logged and counted (`wirewatch_store_retention_errors_total`) and the task
/// carries on: an unavailable database must not stop the process, ingestion reports that.
pub async fn run_retention(store: Store, cfg: StoreConfig, stop: CancellationToken) {
    if plan(cfg.retention_days, &cfg.retention_topic_days).is_empty() {
        tracing::debug!("retention disabled: nothing expires");
        return;
    }
    let every = Duration::from_secs(cfg.retention_interval_secs.max(1));
    loop {
        if let Err(e) = purge(&store, &cfg, Utc::now(), &stop).await {
            metrics().retention_errors.with_label_values(&[STAGE]).inc();
            tracing::warn!(error = %e, "retention pass failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_passes() {
        assert!(plan(0, &BTreeMap::new()).is_empty());
        let p = plan(30, &BTreeMap::new());
        assert_eq!(
            p,
            vec![Pass {
                days: 30,
                topic: None,
                keep_topics: vec![]
            }]
        );
        let overrides: BTreeMap<String, u32> = [
            ("Weather".to_string(), 7),
            ("diplomacy".to_string(), 365),
            ("war".to_string(), 0),
        ]
        .into_iter()
        .collect();
        let p = plan(30, &overrides);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].topic, None);
        assert_eq!(p[0].keep_topics, ["diplomacy", "war", "weather"]);
        let diplomacy = p.iter().find(|x| x.topic.as_deref() == Some("diplomacy"));
        assert_eq!(
            diplomacy.map(|x| x.keep_topics.clone()),
            Some(vec!["war".into()])
        );
        let weather = p.iter().find(|x| x.topic.as_deref() == Some("weather"));
        assert_eq!(
            weather.map(|x| (x.days, x.keep_topics.clone())),
            Some((7, vec!["diplomacy".into(), "war".into()]))
        );
        // Overrides alone, without a default age.
        let p = plan(0, &overrides);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|x| x.topic.is_some()));
    }
}
