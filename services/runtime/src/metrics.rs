//! Metrics shared by every stage (bus and run-loop). Names follow
//! `wirewatch_<subsystem>_<name>_<unit>[_total]`; every series has a `stage` label; error
//! labels come from a small fixed set. Stage crates declare their own in their `metrics.rs`.
//! Everything registers in the process-wide default registry served at `/metrics`.

use std::sync::LazyLock;

use prometheus::{
    register_counter_vec, register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
    CounterVec, HistogramVec, IntCounterVec, IntGaugeVec,
};

/// Bus metrics.
pub struct BusMetrics {
    /// `wirewatch_bus_messages_consumed_total{stage,topic}`.
    pub consumed: IntCounterVec,
    /// `wirewatch_bus_messages_produced_total{stage,topic}`.
    pub produced: IntCounterVec,
    /// `wirewatch_bus_errors_total{stage,kind}`; kind ∈ produce, consume, commit.
    pub errors: IntCounterVec,
    /// `wirewatch_bus_publish_duration_seconds{stage}`: time to a confirmed delivery.
    pub publish_seconds: HistogramVec,
    /// `wirewatch_bus_blocked_seconds_total{stage}`: time publishers waited on a full channel.
    pub blocked_seconds: CounterVec,
}

/// Run-loop metrics.
pub struct StageMetrics {
    /// `wirewatch_stage_messages_processed_total{stage,outcome}`; outcome ∈ ok, deadletter.
    pub processed: IntCounterVec,
    /// `wirewatch_stage_retries_total{stage}`: retryable failures retried.
    pub retries: IntCounterVec,
    /// `wirewatch_stage_deadletters_total{stage}`: messages sent to the dead-letter topic.
    pub deadletters: IntCounterVec,
    /// `wirewatch_stage_process_duration_seconds{stage}`: processing time of one message.
    pub process_seconds: HistogramVec,
    /// `wirewatch_stage_up{stage}`: 1 while the stage runs.
    pub up: IntGaugeVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Registration fails only on a duplicate name or bad label set: a programming error
    // caught by the metrics tests, never caused by input.
    #[allow(clippy::expect_used)]
    r.expect("metric registration")
}

static BUS: LazyLock<BusMetrics> = LazyLock::new(|| BusMetrics {
    consumed: must(register_int_counter_vec!(
        "wirewatch_bus_messages_consumed_total",
        "Messages received from the bus.",
        &["stage", "topic"]
    )),
    produced: must(register_int_counter_vec!(
        "wirewatch_bus_messages_produced_total",
        "Messages delivered to the bus.",
        &["stage", "topic"]
    )),
    errors: must(register_int_counter_vec!(
        "wirewatch_bus_errors_total",
        "Bus operations that failed.",
        &["stage", "kind"]
    )),
    publish_seconds: must(register_histogram_vec!(
        "wirewatch_bus_publish_duration_seconds",
        "Time from publish to confirmed delivery.",
        &["stage"],
        vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
    )),
    blocked_seconds: must(register_counter_vec!(
        "wirewatch_bus_blocked_seconds_total",
        "Time publishers spent blocked on a full in-process channel.",
        &["stage"]
    )),
});

static STAGE: LazyLock<StageMetrics> = LazyLock::new(|| StageMetrics {
    processed: must(register_int_counter_vec!(
        "wirewatch_stage_messages_processed_total",
        "Messages a stage finished, by outcome.",
        &["stage", "outcome"]
    )),
    retries: must(register_int_counter_vec!(
        "wirewatch_stage_retries_total",
        "Retryable failures that were retried.",
        &["stage"]
    )),
    deadletters: must(register_int_counter_vec!(
        "wirewatch_stage_deadletters_total",
        "Messages sent to the dead-letter topic.",
        &["stage"]
    )),
    process_seconds: must(register_histogram_vec!(
        "wirewatch_stage_process_duration_seconds",
        "Time to process one message, outputs delivered.",
        &["stage"],
        vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
    )),
    up: must(register_int_gauge_vec!(
        "wirewatch_stage_up",
        "1 while the stage runs.",
        &["stage"]
    )),
});

/// The bus metrics.
pub fn bus() -> &'static BusMetrics {
    &BUS
}

/// The run-loop metrics.
pub fn stage() -> &'static StageMetrics {
    &STAGE
}

/// Make a stage's shared series visible at zero before its first message, so dashboards and
/// the metrics tests see them from the start.
pub fn touch_stage(stage_name: &str) {
    let s = stage();
    for outcome in ["ok", "deadletter"] {
        s.processed.with_label_values(&[stage_name, outcome]);
    }
    s.retries.with_label_values(&[stage_name]);
    s.deadletters.with_label_values(&[stage_name]);
    s.up.with_label_values(&[stage_name]);
    let b = bus();
    for kind in ["produce", "consume", "commit"] {
        b.errors.with_label_values(&[stage_name, kind]);
    }
}

/// Render the default registry in the Prometheus text format.
pub fn render() -> String {
    let enc = prometheus::TextEncoder::new();
    enc.encode_to_string(&prometheus::gather())
        .unwrap_or_else(|e| format!("# metrics encoding failed: {e}\n"))
}
