//! Dedup metrics.

use std::sync::LazyLock;
use wirewatch_runtime::metrics::must;

use prometheus::{
    register_gauge_vec, register_histogram_vec, register_int_counter_vec, register_int_gauge_vec,
    GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec,
};

/// Dedup's series.
pub struct Metrics {
    /// `wirewatch_dedup_verdicts_total{stage,verdict,rule}`; verdict ∈ unique, duplicate;
    /// rule ∈ none, guid, canonical_url, content_hash, near_duplicate, update.
    pub verdicts: IntCounterVec,
    /// `wirewatch_dedup_redeliveries_total{stage}`: stories seen again with the same id.
    pub redeliveries: IntCounterVec,
    /// `wirewatch_dedup_index_keys{stage}`: keys held in memory.
    pub index_keys: IntGaugeVec,
    /// `wirewatch_dedup_similar_stories{stage}`: stories held in the similarity index
    /// (near-duplicate signatures and cluster terms of the window).
    pub similar_stories: IntGaugeVec,
    /// `wirewatch_dedup_cluster_joins_total{stage}`: new stories that joined an earlier
    /// story's cluster (same event, different wording).
    pub cluster_joins: IntCounterVec,
    /// `wirewatch_dedup_similarity_score{stage,rule}`: score of similarity matches; rule ∈
    /// near_duplicate, update, cluster.
    pub similarity: HistogramVec,
    /// `wirewatch_dedup_guid_untrusted_feeds_total{stage,reason}`: feeds whose GUIDs were
    /// found untrustworthy (reason ∈ reuse, rotation) and are identified by link and content
    /// from then on.
    pub guid_untrusted_feeds: IntCounterVec,
    /// `wirewatch_dedup_restore_duration_seconds{stage}`: time the last start took to load the
    /// state into memory.
    pub restore_seconds: GaugeVec,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    verdicts: must(register_int_counter_vec!(
        "wirewatch_dedup_verdicts_total",
        "Dedup verdicts by rule.",
        &["stage", "verdict", "rule"]
    )),
    redeliveries: must(register_int_counter_vec!(
        "wirewatch_dedup_redeliveries_total",
        "Stories seen again with an id already decided (redelivery).",
        &["stage"]
    )),
    index_keys: must(register_int_gauge_vec!(
        "wirewatch_dedup_index_keys",
        "Keys held in the in-memory index.",
        &["stage"]
    )),
    similar_stories: must(register_int_gauge_vec!(
        "wirewatch_dedup_similar_stories",
        "Stories held in the similarity index (near-duplicate signatures, cluster terms).",
        &["stage"]
    )),
    cluster_joins: must(register_int_counter_vec!(
        "wirewatch_dedup_cluster_joins_total",
        "New stories that joined an earlier story's cluster.",
        &["stage"]
    )),
    similarity: must(register_histogram_vec!(
        "wirewatch_dedup_similarity_score",
        "Score of similarity matches (near_duplicate, update, cluster).",
        &["stage", "rule"],
        vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
    )),
    guid_untrusted_feeds: must(register_int_counter_vec!(
        "wirewatch_dedup_guid_untrusted_feeds_total",
        "Feeds detected reusing or rotating GUIDs (identified by link and content since).",
        &["stage", "reason"]
    )),
    restore_seconds: must(register_gauge_vec!(
        "wirewatch_dedup_restore_duration_seconds",
        "Time the last start took to load the dedup state into memory.",
        &["stage"]
    )),
});

/// The series.
pub fn get() -> &'static Metrics {
    &M
}

/// Create every series at zero.
pub fn touch() {
    let m = get();
    m.verdicts.with_label_values(&["dedup", "unique", "none"]);
    for rule in [
        "guid",
        "canonical_url",
        "content_hash",
        "near_duplicate",
        "update",
    ] {
        m.verdicts.with_label_values(&["dedup", "duplicate", rule]);
    }
    m.redeliveries.with_label_values(&["dedup"]);
    m.index_keys.with_label_values(&["dedup"]);
    m.similar_stories.with_label_values(&["dedup"]);
    m.cluster_joins.with_label_values(&["dedup"]);
    for rule in ["near_duplicate", "update", "cluster"] {
        m.similarity.with_label_values(&["dedup", rule]);
    }
    for reason in ["reuse", "rotation"] {
        m.guid_untrusted_feeds.with_label_values(&["dedup", reason]);
    }
    m.restore_seconds.with_label_values(&["dedup"]);
}
