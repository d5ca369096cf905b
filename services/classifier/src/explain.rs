//! Human explanations of a classification (`wirewatch classify --explain`) and the two
//! commands the binary wires: `wirewatch classify [--explain]` and `wirewatch train`.

use std::fmt;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use wirewatch_proto::v1::{EnrichedStory, EntityKind};

use crate::error::ClassifierError;
use crate::model::{train, TrainOptions};
use crate::{Classifier, ClassifierConfig};

/// One classification with its reasons. `Display` renders it for a person.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The classification itself.
    pub story: EnrichedStory,
    /// The severity rules that fired, strongest first (empty when severity is 0 or off).
    pub severity_reasons: Vec<String>,
    /// The model's probability per label, when a model is loaded.
    pub model: Vec<(String, f64)>,
    /// Why the rules were not applied (language not in `rule_languages`), if so.
    pub rules_skipped: Option<String>,
    /// How the language was decided: `English function-word screen`, `whatlang`, or
    /// whatlang's unsure best guess with its confidence.
    pub language_detector: Option<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.story;
        writeln!(f, "story {}: {}", s.story.id, s.story.title.trim())?;
        let by = self
            .language_detector
            .as_deref()
            .map_or(String::new(), |d| format!(", {d}"));
        match (&s.detected_language, s.language_confidence) {
            (Some(l), Some(c)) => writeln!(f, "  language: {l} (confidence {c:.2}{by})")?,
            (Some(l), None) => writeln!(f, "  language: {l}")?,
            _ if by.is_empty() => writeln!(f, "  language: not detected confidently")?,
            _ => writeln!(f, "  language: not detected confidently ({})", &by[2..])?,
        }
        if let Some(why) = &self.rules_skipped {
            writeln!(f, "  rules skipped: {why}")?;
        }
        if s.topics.is_empty() {
            writeln!(f, "  topics: none above the minimum score")?;
        } else {
            writeln!(f, "  topics:")?;
            for t in &s.topics {
                writeln!(
                    f,
                    "    {:<16} {:.2}  {} [{}]  evidence: {}",
                    t.id,
                    t.score,
                    t.label,
                    t.iptc,
                    if t.evidence.is_empty() {
                        "-".to_string()
                    } else {
                        t.evidence.join(", ")
                    }
                )?;
            }
        }
        if !self.model.is_empty() {
            let probs: Vec<String> = self
                .model
                .iter()
                .map(|(l, p)| format!("{l} {p:.2}"))
                .collect();
            writeln!(f, "  model: {}", probs.join(", "))?;
        }
        for (kind, name) in [
            (EntityKind::Country, "countries"),
            (EntityKind::Organisation, "organisations"),
            (EntityKind::Person, "people"),
        ] {
            let list: Vec<_> = s.entities.iter().filter(|e| e.kind == kind).collect();
            if list.is_empty() {
                continue;
            }
            writeln!(f, "  {name}:")?;
            for e in list {
                writeln!(
                    f,
                    "    {:<16} {:<28} mentions {:>3}  salience {:.2}  as: {}",
                    e.id,
                    e.name,
                    e.mentions,
                    e.salience.unwrap_or(0.0),
                    e.matched.join(", ")
                )?;
            }
        }
        if !s.regions.is_empty() {
            writeln!(f, "  regions: {}", s.regions.join(", "))?;
        }
        match s.severity {
            Some(level) if self.severity_reasons.is_empty() => {
                writeln!(f, "  severity: {level} (no severity rule fired)")?
            }
            Some(level) => writeln!(
                f,
                "  severity: {level} ({})",
                self.severity_reasons.join("; ")
            )?,
            None => writeln!(f, "  severity: not assessed")?,
        }
        writeln!(f, "  classifier: {}", s.classifier_version)
    }
}

/// `wirewatch classify [--explain]`: read stories as JSON lines from `input` (see
/// [`Classifier::classify_json`] for what a line may be), write one enriched story per line
/// as JSON, or with `explain` a human explanation per story. A bad line is reported on
/// stderr with its number and skipped; the exit code is then 1. Fails only when the rules
/// cannot be loaded or the output cannot be written.
pub fn classify_command(
    cfg: &ClassifierConfig,
    explain: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ExitCode, ClassifierError> {
    let c = Classifier::load(cfg)?;
    let stdout = || std::path::PathBuf::from("(output)");
    let write_err = |source| ClassifierError::Write {
        path: stdout(),
        source,
    };
    let mut failed = 0usize;
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|source| ClassifierError::Read {
                path: "(input)".into(),
                source,
            })?;
        if read == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let result = if explain {
            c.explain_json(&line).map(|e| e.to_string())
        } else {
            c.classify_json(&line).and_then(|e| {
                serde_json::to_string(&e)
                    .map_err(|e| ClassifierError::input("(story)", e.to_string()))
            })
        };
        match result {
            Ok(text) => writeln!(out, "{}", text.trim_end()).map_err(write_err)?,
            Err(e) => {
                failed += 1;
                eprintln!("line {n}: {e}");
            }
        }
    }
    out.flush().map_err(write_err)?;
    if failed > 0 {
        eprintln!("{failed} line(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch train <labelled.jsonl> --output <model.json>`: train a topic model (see
/// [`crate::model`]) and print a report to `out`. The labels, after `opts.label_map`, must be
/// topic ids of the configured taxonomy (checked before training, so a typo fails fast).
/// To use the model, set `classifier.model_file`.
pub fn train_command(
    cfg: &ClassifierConfig,
    input: &Path,
    output: &Path,
    opts: &TrainOptions,
    out: &mut dyn Write,
) -> Result<ExitCode, ClassifierError> {
    let rules = Classifier::load(&ClassifierConfig {
        model_file: None,
        ..cfg.clone()
    })?;
    let topics = rules.topic_ids();
    let examples = crate::model::read_examples(input, &opts.label_map)?;
    let mut unknown: Vec<&str> = examples
        .iter()
        .flat_map(|e| e.labels.iter())
        .map(String::as_str)
        .filter(|l| !topics.contains(l))
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        return Err(ClassifierError::Train {
            reason: format!(
                "labels {unknown:?} are not topic ids of {}; map them with --label-map LABEL=TOPIC",
                cfg.taxonomy_file.display()
            ),
        });
    }
    drop(examples);
    let report = train(input, output, opts)?;
    let write_err = |source| ClassifierError::Write {
        path: "(output)".into(),
        source,
    };
    writeln!(
        out,
        "trained on {} examples; labels: {}",
        report.examples,
        report
            .labels
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .map_err(write_err)?;
    writeln!(
        out,
        "training accuracy {:.3} (on the training data itself; cross-validate to measure)",
        report.training_accuracy
    )
    .map_err(write_err)?;
    writeln!(
        out,
        "wrote {} ({} rows, {} bytes); set classifier.model_file to use it",
        report.output.display(),
        report.rows,
        report.bytes
    )
    .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}
