//! The alerter's metrics (each field of [`AlerterMetrics`] says what it counts). Label values
//! come from fixed sets: `channel` ∈ webhook, slack, email, file; `result` ∈ ok, retry, failed. Subscription
//! ids and URLs are never labels.

use std::sync::LazyLock;
use wirewatch_runtime::metrics::must;

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, HistogramVec,
    IntCounterVec, IntGaugeVec,
};

/// Stage label value.
pub const STAGE: &str = "alerter";
/// Delivery channels.
pub const CHANNELS: [&str; 4] = ["webhook", "slack", "email", "file"];
/// Why a match was suppressed.
/// `cluster`: another story of the cluster was alerted (cluster mode `once`); `digest`: held
/// for the subscription's digest; `rate_limit`: held for the rate-limit window's summary;
/// `before_subscription`: published before the subscription was created; `paused`: queued
/// before the subscription was paused or deleted, then dropped.
pub const SUPPRESS_REASONS: [&str; 5] = [
    "cluster",
    "digest",
    "rate_limit",
    "before_subscription",
    "paused",
];
/// Kinds of alert messages sent.
pub const KINDS: [&str; 4] = ["story", "update", "digest", "summary"];
/// Delivery results: `retry` counts attempts that failed and were retried, `failed` deliveries
/// that gave up (dead-lettered).
pub const RESULTS: [&str; 3] = ["ok", "retry", "failed"];

/// The alerter's metrics.
pub struct AlerterMetrics {
    /// `wirewatch_alerter_stories_evaluated_total{stage}`.
    pub evaluated: IntCounterVec,
    /// `wirewatch_alerter_matches_total{stage}`: (subscription, story) pairs that matched.
    pub matches: IntCounterVec,
    /// `wirewatch_alerter_deliveries_total{stage,channel,result}`.
    pub deliveries: IntCounterVec,
    /// `wirewatch_alerter_duplicates_suppressed_total{stage}`: matches already in the ledger.
    pub duplicates: IntCounterVec,
    /// `wirewatch_alerter_suppressed_total{stage,reason}`: matches not alerted on purpose;
    /// `reason` ∈ [`SUPPRESS_REASONS`] (`cluster`: another story of the cluster was alerted).
    pub suppressed: IntCounterVec,
    /// `wirewatch_alerter_delivery_duration_seconds{stage,channel}`: one delivery, retries
    /// included.
    pub delivery_seconds: HistogramVec,
    /// `wirewatch_alerter_subscriptions{stage}`: active (enabled, not paused) subscriptions.
    pub subscriptions: IntGaugeVec,
    /// `wirewatch_alerter_alerts_sent_total{stage,kind}`: alert messages delivered on at
    /// least one channel, by kind ([`KINDS`]).
    pub sent: IntCounterVec,
    /// `wirewatch_alerter_outbox_alerts{stage}`: alerts decided and waiting for delivery.
    pub outbox: IntGaugeVec,
    /// `wirewatch_alerter_held_matches{stage}`: matches held for digests and summaries.
    pub held: IntGaugeVec,
}

static METRICS: LazyLock<AlerterMetrics> = LazyLock::new(|| AlerterMetrics {
    evaluated: must(register_int_counter_vec!(
        "wirewatch_alerter_stories_evaluated_total",
        "Enriched stories evaluated against the subscriptions.",
        &["stage"]
    )),
    matches: must(register_int_counter_vec!(
        "wirewatch_alerter_matches_total",
        "Subscription and story pairs that matched.",
        &["stage"]
    )),
    deliveries: must(register_int_counter_vec!(
        "wirewatch_alerter_deliveries_total",
        "Alert delivery attempts by channel and result.",
        &["stage", "channel", "result"]
    )),
    duplicates: must(register_int_counter_vec!(
        "wirewatch_alerter_duplicates_suppressed_total",
        "Matches not delivered because the ledger shows them delivered already.",
        &["stage"]
    )),
    suppressed: must(register_int_counter_vec!(
        "wirewatch_alerter_suppressed_total",
        "Matches not alerted on purpose, by reason.",
        &["stage", "reason"]
    )),
    delivery_seconds: must(register_histogram_vec!(
        "wirewatch_alerter_delivery_duration_seconds",
        "Time to deliver one alert on one channel, retries included.",
        &["stage", "channel"],
        vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0]
    )),
    subscriptions: must(register_int_gauge_vec!(
        "wirewatch_alerter_subscriptions",
        "Active (enabled, not paused) subscriptions.",
        &["stage"]
    )),
    sent: must(register_int_counter_vec!(
        "wirewatch_alerter_alerts_sent_total",
        "Alert messages delivered on at least one channel, by kind.",
        &["stage", "kind"]
    )),
    outbox: must(register_int_gauge_vec!(
        "wirewatch_alerter_outbox_alerts",
        "Alerts decided and waiting in the outbox for delivery.",
        &["stage"]
    )),
    held: must(register_int_gauge_vec!(
        "wirewatch_alerter_held_matches",
        "Matches held for digests and rate-limit summaries.",
        &["stage"]
    )),
});

/// Record the end-to-end latency of an alert delivered: its story's `fetched_at` to now, in
/// the shared `wirewatch_pipeline_latency_seconds{stage="alerter",milestone="alerted"}`.
pub fn observe_alerted(fetched_at: chrono::DateTime<chrono::Utc>) {
    wirewatch_runtime::metrics::observe_pipeline_latency(STAGE, "alerted", fetched_at);
}

/// The metrics.
pub fn get() -> &'static AlerterMetrics {
    &METRICS
}

/// Create every series at zero, so dashboards and tests see them before the first story.
pub fn touch() {
    let m = get();
    m.evaluated.with_label_values(&[STAGE]);
    m.matches.with_label_values(&[STAGE]);
    m.duplicates.with_label_values(&[STAGE]);
    m.subscriptions.with_label_values(&[STAGE]);
    m.outbox.with_label_values(&[STAGE]);
    m.held.with_label_values(&[STAGE]);
    for kind in KINDS {
        m.sent.with_label_values(&[STAGE, kind]);
    }
    for reason in SUPPRESS_REASONS {
        m.suppressed.with_label_values(&[STAGE, reason]);
    }
    wirewatch_runtime::metrics::touch_pipeline_latency(STAGE, "alerted");
    for channel in CHANNELS {
        m.delivery_seconds.with_label_values(&[STAGE, channel]);
        for result in RESULTS {
            m.deliveries.with_label_values(&[STAGE, channel, result]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_creates_every_series() {
        touch();
        let text = wirewatch_runtime::metrics::render();
        for name in [
            "wirewatch_alerter_stories_evaluated_total{stage=\"alerter\"}",
            "wirewatch_alerter_matches_total{stage=\"alerter\"}",
            "wirewatch_alerter_duplicates_suppressed_total{stage=\"alerter\"}",
            "wirewatch_alerter_subscriptions{stage=\"alerter\"}",
            "wirewatch_alerter_outbox_alerts{stage=\"alerter\"}",
            "wirewatch_alerter_held_matches{stage=\"alerter\"}",
            "wirewatch_alerter_alerts_sent_total{kind=\"digest\",stage=\"alerter\"}",
            "wirewatch_alerter_suppressed_total{reason=\"rate_limit\",stage=\"alerter\"}",
            "wirewatch_alerter_suppressed_total{reason=\"cluster\",stage=\"alerter\"}",
            "wirewatch_alerter_deliveries_total{channel=\"webhook\",result=\"retry\",stage=\"alerter\"}",
            "wirewatch_alerter_deliveries_total{channel=\"file\",result=\"failed\",stage=\"alerter\"}",
            "wirewatch_alerter_delivery_duration_seconds_count{channel=\"webhook\",stage=\"alerter\"}",
            "wirewatch_pipeline_latency_seconds_count{milestone=\"alerted\",stage=\"alerter\"}",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
    }
}
