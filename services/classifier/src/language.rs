//! Language detection: a cheap English screen, then `whatlang`, reported as ISO 639-1 with a
//! confidence.
//!
//! whatlang compares a text's trigrams with the profile of every language of its script: about
//! 300 µs a story on the benchmark machine whatever the text's length, more than all the rest
//! of the classification together. Most stories a wirewatch deployment reads are English, and
//! English is the one language the decision "apply the rule topics or not" turns on, so English
//! is recognised first by its function words:
//! - the **screen** counts, in the first [`MAX_DETECT_BYTES`] of title and body, the words
//!   and among them [`ENGLISH_FUNCTION_WORDS`] — words frequent in English and not words of
//!   the other Latin-script languages ("the", "which", "would"; not "of", "to", "is", "on", "was",
//!   "die", which Dutch, Polish, French or German use too);
//! - at least [`SCREEN_MIN_WORDS`] words, at least [`SCREEN_MIN_DISTINCT`] different function
//!   words and a share of at least [`SCREEN_MIN_SHARE`] make the text English (checked from
//!   [`SCREEN_EARLY_WORDS`] words on, so most English stories are decided after ~300 bytes,
//!   and at the end of the prefix), with a confidence from 0.9 at the threshold (whatlang's
//!   own line for a reliable answer) to 1 at twice the threshold. In the first
//!   KiB, English news runs at a 0.19 median share (0.116 at the 1st percentile of the BBC set,
//!   0.083 its minimum; the headline-heavy seed article 0.094), the German, Italian,
//!   Portuguese, French, Russian and Urdu feeds of the corpus at 0.048 at most;
//! - anything else goes to whatlang, on the same bounded prefix: other languages, short or
//!   mixed texts. Its answer is reported only when whatlang itself calls it reliable; an
//!   unreliable guess of another language still gates the rule topics when it is fairly sure
//!   and the text has no English function word ([`Detected::gate`]): a short Portuguese
//!   headline gets no English topics, a short English one keeps them.

use whatlang::Lang;

/// At most this many bytes of a story (title, newline, body) are looked at: enough for a
/// reliable answer (whatlang is as reliable on the BBC set with 1 KiB as with 4 KiB), bounded
/// in time.
pub(crate) const MAX_DETECT_BYTES: usize = 1024;

/// The screen needs at least this many words.
pub(crate) const SCREEN_MIN_WORDS: usize = 12;

/// The screen needs at least this many different function words.
pub(crate) const SCREEN_MIN_DISTINCT: u32 = 3;

/// The screen needs at least this share of function words among all words.
pub(crate) const SCREEN_MIN_SHARE: f64 = 0.08;

/// English function words that are not (frequent) words of other Latin-script languages.
/// [`function_word`] is this list as a `match`; a test keeps the two equal.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const ENGLISH_FUNCTION_WORDS: [&str; 40] = [
    "the", "and", "that", "with", "this", "have", "has", "been", "which", "were", "would", "their",
    "they", "from", "said", "are", "its", "but", "not", "than", "who", "what", "when", "there",
    "these", "those", "could", "should", "about", "after", "into", "other", "some", "such", "them",
    "where", "while", "because", "being", "does",
];

/// Which detector gave the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// The English function-word screen.
    Screen,
    /// whatlang.
    Whatlang,
}

/// An unreliable guess of a language other than English counts for the rules' gate from this
/// confidence on, in a text without a single English function word. (On the 2,225 BBC
/// headlines alone whatlang guesses a wrong language 1,405 times, 19 of them with a confidence
/// above 0.5, and none of those passes both conditions; a Portuguese headline such as "Match
/// Eleitoral já soma mais de 500 mil testes" is guessed at 0.88.)
pub(crate) const GUESS_MIN_CONFIDENCE: f64 = 0.5;

/// A detected language, or whatlang's best guess when it is not confident.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detected {
    /// ISO 639-1 code, or whatlang's ISO 639-3 code for a language without one.
    pub code: &'static str,
    /// Confidence in [0, 1], rounded to 3 digits.
    pub confidence: f64,
    /// Which detector decided.
    pub method: Method,
    /// Whether the detector is confident (whatlang's `is_reliable`; always for the screen).
    pub reliable: bool,
    /// English function words the screen counted.
    pub english_words: usize,
}

impl Detected {
    /// The language as reported on the story: a reliable detection with an ISO 639-1 code.
    pub fn reported(&self) -> Option<&'static str> {
        (self.reliable && self.code.len() == 2).then_some(self.code)
    }

    /// The language that decides whether rule topics apply: a reliable detection, or an
    /// unreliable guess of another language made with at least [`GUESS_MIN_CONFIDENCE`] in a
    /// text without English function words; `None` (unknown: the rules apply) otherwise. Short
    /// English headlines are where whatlang is least sure, so an unsure guess alone never
    /// takes their topics away.
    pub fn gate(&self) -> Option<&'static str> {
        let probable = self.confidence >= GUESS_MIN_CONFIDENCE && self.english_words == 0;
        (self.reliable || probable).then_some(self.code)
    }
}

/// Detect the language of a story from its title and body (see the module doc). `None` only
/// when the text has no letters whatlang can place in a script.
pub(crate) fn detect(title: &str, body: &str) -> Option<Detected> {
    let title = crate::truncate(title, MAX_DETECT_BYTES);
    let body = crate::truncate(body, MAX_DETECT_BYTES.saturating_sub(title.len() + 1));
    let counts = english_screen(title, body);
    if let Some(share) = counts.english_share() {
        return Some(Detected {
            code: "en",
            confidence: round3(screen_confidence(share)),
            method: Method::Screen,
            reliable: true,
            english_words: counts.function,
        });
    }
    let mut text = String::with_capacity(title.len() + 1 + body.len());
    text.push_str(title);
    text.push('\n');
    text.push_str(body);
    let info = whatlang::detect(&text)?;
    Some(Detected {
        code: iso639_1(info.lang()).unwrap_or(info.lang().code()),
        confidence: round3(info.confidence().clamp(0.0, 1.0)),
        method: Method::Whatlang,
        reliable: info.is_reliable(),
        english_words: counts.function,
    })
}

/// The screen's confidence for a share of function words at or above [`SCREEN_MIN_SHARE`]:
/// 0.9 at the threshold (where whatlang calls an answer reliable), 1 from twice the threshold.
fn screen_confidence(share: f64) -> f64 {
    0.9 + 0.1 * ((share - SCREEN_MIN_SHARE) / SCREEN_MIN_SHARE).clamp(0.0, 1.0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Word counts of the screen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    words: usize,
    function: usize,
    /// One bit per function word seen.
    seen: u64,
}

impl Counts {
    /// Count one word, `buf[..len]` its lower-cased letters when it is ASCII.
    fn word(&mut self, buf: &[u8], len: usize, ascii: bool) {
        self.words += 1;
        if ascii && len <= buf.len() {
            if let Some(f) = function_word(&buf[..len]) {
                self.function += 1;
                self.seen |= 1 << f;
            }
        }
    }

    /// The share of function words when the counts make the text English.
    fn english_share(&self) -> Option<f64> {
        let share = self.function as f64 / self.words.max(1) as f64;
        (self.words >= SCREEN_MIN_WORDS
            && self.seen.count_ones() >= SCREEN_MIN_DISTINCT
            && share >= SCREEN_MIN_SHARE)
            .then_some(share)
    }
}

/// The screen decides as soon as this many words make the text English (most English
/// stories: about 300 bytes read instead of 1 KiB); otherwise it reads the whole prefix.
pub(crate) const SCREEN_EARLY_WORDS: usize = 48;

/// Count words and function words in the texts, stopping early once at least
/// [`SCREEN_EARLY_WORDS`] words make them English. A word is a maximal run of letters; only
/// ASCII words of at most 7 letters can be function words. ASCII bytes are classified
/// directly, other characters decoded (they are rare in English).
fn english_screen(title: &str, body: &str) -> Counts {
    let mut counts = Counts::default();
    let mut buf = [0u8; 7];
    for text in [title, body] {
        let bytes = text.as_bytes();
        let (mut len, mut in_word, mut ascii) = (0usize, false, true);
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let (letter, width) = if b < 0x80 {
                (b.is_ascii_alphabetic(), 1)
            } else {
                let c = text[i..].chars().next().unwrap_or(' ');
                (c.is_alphabetic(), c.len_utf8())
            };
            if letter {
                if !in_word {
                    (in_word, len, ascii) = (true, 0, true);
                }
                if width == 1 {
                    if len < buf.len() {
                        buf[len] = b.to_ascii_lowercase();
                    }
                } else {
                    ascii = false;
                }
                len += 1;
            } else if in_word {
                in_word = false;
                counts.word(&buf, len, ascii);
                if counts.words >= SCREEN_EARLY_WORDS && counts.english_share().is_some() {
                    return counts;
                }
            }
            i += width;
        }
        if in_word {
            counts.word(&buf, len, ascii);
        }
    }
    counts
}

/// Index of a lower-case word in [`ENGLISH_FUNCTION_WORDS`] (a `match` the compiler turns into
/// a jump on length and first byte: this runs for every word of every story).
fn function_word(w: &[u8]) -> Option<usize> {
    Some(match w {
        b"the" => 0,
        b"and" => 1,
        b"that" => 2,
        b"with" => 3,
        b"this" => 4,
        b"have" => 5,
        b"has" => 6,
        b"been" => 7,
        b"which" => 8,
        b"were" => 9,
        b"would" => 10,
        b"their" => 11,
        b"they" => 12,
        b"from" => 13,
        b"said" => 14,
        b"are" => 15,
        b"its" => 16,
        b"but" => 17,
        b"not" => 18,
        b"than" => 19,
        b"who" => 20,
        b"what" => 21,
        b"when" => 22,
        b"there" => 23,
        b"these" => 24,
        b"those" => 25,
        b"could" => 26,
        b"should" => 27,
        b"about" => 28,
        b"after" => 29,
        b"into" => 30,
        b"other" => 31,
        b"some" => 32,
        b"such" => 33,
        b"them" => 34,
        b"where" => 35,
        b"while" => 36,
        b"because" => 37,
        b"being" => 38,
        b"does" => 39,
        _ => return None,
    })
}

/// whatlang's ISO 639-3 codes to ISO 639-1, for the languages whatlang knows.
fn iso639_1(lang: Lang) -> Option<&'static str> {
    Some(match lang.code() {
        "eng" => "en",
        "rus" => "ru",
        "cmn" => "zh",
        "spa" => "es",
        "por" => "pt",
        "ita" => "it",
        "ben" => "bn",
        "fra" => "fr",
        "deu" => "de",
        "ukr" => "uk",
        "kat" => "ka",
        "ara" => "ar",
        "hin" => "hi",
        "jpn" => "ja",
        "heb" => "he",
        "yid" => "yi",
        "pol" => "pl",
        "amh" => "am",
        "jav" => "jv",
        "kor" => "ko",
        "nob" => "nb",
        "dan" => "da",
        "swe" => "sv",
        "fin" => "fi",
        "tur" => "tr",
        "nld" => "nl",
        "hun" => "hu",
        "ces" => "cs",
        "ell" => "el",
        "bul" => "bg",
        "bel" => "be",
        "mar" => "mr",
        "kan" => "kn",
        "ron" => "ro",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "mkd" => "mk",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "tam" => "ta",
        "vie" => "vi",
        "urd" => "ur",
        "tha" => "th",
        "guj" => "gu",
        "uzb" => "uz",
        "pan" => "pa",
        "aze" => "az",
        "ind" => "id",
        "tel" => "te",
        "pes" => "fa",
        "mal" => "ml",
        "ori" => "or",
        "mya" => "my",
        "nep" => "ne",
        "sin" => "si",
        "khm" => "km",
        "tuk" => "tk",
        "aka" => "ak",
        "zul" => "zu",
        "sna" => "sn",
        "afr" => "af",
        "lat" => "la",
        "slk" => "sk",
        "cat" => "ca",
        "tgl" => "tl",
        "hye" => "hy",
        "cym" => "cy",
        "epo" => "eo",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(title: &str, body: &str) -> Option<(&'static str, Method)> {
        detect(title, body).and_then(|d| Some((d.reported()?, d.method)))
    }

    #[test]
    fn detects_common_languages() {
        assert_eq!(
            code(
                "Talks end without a deal",
                "The talks in Istanbul ended without an agreement, officials said on Friday. \
                 They had been expected to last a week, but the delegations left after two days."
            ),
            Some(("en", Method::Screen))
        );
        // Too short for the screen: whatlang decides.
        assert_eq!(
            code(
                "",
                "The talks in Istanbul ended without an agreement, officials said on Friday."
            ),
            Some(("en", Method::Whatlang))
        );
        assert_eq!(
            code("", "Die Gespräche in Istanbul sind ohne eine Einigung zu Ende gegangen, sagten Beamte am Freitag.").map(|c| c.0),
            Some("de")
        );
        assert_eq!(
            code("", "Переговоры в Стамбуле завершились без соглашения, заявили официальные лица в пятницу.").map(|c| c.0),
            Some("ru")
        );
        assert_eq!(code("", ""), None);
        // Too short to be sure, but a probable other language for the rules' gate...
        let d = detect(
            "",
            "Match Eleitoral já soma mais de 500 mil testes completos",
        )
        .unwrap();
        assert!(!d.reliable && d.reported().is_none());
        assert_eq!(d.gate(), Some("pt"));
        // ...while an unsure guess in a text with English function words is no reason to
        // take English topics away.
        let d = Detected {
            code: "fr",
            confidence: 0.8,
            method: Method::Whatlang,
            reliable: false,
            english_words: 1,
        };
        assert_eq!((d.reported(), d.gate()), (None, None));
        let d = Detected {
            english_words: 0,
            confidence: 0.4,
            ..d
        };
        assert_eq!(d.gate(), None);
        let d = Detected {
            confidence: 0.5,
            ..d
        };
        assert_eq!(d.gate(), Some("fr"));
    }

    #[test]
    fn function_word_table_matches_the_list() {
        for (i, w) in ENGLISH_FUNCTION_WORDS.iter().enumerate() {
            assert_eq!(function_word(w.as_bytes()), Some(i), "{w}");
            assert!(w.len() <= 7, "{w} is longer than the screen's buffer");
        }
        assert_eq!(function_word(b"of"), None);
        assert_eq!(function_word(b"The"), None, "the caller lower-cases");
    }

    #[test]
    fn screen_counts_words_and_function_words() {
        let c = english_screen("The war", "and the peace, which THE Über-state's");
        assert_eq!((c.words, c.function, c.seen.count_ones()), (10, 5, 3));
        assert_eq!(
            c.english_share(),
            None,
            "fewer than {SCREEN_MIN_WORDS} words"
        );
        // Early decision: a long English text is not read to its end.
        let long = "The minister said that the talks would go on. ".repeat(40);
        let c = english_screen("", &long);
        assert_eq!(c.words, SCREEN_EARLY_WORDS);
        assert!(c.english_share().is_some_and(|s| s > 0.3));
        assert_eq!(screen_confidence(SCREEN_MIN_SHARE), 0.9);
        assert_eq!(screen_confidence(0.5), 1.0);
        // A German text with an English name in it stays with whatlang.
        assert_eq!(
            code(
                "The Guardian berichtet",
                "Die Regierung hat am Montag neue Sanktionen gegen Russland beschlossen, \
                 berichtet The Guardian. Die Maßnahmen treten sofort in Kraft."
            ),
            Some(("de", Method::Whatlang))
        );
    }
}
