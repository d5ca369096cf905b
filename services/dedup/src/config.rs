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
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            path: None,
            window_days: 7,
            min_content_chars: 40,
            strip_query_params: Vec::new(),
        }
    }
}
