//! Metrics of the classifier stage, registered in the process-wide default registry.
//!
//! - `wirewatch_classifier_stories_total{stage}`: stories classified.
//! - `wirewatch_classifier_topics_assigned_total{stage,topic}`: topics assigned; `topic` is a
//!   taxonomy id (a bounded set, fixed by the loaded taxonomy).
//! - `wirewatch_classifier_unclassified_total{stage}`: stories that got no topic.
//! - `wirewatch_classifier_classify_duration_seconds{stage}`: time to classify one story.
//! - `wirewatch_classifier_severity_total{stage,level}`: stories by severity; `level` is
//!   `0`..`5` or `none` (not assessed: language outside `rule_languages`).

use std::sync::LazyLock;
use wirewatch_runtime::metrics::must;

use prometheus::{register_histogram_vec, register_int_counter_vec, HistogramVec, IntCounterVec};

/// The classifier's metrics.
pub struct ClassifierMetrics {
    /// `wirewatch_classifier_stories_total{stage}`.
    pub stories: IntCounterVec,
    /// `wirewatch_classifier_topics_assigned_total{stage,topic}`.
    pub topics_assigned: IntCounterVec,
    /// `wirewatch_classifier_unclassified_total{stage}`.
    pub unclassified: IntCounterVec,
    /// `wirewatch_classifier_classify_duration_seconds{stage}`.
    pub classify_seconds: HistogramVec,
    /// `wirewatch_classifier_severity_total{stage,level}`.
    pub severity: IntCounterVec,
}

/// Values of the `level` label of `wirewatch_classifier_severity_total`.
pub const SEVERITY_LEVELS: [&str; 7] = ["0", "1", "2", "3", "4", "5", "none"];

/// The `level` label value for a story's severity.
pub fn severity_label(level: Option<u8>) -> &'static str {
    match level {
        Some(l) => SEVERITY_LEVELS[usize::from(l.min(5))],
        None => "none",
    }
}

static METRICS: LazyLock<ClassifierMetrics> = LazyLock::new(|| ClassifierMetrics {
    stories: must(register_int_counter_vec!(
        "wirewatch_classifier_stories_total",
        "Stories classified.",
        &["stage"]
    )),
    topics_assigned: must(register_int_counter_vec!(
        "wirewatch_classifier_topics_assigned_total",
        "Topics assigned to stories, by taxonomy id.",
        &["stage", "topic"]
    )),
    unclassified: must(register_int_counter_vec!(
        "wirewatch_classifier_unclassified_total",
        "Stories that got no topic.",
        &["stage"]
    )),
    classify_seconds: must(register_histogram_vec!(
        "wirewatch_classifier_classify_duration_seconds",
        "Time to classify one story.",
        &["stage"],
        vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]
    )),
    severity: must(register_int_counter_vec!(
        "wirewatch_classifier_severity_total",
        "Stories classified, by severity level (0-5, or none when not assessed).",
        &["stage", "level"]
    )),
});

/// The classifier's metrics.
pub fn get() -> &'static ClassifierMetrics {
    &METRICS
}

/// Create the stage's series at zero, so dashboards and tests see them before the first story.
pub fn touch() {
    let m = get();
    m.stories.with_label_values(&[crate::STAGE]);
    m.unclassified.with_label_values(&[crate::STAGE]);
    m.classify_seconds.with_label_values(&[crate::STAGE]);
    for level in SEVERITY_LEVELS {
        m.severity.with_label_values(&[crate::STAGE, level]);
    }
}

/// Create one `topics_assigned` series per taxonomy topic at zero.
pub fn touch_topics<'a>(topic_ids: impl IntoIterator<Item = &'a str>) {
    for id in topic_ids {
        get().topics_assigned.with_label_values(&[crate::STAGE, id]);
    }
}
