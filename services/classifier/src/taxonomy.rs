//! The topic taxonomy (`config/taxonomy.toml`) and topic scoring.
//!
//! Scoring, in short: every matched term adds its weight (times `title_weight` in the title,
//! at most `max_count_per_term` occurrences per term, body evidence divided by
//! `words / body_norm_words` for long bodies, so long articles are scored by term density) to
//! its topic; a topic's evidence includes its descendants'; score = 1 − exp(−evidence /
//! saturation). Because a parent's evidence contains its child's, a parent always scores at
//! least as high as its child, so "a child fires ⇒ its parent fires" holds by construction.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use wirewatch_proto::v1::TopicMatch;

use crate::error::{load_toml, ClassifierError};
use crate::matcher::{auto_case, Candidate, Entry, Hit, Matcher};
use crate::severity::SeveritySpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    scoring: Scoring,
    #[serde(rename = "topic")]
    topics: Vec<TopicSpec>,
    /// Severity rules (`[severity]`), see `severity.rs`.
    #[serde(default)]
    severity: Option<SeveritySpec>,
}

/// Scoring parameters (`[scoring]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scoring {
    title_weight: f64,
    saturation: f64,
    max_count_per_term: u32,
    body_norm_words: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicSpec {
    id: String,
    label: String,
    iptc: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    terms: Vec<TermGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermGroup {
    weight: f64,
    any: Vec<String>,
}

/// One topic after loading.
#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub id: String,
    pub label: String,
    pub iptc: String,
    /// Index of the parent topic.
    pub parent: Option<usize>,
    /// Index of the top-level ancestor (itself for a top-level topic).
    pub top: usize,
    /// Distance from the top (0 for top-level topics).
    pub depth: usize,
}

/// The loaded taxonomy with its term automaton.
#[derive(Debug)]
pub(crate) struct Taxonomy {
    pub topics: Vec<Topic>,
    scoring: Scoring,
    /// Targets: (topic index, weight).
    terms: Matcher<(usize, u64)>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_iptc(code: &str) -> bool {
    code.strip_prefix("medtop:")
        .is_some_and(|d| d.len() == 8 && d.chars().all(|c| c.is_ascii_digit()))
}

impl Taxonomy {
    /// Load and validate the taxonomy file. Returns the taxonomy and the file text (for the
    /// version hash).
    pub fn load(path: &Path) -> Result<(Self, Option<SeveritySpec>, String), ClassifierError> {
        let (file, text): (TaxonomyFile, String) = load_toml(path)?;
        let s = &file.scoring;
        let bad =
            |field: &str, reason: &str| ClassifierError::invalid(path, "[scoring]", field, reason);
        if !(s.title_weight.is_finite() && s.title_weight > 0.0) {
            return Err(bad("title_weight", "must be a positive number"));
        }
        if !(s.saturation.is_finite() && s.saturation > 0.0) {
            return Err(bad("saturation", "must be a positive number"));
        }
        if s.max_count_per_term == 0 {
            return Err(bad("max_count_per_term", "must be at least 1"));
        }
        if s.body_norm_words == 0 {
            return Err(bad("body_norm_words", "must be at least 1"));
        }
        if file.topics.is_empty() {
            return Err(ClassifierError::invalid(
                path,
                "[[topic]]",
                "topic",
                "no topics defined",
            ));
        }
        let mut index = HashMap::new();
        for (i, t) in file.topics.iter().enumerate() {
            let entry = format!("topic #{} (id {:?})", i + 1, t.id);
            if !valid_id(&t.id) {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "id",
                    "must be 1-40 characters of a-z, 0-9 and _",
                ));
            }
            if index.insert(t.id.as_str(), i).is_some() {
                return Err(ClassifierError::invalid(path, entry, "id", "duplicate id"));
            }
            if t.label.trim().is_empty() {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "label",
                    "must not be empty",
                ));
            }
            if !valid_iptc(&t.iptc) {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "iptc",
                    format!(
                        "{:?} is not an IPTC Media Topic code like \"medtop:16000000\"",
                        t.iptc
                    ),
                ));
            }
        }
        let mut topics = Vec::with_capacity(file.topics.len());
        for (i, t) in file.topics.iter().enumerate() {
            let entry = || format!("topic #{} (id {:?})", i + 1, t.id);
            let parent = match &t.parent {
                None => None,
                Some(p) => match index.get(p.as_str()) {
                    Some(&pi) if pi != i => Some(pi),
                    Some(_) => {
                        return Err(ClassifierError::invalid(
                            path,
                            entry(),
                            "parent",
                            "a topic cannot be its own parent",
                        ))
                    }
                    None => {
                        return Err(ClassifierError::invalid(
                            path,
                            entry(),
                            "parent",
                            format!("unknown topic {p:?}"),
                        ))
                    }
                },
            };
            topics.push(Topic {
                id: t.id.clone(),
                label: t.label.clone(),
                iptc: t.iptc.clone(),
                parent,
                top: i,
                depth: 0,
            });
        }
        // Resolve ancestors; a chain longer than the number of topics is a cycle.
        for i in 0..topics.len() {
            let (mut cur, mut depth) = (i, 0);
            while let Some(p) = topics[cur].parent {
                depth += 1;
                if depth > topics.len() {
                    return Err(ClassifierError::invalid(
                        path,
                        format!("topic #{} (id {:?})", i + 1, topics[i].id),
                        "parent",
                        "parent chain forms a cycle",
                    ));
                }
                cur = p;
            }
            topics[i].top = cur;
            topics[i].depth = depth;
        }
        let mut entries = Vec::new();
        for (i, t) in file.topics.iter().enumerate() {
            for (g, group) in t.terms.iter().enumerate() {
                let entry = || format!("topic #{} (id {:?}) terms group #{}", i + 1, t.id, g + 1);
                if !(group.weight.is_finite() && group.weight > 0.0 && group.weight <= 100.0) {
                    return Err(ClassifierError::invalid(
                        path,
                        entry(),
                        "weight",
                        "must be a number in (0, 100]",
                    ));
                }
                for term in &group.any {
                    if term.trim().trim_end_matches('*').trim().is_empty() {
                        return Err(ClassifierError::invalid(
                            path,
                            entry(),
                            "any",
                            "contains an empty term",
                        ));
                    }
                    entries.push(Entry {
                        form: term.clone(),
                        case: auto_case(term),
                        // Weights are stored in thousandths so that targets compare exactly.
                        target: (i, (group.weight * 1000.0).round() as u64),
                    });
                }
            }
        }
        let terms = Matcher::build(entries);
        Ok((
            Self {
                topics,
                scoring: file.scoring,
                terms,
            },
            file.severity,
            text,
        ))
    }

    /// Raw evidence for every topic from the term candidates of one scan of the title and
    /// one of the body: the score in [0, 1) of each topic (descendants' evidence included)
    /// and, per topic with evidence, the terms that contributed with their contribution.
    /// `hits` is scratch space.
    pub fn raw(
        &self,
        title: (&str, &[Candidate]),
        body: (&str, &[Candidate]),
        hits: &mut Vec<Hit>,
    ) -> RawScores {
        let s = &self.scoring;
        let n = self.topics.len();
        let mut own = vec![0.0f64; n];
        let words = count_words(body.0) as f64;
        let damp = (words / f64::from(s.body_norm_words)).max(1.0);
        // The patterns of one text's hits, sorted: runs are counts.
        let mut patterns: Vec<usize> = Vec::new();
        // (topic, pattern, contribution), ancestors included; grouped below.
        let mut contrib: Vec<(usize, usize, f64)> = Vec::new();
        for ((text, cands), factor) in [(title, s.title_weight), (body, 1.0 / damp)] {
            self.terms.resolve(text, cands, |_, _| true, hits);
            patterns.clear();
            patterns.extend(hits.iter().map(|h| h.pattern));
            patterns.sort_unstable();
            for run in patterns.chunk_by(|a, b| a == b) {
                let pattern = run[0];
                let c = f64::from((run.len() as u32).min(s.max_count_per_term));
                for &(topic, w) in &self.terms.pattern(pattern).targets {
                    let e = c * (w as f64 / 1000.0) * factor;
                    own[topic] += e;
                    // A topic's evidence includes its descendants'.
                    let mut cur = Some(topic);
                    while let Some(t) = cur {
                        contrib.push((t, pattern, e));
                        cur = self.topics[t].parent;
                    }
                }
            }
        }
        let mut total = own.clone();
        for (i, e) in own.iter().enumerate() {
            let mut cur = self.topics[i].parent;
            while let Some(p) = cur {
                total[p] += e;
                cur = self.topics[p].parent;
            }
        }
        let score = total
            .iter()
            .map(|e| 1.0 - (-e / s.saturation).exp())
            .collect();
        // Sum each (topic, pattern)'s contributions, then order each topic's evidence.
        contrib.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut evidence: Vec<Vec<(Evidence, f64)>> = vec![Vec::new(); n];
        for (topic, pattern, e) in contrib {
            let list = &mut evidence[topic];
            match list.last_mut() {
                Some((Evidence::Term(p), sum)) if *p == pattern => *sum += e,
                _ => list.push((Evidence::Term(pattern), e)),
            }
        }
        for list in &mut evidence {
            list.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then(a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
            });
            list.truncate(MAX_EVIDENCE);
        }
        RawScores { score, evidence }
    }

    /// How a piece of evidence is written in a topic's `evidence`: a term as configured
    /// (`sanction*` with its star), the model as `model p=0.87`.
    fn evidence_text(&self, e: &Evidence) -> String {
        match *e {
            Evidence::Term(p) => {
                let pat = self.terms.pattern(p);
                if pat.prefix {
                    format!("{}*", pat.form)
                } else {
                    pat.form.clone()
                }
            }
            Evidence::Model(p) => format!("model p={p:.2}"),
        }
    }

    /// Raise every ancestor's score to at least its descendants' (after the model was combined
    /// in), so that "a child fires ⇒ its parent fires" still holds.
    pub fn lift_parents(&self, score: &mut [f64]) {
        for i in 0..self.topics.len() {
            let mut cur = self.topics[i].parent;
            while let Some(p) = cur {
                if score[p] < score[i] {
                    score[p] = score[i];
                }
                cur = self.topics[p].parent;
            }
        }
    }

    /// Select the topics at or above `min_score`, best first, at most `max_topics`, parents
    /// before children on equal scores.
    pub fn select(&self, raw: &RawScores, min_score: f64, max_topics: usize) -> Vec<TopicMatch> {
        let mut out: Vec<(usize, f64)> = raw
            .score
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, score)| *score > 0.0 && *score >= min_score)
            .collect();
        out.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then(self.topics[a.0].depth.cmp(&self.topics[b.0].depth))
                .then(a.0.cmp(&b.0))
        });
        out.truncate(max_topics);
        out.into_iter()
            .map(|(i, score)| {
                let t = &self.topics[i];
                TopicMatch {
                    id: t.id.clone(),
                    label: t.label.clone(),
                    score: (score * 10_000.0).round() / 10_000.0,
                    iptc: t.iptc.clone(),
                    iptc_top: self.topics[t.top].iptc.clone(),
                    evidence: raw.evidence[i]
                        .iter()
                        .map(|(e, _)| self.evidence_text(e))
                        .collect(),
                }
            })
            .collect()
    }

    /// Score every topic for a title and a body; returns the topics at or above `min_score`,
    /// best first, at most `max_topics`, parents before children on equal scores.
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub fn score(
        &self,
        title: &str,
        body: &str,
        min_score: f64,
        max_topics: usize,
    ) -> Vec<TopicMatch> {
        let scanner = crate::matcher::Scanner::build(&[self.terms.forms().collect()]).unwrap();
        let (mut ts, mut bs) = Default::default();
        scanner.scan(title, &mut ts);
        scanner.scan(body, &mut bs);
        let raw = self.raw((title, ts.list(0)), (body, bs.list(0)), &mut Vec::new());
        self.select(&raw, min_score, max_topics)
    }

    /// Index of a topic by id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.topics.iter().position(|t| t.id == id)
    }

    /// The term patterns, in pattern order (for the shared scanner and the throughput
    /// baseline).
    pub fn pattern_forms(&self) -> impl Iterator<Item = &str> {
        self.terms.forms()
    }

    /// Heap bytes of the term list (the automaton is the classifier's shared scanner).
    pub fn memory_usage(&self) -> usize {
        self.terms.memory_usage()
    }
}

/// Number of whitespace-separated words, exactly as `str::split_whitespace` counts them, at
/// memory speed: word starts are counted over the bytes with ASCII whitespace only (a loop the
/// compiler vectorises), then corrected at the rare non-ASCII whitespace characters (no-break
/// and typographic spaces), found by skipping from one non-ASCII byte to the next.
fn count_words(text: &str) -> usize {
    fn space(b: u8) -> bool {
        b == b' ' || (b'\t'..=b'\r').contains(&b)
    }
    let bytes = text.as_bytes();
    // A word starts at a non-space byte after a space byte (or at the start): per block of 64
    // bytes, a bit mask of the spaces gives the starts by shifting and counting bits.
    let (mut words, mut prev_space) = (0usize, true);
    for block in bytes.chunks(64) {
        let mut spaces = 0u64;
        for (j, &b) in block.iter().enumerate() {
            spaces |= u64::from(space(b)) << j;
        }
        let valid = u64::MAX >> (64 - block.len());
        let before = (spaces << 1) | u64::from(prev_space);
        words += (!spaces & valid & before).count_ones() as usize;
        prev_space = spaces >> (block.len() - 1) & 1 == 1;
    }
    if text.is_ascii() {
        return words;
    }
    let mut i = 0;
    while let Some(k) = bytes[i..].iter().position(|b| *b >= 0x80) {
        let start = i + k;
        let c = text[start..].chars().next().unwrap_or(' ');
        let end = start + c.len_utf8();
        if c.is_whitespace() {
            // Counted as a word start by the byte pass, but it separates words...
            if start == 0 || space(bytes[start - 1]) {
                words -= 1;
            }
            // ...so what follows it starts a word the byte pass did not count.
            let next_is_word = match bytes.get(end) {
                None => false,
                Some(&b) if b < 0x80 => !space(b),
                Some(_) => text[end..]
                    .chars()
                    .next()
                    .is_some_and(|n| !n.is_whitespace()),
            };
            if next_is_word {
                words += 1;
            }
        }
        i = end;
    }
    words
}

/// Per topic (taxonomy order): the rule score and the evidence, strongest first, with its
/// contribution. Evidence is rendered as text only for the topics selected.
#[derive(Debug, Clone)]
pub(crate) struct RawScores {
    pub score: Vec<f64>,
    pub evidence: Vec<Vec<(Evidence, f64)>>,
}

/// One piece of a topic's evidence.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum Evidence {
    /// A term of the taxonomy (its pattern index).
    Term(usize),
    /// The model, with its probability.
    Model(f64),
}

/// At most this many evidence terms are reported per topic.
const MAX_EVIDENCE: usize = 8;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Taxonomy, ClassifierError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("taxonomy.toml");
        std::fs::write(&p, text).unwrap();
        Taxonomy::load(&p).map(|(t, _, _)| t)
    }

    const SCORING: &str = "[scoring]\ntitle_weight = 2.0\nsaturation = 3.0\nmax_count_per_term = 2\nbody_norm_words = 300\n";

    #[test]
    fn child_fires_parent_with_at_least_its_score() {
        let t = load(&format!(
            "{SCORING}
[[topic]]
id = \"politics\"
label = \"Politics\"
iptc = \"medtop:11000000\"
[[topic.terms]]
weight = 1.0
any = [\"parliament\"]

[[topic]]
id = \"diplomacy\"
label = \"Diplomacy\"
iptc = \"medtop:20000639\"
parent = \"politics\"
[[topic.terms]]
weight = 2.0
any = [\"peace talks\", \"negotiat*\"]
"
        ))
        .unwrap();
        let got = t.score(
            "Peace talks resume",
            "Negotiators met. Negotiations go on.",
            0.1,
            5,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "politics");
        assert_eq!(got[1].id, "diplomacy");
        assert!(got[0].score >= got[1].score);
        assert!(got[1].score > 0.0 && got[1].score < 1.0);
        assert_eq!(got[1].iptc, "medtop:20000639");
        assert_eq!(got[1].iptc_top, "medtop:11000000");
        // max_topics 1 keeps the parent, never an orphan child.
        assert_eq!(t.score("Peace talks", "", 0.1, 1)[0].id, "politics");
        // Below the threshold nothing is emitted.
        assert!(t.score("", "parliament", 0.9, 5).is_empty());
        // Title matches weigh more than body matches.
        let title = t.score("parliament", "", 0.0, 5)[0].score;
        let body = t.score("", "parliament", 0.0, 5)[0].score;
        assert!(title > body);
    }

    #[test]
    fn counts_words_as_split_whitespace() {
        for t in [
            "",
            "  ",
            "one",
            " two  words ",
            "tab\tand\nnew\x0bline\x0cfeed\r",
            "non\u{a0}breaking \u{2003}em space — dash Ünïcödé",
            "\u{a0}lead\u{a0}\u{a0}twice\u{3000}\u{a0}",
            "\u{2028}",
            "a\u{85}b \u{a0} c\u{205f}“quoted”\u{a0}",
            "“x”\u{a0}\u{2009}y",
        ] {
            assert_eq!(count_words(t), t.split_whitespace().count(), "{t:?}");
        }
        let alphabet = [
            'a', ' ', '\u{a0}', '\u{3000}', 'é', '\n', '“', '\u{85}', '\u{2028}', '\t',
        ];
        let mut seed = 1u64;
        for _ in 0..2000 {
            let mut t = String::new();
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            assert_eq!(count_words(&t), t.split_whitespace().count(), "{t:?}");
        }
    }

    #[test]
    fn errors_name_entry_and_field() {
        let e = load(&format!(
            "{SCORING}[[topic]]\nid = \"a\"\nlabel = \"A\"\niptc = \"medtop:1\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("topic #1 (id \"a\")") && e.contains("`iptc`"),
            "{e}"
        );
        let e = load(&format!(
            "{SCORING}[[topic]]\nid = \"a\"\nlabel = \"A\"\niptc = \"medtop:11000000\"\nparent = \"nope\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("`parent`") && e.contains("nope"), "{e}");
        let e = load(&format!(
            "{SCORING}[[topic]]\nid = \"a\"\nlabel = \"A\"\niptc = \"medtop:11000000\"\ncolour = 1\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("taxonomy.toml") && e.contains("colour"), "{e}");
        let e = load(&format!(
            "{SCORING}[[topic]]\nid = \"a\"\nlabel = \"A\"\niptc = \"medtop:11000000\"\nparent = \"b\"\n[[topic]]\nid = \"b\"\nlabel = \"B\"\niptc = \"medtop:11000000\"\nparent = \"a\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle"), "{e}");
    }
}
