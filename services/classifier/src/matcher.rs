//! Many-phrase matching on word boundaries: every list (taxonomy terms, country forms,
//! organisations, people, severity terms, casualty words) is searched in **one pass** over the
//! text by one shared Aho-Corasick automaton ([`Scanner`]), built once.
//!
//! Each list keeps its own semantics ([`Matcher`]): per list, matches are leftmost-longest and
//! do not overlap, exactly as if the list had its own leftmost-longest automaton. The shared
//! automaton reports every occurrence of every form (overlapping, standard semantics), each
//! occurrence is handed to the lists that own the form, and each list then resolves its own
//! candidates ([`Matcher::resolve`]). So a country name does not hide a taxonomy term inside it
//! ("Security Council" is an organisation and still evidence for "security"), which one
//! leftmost-longest automaton over all lists would do.
//!
//! Per pattern, the checks the automaton cannot do itself:
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

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

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

/// One list's patterns and how its matches are resolved. The searching itself is done for all
/// lists at once by a [`Scanner`] built over every list's [`Matcher::forms`].
#[derive(Debug)]
pub(crate) struct Matcher<T> {
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
    /// are joined and the most permissive case mode wins, because a list reports only one
    /// pattern per position.
    pub fn build(entries: Vec<Entry<T>>) -> Self {
        let mut patterns: Vec<Pattern<T>> = Vec::new();
        let mut index: HashMap<(String, bool), usize> = HashMap::new();
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
        Self { patterns }
    }

    /// The configured forms (without `*`), in pattern order.
    pub fn forms(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|p| p.form.as_str())
    }

    /// Heap bytes of the pattern strings and targets (the automaton is the [`Scanner`]'s).
    pub fn memory_usage(&self) -> usize {
        self.patterns
            .iter()
            .map(|p| p.form.capacity() + p.targets.capacity() * std::mem::size_of::<T>())
            .sum::<usize>()
            + self.patterns.capacity() * std::mem::size_of::<Pattern<T>>()
    }

    /// The pattern behind a hit.
    pub fn pattern(&self, i: usize) -> &Pattern<T> {
        &self.patterns[i]
    }

    /// The accepted matches of this list in `text`, left to right, not overlapping, from the
    /// list's candidates of one [`Scanner::scan`] of `text`. Per position the longest candidate
    /// is tried: the boundary and case checks, then `accept` (the ambiguity guard). Accepted,
    /// the search goes on after it; rejected, one character after its start. This is what a
    /// leftmost-longest automaton over this list alone would find, checked match by match.
    pub fn resolve(
        &self,
        text: &str,
        candidates: &[Candidate],
        mut accept: impl FnMut(&str, &Hit) -> bool,
        hits: &mut Vec<Hit>,
    ) {
        hits.clear();
        let mut pos = 0;
        for c in candidates {
            if c.start < pos {
                continue;
            }
            let p = &self.patterns[c.pattern as usize];
            let mut hit = Hit {
                start: c.start,
                end: c.end,
                pattern: c.pattern as usize,
            };
            // `boundary_before` was checked by the scanner.
            let ok = case_ok(&text[hit.start..hit.end], p)
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
                pos = next_char(text, c.start);
            }
        }
    }

    /// All accepted matches in `text` (tests): a scanner over this list alone, then
    /// [`Matcher::resolve`].
    #[cfg(test)]
    pub fn find_all(&self, text: &str, accept: impl FnMut(&str, &Hit) -> bool) -> Vec<Hit> {
        let scanner = Scanner::build(&[self.forms().collect()]).expect("automaton");
        let mut scan = Scan::default();
        scanner.scan(text, &mut scan);
        let mut hits = Vec::new();
        self.resolve(text, scan.list(0), accept, &mut hits);
        hits
    }
}

/// An occurrence of one list's pattern in a text, found by [`Scanner::scan`]: it starts on a
/// word boundary; the other checks are the list's ([`Matcher::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Byte offset of the start.
    pub start: usize,
    /// Byte offset of the end of the form (before a prefix term's extension).
    pub end: usize,
    /// Index of the pattern in its list.
    pub pattern: u32,
}

/// The candidates of every list in one text, sorted per list by start, longest first. Reused
/// from story to story, so a scan allocates nothing once the vectors have grown.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    lists: Vec<Vec<Candidate>>,
}

impl Scan {
    /// Candidates of list `i` (empty for a list the scanner does not know).
    pub fn list(&self, i: usize) -> &[Candidate] {
        self.lists.get(i).map_or(&[], Vec::as_slice)
    }
}

/// Up to this many bytes of distinct forms (all lists together), the shared automaton is a
/// DFA: about 260 bytes of table per byte of form, ~8 MiB for the shipped lists, and the
/// fastest search. Beyond it (user lists grown tenfold) the automaton is a contiguous NFA:
/// ~50 times smaller, ~1.6 times slower, so memory stays bounded whatever the lists.
pub(crate) const MAX_DFA_FORM_BYTES: usize = 64 * 1024;

/// One automaton over the forms of several lists.
#[derive(Debug)]
pub(crate) struct Scanner {
    ac: AhoCorasick,
    /// For automaton pattern `i`, its owners are `owners[owner_start[i]..owner_start[i + 1]]`:
    /// (list, pattern index in that list).
    owner_start: Vec<u32>,
    owners: Vec<(u32, u32)>,
    lists: usize,
    dfa: bool,
}

impl Scanner {
    /// Build from the forms of each list, in each list's pattern order. Forms equal up to
    /// ASCII case become one automaton pattern owned by every list (and pattern) that has it.
    /// Fails only if the automaton cannot be built (too large).
    pub fn build(lists: &[Vec<&str>]) -> Result<Self, String> {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut forms: Vec<&str> = Vec::new();
        let mut owned: Vec<Vec<(u32, u32)>> = Vec::new();
        for (l, list) in lists.iter().enumerate() {
            for (p, form) in list.iter().enumerate() {
                let i = *index.entry(form.to_ascii_lowercase()).or_insert_with(|| {
                    forms.push(form);
                    owned.push(Vec::new());
                    forms.len() - 1
                });
                owned[i].push((l as u32, p as u32));
            }
        }
        let mut owner_start = Vec::with_capacity(owned.len() + 1);
        let mut owners = Vec::new();
        for o in &owned {
            owner_start.push(owners.len() as u32);
            owners.extend_from_slice(o);
        }
        owner_start.push(owners.len() as u32);
        let form_bytes: usize = forms.iter().map(|f| f.len()).sum();
        let dfa = form_bytes <= MAX_DFA_FORM_BYTES;
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(if dfa {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            }))
            .build(&forms)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            ac,
            owner_start,
            owners,
            lists: lists.len(),
            dfa,
        })
    }

    /// Every occurrence, in `text`, of every list's forms that starts on a word boundary,
    /// into `scan` (cleared first), sorted per list by start, longest first.
    pub fn scan(&self, text: &str, scan: &mut Scan) {
        scan.lists.resize_with(self.lists, Vec::new);
        scan.lists.iter_mut().for_each(Vec::clear);
        for m in self.ac.find_overlapping_iter(text) {
            let start = m.start();
            if !boundary_before(text, start) {
                continue;
            }
            let i = m.pattern().as_usize();
            let (from, to) = (
                self.owner_start[i] as usize,
                self.owner_start[i + 1] as usize,
            );
            for &(list, pattern) in &self.owners[from..to] {
                scan.lists[list as usize].push(Candidate {
                    start,
                    end: m.end(),
                    pattern,
                });
            }
        }
        for list in &mut scan.lists {
            list.sort_unstable_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then(b.end.cmp(&a.end))
                    .then(a.pattern.cmp(&b.pattern))
            });
        }
    }

    /// Number of distinct forms in the automaton.
    pub fn patterns_len(&self) -> usize {
        self.owner_start.len() - 1
    }

    /// Whether the automaton is a DFA (see [`MAX_DFA_FORM_BYTES`]).
    pub fn is_dfa(&self) -> bool {
        self.dfa
    }

    /// Heap bytes of the automaton and the owner table.
    pub fn memory_usage(&self) -> usize {
        self.ac.memory_usage()
            + self.owner_start.capacity() * 4
            + self.owners.capacity() * std::mem::size_of::<(u32, u32)>()
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

    /// The search every list had before the shared scanner: its own leftmost-longest
    /// automaton, resumed one character after a rejected match.
    fn reference(mm: &Matcher<usize>, text: &str) -> Vec<(usize, usize, usize)> {
        use aho_corasick::Input;
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(mm.forms())
            .unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = ac.find(Input::new(text).range(pos..)) else {
                break;
            };
            let p = mm.pattern(m.pattern().as_usize());
            let mut end = m.end();
            let ok = boundary_before(text, m.start())
                && case_ok(&text[m.start()..m.end()], p)
                && if p.prefix {
                    end = word_end(text, end);
                    true
                } else {
                    boundary_after(text, end)
                };
            if ok {
                out.push((m.start(), end, m.pattern().as_usize()));
                pos = end.max(pos + 1);
            } else {
                pos = next_char(text, m.start());
            }
        }
        out
    }

    #[test]
    fn shared_scan_finds_what_each_list_alone_finds() {
        let lists: Vec<Vec<(&str, CaseMode)>> = vec![
            vec![
                ("security", CaseMode::Insensitive),
                ("sanction*", CaseMode::Insensitive),
                ("peace talks", CaseMode::Insensitive),
                ("talks", CaseMode::Insensitive),
                ("oil", CaseMode::Insensitive),
                ("council", CaseMode::Insensitive),
            ],
            vec![
                ("Turkey", CaseMode::Capitalised),
                ("Security Council", CaseMode::Insensitive),
                ("UN", CaseMode::Exact),
                ("UN Security Council", CaseMode::Insensitive),
                ("Oil Ministry", CaseMode::Insensitive),
            ],
            vec![
                ("talks in", CaseMode::Insensitive),
                ("in Turkey", CaseMode::Insensitive),
                ("Ukraine", CaseMode::Insensitive),
                ("Council", CaseMode::Capitalised),
            ],
        ];
        let matchers: Vec<Matcher<usize>> = lists.iter().map(|l| m(l)).collect();
        let scanner = Scanner::build(
            &matchers
                .iter()
                .map(|mm| mm.forms().collect())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        // "council" is one automaton pattern owned by two lists.
        assert_eq!(scanner.patterns_len(), 14);
        let words = [
            "the",
            "UN",
            "un",
            "Security",
            "security",
            "Council",
            "council",
            "sanctions",
            "sanction",
            "oil",
            "Oil",
            "Ministry",
            "boil",
            "peace",
            "talks",
            "in",
            "turkey",
            "Turkey",
            "Ukraine's",
            "Ukraine-Russia",
            "unsecurity",
            ",",
            ".",
            "—",
        ];
        let mut seed = 7u64;
        let mut scan = Scan::default();
        let mut hits = Vec::new();
        for _ in 0..400 {
            let mut text = String::new();
            for _ in 0..30 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(words[(seed >> 33) as usize % words.len()]);
                text.push(if seed & 1 == 0 { ' ' } else { '-' });
            }
            scanner.scan(&text, &mut scan);
            for (i, mm) in matchers.iter().enumerate() {
                mm.resolve(&text, scan.list(i), |_, _| true, &mut hits);
                let got: Vec<_> = hits.iter().map(|h| (h.start, h.end, h.pattern)).collect();
                assert_eq!(got, reference(mm, &text), "list {i} in {text:?}");
            }
        }
        // One leftmost-longest automaton over all lists would let the organisation hide the
        // term inside it; the shared scan does not.
        let text = "the UN Security Council met";
        scanner.scan(text, &mut scan);
        matchers[0].resolve(text, scan.list(0), |_, _| true, &mut hits);
        assert_eq!(hits.len(), 2, "security, council");
        matchers[1].resolve(text, scan.list(1), |_, _| true, &mut hits);
        assert_eq!(&text[hits[0].start..hits[0].end], "UN Security Council");
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
