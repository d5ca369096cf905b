//! Search parameters: parsing and validating `/api/stories` query strings, and turning user
//! text into an FTS5 query that cannot be a syntax error. Pure functions, unit-tested.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Deserialize;

use crate::error::StoreError;
use crate::rows::{norm_country, norm_topic};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 500;
/// Largest `offset` accepted (deep paging is what `since` is for).
pub const MAX_OFFSET: u32 = 100_000;
/// Longest `q` accepted, in bytes.
pub const MAX_Q_BYTES: usize = 512;
/// Most terms in `q`.
pub const MAX_Q_TERMS: usize = 32;
/// Furthest back a relative `since` may reach.
pub const MAX_SINCE_DAYS: i64 = 3660;

/// The raw query string of `GET /api/stories`. Every field is text so that a bad value is
/// reported by [`SearchQuery::from_params`] with the parameter's name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchParams {
    /// Full-text query over title, summary and content.
    pub q: Option<String>,
    /// Topic id.
    pub topic: Option<String>,
    /// Country, ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// RFC 3339 time, a date (`2024-05-01`), or relative (`30m`, `24h`, `7d`, `2w`).
    pub since: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// Stories to skip.
    pub offset: Option<String>,
}

/// A validated story search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// User text; every whitespace-separated term must occur (a trailing `*` makes a term a
    /// prefix). Sanitised by [`fts_match`] before it reaches SQLite.
    pub text: Option<String>,
    /// Only stories with this topic id.
    pub topic: Option<String>,
    /// Only stories mentioning this country (alpha-2).
    pub country: Option<String>,
    /// Only stories published (or, without a date, fetched) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Stories to skip, ..=[`MAX_OFFSET`].
    pub offset: u32,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            text: None,
            topic: None,
            country: None,
            since: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
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

impl SearchQuery {
    /// Validate a query string; `now` anchors relative `since` values. Errors name the
    /// parameter.
    pub fn from_params(p: &SearchParams, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let text = match present(&p.q) {
            Some(q) => {
                // Validate now so a bad `q` is a 400 here, not a failure in the query.
                fts_match(q)?;
                Some(q.to_string())
            }
            None => None,
        };
        let topic = match present(&p.topic) {
            Some(t) if t.len() > 128 || t.chars().any(char::is_control) => {
                return Err(invalid("topic", "must be a topic id of at most 128 bytes"))
            }
            Some(t) => Some(norm_topic(t)),
            None => None,
        };
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
        let since = present(&p.since).map(|s| parse_since(s, now)).transpose()?;
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
        let offset = match present(&p.offset) {
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
        Ok(SearchQuery {
            text,
            topic,
            country,
            since,
            limit,
            offset,
        })
    }
}

/// Parse `since`: RFC 3339 (`2024-05-01T12:00:00Z`), a date (`2024-05-01`, midnight UTC), or a
/// relative age (`30s`, `30m`, `24h`, `7d`, `2w`) counted back from `now`.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
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
            "since",
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

/// Turn user text into a safe FTS5 query: each whitespace-separated term becomes a quoted
/// string (FTS5 operators and syntax characters lose their meaning), terms are ANDed; a
/// trailing `*` keeps a term a prefix query. Terms without a letter or digit are dropped
/// (they hold no token); text with no term left is an error. `Ok(None)` for blank text.
pub fn fts_match(text: &str) -> Result<Option<String>, StoreError> {
    if text.len() > MAX_Q_BYTES {
        return Err(invalid("q", format!("longer than {MAX_Q_BYTES} bytes")));
    }
    let mut out: Vec<String> = Vec::new();
    for term in text.split_whitespace() {
        let prefix = term.ends_with('*');
        let core: String = term
            .trim_end_matches('*')
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        if !core.chars().any(char::is_alphanumeric) {
            continue;
        }
        let quoted = format!(
            "\"{}\"{}",
            core.replace('"', "\"\""),
            if prefix { "*" } else { "" }
        );
        out.push(quoted);
    }
    if out.len() > MAX_Q_TERMS {
        return Err(invalid("q", format!("more than {MAX_Q_TERMS} terms")));
    }
    if out.is_empty() && !text.trim().is_empty() {
        // Text made only of operators and punctuation: say so rather than match everything.
        return Err(invalid("q", "contains no word to search for"));
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(out.join(" "))
    })
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
                "since" => p.since = v,
                "limit" => p.limit = v,
                "offset" => p.offset = v,
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

    #[test]
    fn quotes_every_term() {
        assert_eq!(
            fts_match("istanbul talks").unwrap().unwrap(),
            r#""istanbul" "talks""#
        );
        assert_eq!(fts_match(r#"say "hi"#).unwrap().unwrap(), r#""say" """hi""#);
        assert_eq!(fts_match("AND( OR").unwrap().unwrap(), r#""AND(" "OR""#);
        assert_eq!(fts_match("ukr*").unwrap().unwrap(), r#""ukr"*"#);
        assert_eq!(param_of(fts_match(r#"* " ( ) -"#).unwrap_err()), "q");
        assert_eq!(fts_match("   ").unwrap(), None);
        assert_eq!(param_of(fts_match(&"a ".repeat(40)).unwrap_err()), "q");
        assert_eq!(param_of(fts_match(&"a".repeat(600)).unwrap_err()), "q");
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
                ("limit", "10"),
                ("offset", "20"),
                ("since", "7d"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(q.topic.as_deref(), Some("diplomacy"));
        assert_eq!(q.country.as_deref(), Some("TR"));
        assert_eq!((q.limit, q.offset), (10, 20));
        assert_eq!(q.since, Some(now() - TimeDelta::days(7)));
        // Empty values are absent.
        let q = SearchQuery::from_params(&params(&[("q", ""), ("limit", " ")]), now()).unwrap();
        assert_eq!(q, SearchQuery::default());

        for (k, v) in [
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
            ("offset", "-1"),
            ("offset", "100001"),
            ("country", "UKR"),
            ("country", "1A"),
            ("since", "yesterday"),
        ] {
            let e = SearchQuery::from_params(&params(&[(k, v)]), now()).unwrap_err();
            assert_eq!(param_of(e), k, "{k}={v}");
        }
    }
}
