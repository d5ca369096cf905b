//! The feed list: `[[feeds]]` entries in a TOML file (`config/feeds.toml`).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FetcherError;

/// One `[[feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// Stable id of the feed (part of every story id: never change it for a feed). Letters,
    /// digits, `-`, `_`, `.`.
    pub id: String,
    /// `http://` or `https://` URL of the feed.
    pub url: String,
    /// Polling interval for this feed; the config's `interval_secs` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_secs: Option<u64>,
    /// Display title, used when the feed itself has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Category (an OPML folder; `/` separates levels), for `wirewatch feeds export`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedsDoc {
    #[serde(default)]
    feeds: Vec<FeedSpec>,
}

/// Read and validate the feed list. Errors name the file and the entry (index and id): a
/// syntax error (with toml's line and column), an empty or duplicate id, an empty or non-HTTP
/// URL, a zero interval.
pub fn load_feeds(path: &Path) -> Result<Vec<FeedSpec>, FetcherError> {
    let text = std::fs::read_to_string(path).map_err(|e| FetcherError::FeedsFile {
        path: path.to_path_buf(),
        detail: format!("cannot read: {e}"),
    })?;
    parse_feeds(&text).map_err(|detail| FetcherError::FeedsFile {
        path: path.to_path_buf(),
        detail,
    })
}

/// Check one feed entry (id characters, URL scheme, interval); `entry` names it in errors.
pub fn check_spec(f: &FeedSpec, entry: &str) -> Result<(), String> {
    if f.id.trim().is_empty() {
        return Err(format!("{entry}: empty id"));
    }
    if f.id.len() > 128
        || !f
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "{entry}: id may only contain letters, digits, '-', '_' and '.' (at most 128)"
        ));
    }
    if f.url.trim().is_empty() {
        return Err(format!("{entry}: empty url"));
    }
    match url::Url::parse(f.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        Ok(u) => {
            return Err(format!(
                "{entry}: url scheme {:?} is not http or https",
                u.scheme()
            ))
        }
        Err(e) => return Err(format!("{entry}: bad url {:?}: {e}", f.url)),
    }
    if f.interval_secs == Some(0) {
        return Err(format!("{entry}: interval_secs must be at least 1"));
    }
    Ok(())
}

/// Parse and validate feed-list text; the error says which entry is wrong.
pub fn parse_feeds(text: &str) -> Result<Vec<FeedSpec>, String> {
    let doc: FeedsDoc = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
    let mut ids = HashSet::new();
    for (i, f) in doc.feeds.iter().enumerate() {
        let entry = format!("[[feeds]] entry {} (id {:?})", i + 1, f.id);
        check_spec(f, &entry)?;
        if !ids.insert(f.id.as_str()) {
            return Err(format!("{entry}: duplicate id"));
        }
    }
    Ok(doc
        .feeds
        .into_iter()
        .map(|mut f| {
            f.url = f.url.trim().to_string();
            f
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_entries() {
        let feeds = parse_feeds(
            "[[feeds]]\nid = \"a\"\nurl = \"https://a.example/rss\"\n\n[[feeds]]\nid = \"b\"\nurl = \" http://b.example/atom \"\ninterval_secs = 60\ntitle = \"B\"\n",
        )
        .unwrap();
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[1].url, "http://b.example/atom");
        assert_eq!(feeds[1].interval_secs, Some(60));
    }

    #[test]
    fn rejects_bad_entries_naming_them() {
        let dup = parse_feeds(
            "[[feeds]]\nid = \"a\"\nurl = \"https://x/1\"\n[[feeds]]\nid = \"a\"\nurl = \"https://x/2\"\n",
        )
        .unwrap_err();
        assert!(
            dup.contains("entry 2") && dup.contains("duplicate"),
            "{dup}"
        );
        let empty = parse_feeds("[[feeds]]\nid = \"a\"\nurl = \"\"\n").unwrap_err();
        assert!(empty.contains("empty url"), "{empty}");
        let scheme = parse_feeds("[[feeds]]\nid = \"a\"\nurl = \"ftp://x/\"\n").unwrap_err();
        assert!(scheme.contains("scheme"), "{scheme}");
        let unknown = parse_feeds("[[feeds]]\nid = \"a\"\nurl = \"https://x/\"\nintervall = 3\n")
            .unwrap_err();
        assert!(unknown.contains("intervall"), "{unknown}");
    }

    #[test]
    fn load_names_the_file() {
        let e = load_feeds(Path::new("/nonexistent/feeds.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/feeds.toml"), "{e}");
    }

    #[test]
    fn shipped_feed_list_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/feeds.toml");
        let feeds = load_feeds(Path::new(path)).unwrap();
        assert!(feeds.len() >= 12, "{}", feeds.len());
    }
}
