//! Dedup metrics.

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};

/// Dedup's series.
pub struct Metrics {
    /// `wirewatch_dedup_verdicts_total{stage,verdict,rule}`; verdict ∈ unique, duplicate;
    /// rule ∈ none, guid, canonical_url, content_hash, near_duplicate.
    pub verdicts: IntCounterVec,
    /// `wirewatch_dedup_redeliveries_total{stage}`: stories seen again with the same id.
    pub redeliveries: IntCounterVec,
    /// `wirewatch_dedup_index_keys{stage}`: keys held in memory.
    pub index_keys: IntGaugeVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    #[allow(clippy::expect_used)]
    r.expect("metric registration")
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
}
