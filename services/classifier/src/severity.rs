//! Severity / urgency of a story, 0 (routine) to 5 (critical), from the `[severity]` section of
//! `config/taxonomy.toml`.
//!
//! The rules, in order (the result is the highest level any rule gives, at most 5):
//! 1. **Topic floor** (`[severity.topics]`, topic id → level): each assigned topic listed
//!    there gives its level ("armed_conflict = 3").
//! 2. **Context**: the next two rules count only when the story has at least one topic listed
//!    in `[severity.topics]` (a football team "killed off" a match is not an emergency). A
//!    story without such a topic has severity 0.
//! 3. **Escalation terms** (`[[severity.terms]]` groups of `level` + `any`): a matched term
//!    gives its group's level ("nuclear strike" → 5). Matching is as for topic terms
//!    (word boundaries, `*` suffix, exact case for acronyms).
//! 4. **Casualties** (`[severity.casualties]`): a number within `window_words` words of a
//!    casualty word ("at least 120 people were killed", "the death toll rose to 45",
//!    "dozens dead") gives the level of the highest `levels` row whose count it reaches.
//!    Numbers are digits ("1,200"; a bare 4-digit number from 1800 to 2100 is a year and
//!    ignored) or words ("three", "dozens", "hundreds", "two thousand").

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use wirewatch_proto::v1::TopicMatch;

use crate::error::ClassifierError;
use crate::matcher::{auto_case, Candidate, Entry, Hit, Matcher};
use crate::taxonomy::Taxonomy;

/// Highest severity.
pub const MAX_SEVERITY: u8 = 5;

/// `[severity]` as written in the taxonomy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeveritySpec {
    #[serde(default)]
    topics: BTreeMap<String, u8>,
    #[serde(default)]
    terms: Vec<LevelGroup>,
    #[serde(default)]
    casualties: Option<CasualtySpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelGroup {
    level: u8,
    any: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasualtySpec {
    words: Vec<String>,
    window_words: usize,
    /// Rows of `[minimum count, level]`.
    levels: Vec<[u64; 2]>,
}

/// Loaded severity rules.
#[derive(Debug)]
pub(crate) struct Severity {
    /// Level per topic index (None: the topic gives no context).
    topic_level: Vec<Option<u8>>,
    /// Escalation terms → level.
    terms: Option<Matcher<u8>>,
    casualty_words: Option<Matcher<()>>,
    window_words: usize,
    /// (minimum count, level), ascending by count.
    levels: Vec<(u64, u8)>,
}

/// The severity of one story and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityAssessment {
    /// 0 to 5.
    pub level: u8,
    /// One line per rule that fired, strongest first, e.g. `topic armed_conflict → 3`.
    pub reasons: Vec<String>,
}

impl Severity {
    /// Validate the spec against the taxonomy.
    pub fn build(spec: SeveritySpec, tax: &Taxonomy, path: &Path) -> Result<Self, ClassifierError> {
        let bad_level = |entry: String, field: &str| {
            ClassifierError::invalid(path, entry, field, format!("must be 0 to {MAX_SEVERITY}"))
        };
        let mut topic_level = vec![None; tax.topics.len()];
        for (id, level) in &spec.topics {
            let Some(i) = tax.index_of(id) else {
                return Err(ClassifierError::invalid(
                    path,
                    "[severity.topics]",
                    id,
                    "not a topic id of the taxonomy",
                ));
            };
            if *level > MAX_SEVERITY {
                return Err(bad_level("[severity.topics]".into(), id));
            }
            topic_level[i] = Some(*level);
        }
        let mut entries = Vec::new();
        for (g, group) in spec.terms.iter().enumerate() {
            let entry = || format!("[[severity.terms]] group #{}", g + 1);
            if group.level > MAX_SEVERITY {
                return Err(bad_level(entry(), "level"));
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
                    target: group.level,
                });
            }
        }
        let terms = if entries.is_empty() {
            None
        } else {
            Some(Matcher::build(entries))
        };
        let (mut casualty_words, mut window_words, mut levels) = (None, 0, Vec::new());
        if let Some(c) = spec.casualties {
            let entry = "[severity.casualties]";
            if c.window_words == 0 || c.window_words > 10 {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "window_words",
                    "must be 1 to 10",
                ));
            }
            for [min, level] in &c.levels {
                if *level > u64::from(MAX_SEVERITY) {
                    return Err(bad_level(entry.into(), "levels"));
                }
                levels.push((*min, *level as u8));
            }
            levels.sort_unstable();
            let words: Vec<Entry<()>> = c
                .words
                .iter()
                .filter(|w| !w.trim().is_empty())
                .map(|w| Entry {
                    form: w.clone(),
                    case: auto_case(w),
                    target: (),
                })
                .collect();
            if words.is_empty() {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "words",
                    "must name at least one word",
                ));
            }
            casualty_words = Some(Matcher::build(words));
            window_words = c.window_words;
        }
        Ok(Self {
            topic_level,
            terms,
            casualty_words,
            window_words,
            levels,
        })
    }

    /// The escalation terms' forms, in pattern order (for the shared scanner).
    pub fn term_forms(&self) -> Vec<&str> {
        self.terms.iter().flat_map(Matcher::forms).collect()
    }

    /// The casualty words' forms, in pattern order (for the shared scanner).
    pub fn casualty_forms(&self) -> Vec<&str> {
        self.casualty_words
            .iter()
            .flat_map(Matcher::forms)
            .collect()
    }

    /// Heap bytes of the term lists.
    pub fn memory_usage(&self) -> usize {
        self.terms.as_ref().map_or(0, Matcher::memory_usage)
            + self
                .casualty_words
                .as_ref()
                .map_or(0, Matcher::memory_usage)
    }

    /// Assess one story given its assigned topics. `texts` are the title and the body, each
    /// with the candidates of one scan for the escalation terms and for the casualty words
    /// (lists [`Severity::term_forms`] and [`Severity::casualty_forms`]); `hits` is scratch.
    pub fn assess(
        &self,
        tax: &Taxonomy,
        texts: [(&str, &[Candidate], &[Candidate]); 2],
        topics: &[TopicMatch],
        hits: &mut Vec<Hit>,
    ) -> SeverityAssessment {
        let mut reasons: Vec<(u8, String)> = Vec::new();
        let mut context = false;
        for t in topics {
            let Some(i) = tax.index_of(&t.id) else {
                continue;
            };
            if let Some(level) = self.topic_level[i] {
                context = true;
                if level > 0 {
                    reasons.push((level, format!("topic {} → {level}", t.id)));
                }
            }
        }
        if context {
            for (text, term_cands, casualty_cands) in texts {
                if let Some(m) = &self.terms {
                    m.resolve(text, term_cands, |_, _| true, hits);
                    for hit in hits.iter() {
                        let p = m.pattern(hit.pattern);
                        let level = p.targets.iter().copied().max().unwrap_or(0);
                        let found = &text[hit.start..hit.end];
                        if !reasons
                            .iter()
                            .any(|(_, r)| r.contains(&format!("{found:?}")))
                        {
                            reasons.push((level, format!("term {found:?} → {level}")));
                        }
                    }
                }
                if let Some(m) = &self.casualty_words {
                    m.resolve(text, casualty_cands, |_, _| true, hits);
                    for hit in hits.iter() {
                        let Some((n, phrase)) =
                            casualty_count(text, hit.start, hit.end, self.window_words)
                        else {
                            continue;
                        };
                        let level = self
                            .levels
                            .iter()
                            .filter(|(min, _)| n >= *min)
                            .map(|(_, l)| *l)
                            .max()
                            .unwrap_or(0);
                        if level > 0 {
                            reasons.push((level, format!("casualties {phrase:?} ({n}) → {level}")));
                        }
                    }
                }
            }
        }
        reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
        reasons.dedup_by(|a, b| a.1 == b.1);
        reasons.truncate(8);
        SeverityAssessment {
            level: reasons.first().map_or(0, |r| r.0).min(MAX_SEVERITY),
            reasons: reasons.into_iter().map(|(_, r)| r).collect(),
        }
    }
}

/// Words of `s` with their byte spans (letters, digits, and commas inside numbers).
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == ',' || c == '-'))
        .map(|w| w.trim_matches(|c| c == ',' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

fn number_word(w: &str) -> Option<u64> {
    Some(match w.to_ascii_lowercase().as_str() {
        "one" | "a" | "an" => return None,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        "dozens" => 24,
        "thirty" => 30,
        "forty" | "scores" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        "hundred" => 100,
        "hundreds" => 200,
        "thousand" => 1000,
        "thousands" => 2000,
        "million" => 1_000_000,
        "millions" => 2_000_000,
        _ => return None,
    })
}

fn parse_number(w: &str) -> Option<u64> {
    if w.chars().all(|c| c.is_ascii_digit() || c == ',')
        && w.starts_with(|c: char| c.is_ascii_digit())
    {
        let digits: String = w.chars().filter(char::is_ascii_digit).collect();
        let n: u64 = digits.parse().ok()?;
        let year = !w.contains(',') && digits.len() == 4 && (1800..=2100).contains(&n);
        return (!year).then_some(n);
    }
    number_word(w)
}

/// The largest number among the `window` words before and after a casualty word, within the
/// same sentence, and the phrase it came from.
fn casualty_count(text: &str, start: usize, end: usize, window: usize) -> Option<(u64, String)> {
    let is_stop = |c: char| matches!(c, '.' | ';' | '\n' | '!' | '?');
    let before = &text[..start];
    let before = &before[before.rfind(is_stop).map_or(0, |i| i + 1)..];
    let after = &text[end..];
    let after = &after[..after.find(is_stop).unwrap_or(after.len())];
    let b = words(before);
    let a = words(after);
    let b = &b[b.len().saturating_sub(window)..];
    let a = &a[..a.len().min(window)];
    let mut best: Option<u64> = None;
    for side in [b, a] {
        let mut prev: Option<u64> = None;
        for w in side {
            let n = parse_number(w);
            let n = match (prev, n) {
                // "two thousand", "12 million".
                (Some(p), Some(m)) if m >= 100 && p < m => Some(p * m),
                (_, n) => n,
            };
            if let Some(n) = n {
                best = Some(best.map_or(n, |b| b.max(n)));
            }
            prev = n;
        }
    }
    let n = best?;
    let from = start.saturating_sub(before.len().min(40));
    let from = (0..=from)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let to = (end + after.len().min(30)).min(text.len());
    let to = (to..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    Some((n, text[from..to].trim().to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_near_casualty_words() {
        let t = "At least 120 people were killed in the blast.";
        let s = t.find("killed").unwrap();
        assert_eq!(casualty_count(t, s, s + 6, 4).unwrap().0, 120);
        let t = "The death toll rose to 1,450 on Monday.";
        let s = t.find("death toll").unwrap();
        assert_eq!(casualty_count(t, s, s + 10, 4).unwrap().0, 1450);
        let t = "Dozens dead after flood.";
        assert_eq!(casualty_count(t, 7, 11, 4).unwrap().0, 24);
        let t = "Two thousand killed.";
        assert_eq!(casualty_count(t, 13, 19, 4).unwrap().0, 2000);
        // A year is not a count; another sentence is not counted.
        let t = "He was killed in 2024.";
        let s = t.find("killed").unwrap();
        assert_eq!(casualty_count(t, s, s + 6, 4), None);
        let t = "There were 300 guests. One was injured.";
        let s = t.find("injured").unwrap();
        assert_eq!(casualty_count(t, s, s + 7, 4), None);
    }
}
