//! The fetcher's metrics, registered in the process-wide default registry (served at
//! `/metrics`). Every series has `stage="fetcher"`; label values come from small fixed sets,
//! never a URL.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `wirewatch_fetcher_fetches_total` | counter | `stage`, `result` ∈ ok, not_modified, error |
//! | `wirewatch_fetcher_errors_total` | counter | `stage`, `kind` ∈ [`FetcherError::KINDS`] |
//! | `wirewatch_fetcher_requests_total` | counter | `stage`, `outcome` ∈ [`OUTCOMES`] |
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

/// Values of the `outcome` label of the requests counter: how each feed request ended.
/// `200` is any 2xx with a body (a body that is not a feed is still a `200` request, and an
/// `errors_total{kind="parse"}`); `304` a conditional-GET hit; `other` a non-2xx status outside
/// 4xx/5xx, or a failure after the response (state database).
pub const OUTCOMES: [&str; 12] = [
    "200",
    "304",
    "4xx",
    "5xx",
    "timeout",
    "too_large",
    "dns",
    "connect",
    "tls",
    "blocked_address",
    "io",
    "other",
];

/// The `outcome` of one feed request: `Ok(false)` a 304, `Ok(true)` a 2xx with a body.
pub fn request_outcome(result: Result<bool, &FetcherError>) -> &'static str {
    match result {
        Ok(false) => "304",
        Ok(true) => "200",
        Err(e) => match e {
            FetcherError::Parse { .. } => "200",
            FetcherError::HttpStatus { status, .. } => match status {
                400..=499 => "4xx",
                500..=599 => "5xx",
                _ => "other",
            },
            FetcherError::Timeout { .. } => "timeout",
            FetcherError::TooLarge { .. } => "too_large",
            FetcherError::Dns { .. } => "dns",
            FetcherError::Connect { .. } => "connect",
            FetcherError::Tls { .. } => "tls",
            FetcherError::Blocked { .. } => "blocked_address",
            FetcherError::Io { .. } => "io",
            FetcherError::FeedsFile { .. }
            | FetcherError::State { .. }
            | FetcherError::Bus { .. } => "other",
        },
    }
}

/// Values of the `status` label.
pub const STATUSES: [&str; 5] = ["healthy", "failing", "recovered", "redirected", "gone"];

/// The fetcher's metric families.
pub struct FetcherMetrics {
    /// `wirewatch_fetcher_fetches_total{stage,result}`.
    pub fetches: IntCounterVec,
    /// `wirewatch_fetcher_errors_total{stage,kind}`.
    pub errors: IntCounterVec,
    /// `wirewatch_fetcher_requests_total{stage,outcome}`: [`OUTCOMES`]; the conditional-GET
    /// hit ratio is `304 / (200 + 304)`.
    pub requests: IntCounterVec,
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
    requests: must(register_int_counter_vec!(
        "wirewatch_fetcher_requests_total",
        "Feed requests, by outcome: HTTP status class (200, 304, 4xx, 5xx) or the failure.",
        &["stage", "outcome"]
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

/// The series every poll touches, looked up once: `with_label_values` hashes the labels and
/// takes the vector's lock on each call, a measurable share of a 304's cost at 10,000 feeds.
pub struct Hot {
    /// `fetch_duration_seconds`.
    pub fetch_seconds: prometheus::Histogram,
    /// `requests_total`, in the order of [`OUTCOMES`].
    pub requests: Vec<prometheus::IntCounter>,
    /// `fetches_total`, in the order of [`RESULTS`].
    pub fetches: Vec<prometheus::IntCounter>,
    /// `poll_interval_seconds`.
    pub poll_interval: prometheus::Histogram,
    /// `items_per_fetch`.
    pub items_per_fetch: prometheus::Histogram,
}

static HOT: LazyLock<Hot> = LazyLock::new(|| {
    let m = get();
    Hot {
        fetch_seconds: m.fetch_seconds.with_label_values(&[STAGE]),
        requests: OUTCOMES
            .iter()
            .map(|o| m.requests.with_label_values(&[STAGE, o]))
            .collect(),
        fetches: RESULTS
            .iter()
            .map(|r| m.fetches.with_label_values(&[STAGE, r]))
            .collect(),
        poll_interval: m.poll_interval.with_label_values(&[STAGE]),
        items_per_fetch: m.items_per_fetch.with_label_values(&[STAGE]),
    }
});

/// The per-poll series, resolved once.
pub fn hot() -> &'static Hot {
    &HOT
}

impl Hot {
    /// Count one request with `outcome` (one of [`OUTCOMES`]).
    pub fn request(&self, outcome: &str) {
        inc_named(&OUTCOMES, &self.requests, outcome);
    }

    /// Count one fetch with `result` (one of [`RESULTS`]).
    pub fn fetch(&self, result: &str) {
        inc_named(&RESULTS, &self.fetches, result);
    }
}

/// Increment the counter of `counters` at the position of `name` in `names`.
fn inc_named(names: &[&str], counters: &[prometheus::IntCounter], name: &str) {
    if let Some(c) = names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| counters.get(i))
    {
        c.inc();
    }
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
    for o in OUTCOMES {
        m.requests.with_label_values(&[STAGE, o]);
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
            "wirewatch_fetcher_requests_total{outcome=\"304\",stage=\"fetcher\"}",
            "wirewatch_fetcher_stories_published_total{stage=\"fetcher\"}",
            "wirewatch_fetcher_fetch_duration_seconds_count{stage=\"fetcher\"}",
            "wirewatch_fetcher_feeds{stage=\"fetcher\",status=\"failing\"}",
            "wirewatch_fetcher_feed_health_changes_total{stage=\"fetcher\",status=\"recovered\"}",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
    }

    #[test]
    fn request_outcomes_are_from_the_fixed_set() {
        let status = |status| FetcherError::HttpStatus {
            url: "u".into(),
            status,
            retry_after: None,
        };
        assert_eq!(request_outcome(Ok(false)), "304");
        assert_eq!(request_outcome(Ok(true)), "200");
        assert_eq!(request_outcome(Err(&status(404))), "4xx");
        assert_eq!(request_outcome(Err(&status(429))), "4xx");
        assert_eq!(request_outcome(Err(&status(503))), "5xx");
        assert_eq!(request_outcome(Err(&status(302))), "other");
        for o in ["200", "304", "4xx", "5xx", "other"] {
            assert!(OUTCOMES.contains(&o));
        }
    }
}
