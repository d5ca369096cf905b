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
    /// Optional topic model trained with `wirewatch train` (JSON, see `model.rs`); none by
    /// default: the shipped classifier is rules only. Its labels must be taxonomy topic ids.
    pub model_file: Option<PathBuf>,
    /// Weight in [0, 1] of the model when combined with the rules: every topic's score becomes
    /// `(1 - model_weight) * rule + model_weight * p`, where `p` is the model's probability of
    /// the topic's nearest ancestor-or-self among the model's labels (0 if none).
    pub model_weight: f64,
    /// Languages (ISO 639-1) the taxonomy's terms are written in. When a story's language is
    /// not one of these, no rule topics and no severity are assigned (entities still are, and
    /// a trained model still scores its labels): better no topic than a false one. The
    /// detector's best guess decides, even when it is not confident enough to be reported as
    /// the story's language. Empty: always apply.
    pub rule_languages: Vec<String>,
    /// Mentions in the first this many bytes of the body count as "lead" mentions for
    /// entity salience.
    pub lead_bytes: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            taxonomy_file: PathBuf::from("config/taxonomy.toml"),
            countries_file: PathBuf::from("config/countries.toml"),
            organisations_file: PathBuf::from("config/organisations.toml"),
            people_file: PathBuf::from("config/people.toml"),
            min_topic_score: 0.3,
            max_topics: 12,
            model_file: None,
            model_weight: 0.7,
            rule_languages: vec!["en".to_string()],
            lead_bytes: 600,
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
