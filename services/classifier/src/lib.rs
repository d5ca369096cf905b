//! # wirewatch-classifier — the transform stage that says what a story is about
//!
//! Reads `stories.unique.v1` ([`UniqueStory`]), writes `stories.enriched.v1`
//! ([`EnrichedStory`]): for each story, its
//! - **topics**: multi-label, scored in [0, 1] from a keyword taxonomy whose topics carry IPTC
//!   Media Topic codes (`config/taxonomy.toml`); a child topic brings its parent; each topic
//!   lists the **evidence** (configured terms) that fired, strongest first; optionally
//!   combined with a user-trained **model** ([`model`], `classifier.model_file`);
//! - **countries** (ISO 3166-1 alpha-2) from place evidence: names, aliases, demonyms, capitals,
//!   metonyms ("Kremlin" → RU) and flag emoji, with a guard for ambiguous words
//!   ("turkey dinner"), and the **regions** they imply (continent, UN M49 subregion, EU, NATO…;
//!   `regions` in `config/countries.toml`, and in `config/organisations.toml` for the EU);
//! - **entities**: countries, organisations (`config/organisations.toml`) and people
//!   (`config/people.toml`), each with mentions, matched forms and a **salience** in [0, 1]
//!   (title and lead mentions count more);
//! - **language** (ISO 639-1) with its **confidence**, when the detector is confident: an
//!   English function-word screen first (most stories, ~1 µs), `whatlang` for the rest; rule
//!   topics apply only to `rule_languages` (English by default): a story in another language
//!   (or, when unsure, probably in another one) gets entities but no topics, never false ones;
//! - **severity** 0–5 from topics, escalation terms and casualty counts (`[severity]` in
//!   `config/taxonomy.toml`, rules in `severity.rs`).
//!
//! The rules are loaded once ([`Classifier::load`]) into one shared Aho-Corasick automaton
//! over the forms of every list, searched once per text; each list then resolves its own
//! matches. [`Classifier::classify`] is a pure function of the story (plus the clock for
//! `classified_at`), so a redelivered message yields the same classification.
//! [`Classifier::explain`] keeps the reasons for `wirewatch classify --explain`.
//!
//! Modules:
//! - [`config`] holds [`ClassifierConfig`];
//! - [`error`] holds [`ClassifierError`];
//! - [`metrics`] declares the stage's Prometheus metrics;
//! - [`model`] trains, saves, loads and applies the topic model ([`train`]);
//! - `matcher` does word-boundary, case-aware phrase matching: the shared scanner and each
//!   list's leftmost-longest resolution;
//! - `taxonomy` loads and scores topics and their evidence;
//! - `severity` assesses severity;
//! - `entities` finds countries, organisations and people, with the ambiguity guard;
//! - `language` detects the language (English screen, then whatlang) as ISO 639-1;
//! - `explain` renders [`Explanation`]s and holds the commands [`classify_command`] and
//!   [`train_command`].
//!
//! [`ClassifierStage`] plugs the classifier into the runtime's run-loop
//! ([`wirewatch_runtime::stage::Processor`]).

pub mod config;
mod entities;
pub mod error;
mod explain;
mod language;
mod matcher;
pub mod metrics;
pub mod model;
mod severity;
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
pub use explain::{classify_command, train_command, Explanation};
pub use model::{train, Model, TrainOptions, TrainReport};
pub use severity::SeverityAssessment;

use entities::{EntityList, Found};
use matcher::{Hit, Scan, Scanner};
use severity::Severity;
use taxonomy::{Evidence, Taxonomy};

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

/// Lists of the shared scanner, in this order.
const LIST_TAXONOMY: usize = 0;
const LIST_COUNTRIES: usize = 1;
const LIST_ORGANISATIONS: usize = 2;
const LIST_PEOPLE: usize = 3;
const LIST_SEVERITY_TERMS: usize = 4;
const LIST_CASUALTY_WORDS: usize = 5;

/// The loaded rules: taxonomy, severity rules and entity lists, searched in one pass per text
/// by one shared automaton.
#[derive(Debug)]
pub struct Classifier {
    scanner: Scanner,
    taxonomy: Taxonomy,
    countries: EntityList,
    organisations: EntityList,
    people: EntityList,
    severity: Option<Severity>,
    /// The model and, per model label, the taxonomy topic index it scores.
    model: Option<(Model, Vec<usize>)>,
    model_weight: f64,
    rule_languages: Vec<String>,
    lead_bytes: usize,
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
        if !(0.0..=1.0).contains(&cfg.model_weight) {
            return Err(ClassifierError::invalid(
                std::path::Path::new("(classifier config)"),
                "[classifier]",
                "model_weight",
                "must be in [0, 1]",
            ));
        }
        let (taxonomy, severity_spec, tax_text) = Taxonomy::load(&cfg.taxonomy_file)?;
        let severity = severity_spec
            .map(|s| Severity::build(s, &taxonomy, &cfg.taxonomy_file))
            .transpose()?;
        let (countries, codes, countries_text) = EntityList::load_countries(&cfg.countries_file)?;
        let (organisations, orgs_text) = EntityList::load_organisations(&cfg.organisations_file)?;
        let (people, people_text) =
            EntityList::load_people(&cfg.people_file, &codes, &organisations)?;
        let (model, model_text) = match &cfg.model_file {
            None => (None, String::new()),
            Some(path) => {
                let (m, text) = Model::load(path)?;
                let targets = model_targets(&taxonomy, &m, path, &cfg.taxonomy_file)?;
                (Some((m, targets)), text)
            }
        };
        let mut hashed = vec![
            tax_text.as_str(),
            countries_text.as_str(),
            orgs_text.as_str(),
            people_text.as_str(),
        ];
        if model.is_some() {
            hashed.push(model_text.as_str());
        }
        let lists = [
            taxonomy.pattern_forms().collect::<Vec<_>>(),
            countries.pattern_forms().collect(),
            organisations.pattern_forms().collect(),
            people.pattern_forms().collect(),
            severity
                .as_ref()
                .map(Severity::term_forms)
                .unwrap_or_default(),
            severity
                .as_ref()
                .map(Severity::casualty_forms)
                .unwrap_or_default(),
        ];
        let scanner = Scanner::build(&lists).map_err(|reason| {
            ClassifierError::invalid(
                &cfg.taxonomy_file,
                "(all rule files together)",
                "forms",
                format!("the automaton over every list's forms cannot be built: {reason}"),
            )
        })?;
        let hash = stable_id(&hashed);
        let version = format!(
            "classifier-{}+{}{}",
            env!("CARGO_PKG_VERSION"),
            &hash[..8],
            if model.is_some() { "+model" } else { "" }
        );
        tracing::info!(
            version = %version,
            topics = taxonomy.topics.len(),
            countries = countries.len(),
            organisations = organisations.len(),
            people = people.len(),
            forms = scanner.patterns_len(),
            dfa = scanner.is_dfa(),
            memory_bytes = scanner.memory_usage(),
            "classifier rules loaded"
        );
        Ok(Self {
            scanner,
            taxonomy,
            countries,
            organisations,
            people,
            severity,
            model,
            model_weight: cfg.model_weight,
            rule_languages: cfg.rule_languages.clone(),
            lead_bytes: cfg.lead_bytes,
            min_topic_score: cfg.min_topic_score,
            max_topics: cfg.max_topics,
            version,
        })
    }

    /// The same classifier combined with an in-memory model (evaluation, tests): as if
    /// `model_file` named it, with `model_weight`. Fails when a model label is not a topic id.
    pub fn with_model(mut self, model: Model, model_weight: f64) -> Result<Self, ClassifierError> {
        let path = std::path::Path::new("(in-memory model)");
        let targets = model_targets(&self.taxonomy, &model, path, path)?;
        self.model = Some((model, targets));
        self.model_weight = model_weight.clamp(0.0, 1.0);
        if !self.version.ends_with("+model") {
            self.version.push_str("+model");
        }
        Ok(self)
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
    /// topics, countries, entities, language, regions and severity.
    pub fn classify(&self, story: RawStory, cluster_id: String) -> EnrichedStory {
        self.explain(story, cluster_id).story
    }

    /// Classify one story and keep the reasons: topics with their evidence, entities with
    /// their matched forms and salience, the severity rules that fired, the model's
    /// probabilities. Rendered by its `Display` (`wirewatch classify --explain`).
    pub fn explain(&self, story: RawStory, cluster_id: String) -> Explanation {
        let title = truncate(&story.title, MAX_TEXT_BYTES);
        let body = body_of(&story);
        let body = truncate(&body, MAX_TEXT_BYTES);
        let language = language::detect(title, body);
        // The rules apply to the rule languages, and when the language is unknown; a probable
        // other language counts even if it is not reported (`language::Detected::gate`).
        let gate = language.as_ref().and_then(language::Detected::gate);
        let rules_apply = self.rule_languages.is_empty()
            || gate.is_none_or(|c| self.rule_languages.iter().any(|l| l == c));
        // One pass per text finds the candidates of every list; scratch buffers are reused
        // across the stories a thread classifies.
        let parts = SCRATCH.with_borrow_mut(|scratch| {
            let Scratch {
                title_scan,
                body_scan,
                hits,
            } = scratch;
            self.scanner.scan(title, title_scan);
            self.scanner.scan(body, body_scan);
            self.explain_scanned(
                language,
                rules_apply,
                [(title, &*title_scan), (body, &*body_scan)],
                hits,
            )
        });
        Explanation {
            story: EnrichedStory {
                story,
                cluster_id,
                topics: parts.topics,
                countries: parts.countries,
                entities: parts.entities,
                detected_language: parts.detected_language,
                language_confidence: parts.language_confidence,
                regions: parts.regions,
                severity: parts.severity.as_ref().map(|s| s.level),
                classified_at: Utc::now(),
                classifier_version: self.version.clone(),
            },
            severity_reasons: parts.severity.map(|s| s.reasons).unwrap_or_default(),
            model: parts.model,
            rules_skipped: parts.rules_skipped,
            language_detector: parts.language_detector,
        }
    }

    /// [`Classifier::explain`] once the language is known and the texts are scanned.
    fn explain_scanned(
        &self,
        language: Option<language::Detected>,
        rules_apply: bool,
        texts: [(&str, &Scan); 2],
        hits: &mut Vec<Hit>,
    ) -> Parts {
        let [(title, ts), (body, bs)] = texts;
        let list = |i: usize| ((title, ts.list(i)), (body, bs.list(i)));
        let (t, b) = list(LIST_TAXONOMY);
        let mut raw = self.taxonomy.raw(t, b, hits);
        if !rules_apply {
            raw.score.iter_mut().for_each(|s| *s = 0.0);
            raw.evidence.iter_mut().for_each(Vec::clear);
        }
        let mut model_probs = Vec::new();
        if let Some((model, targets)) = &self.model {
            let p = model.predict(title, body);
            let w = self.model_weight;
            // Per topic: the probability of its nearest ancestor-or-self the model knows.
            let mut p_topic = vec![0.0f64; raw.score.len()];
            for (&t, &pt) in targets.iter().zip(&p) {
                p_topic[t] = pt;
            }
            let inherited: Vec<f64> = (0..raw.score.len())
                .map(|t| {
                    let mut cur = Some(t);
                    while let Some(c) = cur {
                        if targets.contains(&c) {
                            return p_topic[c];
                        }
                        cur = self.taxonomy.topics[c].parent;
                    }
                    0.0
                })
                .collect();
            for (t, score) in raw.score.iter_mut().enumerate() {
                let rule = *score;
                *score = (1.0 - w) * rule + w * inherited[t];
            }
            for (label, (&t, &pt)) in model.labels().iter().zip(targets.iter().zip(&p)) {
                if pt >= 0.05 {
                    let tag = Evidence::Model(pt);
                    if w * pt > (1.0 - w) * raw.evidence[t].first().map_or(0.0, |e| e.1.min(1.0)) {
                        raw.evidence[t].insert(0, (tag, 0.0));
                    } else {
                        raw.evidence[t].push((tag, 0.0));
                    }
                }
                model_probs.push((label.clone(), (pt * 1000.0).round() / 1000.0));
            }
            self.taxonomy.lift_parents(&mut raw.score);
        }
        let topics = self
            .taxonomy
            .select(&raw, self.min_topic_score, self.max_topics);
        let severity = match (&self.severity, rules_apply) {
            (Some(s), true) => {
                let texts = [
                    (
                        title,
                        ts.list(LIST_SEVERITY_TERMS),
                        ts.list(LIST_CASUALTY_WORDS),
                    ),
                    (
                        body,
                        bs.list(LIST_SEVERITY_TERMS),
                        bs.list(LIST_CASUALTY_WORDS),
                    ),
                ];
                Some(s.assess(&self.taxonomy, texts, &topics, hits))
            }
            _ => None,
        };
        let (t, b) = list(LIST_COUNTRIES);
        let mut found: Vec<Found> = self.countries.find(t, b, self.lead_bytes, hits);
        let countries = found.iter().map(|f| f.entity.id.clone()).collect();
        let (t, b) = list(LIST_ORGANISATIONS);
        found.extend(self.organisations.find(t, b, self.lead_bytes, hits));
        let (t, b) = list(LIST_PEOPLE);
        found.extend(self.people.find(t, b, self.lead_bytes, hits));
        let max_mentions = found
            .iter()
            .map(|f| f.entity.mentions)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut regions: Vec<String> = Vec::new();
        for f in &found {
            for r in f.regions {
                if !regions.contains(r) {
                    regions.push(r.clone());
                }
            }
        }
        let entities = found
            .into_iter()
            .map(|f| {
                let mut e = f.entity;
                e.salience = Some(salience(
                    f.title_mentions,
                    f.lead_mentions,
                    e.mentions,
                    max_mentions,
                ));
                e
            })
            .collect();
        let rules_skipped = (!rules_apply).then(|| {
            let (code, how) = match &language {
                Some(d) if d.reliable => (d.code, String::new()),
                Some(d) => (
                    d.code,
                    format!(" (probable, confidence {:.2})", d.confidence),
                ),
                None => ("", String::new()),
            };
            format!(
                "language {code:?}{how} is not in rule_languages {:?}: no rule topics, no severity",
                self.rule_languages
            )
        });
        let language_detector = language.as_ref().map(|d| match (d.method, d.reliable) {
            (language::Method::Screen, _) => "English function-word screen".to_string(),
            (language::Method::Whatlang, true) => "whatlang".to_string(),
            (language::Method::Whatlang, false) => {
                format!("whatlang's best guess {} at {:.2}", d.code, d.confidence)
            }
        });
        let (detected_language, language_confidence) = match language
            .as_ref()
            .and_then(|d| Some((d.reported()?, d.confidence)))
        {
            Some((code, confidence)) => (Some(code.to_string()), Some(confidence)),
            None => (None, None),
        };
        Parts {
            topics,
            countries,
            entities,
            detected_language,
            language_confidence,
            regions,
            severity,
            model: model_probs,
            rules_skipped,
            language_detector,
        }
    }

    /// Every distinct phrase the classifier's shared automaton searches for (taxonomy terms,
    /// country, organisation and people forms, severity terms and casualty words; forms equal
    /// up to ASCII case once): the baseline of the throughput benchmark scans for exactly these.
    pub fn patterns(&self) -> Vec<String> {
        let severity: Vec<&str> = self
            .severity
            .as_ref()
            .map(|s| {
                let mut v = s.term_forms();
                v.extend(s.casualty_forms());
                v
            })
            .unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        self.taxonomy
            .pattern_forms()
            .chain(self.countries.pattern_forms())
            .chain(self.organisations.pattern_forms())
            .chain(self.people.pattern_forms())
            .chain(severity)
            .filter(|f| seen.insert(f.to_ascii_lowercase()))
            .map(str::to_string)
            .collect()
    }

    /// Whether the shared automaton is a DFA (the fast kind, chosen while the lists' forms
    /// stay under 64 KiB) or a contiguous NFA (bounded memory for very large lists).
    pub fn automaton_is_dfa(&self) -> bool {
        self.scanner.is_dfa()
    }

    /// Approximate heap bytes of the loaded rules (the shared automaton, pattern lists) and
    /// model.
    pub fn memory_usage(&self) -> usize {
        self.scanner.memory_usage()
            + self.taxonomy.memory_usage()
            + self.severity.as_ref().map_or(0, Severity::memory_usage)
            + self.countries.memory_usage()
            + self.organisations.memory_usage()
            + self.people.memory_usage()
            + self.model.as_ref().map_or(0, |(m, _)| m.memory_usage())
    }

    /// Classify one JSON line (`wirewatch classify`). Accepts a [`RawStory`], a
    /// [`UniqueStory`], or a minimal object with `id`, `title` and `summary` or `content`;
    /// a missing `feed` becomes `{"id": "cli", "url": ""}`, a missing `fetched_at` is now, a
    /// missing `cluster_id` is the story id. Errors name the missing or invalid field.
    pub fn classify_json(&self, line: &str) -> Result<EnrichedStory, ClassifierError> {
        let (story, cluster_id) = story_from_json(line)?;
        Ok(self.classify(story, cluster_id))
    }

    /// [`Classifier::explain`] for one JSON line, accepted as by [`Classifier::classify_json`].
    pub fn explain_json(&self, line: &str) -> Result<Explanation, ClassifierError> {
        let (story, cluster_id) = story_from_json(line)?;
        Ok(self.explain(story, cluster_id))
    }
}

/// What [`Classifier::explain`] adds to a story.
struct Parts {
    topics: Vec<wirewatch_proto::v1::TopicMatch>,
    countries: Vec<String>,
    entities: Vec<wirewatch_proto::v1::Entity>,
    detected_language: Option<String>,
    language_confidence: Option<f64>,
    regions: Vec<String>,
    severity: Option<SeverityAssessment>,
    model: Vec<(String, f64)>,
    rules_skipped: Option<String>,
    language_detector: Option<String>,
}

/// Per-thread buffers of [`Classifier::explain`]: the scans of title and body and the hits of
/// one list. They grow to the largest story seen (bounded by [`MAX_TEXT_BYTES`]).
#[derive(Default)]
struct Scratch {
    title_scan: Scan,
    body_scan: Scan,
    hits: Vec<Hit>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// For each model label, the index of the taxonomy topic it scores.
fn model_targets(
    taxonomy: &Taxonomy,
    m: &Model,
    path: &std::path::Path,
    taxonomy_file: &std::path::Path,
) -> Result<Vec<usize>, ClassifierError> {
    m.labels()
        .iter()
        .map(|l| {
            taxonomy.index_of(l).ok_or_else(|| ClassifierError::Model {
                path: path.to_path_buf(),
                reason: format!(
                    "label {l:?} is not a topic id of {}; retrain with a label map",
                    taxonomy_file.display()
                ),
            })
        })
        .collect()
}

/// Salience in [0, 1]: 0.45 for a title mention, 0.2 for a lead mention, plus 0.35 × the
/// entity's share of the story's most mentioned entity's mentions; rounded to 3 digits.
fn salience(title: u32, lead: u32, mentions: u32, max_mentions: u32) -> f64 {
    let s = if title > 0 { 0.45 } else { 0.0 }
        + if lead > 0 { 0.2 } else { 0.0 }
        + 0.35 * f64::from(mentions) / f64::from(max_mentions.max(1));
    (s.min(1.0) * 1000.0).round() / 1000.0
}

/// Parse one JSON line into a story and its cluster id (see [`Classifier::classify_json`]).
fn story_from_json(line: &str) -> Result<(RawStory, String), ClassifierError> {
    {
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
        Ok((story, cluster_id))
    }
}

fn check_string(obj: &Map<String, Value>, key: &str) -> Result<(), ClassifierError> {
    match obj.get(key) {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(ClassifierError::input(key, "must be a string")),
    }
}

/// The body to classify: the content, plus the summary when the content does not already
/// contain it (feeds often repeat the summary as the content's first paragraph). Borrowed
/// unless both are needed.
fn body_of(story: &RawStory) -> std::borrow::Cow<'_, str> {
    let summary = story.summary.as_deref().unwrap_or("").trim();
    let content = story.content.as_deref().unwrap_or("").trim();
    if content.is_empty() {
        return summary.into();
    }
    let head = truncate(
        summary,
        summary
            .char_indices()
            .nth(80)
            .map_or(summary.len(), |(i, _)| i),
    );
    if summary.is_empty() || content.contains(head) {
        content.into()
    } else {
        format!("{summary}\n{content}").into()
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
        m.severity
            .with_label_values(&[STAGE, metrics::severity_label(enriched.severity)])
            .inc();
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
