//! Managing feeds beyond the feeds file: `wirewatch feeds add <URL>` (with autodiscovery),
//! `feeds import <opml>`, `feeds export`, `feeds list`, `feeds remove`.
//!
//! Feeds added this way live in the fetcher's state database (`<data_dir>/fetcher.db`, table
//! `registry`), beside the feeds of the feeds file; a running fetcher picks up additions and
//! removals within `registry_reload_secs`. The database, not a compacted topic, because the
//! fetcher already keeps each feed's health and seen ids there, and the command-line tools
//! work without a broker. Feeds of the file are managed by editing the file; an id taken by the
//! file cannot be added again.
//!
//! Autodiscovery ([`discover`]): the URL itself when it is a feed; else the feeds a web page
//! announces with `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json">`;
//! else the first of the well-known paths (`/feed`, `/rss`, `/rss.xml`, `/atom.xml`, …) that
//! answers with a feed.

use chrono::Utc;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;
use url::Url;
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::FeedRef;

use crate::error::FetcherError;
use crate::feeds::FeedSpec;
use crate::http::{self, FetchOutcome, Limits, Validators};
use crate::parse::parse_feed_with_charset;

/// Paths tried on a site that announces no feed.
pub const WELL_KNOWN_PATHS: [&str; 8] = [
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
    "/?feed=rss2",
];

/// Most `<link rel="alternate">` candidates checked on one page.
const MAX_CANDIDATES: usize = 10;

/// A feed found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovered {
    /// The feed's URL (after redirects).
    pub url: String,
    /// Its title, when it has one.
    pub title: Option<String>,
    /// How it was found: `direct`, `link`, `well_known`.
    pub how: &'static str,
}

/// What a URL turned out to be.
enum Probe {
    /// A feed (final URL, title).
    Feed(String, Option<String>),
    /// Something else (final URL, body as text).
    Page(Url, String),
}

async fn probe(
    client: &reqwest::Client,
    url: &str,
    limits: &Limits,
) -> Result<Probe, FetcherError> {
    let (bytes, charset, final_url) =
        match http::fetch(client, url, &Validators::default(), limits).await? {
            FetchOutcome::Body {
                bytes,
                charset,
                final_url,
                ..
            } => (bytes, charset, final_url),
            FetchOutcome::NotModified { .. } => {
                return Err(FetcherError::Io {
                    url: url.to_string(),
                    detail: "unexpected 304 to an unconditional request".into(),
                })
            }
        };
    let feed = FeedRef {
        id: "discover".into(),
        url: final_url.to_string(),
        title: None,
    };
    match parse_feed_with_charset(
        &bytes,
        charset.as_deref(),
        &feed,
        Some(&final_url),
        Utc::now(),
    ) {
        Ok((info, _)) => Ok(Probe::Feed(final_url.to_string(), info.title)),
        _ => Ok(Probe::Page(
            final_url,
            String::from_utf8_lossy(&bytes).into_owned(),
        )),
    }
}

/// The feeds a web page announces: `href` of `<link rel="alternate">` with a feed `type`,
/// resolved against `base`, in page order, without repeats.
pub fn feed_links(html: &str, base: &Url) -> Vec<Url> {
    const TYPES: [&str; 5] = [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/rdf+xml",
    ];
    let mut out: Vec<Url> = Vec::new();
    for tag in link_tags(html) {
        let attr = |name: &str| attribute(tag, name);
        let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
        let ty = attr("type").unwrap_or_default().to_ascii_lowercase();
        if !rel.split_whitespace().any(|r| r == "alternate") || !TYPES.contains(&ty.trim()) {
            continue;
        }
        if let Some(u) =
            attr("href").and_then(|h| base.join(html_escape::decode_html_entities(&h).trim()).ok())
        {
            if matches!(u.scheme(), "http" | "https") && !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

/// The text of every `<link …>` or `<prefix:link …>` start tag in `doc` (up to its `>`).
pub(crate) fn link_tags(doc: &str) -> Vec<&str> {
    let lower = doc.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("link") {
        let start = from + i;
        from = start + 4;
        if start == 0 || !matches!(lower.as_bytes()[start - 1], b'<' | b':') {
            continue;
        }
        let Some(len) = lower[start..].find('>') else {
            break;
        };
        out.push(&doc[start..start + len]);
    }
    out
}

/// The value of attribute `name` in the tag text `tag` (`<link a="b" c='d' e=f`).
pub(crate) fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let v = tag[value_start..].trim_start();
        let (q, body) = match v.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &v[1..]),
            _ => (None, v),
        };
        let end = match q {
            Some(q) => body.find(q).unwrap_or(body.len()),
            None => body
                .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                .unwrap_or(body.len()),
        };
        return Some(body[..end].to_string());
    }
    None
}

/// Find the feeds behind `url` (see the module docs). Fails with a message naming what was
/// tried when there is none.
pub async fn discover(
    client: &reqwest::Client,
    url: &str,
    limits: &Limits,
) -> Result<Vec<Discovered>, FetcherError> {
    let (base, html) = match probe(client, url, limits).await? {
        Probe::Feed(u, title) => {
            return Ok(vec![Discovered {
                url: u,
                title,
                how: "direct",
            }])
        }
        Probe::Page(base, html) => (base, html),
    };
    let mut found = Vec::new();
    for link in feed_links(&html, &base).into_iter().take(MAX_CANDIDATES) {
        if let Ok(Probe::Feed(u, title)) = probe(client, link.as_str(), limits).await {
            if !found.iter().any(|d: &Discovered| d.url == u) {
                found.push(Discovered {
                    url: u,
                    title,
                    how: "link",
                });
            }
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    for path in WELL_KNOWN_PATHS {
        let Ok(candidate) = base.join(path) else {
            continue;
        };
        if let Ok(Probe::Feed(u, title)) = probe(client, candidate.as_str(), limits).await {
            return Ok(vec![Discovered {
                url: u,
                title,
                how: "well_known",
            }]);
        }
    }
    Err(FetcherError::Parse {
        url: url.to_string(),
        detail: format!(
            "no feed found: the page is not a feed, announces no <link rel=\"alternate\"> feed, and none of {} answered with one",
            WELL_KNOWN_PATHS.join(", ")
        ),
    })
}

/// A feed id for `url`: letters and digits of its host and path (`bbc-co-uk-news-rss-xml`),
/// at most 60 bytes, with a short hash when cut.
pub fn id_for(url: &str) -> String {
    let u = Url::parse(url).ok();
    let raw = match &u {
        Some(u) => format!("{}{}", u.host_str().unwrap_or(""), u.path()),
        None => url.to_string(),
    };
    let mut id = String::new();
    for c in raw.trim_start_matches("www.").chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.len() <= 60 && !id.is_empty() {
        return id;
    }
    let h = stable_id(&[url]);
    format!(
        "{}-{}",
        &id[..id.len().min(50)].trim_end_matches('-'),
        &h[..8]
    )
}

/// One outline of an OPML file that names a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// `xmlUrl`.
    pub url: String,
    /// `title` or `text`.
    pub title: Option<String>,
    /// The enclosing outlines' titles, joined by `/` (OPML folders are categories).
    pub category: Option<String>,
}

fn attr_of(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().with_checks(false).flatten().find_map(|a| {
        let key: &str = a.key.as_ref();
        key.eq_ignore_ascii_case(name)
            .then(|| {
                let raw: &str = a.value.as_ref();
                quick_xml::escape::unescape(raw)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_else(|_| raw.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    })
}

/// Parse an OPML document: every `<outline>` with an `xmlUrl`, with its folder path as the
/// category. Errors name the line-free byte position quick-xml reports.
pub fn parse_opml(text: &str) -> Result<Vec<OpmlFeed>, String> {
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().trim_text(true);
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    let mut saw_opml = false;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().as_ref() == "opml" => {
                saw_opml = true;
            }
            Ok(ev @ (Event::Start(_) | Event::Empty(_))) => {
                let (e, empty) = match &ev {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    _ => continue,
                };
                if e.name().as_ref() != "outline" {
                    continue;
                }
                let title = attr_of(e, "title").or_else(|| attr_of(e, "text"));
                if let Some(url) = attr_of(e, "xmlUrl") {
                    let path: Vec<&str> = folders.iter().flatten().map(String::as_str).collect();
                    out.push(OpmlFeed {
                        url,
                        title: title.clone(),
                        category: (!path.is_empty()).then(|| path.join("/")),
                    });
                }
                if !empty {
                    // A folder when it has no xmlUrl; a feed outline with children adds nothing.
                    folders.push(attr_of(e, "xmlUrl").is_none().then_some(title).flatten());
                }
            }
            Ok(Event::End(e)) if e.name().as_ref() == "outline" => {
                folders.pop();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "not valid OPML at byte {}: {e}",
                    r.error_position()
                ))
            }
        }
    }
    if !saw_opml {
        return Err("not an OPML document (no <opml> element)".into());
    }
    Ok(out)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// OPML 2.0 of `feeds` (file and registry), folders by category.
pub fn to_opml(feeds: &[FeedSpec]) -> String {
    let mut by_cat: std::collections::BTreeMap<Option<&str>, Vec<&FeedSpec>> = Default::default();
    for f in feeds {
        by_cat.entry(f.category.as_deref()).or_default().push(f);
    }
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>wirewatch feeds</title>\n    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        Utc::now().to_rfc2822()
    );
    let outline = |f: &FeedSpec, indent: &str| {
        let title = xml_escape(f.title.as_deref().unwrap_or(&f.id));
        format!(
            "{indent}<outline type=\"rss\" text=\"{title}\" title=\"{title}\" xmlUrl=\"{}\"/>\n",
            xml_escape(&f.url)
        )
    };
    for (cat, list) in by_cat {
        match cat {
            None => {
                for f in list {
                    s.push_str(&outline(f, "    "));
                }
            }
            Some(c) => {
                s.push_str(&format!(
                    "    <outline text=\"{0}\" title=\"{0}\">\n",
                    xml_escape(c)
                ));
                for f in list {
                    s.push_str(&outline(f, "      "));
                }
                s.push_str("    </outline>\n");
            }
        }
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_announced_feeds() {
        let base = Url::parse("https://news.example/world/").unwrap();
        let html = r#"<html><head>
            <link rel="stylesheet" href="/s.css">
            <LINK REL="alternate" TYPE="application/rss+xml" title="World" HREF="/world/rss.xml">
            <link type='application/atom+xml' rel='alternate home' href='https://news.example/atom?a=1&amp;b=2'/>
            <link rel="alternate" type="text/html" href="/en/">
            <link rel="alternate" type="application/rss+xml" href="/world/rss.xml">
        </head></html>"#;
        let got: Vec<String> = feed_links(html, &base)
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "https://news.example/world/rss.xml",
                "https://news.example/atom?a=1&b=2"
            ]
        );
        assert!(feed_links("<p>no links</p>", &base).is_empty());
    }

    #[test]
    fn ids_from_urls() {
        assert_eq!(
            id_for("https://feeds.bbci.co.uk/news/world/rss.xml"),
            "feeds-bbci-co-uk-news-world-rss-xml"
        );
        assert_eq!(id_for("https://www.example.org/feed"), "example-org-feed");
        let long = id_for(&format!("https://example.org/{}", "x".repeat(100)));
        assert!(long.len() <= 60, "{long}");
    }

    #[test]
    fn opml_round_trip_with_categories() {
        let text = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>t</title></head><body>
  <outline text="News">
    <outline text="World" type="folder">
      <outline type="rss" text="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
    </outline>
    <outline type="rss" title="Guardian &amp; Co" text="g" xmlUrl="https://www.theguardian.com/world/rss"/>
  </outline>
  <outline type="rss" text="Top level" xmlUrl="https://example.org/feed"/>
  <outline text="empty folder"/>
</body></opml>"#;
        let feeds = parse_opml(text).unwrap();
        assert_eq!(feeds.len(), 3);
        assert_eq!(feeds[0].category.as_deref(), Some("News/World"));
        assert_eq!(feeds[1].title.as_deref(), Some("Guardian & Co"));
        assert_eq!(feeds[1].category.as_deref(), Some("News"));
        assert_eq!(feeds[2].category, None);
        let specs: Vec<FeedSpec> = feeds
            .iter()
            .map(|f| FeedSpec {
                id: id_for(&f.url),
                url: f.url.clone(),
                interval_secs: None,
                title: f.title.clone(),
                category: f.category.clone(),
            })
            .collect();
        let again = parse_opml(&to_opml(&specs)).unwrap();
        let mut a: Vec<_> = again
            .iter()
            .map(|f| (f.url.clone(), f.category.clone(), f.title.clone()))
            .collect();
        let mut b: Vec<_> = feeds
            .iter()
            .map(|f| (f.url.clone(), f.category.clone(), f.title.clone()))
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(parse_opml("<rss/>").unwrap_err().contains("not an OPML"));
        assert!(parse_opml("<opml><body><outline text=\"a\"></body></opml>").is_err());
    }
}
