//! The store's metrics (registered in the process-wide default registry served at `/metrics`).
//!
//! - `wirewatch_store_writes_total{stage,kind}`: records written (redeliveries that change
//!   nothing count too: the write succeeded).
//! - `wirewatch_store_write_errors_total{stage,kind}`: writes that failed.
//! - `wirewatch_store_write_duration_seconds{stage,kind}`: time of one write transaction.
//! - `wirewatch_store_api_requests_total{stage,route,status_class}`: API requests answered.
//! - `wirewatch_store_stories{stage}`: stories in the database.
//! - `wirewatch_store_batch_rows{stage}`: stories per batched write transaction.
//! - `wirewatch_store_retention_deleted_total{stage,table}`: rows deleted by retention.
//! - `wirewatch_store_retention_errors_total{stage}`: retention passes that failed.
//!
//! `kind` ∈ [`KINDS`]; `route` ∈ [`ROUTES`]; `status_class` ∈ [`STATUS_CLASSES`];
//! `table` ∈ [`TABLES`].

use std::sync::LazyLock;
use wirewatch_runtime::metrics::must;

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, HistogramVec,
    IntCounterVec, IntGaugeVec,
};

/// The `stage` label value of every series.
pub const STAGE: &str = "store";

/// Record kinds (`kind` label).
pub const KINDS: [&str; 5] = ["story", "link", "alert", "feed_health", "dead_letter"];

/// API routes (`route` label): `/api/stories`, `/api/stories/{id}`, `/api/stats`,
/// `/api/clusters/{id}`, `/api/feeds`, `/api/openapi.json`, and `other` (unknown paths).
pub const ROUTES: [&str; 7] = [
    "stories", "story", "stats", "cluster", "feeds", "openapi", "other",
];

/// Tables retention deletes from (`table` label).
pub const TABLES: [&str; 5] = [
    "stories",
    "duplicates",
    "alerts",
    "feed_health",
    "dead_letters",
];

/// Response status classes (`status_class` label).
pub const STATUS_CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

/// The store's metric families.
pub struct StoreMetrics {
    /// `wirewatch_store_writes_total{stage,kind}`.
    pub writes: IntCounterVec,
    /// `wirewatch_store_write_errors_total{stage,kind}`.
    pub write_errors: IntCounterVec,
    /// `wirewatch_store_write_duration_seconds{stage,kind}`.
    pub write_seconds: HistogramVec,
    /// `wirewatch_store_api_requests_total{stage,route,status_class}`.
    pub api_requests: IntCounterVec,
    /// `wirewatch_store_stories{stage}`.
    pub stories: IntGaugeVec,
    /// `wirewatch_store_batch_rows{stage}`.
    pub batch_rows: HistogramVec,
    /// `wirewatch_store_retention_deleted_total{stage,table}`.
    pub retention_deleted: IntCounterVec,
    /// `wirewatch_store_retention_errors_total{stage}`.
    pub retention_errors: IntCounterVec,
}

static METRICS: LazyLock<StoreMetrics> = LazyLock::new(|| StoreMetrics {
    writes: must(register_int_counter_vec!(
        "wirewatch_store_writes_total",
        "Records written to the store database, by kind.",
        &["stage", "kind"]
    )),
    write_errors: must(register_int_counter_vec!(
        "wirewatch_store_write_errors_total",
        "Store writes that failed, by kind.",
        &["stage", "kind"]
    )),
    write_seconds: must(register_histogram_vec!(
        "wirewatch_store_write_duration_seconds",
        "Time of one store write transaction, by kind.",
        &["stage", "kind"],
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0]
    )),
    api_requests: must(register_int_counter_vec!(
        "wirewatch_store_api_requests_total",
        "Store API requests answered, by route and status class.",
        &["stage", "route", "status_class"]
    )),
    stories: must(register_int_gauge_vec!(
        "wirewatch_store_stories",
        "Stories in the store database.",
        &["stage"]
    )),
    batch_rows: must(register_histogram_vec!(
        "wirewatch_store_batch_rows",
        "Stories per batched write transaction.",
        &["stage"],
        vec![1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0]
    )),
    retention_deleted: must(register_int_counter_vec!(
        "wirewatch_store_retention_deleted_total",
        "Rows deleted by the retention job, by table.",
        &["stage", "table"]
    )),
    retention_errors: must(register_int_counter_vec!(
        "wirewatch_store_retention_errors_total",
        "Retention passes that failed.",
        &["stage"]
    )),
});

/// The store's metrics.
pub fn metrics() -> &'static StoreMetrics {
    &METRICS
}

/// Create every series at zero, so dashboards and tests see them before the first event.
pub fn touch() {
    wirewatch_runtime::metrics::touch_pipeline_latency(STAGE, "stored");
    let m = metrics();
    for kind in KINDS {
        m.writes.with_label_values(&[STAGE, kind]);
        m.write_errors.with_label_values(&[STAGE, kind]);
        m.write_seconds.with_label_values(&[STAGE, kind]);
    }
    for route in ROUTES {
        for class in STATUS_CLASSES {
            m.api_requests.with_label_values(&[STAGE, route, class]);
        }
    }
    m.stories.with_label_values(&[STAGE]);
    m.batch_rows.with_label_values(&[STAGE]);
    for table in TABLES {
        m.retention_deleted.with_label_values(&[STAGE, table]);
    }
    m.retention_errors.with_label_values(&[STAGE]);
}

/// The `status_class` label of an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=399 => "2xx",
        400..=499 => "4xx",
        _ => "5xx",
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
            "wirewatch_store_writes_total",
            "wirewatch_store_write_errors_total",
            "wirewatch_store_write_duration_seconds",
            "wirewatch_store_api_requests_total",
            "wirewatch_store_stories",
            "wirewatch_store_batch_rows",
            "wirewatch_store_retention_deleted_total",
            "wirewatch_store_retention_errors_total",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
        assert!(text.contains(r#"kind="feed_health""#));
        assert!(text.contains(r#"route="story""#));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
