//! # wirewatch-classifier — the transform stage that says what a story is about
//!
//! Reads `stories.unique.v1` ([`UniqueStory`]), writes `stories.enriched.v1`
//! ([`EnrichedStory`]): for each story, its
//! - **topics**: multi-label, scored in [0, 1] from a keyword taxonomy whose topics carry IPTC
//!   Media Topic codes (`config/taxonomy.toml`); a child topic brings its parent;
//! - **countries** (ISO 3166-1 alpha-2) from place evidence: names, aliases, demonyms, capitals
//!   and metonyms ("Kremlin" → RU), with a guard for ambiguous words ("turkey dinner");
//! - **entities**: countries, organisations (`config/organisations.toml`) and people
//!   (`config/people.toml`);
//! - **language** (ISO 639-1) via `whatlang`, when it is confident.
//!
//! The rules are loaded once ([`Classifier::load`]) into Aho-Corasick automata;
//! [`Classifier::classify`] is a pure function of the story (plus the clock for
//! `classified_at`), so a redelivered message yields the same classification.
//!
//! Modules:
//! - [`config`] holds [`ClassifierConfig`];
//! - [`error`] holds [`ClassifierError`];
//! - [`metrics`] declares the stage's Prometheus metrics;
//! - `matcher` does word-boundary, case-aware phrase matching over Aho-Corasick;
//! - `taxonomy` loads and scores topics;
//! - `entities` finds countries, organisations and people, with the ambiguity guard;
//! - `language` maps whatlang's detection to ISO 639-1.
//!
//! [`ClassifierStage`] plugs the classifier into the runtime's run-loop
//! ([`wirewatch_runtime::stage::Processor`]).

pub mod config;
mod entities;
pub mod error;
mod language;
mod matcher;
pub mod metrics;
mod taxonomy;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Map, Value};
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{EnrichedStory, RawStory, UniqueStory};
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::stage::{decode, ProcessError, Processor};

pub use config::ClassifierConfig;
pub use error::ClassifierError;

use entities::EntityList;
use taxonomy::Taxonomy;

/// Stage name used in metrics, logs and dead letters.
pub const STAGE: &str = "classifier";

/// At most this many bytes of a story's title and of its body are classified: a bound on the
/// work per message. News text beyond 256 KiB adds nothing to the classification.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Cut `s` to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// The loaded rules: taxonomy and entity lists, each compiled once into an automaton.
#[derive(Debug)]
pub struct Classifier {
    taxonomy: Taxonomy,
    countries: EntityList,
    organisations: EntityList,
    people: EntityList,
    min_topic_score: f64,
    max_topics: usize,
    version: String,
}

impl Classifier {
    /// Load and validate the four rule files named by `cfg`. Errors name the file, and for a
    /// bad value the entry and the field (e.g. `config/countries.toml: country #3 (code "xx"):
    /// field `code`: must be an ISO 3166-1 alpha-2 code`).
    pub fn load(cfg: &ClassifierConfig) -> Result<Self, ClassifierError> {
        if !(0.0..=1.0).contains(&cfg.min_topic_score) {
            return Err(ClassifierError::invalid(
                std::path::Path::new("(classifier config)"),
                "[classifier]",
                "min_topic_score",
                "must be in [0, 1]",
            ));
        }
        let (taxonomy, tax_text) = Taxonomy::load(&cfg.taxonomy_file)?;
        let (countries, codes, countries_text) = EntityList::load_countries(&cfg.countries_file)?;
        let (organisations, orgs_text) = EntityList::load_organisations(&cfg.organisations_file)?;
        let (people, people_text) = EntityList::load_people(&cfg.people_file, &codes)?;
        let hash = stable_id(&[&tax_text, &countries_text, &orgs_text, &people_text]);
        let version = format!("classifier-{}+{}", env!("CARGO_PKG_VERSION"), &hash[..8]);
        tracing::info!(
            version = %version,
            topics = taxonomy.topics.len(),
            countries = countries.len(),
            organisations = organisations.len(),
            people = people.len(),
            "classifier rules loaded"
        );
        Ok(Self {
            taxonomy,
            countries,
            organisations,
            people,
            min_topic_score: cfg.min_topic_score,
            max_topics: cfg.max_topics,
            version,
        })
    }

    /// Version of the rules: crate version plus 8 hex digits of a hash of the loaded files,
    /// e.g. `classifier-0.1.0+1a2b3c4d`. Stamped into every enriched story.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Ids of the taxonomy's topics, in file order.
    pub fn topic_ids(&self) -> Vec<&str> {
        self.taxonomy.topics.iter().map(|t| t.id.as_str()).collect()
    }

    /// Classify one story. Pure apart from `classified_at`: the same story always gets the same
    /// topics, countries, entities and language.
    pub fn classify(&self, story: RawStory, cluster_id: String) -> EnrichedStory {
        let title = truncate(&story.title, MAX_TEXT_BYTES);
        let body = body_of(&story);
        let body = truncate(&body, MAX_TEXT_BYTES);
        let topics = self
            .taxonomy
            .score(title, body, self.min_topic_score, self.max_topics);
        let texts = [title, body];
        let country_entities = self.countries.find(&texts);
        let countries = country_entities.iter().map(|e| e.id.clone()).collect();
        let mut entities = country_entities;
        entities.extend(self.organisations.find(&texts));
        entities.extend(self.people.find(&texts));
        let detected_language = language::detect(&format!("{title}\n{body}"));
        EnrichedStory {
            story,
            cluster_id,
            topics,
            countries,
            entities,
            detected_language,
            language_confidence: None,
            regions: Vec::new(),
            severity: None,
            classified_at: Utc::now(),
            classifier_version: self.version.clone(),
        }
    }

    /// Classify one JSON line (`wirewatch classify`). Accepts a [`RawStory`], a
    /// [`UniqueStory`], or a minimal object with `id`, `title` and `summary` or `content`;
    /// a missing `feed` becomes `{"id": "cli", "url": ""}`, a missing `fetched_at` is now, a
    /// missing `cluster_id` is the story id. Errors name the missing or invalid field.
    pub fn classify_json(&self, line: &str) -> Result<EnrichedStory, ClassifierError> {
        let mut value: Value = serde_json::from_str(line.trim())
            .map_err(|e| ClassifierError::input("(json)", e.to_string()))?;
        let obj = value
            .as_object_mut()
            .ok_or_else(|| ClassifierError::input("(json)", "expected a JSON object"))?;
        let id = match obj.get("id") {
            None => return Err(ClassifierError::input("id", "missing")),
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => return Err(ClassifierError::input("id", "must be a non-empty string")),
        };
        for key in [
            "title",
            "summary",
            "content",
            "guid",
            "link",
            "language",
            "fetcher_version",
        ] {
            check_string(obj, key)?;
        }
        for key in ["authors", "categories"] {
            if let Some(v) = obj.get(key) {
                let ok = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return Err(ClassifierError::input(key, "must be an array of strings"));
                }
            }
        }
        for key in ["published", "updated", "fetched_at"] {
            if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
                let ok = v
                    .as_str()
                    .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok());
                if !ok {
                    return Err(ClassifierError::input(
                        key,
                        "must be an RFC 3339 date-time string",
                    ));
                }
            }
        }
        let has_text = ["title", "summary", "content"].iter().any(|k| {
            obj.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
        });
        if !has_text {
            return Err(ClassifierError::input(
                "title",
                "missing: a story needs a non-empty `title`, `summary` or `content`",
            ));
        }
        match obj.get("feed") {
            None | Some(Value::Null) => {
                let mut feed = Map::new();
                feed.insert("id".into(), Value::String("cli".into()));
                feed.insert("url".into(), Value::String(String::new()));
                obj.insert("feed".into(), Value::Object(feed));
            }
            Some(Value::Object(f)) => {
                for key in ["id", "url"] {
                    if !f.get(key).is_some_and(Value::is_string) {
                        return Err(ClassifierError::input(
                            format!("feed.{key}"),
                            "missing or not a string",
                        ));
                    }
                }
            }
            Some(_) => {
                return Err(ClassifierError::input(
                    "feed",
                    "must be an object with `id` and `url`",
                ))
            }
        }
        if obj.get("fetched_at").is_none_or(Value::is_null) {
            obj.insert("fetched_at".into(), Value::String(Utc::now().to_rfc3339()));
        }
        let cluster_id = match obj.get("cluster_id") {
            Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
            _ => id,
        };
        let story: RawStory = serde_json::from_value(value)
            .map_err(|e| ClassifierError::input("(story)", e.to_string()))?;
        Ok(self.classify(story, cluster_id))
    }
}

fn check_string(obj: &Map<String, Value>, key: &str) -> Result<(), ClassifierError> {
    match obj.get(key) {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(ClassifierError::input(key, "must be a string")),
    }
}

/// The body to classify: the content, plus the summary when the content does not already
/// start with it (feeds often repeat the summary as the content's first paragraph).
fn body_of(story: &RawStory) -> String {
    let summary = story.summary.as_deref().unwrap_or("").trim();
    let content = story.content.as_deref().unwrap_or("").trim();
    if content.is_empty() {
        return summary.to_string();
    }
    let head: String = summary.chars().take(80).collect();
    if summary.is_empty() || content.contains(head.as_str()) {
        content.to_string()
    } else {
        format!("{summary}\n{content}")
    }
}

/// The classifier as a run-loop processor: `stories.unique.v1` → `stories.enriched.v1`.
/// An undecodable message is poison (dead-letter topic). Classification is deterministic, so
/// a redelivered story produces the same enriched event (same id and key: consumers upsert).
pub struct ClassifierStage {
    classifier: Arc<Classifier>,
}

impl ClassifierStage {
    /// Wrap a loaded classifier; creates the stage's metric series at zero.
    pub fn new(classifier: Classifier) -> Self {
        metrics::touch();
        metrics::touch_topics(classifier.topic_ids());
        Self {
            classifier: Arc::new(classifier),
        }
    }

    /// The classifier (for version reporting).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

#[async_trait]
impl Processor for ClassifierStage {
    fn stage(&self) -> &'static str {
        STAGE
    }

    async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError> {
        let unique: UniqueStory = decode(msg)?;
        let m = metrics::get();
        let start = Instant::now();
        let enriched = self.classifier.classify(unique.story, unique.cluster_id);
        m.classify_seconds
            .with_label_values(&[STAGE])
            .observe(start.elapsed().as_secs_f64());
        m.stories.with_label_values(&[STAGE]).inc();
        if enriched.topics.is_empty() {
            m.unclassified.with_label_values(&[STAGE]).inc();
        }
        for t in &enriched.topics {
            m.topics_assigned.with_label_values(&[STAGE, &t.id]).inc();
        }
        tracing::debug!(
            story_id = %enriched.story.id,
            topics = enriched.topics.len(),
            countries = enriched.countries.len(),
            language = enriched.detected_language.as_deref().unwrap_or("-"),
            "story classified"
        );
        let record = Record::event(&enriched, STAGE).map_err(|e| {
            ProcessError::Poison(format!(
                "cannot encode enriched story {}: {e}",
                enriched.story.id
            ))
        })?;
        Ok(vec![record])
    }
}
