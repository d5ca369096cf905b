//! Configuration of the classifier stage (`[classifier]` in `config/wirewatch.toml`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the classifier's rules live and how many topics it emits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// Topic taxonomy (IPTC-coded topics with weighted terms and the scoring parameters).
    /// Relative paths are resolved against the working directory.
    pub taxonomy_file: PathBuf,
    /// Countries: ISO 3166-1 alpha-2 codes with names, aliases, demonyms, capitals, metonyms
    /// and the ambiguity guard.
    pub countries_file: PathBuf,
    /// Organisations recognised as entities.
    pub organisations_file: PathBuf,
    /// People recognised as entities.
    pub people_file: PathBuf,
    /// Minimum score in [0, 1] for a topic to be assigned.
    pub min_topic_score: f64,
    /// At most this many topics per story, best first (a parent is never cut while its
    /// child is kept).
    pub max_topics: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            taxonomy_file: PathBuf::from("config/taxonomy.toml"),
            countries_file: PathBuf::from("config/countries.toml"),
            organisations_file: PathBuf::from("config/organisations.toml"),
            people_file: PathBuf::from("config/people.toml"),
            min_topic_score: 0.3,
            max_topics: 8,
        }
    }
}

impl ClassifierConfig {
    /// The same config with the four rule files resolved under `dir` (tests, tools).
    pub fn with_config_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            taxonomy_file: dir.join("taxonomy.toml"),
            countries_file: dir.join("countries.toml"),
            organisations_file: dir.join("organisations.toml"),
            people_file: dir.join("people.toml"),
            ..Self::default()
        }
    }
}
