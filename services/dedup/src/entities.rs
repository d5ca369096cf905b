//! Named-entity candidates for same-story clustering, computed in dedup itself: dedup runs
//! before the classifier, so the classifier's countries, organisations and people are not
//! there yet. Two stories about one event name the same people, places and organisations;
//! two stories with similar wording that name *different* ones ("Scots suffer another injury
//! blow", "Boro suffer Morrison injury blow") are usually different events.
//!
//! A candidate is a capitalised word of the title or lead, or an acronym ("NATO", "U.S."),
//! that is not a stopword, a weekday or a month. Capitalisation is evidence only where it is
//! not merely typography:
//! - the first word of a sentence (or after a colon or dash) counts only when it is not a
//!   stopword — headlines usually open with their subject ("Syria says…");
//! - a title in title case ("NATO Soldier Killed In Afghan Attack") says nothing through its
//!   capitals: of its words only acronyms count, and words the lead also capitalises;
//! - an all-capitals title says nothing at all.
//!
//! Each candidate becomes a 32-bit key of its lowercased form without a possessive `'s`, cut
//! to its first [`STEM_CHARS`] characters, so demonyms and inflections meet their names
//! ("Syrian" and "Syria", "Israeli" and "Israel", "Afghan" and "Afghanistan"). At most
//! [`MAX_ENTITIES`] keys are kept per story (title first), so the memory per indexed story is
//! bounded (4 bytes each). The phrase each key came from (consecutive candidates joined, "Supreme
//! Court") is kept only for the story being decided, to explain a match.

use crate::minhash::{fmix64, is_stopword};

/// Entity keys kept per story (title first, then lead, in text order).
pub const MAX_ENTITIES: usize = 8;

/// Characters of a candidate that form its key (a cheap stem: "Syrian" → "syria").
pub const STEM_CHARS: usize = 5;

/// Words that are capitalised by convention, not because they name something.
const NOT_ENTITIES: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "update",
    "updated",
    "breaking",
    "live",
    "video",
    "watch",
    "photos",
    "exclusive",
    "analysis",
    "opinion",
    "report",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "several",
    "many",
];

/// The entity candidates of one story: sorted keys for matching, and for each key the
/// phrase it came from (for explanations).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entities {
    /// Distinct keys, sorted (at most [`MAX_ENTITIES`]).
    pub keys: Vec<u32>,
    /// `(key, phrase)` in text order, one per key.
    phrases: Vec<(u32, String)>,
}

impl Entities {
    /// The phrases of `shared` keys (sorted), in text order, each phrase once.
    pub fn phrases_of(&self, shared: &[u32]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, p) in &self.phrases {
            if shared.binary_search(k).is_ok() && !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// One word of the text with what the extraction needs to know about it.
struct Word<'a> {
    text: &'a str,
    /// First of a sentence (or after a colon or dash).
    initial: bool,
    /// Ends a run of candidate words (followed by punctuation).
    breaks: bool,
}

/// Words of `text`: whitespace-separated tokens with surrounding punctuation removed.
fn words(text: &str, limit: usize) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut initial = true;
    for tok in text.split_whitespace() {
        if out.len() >= limit {
            break;
        }
        let t = tok.trim_matches(|c: char| !c.is_alphanumeric() && c != '.');
        let t = t.trim_start_matches('.');
        // "U.S." keeps its dots; a sentence's last word loses its full stop.
        let t = if t.ends_with('.') && !is_dotted_acronym(t) {
            t.trim_end_matches('.')
        } else {
            t
        };
        let ends = tok.ends_with(['.', '!', '?', ':', ';']) && !is_dotted_acronym(t)
            || matches!(tok, "-" | "–" | "—" | "|");
        let breaks = ends || tok.ends_with([',', ')', '"', '”', '\'', '’']);
        if !t.is_empty() {
            out.push(Word {
                text: t,
                initial,
                breaks,
            });
            initial = ends;
        } else if ends {
            initial = true;
            if let Some(w) = out.last_mut() {
                w.breaks = true;
            }
        }
    }
    out
}

fn is_dotted_acronym(t: &str) -> bool {
    t.len() >= 3
        && t.contains('.')
        && t.chars()
            .all(|c| c == '.' || (c.is_alphabetic() && c.is_uppercase()))
}

/// Two or more letters, all capitals (dots allowed: "U.S."), not all digits.
fn is_acronym(t: &str) -> bool {
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    letters >= 2
        && t.chars()
            .all(|c| c == '.' || c == '-' || c.is_ascii_digit() || c.is_uppercase())
}

fn is_capitalised(t: &str) -> bool {
    t.chars().next().is_some_and(char::is_uppercase) && t.chars().any(char::is_lowercase)
}

/// The normalised form, into `out`: lowercase, possessive and dots removed.
fn normal_into(t: &str, out: &mut String) {
    let t = t
        .strip_suffix("'s")
        .or_else(|| t.strip_suffix("’s"))
        .unwrap_or(t);
    out.clear();
    out.extend(t.chars().filter(|c| *c != '.').flat_map(char::to_lowercase));
}

fn key_of(normal: &str) -> u32 {
    let mut h: u64 = 0x6A09_E667_F3BC_C909;
    for c in normal.chars().take(STEM_CHARS) {
        h = (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let m = fmix64(h);
    (m ^ (m >> 32)) as u32
}

fn excluded(word: &str, normal: &str) -> bool {
    normal.chars().count() < 2
        || (!is_acronym(word) && is_stopword(normal.as_bytes()))
        || NOT_ENTITIES.contains(&normal)
        || normal.chars().all(|c| c.is_ascii_digit())
}

/// Whether a title is written in title case (every content word capitalised: "NATO Soldier
/// Killed In Afghan Attack") or in capitals: then its capitals say nothing about names. One
/// lowercase content word ("Russia, China veto UN Security Council resolution") means the
/// capitals are names.
fn case_of_title(ws: &[Word<'_>]) -> (bool, bool) {
    let content: Vec<&Word<'_>> = ws
        .iter()
        .filter(|w| w.text.chars().any(char::is_alphabetic) && !is_stopword(w.text.as_bytes()))
        .collect();
    let upper = content.iter().filter(|w| is_acronym(w.text)).count();
    let lower = content
        .iter()
        .filter(|w| w.text.chars().next().is_some_and(char::is_lowercase))
        .count();
    let n = content.len();
    let all_caps = n >= 3 && upper * 5 >= n * 4;
    let title_case = n >= 3 && lower == 0;
    (title_case, all_caps)
}

/// The entity candidates of a story's title and the first `lead_words` words of its lead.
pub fn entities(title: &str, lead: &str, lead_words: usize) -> Entities {
    let lead_ws = words(lead, lead_words);
    let title_ws = words(title, usize::MAX);
    let (title_case, all_caps) = case_of_title(&title_ws);
    let mut out = Entities::default();
    // Lead first (its capitals are reliable), so a title-case title can check against it.
    let mut lead_found: Vec<(u32, String)> = Vec::new();
    collect(&lead_ws, |_, _| true, &mut lead_found);
    if !all_caps {
        let mut title_found = Vec::new();
        collect(
            &title_ws,
            |w, key| !title_case || is_acronym(w) || lead_found.iter().any(|(k, _)| *k == key),
            &mut title_found,
        );
        push_all(&mut out, title_found);
    }
    push_all(&mut out, lead_found);
    out.keys = out.phrases.iter().map(|(k, _)| *k).collect();
    out.keys.sort_unstable();
    out
}

fn push_all(out: &mut Entities, found: Vec<(u32, String)>) {
    for (k, p) in found {
        if out.phrases.len() >= MAX_ENTITIES {
            return;
        }
        if !out.phrases.iter().any(|(o, _)| *o == k) {
            out.phrases.push((k, p));
        }
    }
}

/// Candidates of `ws` that `accept(word, key)` admits, each with the phrase of consecutive
/// candidates it stands in.
fn collect(ws: &[Word<'_>], accept: impl Fn(&str, u32) -> bool, out: &mut Vec<(u32, String)>) {
    let mut run: Vec<u32> = Vec::new();
    let mut phrase = String::new();
    let flush = |run: &mut Vec<u32>, phrase: &mut String, out: &mut Vec<(u32, String)>| {
        for k in run.drain(..) {
            out.push((k, phrase.clone()));
        }
        phrase.clear();
    };
    let mut n = String::new();
    for w in ws {
        // Most words are lowercase: the cheap test first, the normal form only for the rest.
        let candidate = (is_capitalised(w.text) || is_acronym(w.text)) && {
            normal_into(w.text, &mut n);
            !excluded(w.text, &n) && accept(w.text, key_of(&n))
        };
        if candidate {
            if w.initial {
                flush(&mut run, &mut phrase, out);
            }
            if !phrase.is_empty() {
                phrase.push(' ');
            }
            phrase.push_str(
                w.text
                    .strip_suffix("'s")
                    .or_else(|| w.text.strip_suffix("’s"))
                    .unwrap_or(w.text),
            );
            run.push(key_of(&n));
            if w.breaks {
                flush(&mut run, &mut phrase, out);
            }
        } else {
            flush(&mut run, &mut phrase, out);
        }
    }
    flush(&mut run, &mut phrase, out);
}

/// The cluster score of a candidate from its text similarity `text` and its entity evidence:
/// raised by `bonus` when the stories share at least one entity (`shared`), lowered by
/// `penalty` when both name entities (`both_named`) and share none — two stories naming
/// different people and places are rarely one event; neutral when either names none (a
/// lowercase or title-case headline says nothing). Clamped to [0, 1].
pub fn entity_score(text: f64, shared: usize, both_named: bool, bonus: f64, penalty: f64) -> f64 {
    let s = if shared > 0 {
        text + bonus
    } else if both_named {
        text - penalty
    } else {
        text
    };
    s.clamp(0.0, 1.0)
}

/// The IDF weight of an entity key held by `df` of `n` documents: `ln(1 + n/df)`.
pub fn entity_weight(df: f64, n: f64) -> f64 {
    (1.0 + n / df.max(1.0)).ln()
}

/// The evidence of shared keys with weights `weights` among `n` documents: their sum over
/// the weight of a key seen once (`ln(1 + n)`), at most 1. One name no other story carries
/// is full evidence; a name every tenth story carries ("US") about a third of it.
pub fn shared_weight(weights: impl Iterator<Item = f64>, n: f64) -> f64 {
    let max = (1.0 + n.max(1.0)).ln();
    (weights.sum::<f64>() / max).min(1.0)
}

/// The keys two sorted key lists share, sorted.
pub fn shared(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &Entities) -> Vec<String> {
        e.phrases_of(&e.keys)
    }

    #[test]
    fn capitalised_words_and_acronyms_not_stopwords_or_dates() {
        let e = entities(
            "Syria says suicide bomber kills 10 in Damascus on Monday",
            "",
            0,
        );
        assert_eq!(names(&e), ["Syria", "Damascus"]);
        let e = entities("The U.S. and NATO discuss Afghan withdrawal", "", 0);
        assert_eq!(names(&e), ["U.S.", "NATO", "Afghan"]);
    }

    #[test]
    fn demonyms_meet_their_country_and_phrases_explain() {
        let a = entities("Free Syrian Army moves headquarters to Turkey", "", 0);
        let b = entities("Syria's rebels move command from Turkey", "", 0);
        let s = shared(&a.keys, &b.keys);
        assert_eq!(s.len(), 2, "{a:?} {b:?}");
        assert_eq!(a.phrases_of(&s), ["Free Syrian Army", "Turkey"]);
        assert_eq!(b.phrases_of(&s), ["Syria", "Turkey"]);
    }

    #[test]
    fn title_case_and_capitals_are_not_evidence() {
        let e = entities("NATO Soldier Killed In Afghan Attack", "", 0);
        assert_eq!(names(&e), ["NATO"]);
        // The lead confirms which title words are names.
        let e = entities(
            "NATO Soldier Killed In Afghan Attack",
            "A soldier was killed in an Afghan province, officials said.",
            30,
        );
        assert_eq!(names(&e), ["NATO", "Afghan"]);
        let e = entities("BREAKING: MARKETS CRASH AS BANKS FAIL", "", 0);
        assert!(e.keys.is_empty(), "{e:?}");
    }

    #[test]
    fn sentence_initial_stopwords_and_lowercase_words_are_not_entities() {
        let e = entities("The police arrest a man. Officials say he fled", "", 0);
        assert_eq!(names(&e), ["Officials"]);
        let e = entities("prices rise again", "", 0);
        assert!(e.keys.is_empty());
    }

    #[test]
    fn capped_per_story() {
        let lead =
            "Then Alpha met Bravo, Charlie, Delta, Echo, Foxtrot, Golf, Hotel, India and Juliet";
        let e = entities("", lead, 30);
        assert_eq!(e.keys.len(), MAX_ENTITIES);
        assert!(e.keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn shared_is_the_intersection() {
        assert_eq!(shared(&[1, 3, 5, 7], &[2, 3, 7, 9]), vec![3, 7]);
        assert!(shared(&[], &[1]).is_empty());
    }
}
