//! Search parameters: parsing and validating `/api/stories` query strings, the small query
//! language of `q`, and cursors. Pure functions, unit-tested.
//!
//! `q` syntax (the same on both back-ends):
//! - words are ANDed: `ceasefire istanbul`;
//! - `"a phrase"` matches the words next to each other;
//! - `OR` (upper case) between two items makes them alternatives: `kyiv OR kiev`;
//! - `-word`, `-"a phrase"` or `NOT word` excludes; at least one item must be positive;
//! - a trailing `*` makes a word a prefix: `khar*`.
//!
//! Everything else is text: operator characters lose their meaning, so no input is a syntax
//! error in the database. [`TextQuery::to_fts5`] and [`TextQuery::to_tsquery`] render the
//! parsed query for SQLite FTS5 and PostgreSQL `to_tsquery('simple', …)`.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;

use crate::error::StoreError;
use crate::rows::{country_tag, norm_country, norm_topic};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 500;
/// Largest `offset` accepted (deep paging is what `cursor` is for).
pub const MAX_OFFSET: u32 = 100_000;
/// Longest `q` accepted, in bytes.
pub const MAX_Q_BYTES: usize = 512;
/// Most terms in `q`.
pub const MAX_Q_TERMS: usize = 32;
/// Furthest back a relative `since` may reach.
pub const MAX_SINCE_DAYS: i64 = 3660;
/// Longest filter value (topic, entity, source, language) accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 128;
/// Longest cursor accepted, in bytes.
pub const MAX_CURSOR_BYTES: usize = 512;

/// The raw query string of `GET /api/stories`. Every field is text so that a bad value is
/// reported by [`SearchQuery::from_params`] with the parameter's name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchParams {
    /// Full-text query over title, summary and content (see the module docs for the syntax).
    pub q: Option<String>,
    /// Topic id.
    pub topic: Option<String>,
    /// Country, ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Entity id (alpha-2 for countries, list id for organisations and people).
    pub entity: Option<String>,
    /// Source: the feed id.
    pub source: Option<String>,
    /// Language, ISO 639-1 (`en`).
    pub language: Option<String>,
    /// Lowest severity, 0–5.
    pub severity: Option<String>,
    /// RFC 3339 time, a date (`2024-05-01`), or relative (`30m`, `24h`, `7d`, `2w`).
    pub since: Option<String>,
    /// Upper bound (exclusive), same forms as `since`.
    pub until: Option<String>,
    /// `time` (newest first, the default) or `relevance` (best match first; needs `q`).
    pub sort: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// Stories to skip (prefer `cursor`).
    pub offset: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first: published (or fetched when undated), then fetched, then storage order.
    #[default]
    Time,
    /// Best full-text match first (title weighs more than body), then newest.
    Relevance,
}

impl Sort {
    /// The `sort` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Time => "time",
            Sort::Relevance => "relevance",
        }
    }
}

/// Where the next page starts. Opaque to clients (hex text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Time order: the last row's sort key; the next page holds rows strictly after it.
    Time {
        /// `sort_at` of the last row.
        sort_at: String,
        /// `fetched_at` of the last row.
        fetched_at: String,
        /// Storage sequence number of the last row (the tie-breaker).
        seq: i64,
    },
    /// Relevance order: rows to skip (ranks are recomputed per query, so a keyset would not
    /// be stable across writes; bounded by [`MAX_OFFSET`]).
    Offset(u32),
}

const SEP: char = '\u{1f}';

impl Cursor {
    /// Encode as URL-safe text.
    pub fn encode(&self) -> String {
        let plain = match self {
            Cursor::Time {
                sort_at,
                fetched_at,
                seq,
            } => format!("t{SEP}{sort_at}{SEP}{fetched_at}{SEP}{seq}"),
            Cursor::Offset(n) => format!("o{SEP}{n}"),
        };
        hex::encode(plain)
    }

    /// Decode a cursor from [`Cursor::encode`]; anything else is an invalid `cursor`.
    pub fn decode(s: &str) -> Result<Self, StoreError> {
        let bad = || invalid("cursor", "not a cursor returned by this API");
        if s.len() > MAX_CURSOR_BYTES {
            return Err(bad());
        }
        let bytes = hex::decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split(SEP).collect();
        let valid_ts =
            |t: &str| !t.is_empty() && t.len() <= 40 && t.chars().all(|c| c.is_ascii_graphic());
        match parts.as_slice() {
            ["t", sort_at, fetched_at, seq] if valid_ts(sort_at) && valid_ts(fetched_at) => {
                Ok(Cursor::Time {
                    sort_at: (*sort_at).to_string(),
                    fetched_at: (*fetched_at).to_string(),
                    seq: seq.parse().map_err(|_| bad())?,
                })
            }
            ["o", n] => match n.parse::<u32>() {
                Ok(n) if n <= MAX_OFFSET => Ok(Cursor::Offset(n)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// A validated story search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// User text (see the module docs); parsed by [`TextQuery::parse`] before it reaches the
    /// database.
    pub text: Option<String>,
    /// Only stories with this topic id.
    pub topic: Option<String>,
    /// Only stories mentioning this country (alpha-2).
    pub country: Option<String>,
    /// Only stories naming this entity id.
    pub entity: Option<String>,
    /// Only stories from this feed id.
    pub source: Option<String>,
    /// Only stories in this language.
    pub language: Option<String>,
    /// Only stories with at least this severity.
    pub min_severity: Option<u8>,
    /// Only stories published (or, without a date, fetched) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only stories published (or fetched) before this time.
    pub until: Option<DateTime<Utc>>,
    /// Result order.
    pub sort: Sort,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Stories to skip, ..=[`MAX_OFFSET`] (time order with a cursor ignores it).
    pub offset: u32,
    /// Continue after this cursor (time order).
    pub after: Option<Cursor>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            text: None,
            topic: None,
            country: None,
            entity: None,
            source: None,
            language: None,
            min_severity: None,
            since: None,
            until: None,
            sort: Sort::Time,
            limit: DEFAULT_LIMIT,
            offset: 0,
            after: None,
        }
    }
}

fn invalid(param: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidParam {
        param,
        reason: reason.into(),
    }
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn filter_value(param: &'static str, v: &Option<String>) -> Result<Option<String>, StoreError> {
    match present(v) {
        Some(t) if t.len() > MAX_FILTER_BYTES || t.chars().any(char::is_control) => Err(invalid(
            param,
            format!("must be at most {MAX_FILTER_BYTES} bytes without control characters"),
        )),
        Some(t) => Ok(Some(t.to_string())),
        None => Ok(None),
    }
}

impl SearchQuery {
    /// Validate a query string; `now` anchors relative `since`/`until` values. Errors name
    /// the parameter.
    pub fn from_params(p: &SearchParams, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let text = match present(&p.q) {
            Some(q) => {
                // Validate now so a bad `q` is a 400 here, not a failure in the query.
                TextQuery::parse(q)?;
                Some(q.to_string())
            }
            None => None,
        };
        let topic = filter_value("topic", &p.topic)?.map(|t| norm_topic(&t));
        let country = match present(&p.country) {
            Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                Some(norm_country(c))
            }
            Some(_) => {
                return Err(invalid(
                    "country",
                    "must be an ISO 3166-1 alpha-2 code such as `UA`",
                ))
            }
            None => None,
        };
        let entity = filter_value("entity", &p.entity)?;
        let source = filter_value("source", &p.source)?;
        let language = match present(&p.language) {
            Some(l) if (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(l.to_ascii_lowercase())
            }
            Some(_) => return Err(invalid("language", "must be an ISO 639 code such as `en`")),
            None => None,
        };
        let min_severity = match present(&p.severity) {
            Some(s) => match s.parse::<u8>() {
                Ok(n) if n <= 5 => Some(n),
                _ => return Err(invalid("severity", "must be an integer from 0 to 5")),
            },
            None => None,
        };
        let since = present(&p.since)
            .map(|s| parse_time("since", s, now))
            .transpose()?;
        let until = present(&p.until)
            .map(|s| parse_time("until", s, now))
            .transpose()?;
        let sort = match present(&p.sort) {
            None | Some("time") => Sort::Time,
            Some("relevance") if text.is_some() => Sort::Relevance,
            Some("relevance") => return Err(invalid("sort", "relevance needs a `q`")),
            Some(_) => return Err(invalid("sort", "must be `time` or `relevance`")),
        };
        let limit = match present(&p.limit) {
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
            None => DEFAULT_LIMIT,
        };
        let mut offset = match present(&p.offset) {
            Some(o) => match o.parse::<u32>() {
                Ok(n) if n <= MAX_OFFSET => n,
                _ => {
                    return Err(invalid(
                        "offset",
                        format!("must be an integer from 0 to {MAX_OFFSET}"),
                    ))
                }
            },
            None => 0,
        };
        let mut after = None;
        if let Some(c) = present(&p.cursor) {
            if present(&p.offset).is_some() {
                return Err(invalid("cursor", "cannot be combined with `offset`"));
            }
            match (Cursor::decode(c)?, sort) {
                (Cursor::Offset(n), Sort::Relevance) => offset = n,
                (c @ Cursor::Time { .. }, Sort::Time) => after = Some(c),
                _ => return Err(invalid("cursor", "was made for another `sort`")),
            }
        }
        Ok(SearchQuery {
            text,
            topic,
            country,
            entity,
            source,
            language,
            min_severity,
            since,
            until,
            sort,
            limit,
            offset,
            after,
        })
    }
}

/// Parse `since`: RFC 3339 (`2024-05-01T12:00:00Z`), a date (`2024-05-01`, midnight UTC), or a
/// relative age (`30s`, `30m`, `24h`, `7d`, `2w`) counted back from `now`.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    parse_time("since", s, now)
}

/// [`parse_since`] for any time parameter; errors name `param`.
pub fn parse_time(
    param: &'static str,
    s: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    let bad = || {
        invalid(
            param,
            format!(
                "must be RFC 3339, a date (YYYY-MM-DD) or an age like 30m, 24h, 7d \
                 (at most {MAX_SINCE_DAYS} days)"
            ),
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(secs_per_unit).ok_or_else(bad)?;
    if secs > MAX_SINCE_DAYS * 86_400 {
        return Err(bad());
    }
    let age = TimeDelta::try_seconds(secs).ok_or_else(bad)?;
    now.checked_sub_signed(age).ok_or_else(bad)
}

/// One searchable item of `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A word (its text without operator characters at the ends), maybe a prefix.
    Word {
        /// The word as typed (control characters removed).
        text: String,
        /// Ends in `*`.
        prefix: bool,
    },
    /// Words that must appear next to each other.
    Phrase(Vec<String>),
}

/// A clause: alternatives joined by `OR`, or one excluded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// At least one of these.
    AnyOf(Vec<Item>),
    /// Not this.
    Not(Item),
}

/// A parsed `q`: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// The clauses, in the order typed; at least one is positive.
    pub clauses: Vec<Clause>,
}

#[derive(Debug, PartialEq)]
enum Token {
    Item(Item, bool),
    Or,
    Not,
}

fn word_item(raw: &str) -> Option<Item> {
    let prefix = raw.ends_with('*');
    let text: String = raw
        .trim_end_matches('*')
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    text.chars()
        .any(char::is_alphanumeric)
        .then_some(Item::Word { text, prefix })
}

fn phrase_item(raw: &str) -> Option<Item> {
    let words: Vec<String> = raw
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect();
    match words.len() {
        0 => None,
        _ => Some(Item::Phrase(words)),
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let negated = c == '-';
        let body_start = if negated {
            chars.next();
            match chars.peek() {
                Some(&(i, _)) => i,
                None => break,
            }
        } else {
            start
        };
        if text[body_start..].starts_with('"') {
            chars.next();
            let inner_start = body_start + 1;
            let mut end = text.len();
            for (i, ch) in chars.by_ref() {
                if ch == '"' {
                    end = i;
                    break;
                }
            }
            if let Some(item) = phrase_item(&text[inner_start..end.max(inner_start)]) {
                out.push(Token::Item(item, negated));
            }
            continue;
        }
        let mut end = text.len();
        while let Some(&(i, ch)) = chars.peek() {
            if ch.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
        }
        let raw = &text[body_start..end];
        match (raw, negated) {
            ("OR", false) => out.push(Token::Or),
            ("NOT", false) => out.push(Token::Not),
            _ => {
                if let Some(item) = word_item(raw) {
                    out.push(Token::Item(item, negated));
                }
            }
        }
    }
    out
}

impl TextQuery {
    /// Parse `q`. `Ok(None)` for blank text; an error (naming `q`) when it is too long, has
    /// too many terms, holds no word, or only excludes.
    pub fn parse(text: &str) -> Result<Option<TextQuery>, StoreError> {
        if text.len() > MAX_Q_BYTES {
            return Err(invalid("q", format!("longer than {MAX_Q_BYTES} bytes")));
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        let tokens = tokenize(text);
        let terms = tokens
            .iter()
            .map(|t| match t {
                Token::Item(Item::Phrase(w), _) => w.len(),
                Token::Item(..) => 1,
                _ => 0,
            })
            .sum::<usize>();
        if terms > MAX_Q_TERMS {
            return Err(invalid("q", format!("more than {MAX_Q_TERMS} terms")));
        }
        let mut clauses: Vec<Clause> = Vec::new();
        let mut pending_not = false;
        let mut pending_or = false;
        let n = tokens.len();
        for (i, tok) in tokens.into_iter().enumerate() {
            let item = match tok {
                // An operator with nothing to act on is a word.
                Token::Or if i + 1 < n && matches!(clauses.last(), Some(Clause::AnyOf(_))) => {
                    pending_or = true;
                    continue;
                }
                Token::Not if i + 1 < n => {
                    pending_not = true;
                    continue;
                }
                Token::Or => (
                    Item::Word {
                        text: "OR".into(),
                        prefix: false,
                    },
                    false,
                ),
                Token::Not => (
                    Item::Word {
                        text: "NOT".into(),
                        prefix: false,
                    },
                    false,
                ),
                Token::Item(item, neg) => (item, neg),
            };
            let negated = item.1 || std::mem::take(&mut pending_not);
            let item = item.0;
            if negated {
                pending_or = false;
                clauses.push(Clause::Not(item));
            } else if std::mem::take(&mut pending_or) {
                match clauses.last_mut() {
                    Some(Clause::AnyOf(alts)) => alts.push(item),
                    _ => clauses.push(Clause::AnyOf(vec![item])),
                }
            } else {
                clauses.push(Clause::AnyOf(vec![item]));
            }
        }
        if clauses.is_empty() {
            // Text made only of operators and punctuation: say so rather than match everything.
            return Err(invalid("q", "contains no word to search for"));
        }
        if !clauses.iter().any(|c| matches!(c, Clause::AnyOf(_))) {
            return Err(invalid("q", "needs at least one word that is not excluded"));
        }
        Ok(Some(TextQuery { clauses }))
    }

    /// The FTS5 MATCH expression: every word a quoted string (operators typed by the user
    /// lose their meaning), phrases quoted whole, `OR` groups parenthesised, excluded items
    /// after `NOT`.
    pub fn to_fts5(&self) -> String {
        fn item(i: &Item) -> String {
            let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            match i {
                Item::Word { text, prefix } => {
                    format!("{}{}", q(text), if *prefix { "*" } else { "" })
                }
                Item::Phrase(words) => q(&words.join(" ")),
            }
        }
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        for c in &self.clauses {
            match c {
                Clause::AnyOf(alts) if alts.len() == 1 => pos.push(item(&alts[0])),
                Clause::AnyOf(alts) => pos.push(format!(
                    "({})",
                    alts.iter().map(item).collect::<Vec<_>>().join(" OR ")
                )),
                Clause::Not(i) => neg.push(item(i)),
            }
        }
        let mut out = pos.join(" AND ");
        for n in neg {
            out.push_str(" NOT ");
            out.push_str(&n);
        }
        out
    }

    /// The MATCH expression for SQLite's full-text index (migration 0003): [`Self::to_fts5`]
    /// limited to the text columns (title, summary, content), and with `country` (when
    /// given) as its tag in the `tags` column, so the country filter is intersected inside
    /// the index.
    pub fn to_fts5_indexed(&self, country: Option<&str>) -> String {
        let mut out = format!("{{title summary content}} : ({})", self.to_fts5());
        if let Some(c) = country {
            out.push_str(" AND tags : \"");
            out.push_str(&country_tag(c));
            out.push('"');
        }
        out
    }

    /// The argument of PostgreSQL `to_tsquery('simple', …)`: every word a quoted lexeme
    /// (`'…'`, with `'` and `\` escaped), `:*` for prefixes, `<->` inside phrases, `|` for
    /// `OR`, `!` for excluded items, `&` between clauses.
    pub fn to_tsquery(&self) -> String {
        fn word(s: &str) -> String {
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
        }
        fn item(i: &Item) -> String {
            match i {
                Item::Word { text, prefix } => {
                    format!("{}{}", word(text), if *prefix { ":*" } else { "" })
                }
                Item::Phrase(words) if words.len() == 1 => word(&words[0]),
                Item::Phrase(words) => format!(
                    "({})",
                    words
                        .iter()
                        .map(|w| word(w))
                        .collect::<Vec<_>>()
                        .join(" <-> ")
                ),
            }
        }
        self.clauses
            .iter()
            .map(|c| match c {
                Clause::AnyOf(alts) if alts.len() == 1 => item(&alts[0]),
                Clause::AnyOf(alts) => format!(
                    "({})",
                    alts.iter().map(item).collect::<Vec<_>>().join(" | ")
                ),
                Clause::Not(i) => format!("!{}", item(i)),
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// `q` as an FTS5 MATCH expression (`Ok(None)` for blank text). Kept for callers of the
/// first version; see [`TextQuery`].
pub fn fts_match(text: &str) -> Result<Option<String>, StoreError> {
    Ok(TextQuery::parse(text)?.map(|q| q.to_fts5()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 10, 0, 0, 0).unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> SearchParams {
        let mut p = SearchParams::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "q" => p.q = v,
                "topic" => p.topic = v,
                "country" => p.country = v,
                "entity" => p.entity = v,
                "source" => p.source = v,
                "language" => p.language = v,
                "severity" => p.severity = v,
                "since" => p.since = v,
                "until" => p.until = v,
                "sort" => p.sort = v,
                "limit" => p.limit = v,
                "offset" => p.offset = v,
                "cursor" => p.cursor = v,
                _ => unreachable!(),
            }
        }
        p
    }

    fn param_of(e: StoreError) -> &'static str {
        match e {
            StoreError::InvalidParam { param, .. } => param,
            other => panic!("unexpected {other}"),
        }
    }

    fn fts(q: &str) -> String {
        fts_match(q).unwrap().unwrap()
    }

    fn tsq(q: &str) -> String {
        TextQuery::parse(q).unwrap().unwrap().to_tsquery()
    }

    #[test]
    fn quotes_every_term() {
        assert_eq!(fts("istanbul talks"), r#""istanbul" AND "talks""#);
        assert_eq!(fts(r#"say hi""#), r#""say" AND "hi""""#);
        assert_eq!(fts("AND( OR"), r#""AND(" AND "OR""#);
        assert_eq!(fts("ukr*"), r#""ukr"*"#);
        assert_eq!(param_of(fts_match(r#"* " ( ) -"#).unwrap_err()), "q");
        assert_eq!(fts_match("   ").unwrap(), None);
        assert_eq!(param_of(fts_match(&"a ".repeat(40)).unwrap_err()), "q");
        assert_eq!(param_of(fts_match(&"a".repeat(600)).unwrap_err()), "q");
    }

    #[test]
    fn operators_phrases_and_negation() {
        assert_eq!(
            fts(r#""peace talks" istanbul"#),
            r#""peace talks" AND "istanbul""#
        );
        assert_eq!(
            fts("kyiv OR kiev strike"),
            r#"("kyiv" OR "kiev") AND "strike""#
        );
        assert_eq!(fts("talks -geneva"), r#""talks" NOT "geneva""#);
        assert_eq!(fts("talks NOT geneva"), r#""talks" NOT "geneva""#);
        assert_eq!(fts(r#"talks -"cease fire""#), r#""talks" NOT "cease fire""#);
        // Operators without operands are words.
        assert_eq!(fts("OR talks"), r#""OR" AND "talks""#);
        assert_eq!(fts("talks NOT"), r#""talks" AND "NOT""#);
        assert_eq!(fts("NOT"), r#""NOT""#);
        // An unclosed quote runs to the end.
        assert_eq!(fts(r#""peace talks"#), r#""peace talks""#);
        // Only exclusions: nothing to match.
        assert_eq!(param_of(fts_match("-talks").unwrap_err()), "q");
        assert_eq!(param_of(fts_match("NOT talks").unwrap_err()), "q");

        let t = TextQuery::parse("talks -geneva").unwrap().unwrap();
        assert_eq!(
            t.to_fts5_indexed(Some("ua")),
            r#"{title summary content} : ("talks" NOT "geneva") AND tags : "c5541""#
        );
        assert_eq!(
            t.to_fts5_indexed(None),
            r#"{title summary content} : ("talks" NOT "geneva")"#
        );
        assert_eq!(tsq("istanbul talks"), "'istanbul' & 'talks'");
        assert_eq!(
            tsq(r#""peace talks" OR truce khar* -geneva"#),
            "(('peace' <-> 'talks') | 'truce') & 'khar':* & !'geneva'"
        );
        assert_eq!(tsq(r"o'brien a\b"), r"'o''brien' & 'a\\b'");
    }

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = Cursor::Time {
            sort_at: "2024-05-01T12:00:00.000000Z".into(),
            fetched_at: "2024-05-01T12:00:01.000000Z".into(),
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(
            Cursor::decode(&Cursor::Offset(50).encode()).unwrap(),
            Cursor::Offset(50)
        );
        for bad in [
            "zz",
            "",
            "00",
            &hex::encode("t\u{1f}a\u{1f}b"),
            &hex::encode("o\u{1f}999999999"),
            &hex::encode("t\u{1f}a b\u{1f}b\u{1f}1"),
        ] {
            assert_eq!(
                param_of(Cursor::decode(bad).unwrap_err()),
                "cursor",
                "{bad}"
            );
        }
    }

    #[test]
    fn since_forms() {
        let n = now();
        assert_eq!(parse_since("24h", n).unwrap(), n - TimeDelta::hours(24));
        assert_eq!(parse_since("7d", n).unwrap(), n - TimeDelta::days(7));
        assert_eq!(parse_since("30m", n).unwrap(), n - TimeDelta::minutes(30));
        assert_eq!(
            parse_since("2024-05-01T12:00:00+02:00", n).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
        );
        assert_eq!(
            parse_since("2024-05-01", n).unwrap(),
            Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
        );
        for bad in [
            "",
            "h",
            "24",
            "24y",
            "-3d",
            "99999999999999999999d",
            "100000d",
            "soon",
        ] {
            assert_eq!(param_of(parse_since(bad, n).unwrap_err()), "since", "{bad}");
        }
    }

    #[test]
    fn params_validate_and_default() {
        let q = SearchQuery::from_params(&params(&[]), now()).unwrap();
        assert_eq!(q, SearchQuery::default());
        let q = SearchQuery::from_params(
            &params(&[
                ("q", "talks"),
                ("topic", " Diplomacy "),
                ("country", "tr"),
                ("entity", "NATO"),
                ("source", "feed-1"),
                ("language", "EN"),
                ("severity", "3"),
                ("limit", "10"),
                ("offset", "20"),
                ("since", "7d"),
                ("until", "1d"),
                ("sort", "relevance"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(q.topic.as_deref(), Some("diplomacy"));
        assert_eq!(q.country.as_deref(), Some("TR"));
        assert_eq!(q.entity.as_deref(), Some("NATO"));
        assert_eq!(q.source.as_deref(), Some("feed-1"));
        assert_eq!(q.language.as_deref(), Some("en"));
        assert_eq!(q.min_severity, Some(3));
        assert_eq!(q.sort, Sort::Relevance);
        assert_eq!((q.limit, q.offset), (10, 20));
        assert_eq!(q.since, Some(now() - TimeDelta::days(7)));
        assert_eq!(q.until, Some(now() - TimeDelta::days(1)));
        // Empty values are absent.
        let q = SearchQuery::from_params(&params(&[("q", ""), ("limit", " ")]), now()).unwrap();
        assert_eq!(q, SearchQuery::default());
        // A relevance cursor is an offset; a time cursor a keyset.
        let c = Cursor::Offset(100).encode();
        let q = SearchQuery::from_params(
            &params(&[("q", "x"), ("sort", "relevance"), ("cursor", &c)]),
            now(),
        )
        .unwrap();
        assert_eq!(q.offset, 100);

        let long = "x".repeat(200);
        for (k, v) in [
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
            ("offset", "-1"),
            ("offset", "100001"),
            ("country", "UKR"),
            ("country", "1A"),
            ("since", "yesterday"),
            ("until", "later"),
            ("severity", "6"),
            ("language", "english"),
            ("entity", &long),
            ("source", "a\u{7}"),
            ("sort", "random"),
            ("sort", "relevance"),
            ("cursor", "xyz"),
            ("cursor", &c),
        ] {
            let e = SearchQuery::from_params(&params(&[(k, v)]), now()).unwrap_err();
            assert_eq!(param_of(e), k, "{k}={v}");
        }
        let e = SearchQuery::from_params(&params(&[("cursor", &c), ("offset", "1")]), now())
            .unwrap_err();
        assert_eq!(param_of(e), "cursor");
    }
}
