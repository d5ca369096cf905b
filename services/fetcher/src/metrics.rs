//! The fetcher's metrics, registered in the process-wide default registry (served at
//! `/metrics`). Every series has `stage="fetcher"`; label values come from small fixed sets,
//! never a URL.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `wirewatch_fetcher_fetches_total` | counter | `stage`, `result` ∈ ok, not_modified, error |
//! | `wirewatch_fetcher_errors_total` | counter | `stage`, `kind` ∈ [`FetcherError::KINDS`] |
//! | `wirewatch_fetcher_stories_published_total` | counter | `stage` |
//! | `wirewatch_fetcher_fetch_duration_seconds` | histogram | `stage` |
//! | `wirewatch_fetcher_feeds` | gauge | `stage`, `status` ∈ healthy, failing, recovered, redirected, gone |
//! | `wirewatch_fetcher_feed_health_changes_total` | counter | `stage`, `status` (the new status) |
//! | `wirewatch_fetcher_missed_items_total` | counter | `stage` |
//! | `wirewatch_fetcher_host_backoffs_total` | counter | `stage` |
//! | `wirewatch_fetcher_poll_interval_seconds` | histogram | `stage` |
//! | `wirewatch_fetcher_items_per_fetch` | histogram | `stage` |
//! | `wirewatch_fetcher_websub_events_total` | counter | `stage`, `event` |

use std::sync::LazyLock;
use wirewatch_runtime::metrics::must;

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, HistogramVec,
    IntCounterVec, IntGaugeVec,
};

use crate::error::FetcherError;

/// The `stage` label value.
pub const STAGE: &str = "fetcher";

/// Values of the `result` label.
pub const RESULTS: [&str; 3] = ["ok", "not_modified", "error"];

/// Values of the `status` label.
pub const STATUSES: [&str; 5] = ["healthy", "failing", "recovered", "redirected", "gone"];

/// The fetcher's metric families.
pub struct FetcherMetrics {
    /// `wirewatch_fetcher_fetches_total{stage,result}`.
    pub fetches: IntCounterVec,
    /// `wirewatch_fetcher_errors_total{stage,kind}`.
    pub errors: IntCounterVec,
    /// `wirewatch_fetcher_stories_published_total{stage}`.
    pub stories_published: IntCounterVec,
    /// `wirewatch_fetcher_fetch_duration_seconds{stage}`: request to parsed body (or error).
    pub fetch_seconds: HistogramVec,
    /// `wirewatch_fetcher_feeds{stage,status}`: configured feeds by health status.
    pub feeds: IntGaugeVec,
    /// `wirewatch_fetcher_feed_health_changes_total{stage,status}`.
    pub health_changes: IntCounterVec,
    /// `wirewatch_fetcher_missed_items_total{stage}`: polls whose items were all new although
    /// the feed had been read before — its window scrolled past unseen items between polls.
    pub missed_items: IntCounterVec,
    /// `wirewatch_fetcher_host_backoffs_total{stage}`: whole-host pauses after several of a
    /// host's feeds were throttled (429/503).
    pub host_backoffs: IntCounterVec,
    /// `wirewatch_fetcher_poll_interval_seconds{stage}`: the delay chosen before a feed's
    /// next poll after a successful one (publishing rate, bounds, server hints).
    pub poll_interval: HistogramVec,
    /// `wirewatch_fetcher_items_per_fetch{stage}`: items in each feed document fetched (200).
    pub items_per_fetch: HistogramVec,
    /// `wirewatch_fetcher_websub_events_total{stage,event}`: [`WEBSUB_EVENTS`].
    pub websub: IntCounterVec,
}

/// Values of the `event` label of the WebSub counter.
pub const WEBSUB_EVENTS: [&str; 6] = [
    "subscribe_sent",
    "subscribe_failed",
    "verified",
    "denied",
    "push_accepted",
    "push_rejected",
];

static METRICS: LazyLock<FetcherMetrics> = LazyLock::new(|| {
    FetcherMetrics {
    fetches: must(register_int_counter_vec!(
        "wirewatch_fetcher_fetches_total",
        "Feed fetches, by result.",
        &["stage", "result"]
    )),
    errors: must(register_int_counter_vec!(
        "wirewatch_fetcher_errors_total",
        "Failed feed fetches, by error kind.",
        &["stage", "kind"]
    )),
    stories_published: must(register_int_counter_vec!(
        "wirewatch_fetcher_stories_published_total",
        "New stories delivered to the bus.",
        &["stage"]
    )),
    fetch_seconds: must(register_histogram_vec!(
        "wirewatch_fetcher_fetch_duration_seconds",
        "Time to fetch and parse one feed.",
        &["stage"],
        vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]
    )),
    feeds: must(register_int_gauge_vec!(
        "wirewatch_fetcher_feeds",
        "Configured feeds, by health status.",
        &["stage", "status"]
    )),
    health_changes: must(register_int_counter_vec!(
        "wirewatch_fetcher_feed_health_changes_total",
        "Feed health status changes, by new status.",
        &["stage", "status"]
    )),
    missed_items: must(register_int_counter_vec!(
        "wirewatch_fetcher_missed_items_total",
        "Polls whose items were all new although the feed had been read before: items may have scrolled out unseen.",
        &["stage"]
    )),
    host_backoffs: must(register_int_counter_vec!(
        "wirewatch_fetcher_host_backoffs_total",
        "Whole-host pauses after several of the host's feeds were throttled (429/503).",
        &["stage"]
    )),
    websub: must(register_int_counter_vec!(
        "wirewatch_fetcher_websub_events_total",
        "WebSub subscription requests, verifications, denials and pushes, by event.",
        &["stage", "event"]
    )),
    items_per_fetch: must(register_histogram_vec!(
        "wirewatch_fetcher_items_per_fetch",
        "Items in each feed document fetched (200 responses).",
        &["stage"],
        vec![0.0, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
    )),
    poll_interval: must(register_histogram_vec!(
        "wirewatch_fetcher_poll_interval_seconds",
        "Delay chosen before a feed's next poll after a successful one.",
        &["stage"],
        vec![60.0, 120.0, 300.0, 600.0, 1_800.0, 3_600.0, 4.0 * 3_600.0, 12.0 * 3_600.0, 86_400.0]
    )),
}
});

/// The fetcher's metrics.
pub fn get() -> &'static FetcherMetrics {
    &METRICS
}

/// Create every series at zero, so dashboards and tests see them before the first fetch.
pub fn touch() {
    let m = get();
    for r in RESULTS {
        m.fetches.with_label_values(&[STAGE, r]);
    }
    for k in FetcherError::KINDS {
        m.errors.with_label_values(&[STAGE, k]);
    }
    m.stories_published.with_label_values(&[STAGE]);
    m.fetch_seconds.with_label_values(&[STAGE]);
    for s in STATUSES {
        m.feeds.with_label_values(&[STAGE, s]);
        m.health_changes.with_label_values(&[STAGE, s]);
    }
    m.missed_items.with_label_values(&[STAGE]);
    m.host_backoffs.with_label_values(&[STAGE]);
    m.poll_interval.with_label_values(&[STAGE]);
    m.items_per_fetch.with_label_values(&[STAGE]);
    for e in WEBSUB_EVENTS {
        m.websub.with_label_values(&[STAGE, e]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn touch_creates_every_series() {
        touch();
        let text = wirewatch_runtime::metrics::render();
        for name in [
            "wirewatch_fetcher_fetches_total{result=\"not_modified\",stage=\"fetcher\"}",
            "wirewatch_fetcher_errors_total{kind=\"too_large\",stage=\"fetcher\"}",
            "wirewatch_fetcher_stories_published_total{stage=\"fetcher\"}",
            "wirewatch_fetcher_fetch_duration_seconds_count{stage=\"fetcher\"}",
            "wirewatch_fetcher_feeds{stage=\"fetcher\",status=\"failing\"}",
            "wirewatch_fetcher_feed_health_changes_total{stage=\"fetcher\",status=\"recovered\"}",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
    }
}
