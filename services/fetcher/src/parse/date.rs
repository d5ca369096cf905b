//! Feed dates → UTC, one parser for both parse paths (feed-rs is handed it through
//! `Builder::timestamp_parser`, the fast path calls it directly), so the two cannot disagree.
//!
//! The rules are feed-rs 3.0's lenient ones (RFC 3339, then RFC 2822, then RFC 1123 without
//! the weekday, each after regex clean-ups of what real feeds get wrong), ported because feed-rs
//! keeps them private. Well-formed RFC 3339 and RFC 2822 dates — nearly all of them — are
//! tried first with chrono alone: for such input every clean-up is a no-op on the result
//! (see `tests::fast_and_lenient_agree`), and it skips six regex passes per date.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;

/// A regex and its replacement.
struct Fix(Regex, &'static str);

fn fixes(list: &[(&str, &'static str)]) -> Vec<Fix> {
    list.iter()
        .filter_map(|(re, rep)| Regex::new(re).ok().map(|r| Fix(r, rep)))
        .collect()
}

static RFC1123: LazyLock<Vec<Fix>> =
    LazyLock::new(|| fixes(&[(" Z$", " +0000"), ("^[[:alpha:]]{3}, ", "")]));

static RFC2822: LazyLock<Vec<Fix>> = LazyLock::new(|| {
    fixes(&[
        ("(UTC|-0000$)", "+0000"),
        ("(Sun|Mon|Tue|Wed|Thu|Fri|Sat)[a-z]*, ", ""),
        (
            "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*",
            "$1",
        ),
        (
            "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\\d{1,2}) (\\d{4})",
            "$2 $1 $3",
        ),
        (" 24:", " 00:"),
        (" ([0-9]):", " 0${1}:"),
    ])
});

static RFC3339: LazyLock<Vec<Fix>> = LazyLock::new(|| {
    fixes(&[
        (r"(\+|-)(\d{2})(\d{2})", "${1}${2}:${3}"),
        (r"-\d{2}$", "${0}T00:00:00+00:00"),
    ])
});

fn cleaned(raw: &str, fixes: &[Fix]) -> String {
    let mut s = raw.trim().to_string();
    for Fix(re, rep) in fixes {
        if let std::borrow::Cow::Owned(o) = re.replace(&s, *rep) {
            s = o;
        }
    }
    s
}

/// Parse a feed date; `None` when no rule reads it.
pub fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let t = raw.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(t) {
        return Some(d.with_timezone(&Utc));
    }
    lenient(raw)
}

/// feed-rs's rules, without the fast tries.
fn lenient(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(cleaned(raw, &RFC3339).trim())
        .or_else(|_| DateTime::parse_from_rfc2822(&cleaned(raw, &RFC2822)))
        .or_else(|_| DateTime::parse_from_str(&cleaned(raw, &RFC1123), "%d %b %Y %H:%M:%S %z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fast_and_lenient_agree() {
        for s in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.123+01:00",
            " 2024-01-02t03:04:05-05:30 ",
            "Tue, 15 Nov 2022 20:15:04 GMT",
            "Tue, 15 Nov 2022 20:15:04 -0000",
            "15 Nov 2022 20:15:04 +0200",
            "Tue, 15 Nov 2022 20:15:04 EST",
        ] {
            assert_eq!(parse_date(s), lenient(s), "{s}");
            assert!(parse_date(s).is_some(), "{s}");
        }
    }

    #[test]
    fn broken_forms() {
        let want = DateTime::parse_from_rfc3339("2022-11-15T20:15:04Z").unwrap();
        for s in [
            "Tue, 15 Nov 2022 20:15:04 UTC",
            "Tuesday, 15 November 2022 20:15:04 +0000",
            "Wed, 15 Nov 2022 20:15:04 GMT", // wrong weekday
            "Tue, Nov 15 2022 20:15:04 GMT", // month before day
            "Tue, 15 Nov 2022 20:15:04 Z",
            "2022-11-15T20:15:04+0000",
        ] {
            assert_eq!(parse_date(s), Some(want.with_timezone(&Utc)), "{s}");
        }
        assert_eq!(
            parse_date("2022-11-15"),
            Some(
                DateTime::parse_from_rfc3339("2022-11-15T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date(""), None);
    }
}
