//! Many-phrase matching on word boundaries: one Aho-Corasick automaton per list, built once.
//!
//! Every list (taxonomy terms, country forms, organisations, people) becomes a [`Matcher`]:
//! an ASCII-case-insensitive, leftmost-longest automaton plus, per pattern, the checks the
//! automaton cannot do itself:
//! - **word boundaries**: the characters around a match must not be letters or digits, so
//!   "India" does not match inside "Indiana" but "Russia" matches in "Russia's" and
//!   "Russia-Ukraine";
//! - **case**: forms written in capitals ("US", "U.S.", "WHO") match only in exactly that case;
//!   forms marked ambiguous must start with a capital letter in the text;
//! - **prefix terms**: a trailing `*` in a term matches any word ending ("sanction*").
//!
//! When the longest match at a position is rejected, the search resumes one character later,
//! so a rejected "Turkey dinner" does not hide a later match. A shorter form starting at the
//! same position as a rejected longer one is not tried: lists should not rely on that.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

/// How the case of a match is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CaseMode {
    /// Exactly as written (acronyms such as "US", "WHO").
    Exact,
    /// The first letter must be upper case ("China", not "china").
    Capitalised,
    /// Any case (ASCII case folding).
    Insensitive,
}

/// The case mode a form gets unless the list marks it ambiguous: forms without lower-case
/// letters and with at least two upper-case ones are acronyms and match exactly.
pub(crate) fn auto_case(form: &str) -> CaseMode {
    let upper = form.chars().filter(|c| c.is_uppercase()).count();
    let lower = form.chars().any(|c| c.is_lowercase());
    if upper >= 2 && !lower {
        CaseMode::Exact
    } else {
        CaseMode::Insensitive
    }
}

/// One pattern of a matcher and what it stands for.
#[derive(Debug, Clone)]
pub(crate) struct Pattern<T> {
    /// The form as configured (without a trailing `*`).
    pub form: String,
    /// Case check.
    pub case: CaseMode,
    /// Trailing `*`: the match may end inside a word.
    pub prefix: bool,
    /// What a match means (topics with weights, an entity, nothing for stop phrases).
    pub targets: Vec<T>,
}

/// A match that passed the boundary and case checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    /// Byte offset of the start in the text.
    pub start: usize,
    /// Byte offset of the end (for prefix terms, the end of the word).
    pub end: usize,
    /// Index of the pattern.
    pub pattern: usize,
}

/// A built matcher.
#[derive(Debug)]
pub(crate) struct Matcher<T> {
    ac: AhoCorasick,
    patterns: Vec<Pattern<T>>,
}

/// Input to [`Matcher::build`]: a form, its case mode and one target.
pub(crate) struct Entry<T> {
    pub form: String,
    pub case: CaseMode,
    pub target: T,
}

impl<T: Clone + PartialEq> Matcher<T> {
    /// Build from entries. Forms equal up to ASCII case (and `*`) are merged: their targets
    /// are joined and the most permissive case mode wins, because the automaton reports only
    /// one pattern per position. Fails only if the automaton cannot be built (too large).
    pub fn build(entries: Vec<Entry<T>>) -> Result<Self, String> {
        let mut patterns: Vec<Pattern<T>> = Vec::new();
        let mut index: std::collections::HashMap<(String, bool), usize> =
            std::collections::HashMap::new();
        for e in entries {
            let trimmed = e.form.trim();
            let (form, prefix) = match trimmed.strip_suffix('*') {
                Some(f) => (f.trim_end().to_string(), true),
                None => (trimmed.to_string(), false),
            };
            if form.is_empty() {
                continue;
            }
            let key = (form.to_ascii_lowercase(), prefix);
            match index.get(&key) {
                Some(&i) => {
                    let p = &mut patterns[i];
                    p.case = p.case.max(e.case);
                    if !p.targets.contains(&e.target) {
                        p.targets.push(e.target);
                    }
                }
                None => {
                    index.insert(key, patterns.len());
                    patterns.push(Pattern {
                        form,
                        case: e.case,
                        prefix,
                        targets: vec![e.target],
                    });
                }
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|p| p.form.as_str()))
            .map_err(|e| e.to_string())?;
        Ok(Self { ac, patterns })
    }

    /// The configured forms (without `*`), in pattern order.
    pub fn forms(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.form.as_str())
    }

    /// Heap bytes of the automaton plus the pattern strings.
    pub fn memory_usage(&self) -> usize {
        self.ac.memory_usage()
            + self
                .patterns
                .iter()
                .map(|p| p.form.capacity() + p.targets.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
            + self.patterns.capacity() * std::mem::size_of::<Pattern<T>>()
    }

    /// The pattern behind a hit.
    pub fn pattern(&self, i: usize) -> &Pattern<T> {
        &self.patterns[i]
    }

    /// All accepted matches in `text`, left to right, not overlapping. `accept` is an extra
    /// check (the ambiguity guard) run after the boundary and case checks.
    pub fn find_all(&self, text: &str, mut accept: impl FnMut(&str, &Hit) -> bool) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = self.ac.find(Input::new(text).range(pos..)) else {
                break;
            };
            let p = &self.patterns[m.pattern().as_usize()];
            let mut hit = Hit {
                start: m.start(),
                end: m.end(),
                pattern: m.pattern().as_usize(),
            };
            let ok = boundary_before(text, hit.start)
                && case_ok(&text[hit.start..hit.end], p)
                && if p.prefix {
                    hit.end = word_end(text, hit.end);
                    true
                } else {
                    boundary_after(text, hit.end)
                }
                && accept(text, &hit);
            if ok {
                hits.push(hit);
                pos = hit.end.max(pos + 1);
            } else {
                pos = next_char(text, m.start());
            }
        }
        hits
    }
}

fn case_ok<T>(found: &str, p: &Pattern<T>) -> bool {
    match p.case {
        CaseMode::Insensitive => true,
        CaseMode::Exact => found == p.form,
        CaseMode::Capitalised => found.chars().next().is_some_and(char::is_uppercase),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn boundary_before(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_none_or(|c| !is_word_char(c))
}

fn boundary_after(text: &str, end: usize) -> bool {
    text[end..].chars().next().is_none_or(|c| !is_word_char(c))
}

fn word_end(text: &str, mut end: usize) -> usize {
    for c in text[end..].chars() {
        if !is_word_char(c) {
            break;
        }
        end += c.len_utf8();
    }
    end
}

fn next_char(text: &str, i: usize) -> usize {
    text[i..]
        .chars()
        .next()
        .map_or(text.len(), |c| i + c.len_utf8())
}

/// The word before byte `start`, skipping spaces and commas ("Atlanta, Georgia").
pub(crate) fn prev_word(text: &str, start: usize) -> &str {
    let head = text[..start].trim_end_matches(|c: char| c.is_whitespace() || c == ',');
    let begin = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word_char(*c) || *c == '-')
        .last()
        .map_or(head.len(), |(i, _)| i);
    &head[begin..]
}

/// The word after byte `end`, skipping spaces only, and whether exactly one space came first.
pub(crate) fn next_word(text: &str, end: usize) -> (&str, bool) {
    let rest = &text[end..];
    let tail = rest.trim_start_matches([' ', '\t']);
    let one_space = rest.len() - tail.len() == 1;
    let len = tail
        .char_indices()
        .take_while(|(_, c)| is_word_char(*c) || *c == '-')
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8());
    (&tail[..len], one_space)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(forms: &[(&str, CaseMode)]) -> Matcher<usize> {
        Matcher::build(
            forms
                .iter()
                .enumerate()
                .map(|(i, (f, c))| Entry {
                    form: f.to_string(),
                    case: *c,
                    target: i,
                })
                .collect(),
        )
        .unwrap()
    }

    fn found(mm: &Matcher<usize>, text: &str) -> Vec<String> {
        mm.find_all(text, |_, _| true)
            .iter()
            .map(|h| text[h.start..h.end].to_string())
            .collect()
    }

    #[test]
    fn boundaries_possessives_and_longest() {
        let mm = m(&[
            ("Russia", CaseMode::Insensitive),
            ("India", CaseMode::Insensitive),
            ("South Sudan", CaseMode::Insensitive),
            ("Sudan", CaseMode::Insensitive),
        ]);
        assert_eq!(
            found(
                &mm,
                "Russia's army; Indiana; South Sudan and Sudan, Russia-Ukraine"
            ),
            vec!["Russia", "South Sudan", "Sudan", "Russia"]
        );
    }

    #[test]
    fn acronyms_are_exact_and_prefix_terms_extend() {
        let mm = m(&[
            ("US", auto_case("US")),
            ("U.S.", auto_case("U.S.")),
            ("sanction*", CaseMode::Insensitive),
        ]);
        assert_eq!(auto_case("US"), CaseMode::Exact);
        assert_eq!(auto_case("Nato"), CaseMode::Insensitive);
        assert_eq!(
            found(&mm, "tell us: the U.S. and US sanctioned; Sanctions"),
            vec!["U.S.", "US", "sanctioned", "Sanctions"]
        );
    }

    #[test]
    fn rejected_match_does_not_hide_a_later_one() {
        let mm = m(&[("China", CaseMode::Capitalised)]);
        assert_eq!(found(&mm, "fine china and China"), vec!["China"]);
    }

    #[test]
    fn neighbour_words() {
        let t = "Atlanta, Georgia Tech";
        let s = t.find("Georgia").unwrap();
        assert_eq!(prev_word(t, s), "Atlanta");
        assert_eq!(next_word(t, s + "Georgia".len()), ("Tech", true));
        assert_eq!(prev_word("Georgia", 0), "");
    }
}
