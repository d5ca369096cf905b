//! Dedup configuration (`[dedup]` in `config/wirewatch.toml`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Dedup settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// SQLite file holding the index; default `<data_dir>/dedup.db`.
    pub path: Option<PathBuf>,
    /// How long a story's keys are remembered: a copy arriving later is treated as new.
    pub window_days: u64,
    /// Text shorter than this (after normalisation) is not used for content identity: short
    /// titles such as "Live updates" would make false duplicates.
    pub min_content_chars: usize,
    /// Extra query parameters to strip from links, on top of the built-in tracking list.
    pub strip_query_params: Vec<String>,
    /// Near-duplicate rule on or off (MinHash-LSH over word shingles).
    pub near_enabled: bool,
    /// Words per shingle for near-duplicate signatures.
    pub shingle_words: usize,
    /// LSH bands; `near_bands × near_rows` must not exceed 128 (the permutations; larger
    /// values are clamped). Changing the banding re-indexes on restart, nothing is lost.
    pub near_bands: usize,
    /// Signature rows per LSH band.
    pub near_rows: usize,
    /// Estimated Jaccard similarity of the shingle sets at or above which a story is a
    /// near-duplicate of an earlier one (chosen from docs/bench/dedup.md).
    pub near_threshold: f64,
    /// Similarity at or above which a near-duplicate from the *same feed* is an update of the
    /// earlier story (the feed re-published it with edits under a new GUID or link).
    pub update_threshold: f64,
    /// Same-story clustering (different wording, same event) on or off.
    pub cluster_enabled: bool,
    /// Score at or above which a new story joins an earlier story's cluster: the larger of
    /// the IDF-weighted Jaccard similarity of the titles' terms and that of title + lead,
    /// with the entity bonus or penalty and the age penalty below applied (chosen from
    /// docs/bench/dedup.md together with them).
    pub cluster_threshold: f64,
    /// How far back a story may be to share a cluster with a new one (time proximity).
    pub cluster_window_hours: u64,
    /// Added to the text similarity of a cluster candidate when the two stories share
    /// entities (capitalised names and acronyms of title and lead, found by dedup itself),
    /// times the IDF weight of the shared ones over that of a name seen once, at most 1: a
    /// rare shared name adds the whole bonus, "US" about a third (chosen from
    /// docs/bench/dedup.md).
    pub cluster_entity_bonus: f64,
    /// Subtracted from the text similarity of a cluster candidate when both stories name
    /// entities and share none (different people or places: rarely the same event).
    pub cluster_entity_penalty: f64,
    /// Subtracted from the score of a cluster candidate as old as `cluster_window_hours`, in
    /// proportion to its age (closer in time, more likely the same event).
    pub cluster_time_penalty: f64,
    /// Words of the body, after the title, that form the lead for clustering.
    pub cluster_lead_words: usize,
    /// GUID reuse events (the same GUID on another link with unrelated text) or rotation
    /// events (a new GUID on the same link with the same text) within the window after which
    /// a feed's GUIDs are ignored and its stories are identified by link and content.
    pub guid_distrust_after: u32,
    /// Hard bound on stories held in the similarity index (oldest evicted first), on top of
    /// the time window.
    pub max_indexed_stories: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            path: None,
            window_days: 7,
            min_content_chars: 40,
            strip_query_params: Vec::new(),
            near_enabled: true,
            shingle_words: 3,
            near_bands: 10,
            near_rows: 3,
            near_threshold: 0.5,
            update_threshold: 0.8,
            cluster_enabled: true,
            cluster_threshold: 0.43,
            cluster_window_hours: 48,
            cluster_entity_bonus: 0.1,
            cluster_entity_penalty: 0.05,
            cluster_time_penalty: 0.1,
            cluster_lead_words: 30,
            guid_distrust_after: 3,
            max_indexed_stories: 2_000_000,
        }
    }
}
