//! Metrics shared by every stage (bus and run-loop). Names follow
//! `wirewatch_<subsystem>_<name>_<unit>[_total]`; every series has a `stage` label; error
//! labels come from a small fixed set. Stage crates declare their own in their `metrics.rs`.
//! Everything registers in the process-wide default registry served at `/metrics`.
//!
//! Also here: the process-wide series that have no `stage` label — `wirewatch_build_info`
//! and the standard `process_*` metrics ([`register_process_metrics`], called by
//! [`crate::http::serve`]) — and the pipeline's end-to-end latency histogram
//! ([`observe_pipeline_latency`]), which sinks call when a story reaches a milestone.
//! `docs/metrics.md` is the contract: every series, its type, unit and labels.

use std::sync::LazyLock;

use std::sync::Once;

use chrono::{DateTime, Utc};
use prometheus::{
    register_counter_vec, register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
    CounterVec, HistogramVec, IntCounterVec, IntGaugeVec,
};

/// The git commit this binary was built from (`WIREWATCH_GIT_SHA` at build time, else
/// `git rev-parse`, else `unknown`): see `build.rs`.
pub const GIT_SHA: &str = env!("WIREWATCH_GIT_SHA");

/// Milestones of [`observe_pipeline_latency`] (`milestone` label): a story stored by the
/// store, an alert delivered by the alerter.
pub const MILESTONES: [&str; 2] = ["stored", "alerted"];

/// Bus metrics.
pub struct BusMetrics {
    /// `wirewatch_bus_messages_consumed_total{stage,topic}`.
    pub consumed: IntCounterVec,
    /// `wirewatch_bus_messages_produced_total{stage,topic}`.
    pub produced: IntCounterVec,
    /// `wirewatch_bus_errors_total{stage,kind}`; kind ∈ produce, consume, commit.
    pub errors: IntCounterVec,
    /// `wirewatch_bus_publish_duration_seconds{stage}`: time to a confirmed delivery (Kafka: the
    /// broker's acknowledgement; in-process: enqueued for every subscriber, blocking included).
    pub publish_seconds: HistogramVec,
    /// `wirewatch_bus_blocked_seconds_total{stage}`: time publishers waited on a full channel.
    pub blocked_seconds: CounterVec,
    /// `wirewatch_bus_consumer_lag_messages{stage,topic,partition}` (Kafka): messages between
    /// the group's position and the partition's high watermark, from librdkafka statistics
    /// every `bus.kafka.statistics_interval_ms`. Only partitions assigned to this member.
    pub consumer_lag: IntGaugeVec,
    /// `wirewatch_bus_produce_in_flight_messages{stage}` (Kafka): publishes awaiting the
    /// broker's acknowledgement.
    pub produce_in_flight: IntGaugeVec,
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

/// Unwrap a metric registration. It fails only on a duplicate name or a bad label set: a
/// programming error caught by the metrics tests, never caused by input. Every crate's
/// `metrics.rs` registers through this.
pub fn must<T>(r: prometheus::Result<T>) -> T {
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
    consumer_lag: must(register_int_gauge_vec!(
        "wirewatch_bus_consumer_lag_messages",
        "Kafka consumer lag: messages between the group position and the high watermark.",
        &["stage", "topic", "partition"]
    )),
    produce_in_flight: must(register_int_gauge_vec!(
        "wirewatch_bus_produce_in_flight_messages",
        "Kafka publishes awaiting the broker acknowledgement.",
        &["stage"]
    )),
});

static PIPELINE_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    must(register_histogram_vec!(
        "wirewatch_pipeline_latency_seconds",
        "Time from a story's fetch (fetched_at) to a pipeline milestone.",
        &["stage", "milestone"],
        vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0]
    ))
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

/// Record that a story fetched at `fetched_at` reached `milestone` (one of [`MILESTONES`]) in
/// `stage`: `wirewatch_pipeline_latency_seconds{stage,milestone}`. A clock running behind the
/// fetcher's gives a negative age, counted as 0.
pub fn observe_pipeline_latency(stage: &str, milestone: &str, fetched_at: DateTime<Utc>) {
    let age = (Utc::now() - fetched_at).to_std().unwrap_or_default();
    PIPELINE_LATENCY
        .with_label_values(&[stage, milestone])
        .observe(age.as_secs_f64());
}

/// Create the latency series of `stage` for `milestone` at zero (for the stage's `touch`).
pub fn touch_pipeline_latency(stage: &str, milestone: &str) {
    PIPELINE_LATENCY.with_label_values(&[stage, milestone]);
}

/// Register the process-wide series once: `wirewatch_build_info{version,git_sha}` (always 1)
/// and the standard `process_*` metrics of this process (CPU, memory, file descriptors,
/// threads, start time). Called by [`crate::http::serve`]; calling it again does nothing.
pub fn register_process_metrics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let info = must(register_int_gauge_vec!(
            "wirewatch_build_info",
            "Always 1; the labels say which build is running.",
            &["version", "git_sha"]
        ));
        info.with_label_values(&[crate::VERSION, GIT_SHA]).set(1);
        // The standard `process_*` series need no registration: with the `process` feature the
        // prometheus crate's default registry already carries its process collector on Linux
        // (registering another one only fails as a duplicate).
    });
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
    s.process_seconds.with_label_values(&[stage_name]);
    b.publish_seconds.with_label_values(&[stage_name]);
}

/// Render the default registry in the Prometheus text format.
pub fn render() -> String {
    let enc = prometheus::TextEncoder::new();
    enc.encode_to_string(&prometheus::gather())
        .unwrap_or_else(|e| format!("# metrics encoding failed: {e}\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn process_metrics_and_build_info() {
        register_process_metrics();
        register_process_metrics(); // idempotent
        let text = render();
        let info = format!(
            "wirewatch_build_info{{git_sha=\"{GIT_SHA}\",version=\"{}\"}} 1",
            crate::VERSION
        );
        assert!(text.contains(&info), "missing {info}");
        assert!(!GIT_SHA.is_empty());
        #[cfg(target_os = "linux")]
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
    }

    #[test]
    fn pipeline_latency_counts_age_and_clamps_the_future() {
        let stage = "test-latency";
        observe_pipeline_latency(stage, "stored", Utc::now() - chrono::Duration::seconds(3));
        observe_pipeline_latency(stage, "stored", Utc::now() + chrono::Duration::seconds(60));
        let h = PIPELINE_LATENCY.with_label_values(&[stage, "stored"]);
        assert_eq!(h.get_sample_count(), 2);
        let sum = h.get_sample_sum();
        assert!((3.0..10.0).contains(&sum), "sum {sum}");
    }
}
