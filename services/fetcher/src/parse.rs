//! Pure normalisation: feed bytes → [`FeedInfo`] + [`RawStory`]s. No I/O.
//!
//! Steps, each working around something real feeds do:
//! 1. **Charset** ([`to_utf8`], `charset`): feedparser's order (HTTP charset, XML declaration,
//!    sniffed, UTF-8, a statistical guess for undeclared legacy encodings, windows-1252),
//!    except that a byte-order mark or BOM-less UTF-16/32 wins.
//! 2. **Fast path** (`scan`, strict): common RSS 2.0, RSS 1.0 and Atom 1.0 documents are read in
//!    one pass over the validated text (events are slices of it), exactly as the reference
//!    path would read them;
//!    anything unusual in them sends the document to the reference path instead.
//! 3. **Reference path**: the tolerant rewrites ([`fix_rss_version`]: `<rss>` without a
//!    `version`; [`crate::recover`]: RSS 0.90 and Atom 0.3 as their successors, RDF items
//!    without `<link>`, base64/MIME-typed/naked-markup text elements; after a failed parse,
//!    ill-formed XML and short JSON Feed versions repaired and parsed once more), then
//!    **feed-rs** (RSS 0.9x/1.0/2.0, Atom, JSON Feed; its generated ids switched off: a story
//!    id must be stable across fetches), then the scanner in lenient mode for what feed-rs
//!    does not read: Dublin Core / Atom / iTunes fallbacks inside RSS and feedparser's RSS link
//!    rule (the last `<link>`, else an alternate `atom:link`).
//! 4. **Items** (`doc`, the same for both paths) become [`RawStory`]s: text fields as plain text
//!    ([`html_to_text`]; simple markup by `html`'s one-pass stripper, the rest through
//!    ammonia), dates by one parser ([`parse_date`]), links absolute (against `xml:base`, the
//!    feed URL, or the feed's own link; already-normal links copied, not parsed),
//!    id = `stable_id([feed id, guid | link | title | text])`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use feed_rs::model::Feed;
use serde::Serialize;
use url::Url;
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{FeedRef, RawStory};

use crate::error::FetcherError;
use crate::recover;

mod charset;
mod date;
mod doc;
mod html;
mod scan;

pub use charset::to_utf8;
pub use date::parse_date;
use doc::{Doc, DocEntry};

/// Longest title kept, in bytes (cut at a character boundary).
pub const MAX_TITLE_BYTES: usize = 2 * 1024;
/// Longest summary or content kept, in bytes: keeps one story well under Kafka's default
/// 1 MB message limit.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most authors or categories kept per story.
pub const MAX_LIST_LEN: usize = 50;
/// Longest author, category or language value kept, in bytes.
const MAX_SHORT_BYTES: usize = 256;

/// Family of a feed's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// RSS 0.9x, 1.0 (RDF) or 2.0.
    Rss,
    /// Atom 1.0.
    Atom,
    /// JSON Feed 1.x.
    Json,
}

/// What a feed says about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedInfo {
    /// Title as plain text.
    pub title: Option<String>,
    /// The site's home page (absolute).
    pub link: Option<String>,
    /// Declared language.
    pub language: Option<String>,
    /// Description as plain text.
    pub description: Option<String>,
    /// Last update time declared by the feed.
    pub updated: Option<DateTime<Utc>>,
    /// Format family.
    pub kind: FeedKind,
    /// Items in the document.
    pub items: usize,
    /// Items skipped because they carry nothing to identify them (no guid, link or title).
    pub skipped_items: usize,
}

/// Parse `bytes` as a feed and normalise every item. `feed` is the source (its id goes into
/// every story id); `base_url` resolves relative links (the URL the feed was fetched from).
/// Fails only when the document is not a feed.
pub fn parse_feed(
    bytes: &[u8],
    feed: &FeedRef,
    base_url: Option<&Url>,
    fetched_at: DateTime<Utc>,
) -> Result<(FeedInfo, Vec<RawStory>), FetcherError> {
    parse_feed_with_charset(bytes, None, feed, base_url, fetched_at)
}

/// [`parse_feed`] with the charset from the HTTP `Content-Type` (see [`to_utf8`] for how it
/// weighs against a byte-order mark and the XML declaration).
///
/// Common RSS 2.0 and Atom 1.0 documents take the fast path (one tokenizer pass, text
/// borrowed from the input); everything else, and anything unusual in them, takes the
/// reference path (the tolerant pre-pass, then feed-rs). Both end in the same normaliser and
/// give the same stories (checked on the whole corpus by `tests/corpus.rs`).
pub fn parse_feed_with_charset(
    bytes: &[u8],
    http_charset: Option<&str>,
    feed: &FeedRef,
    base_url: Option<&Url>,
    fetched_at: DateTime<Utc>,
) -> Result<(FeedInfo, Vec<RawStory>), FetcherError> {
    parse_feed_via(Route::Auto, bytes, http_charset, feed, base_url, fetched_at)?.ok_or_else(|| {
        FetcherError::Parse {
            url: feed.url.clone(),
            detail: "no parse path took the document".into(),
        }
    })
}

/// Which parse path [`parse_feed_via`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The fast path when it accepts the document, else the reference path (production).
    Auto,
    /// Only the fast path: `Ok(None)` when it declines the document.
    Fast,
    /// Only the reference path (pre-pass, feed-rs, the extension scan), whatever the document.
    Reference,
}

/// [`parse_feed_with_charset`] along a chosen [`Route`], so that tests and benchmarks can
/// compare the paths. `Ok(None)` only for [`Route::Fast`] on a document it declines.
pub fn parse_feed_via(
    route: Route,
    bytes: &[u8],
    http_charset: Option<&str>,
    feed: &FeedRef,
    base_url: Option<&Url>,
    fetched_at: DateTime<Utc>,
) -> Result<Option<(FeedInfo, Vec<RawStory>)>, FetcherError> {
    if is_json(bytes) {
        return match route {
            Route::Fast => Ok(None),
            _ => reference(Cow::Borrowed(bytes), feed, base_url, fetched_at).map(Some),
        };
    }
    let tld = base_url.and_then(charset::tld_of);
    let decode = || charset::decode(bytes, http_charset, tld);
    let mut text = None;
    if route != Route::Reference {
        // Presumed UTF-8 is validated once, here, and scanned as borrowed text (the
        // scanner's tokenizer slices it without validating again). Bytes that are not UTF-8
        // (an undeclared legacy encoding) are decoded as `charset` chooses and scanned.
        let presumed = charset::presumed_utf8(bytes, http_charset);
        let utf8 = presumed.and_then(|body| std::str::from_utf8(body).ok());
        if let Some(body) = utf8 {
            if let Some(doc) = scan::scan(body, true) {
                return Ok(Some(normalise(doc, feed, base_url, fetched_at)));
            }
        }
        if utf8.is_none() {
            let decoded = text.insert(decode());
            if let Some(doc) = scan::scan(decoded, true) {
                return Ok(Some(normalise(doc, feed, base_url, fetched_at)));
            }
        }
        if route == Route::Fast {
            return Ok(None);
        }
    }
    let text = text.unwrap_or_else(decode);
    reference(prepare_text(text), feed, base_url, fetched_at).map(Some)
}

/// feed-rs on the prepared document (repaired and retried once when it fails), supplemented
/// by the lenient scan (extension fallbacks, RSS links), then normalised.
fn reference(
    prepared: Cow<'_, [u8]>,
    feed: &FeedRef,
    base_url: Option<&Url>,
    fetched_at: DateTime<Utc>,
) -> Result<(FeedInfo, Vec<RawStory>), FetcherError> {
    let parse_error = |detail: String| FetcherError::Parse {
        url: feed.url.clone(),
        detail,
    };
    let (parsed, used) = match run_feed_rs(&prepared, base_url) {
        Ok(p) => (p, prepared),
        Err(first) => {
            // Recoverable breakage (bare `&`, HTML entities, control characters, mismatched
            // close tags, a JSON Feed with a short version): repair and try once more; report
            // the first error if the repair does not help.
            let repaired = if is_json(&prepared) {
                recover::fix_json_feed(&prepared)
            } else {
                std::str::from_utf8(&prepared)
                    .ok()
                    .and_then(recover::fix_ill_formed)
                    .map(String::into_bytes)
            };
            let Some(r) = repaired else {
                return Err(parse_error(first));
            };
            match run_feed_rs(&r, base_url) {
                Ok(p) => (p, Cow::Owned(r)),
                Err(_) => return Err(parse_error(first)),
            }
        }
    };
    let mut doc = Doc::from_feed_rs(parsed);
    if doc.kind == Some(FeedKind::Rss) {
        // `used` is decoded text (or its repair), so this holds; quick-xml would reject
        // bytes that were not UTF-8 anyway.
        if let Some(scanned) = std::str::from_utf8(&used)
            .ok()
            .and_then(|text| scan::scan(text, false))
        {
            doc.supplement(scanned);
        }
    }
    Ok(normalise(doc, feed, base_url, fetched_at))
}

/// Error detail when feed-rs panicked (a bug in it, caught so that one feed cannot stop the
/// fetcher).
pub const PANIC_DETAIL: &str = "feed parser panicked";

/// One feed-rs parse with a fresh parser (feed-rs keeps per-parse state that a failed parse
/// can leave behind, so a parser is never reused after an error). A panic inside feed-rs is
/// caught and reported as [`PANIC_DETAIL`].
fn run_feed_rs(bytes: &[u8], base_url: Option<&Url>) -> Result<Feed, String> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base_url.map(Url::as_str))
        // No generated ids: an empty id tells us the item has no guid of its own.
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        // The fast path's date parser, so that both paths read dates alike.
        .timestamp_parser(date::parse_date)
        .build();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(bytes))) {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(PANIC_DETAIL.to_string()),
    }
}

/// Non-empty plain text of a text field.
fn text_of(t: Option<&Cow<'_, str>>, max: usize) -> Option<String> {
    t.map(|t| html_to_text(t, max)).filter(|t| !t.is_empty())
}

/// Non-empty one-line plain text of a title-like field.
fn line_of(t: Option<&Cow<'_, str>>, max: usize) -> Option<String> {
    t.map(|t| plain_line(t, max)).filter(|t| !t.is_empty())
}

fn normalise(
    parsed: Doc<'_>,
    feed: &FeedRef,
    base_url: Option<&Url>,
    fetched_at: DateTime<Utc>,
) -> (FeedInfo, Vec<RawStory>) {
    let kind = parsed.kind.unwrap_or(FeedKind::Rss);
    let title = line_of(parsed.title.as_ref(), MAX_TITLE_BYTES)
        .or_else(|| line_of(parsed.ext.title.as_ref(), MAX_TITLE_BYTES));
    let raw_link = if kind == FeedKind::Rss && parsed.ext.scanned {
        parsed.ext.link.as_deref()
    } else {
        parsed.link.as_deref()
    };
    let link = raw_link.and_then(|l| resolve_link(l, base_url));
    // A file has no URL: the feed's own (absolute) home-page link is the next best base.
    let home = link.as_deref().and_then(|l| Url::parse(l).ok());
    let base = base_url.or(home.as_ref());
    let language = clean_short(parsed.language.as_deref())
        .or_else(|| clean_short(parsed.ext.language.as_deref()));
    let feed_ref = FeedRef {
        id: feed.id.clone(),
        url: feed.url.clone(),
        title: title.clone().or_else(|| feed.title.clone()),
    };
    let mut stories = Vec::with_capacity(parsed.entries.len());
    let mut skipped = 0;
    for entry in &parsed.entries {
        match story(
            entry,
            kind,
            &feed_ref,
            base,
            language.as_deref(),
            fetched_at,
        ) {
            Some(s) => stories.push(s),
            None => skipped += 1,
        }
    }
    // The same item twice in one document is one story (the first kept).
    let first: Vec<bool> = {
        let mut ids = HashSet::with_capacity(stories.len());
        stories.iter().map(|s| ids.insert(s.id.as_str())).collect()
    };
    let mut keep = first.into_iter();
    stories.retain(|_| keep.next().unwrap_or(false));
    let info = FeedInfo {
        title,
        link,
        language,
        description: text_of(parsed.description.as_ref(), MAX_TEXT_BYTES)
            .or_else(|| text_of(parsed.ext.description.as_ref(), MAX_TEXT_BYTES))
            .or_else(|| text_of(parsed.ext.summary.as_ref(), MAX_TEXT_BYTES)),
        updated: parsed.updated,
        kind,
        items: parsed.entries.len(),
        skipped_items: skipped,
    };
    (info, stories)
}

fn story(
    entry: &DocEntry<'_>,
    kind: FeedKind,
    feed: &FeedRef,
    feed_base: Option<&Url>,
    feed_language: Option<&str>,
    fetched_at: DateTime<Utc>,
) -> Option<RawStory> {
    let guid = Some(entry.id.trim()).filter(|g| !g.is_empty());
    // xml:base on the entry wins over the feed's base.
    let entry_base = entry.base.as_deref().and_then(|b| match feed_base {
        Some(fb) => fb.join(b).ok(),
        None => Url::parse(b).ok(),
    });
    let base = entry_base.as_ref().or(feed_base);
    let ext = &entry.ext;
    // RSS links follow feedparser's rule (the scanner's), Atom links feed-rs's choice.
    let raw_href = if kind == FeedKind::Rss && ext.scanned {
        ext.link.as_deref()
    } else {
        entry.link.as_deref()
    }
    .map(str::trim);
    let mut link = raw_href.and_then(|h| resolve_link(h, base));
    if link.is_none() {
        // RSS guids are permalinks unless isPermaLink="false"; feeds without <link> rely on it.
        link = guid
            .filter(|g| g.starts_with("http://") || g.starts_with("https://"))
            .and_then(|g| resolve_link(g, None));
    }
    // Dublin Core, iTunes and Atom elements stand in for the RSS ones a feed leaves out.
    let title = line_of(entry.title.as_ref(), MAX_TITLE_BYTES)
        .or_else(|| line_of(ext.title.as_ref(), MAX_TITLE_BYTES))
        .unwrap_or_default();
    let summary = text_of(entry.summary.as_ref(), MAX_TEXT_BYTES)
        .or_else(|| text_of(ext.description.as_ref(), MAX_TEXT_BYTES))
        .or_else(|| text_of(ext.summary.as_ref(), MAX_TEXT_BYTES));
    let content = text_of(entry.content.as_ref(), MAX_TEXT_BYTES)
        .or_else(|| text_of(ext.content.as_ref(), MAX_TEXT_BYTES))
        .filter(|c| Some(c) != summary.as_ref());
    // Identity: guid, else link, else title, else the text itself (an item that is only a
    // description — RSS allows it — is still a story, stable while its text is).
    let basis = guid
        .or(link.as_deref())
        .or(raw_href.filter(|h| !h.is_empty()))
        .or(Some(title.as_str()).filter(|t| !t.is_empty()))
        .or(summary.as_deref())
        .or(content.as_deref())?;
    let mut authors = dedup_list(entry.authors.iter().map(|a| unparenthesise(a)));
    if authors.is_empty() {
        authors = dedup_list(ext.authors.iter().map(|a| unparenthesise(a)));
    }
    let categories = dedup_list(entry.categories.iter().map(AsRef::as_ref));
    let published = entry.published.or(ext.published);
    let updated = entry.updated.or(match kind {
        FeedKind::Rss => ext.published,
        _ => None,
    });
    // A story without any date gets the fetch time, marked as such (feed readers sort and
    // filter by date; the mark keeps it out of publishing-rate estimates).
    let undated = published.is_none() && updated.is_none();
    let published = if undated { Some(fetched_at) } else { published };
    Some(RawStory {
        id: stable_id(&[&feed.id, basis]),
        feed: feed.clone(),
        guid: guid.map(str::to_string),
        link,
        title,
        summary,
        content,
        authors,
        categories,
        language: clean_short(entry.language.as_deref()).or(feed_language.map(str::to_string)),
        published,
        updated,
        fetched_at,
        fetcher_version: wirewatch_runtime::VERSION.to_string(),
        published_is_fetch_time: undated,
    })
}

/// Resolve `href` to an absolute URL: as is when absolute, else against `base`. `None` when it
/// cannot be made absolute or is not http(s) (a `javascript:` link is no article link).
pub fn resolve_link(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    if already_normal(href) {
        // Most feed links: what parsing and serialising would give back (`url_fast_path`).
        return Some(href.to_string());
    }
    let url = match Url::parse(href) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(href).ok()?,
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

/// Whether `href` is an absolute http(s) URL that [`Url`] would serialise unchanged, judged
/// conservatively in one pass (URL parsing is a tenth of the time on feeds of short items):
/// a lower-case scheme; a host of lower-case ASCII labels (letters, digits, hyphens; no IDNA
/// `xn--` label; the last starting with a letter, since a numeric one makes an IPv4 address),
/// no port or user; then a path of characters no URL component percent-encodes or rewrites
/// (no backslash, quote, apostrophe, space, ``<>^`{}|[]``, control or non-ASCII character),
/// without a dot segment
/// (`/.`, `%2e`). Anything else goes through the parser.
fn already_normal(href: &str) -> bool {
    let Some(rest) = href
        .strip_prefix("https://")
        .or_else(|| href.strip_prefix("http://"))
    else {
        return false;
    };
    let Some(slash) = rest.find(['/', '?', '#', ':', '@', '\\']) else {
        return false;
    };
    let (host, tail) = rest.split_at(slash);
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with("xn--")
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let last_ok = host
        .rsplit('.')
        .next()
        .is_some_and(|l| l.as_bytes().first().is_some_and(u8::is_ascii_lowercase));
    if !tail.starts_with('/') || !last_ok || !host.split('.').all(label_ok) {
        return false;
    }
    let tail = tail.as_bytes();
    tail.iter().all(|&b| URL_SAFE[usize::from(b)])
        && memchr::memmem::find(tail, b"/.").is_none()
        && memchr::memchr_iter(b'%', tail).all(|i| {
            !(tail.get(i + 1) == Some(&b'2') && tail.get(i + 2).is_some_and(|c| c | 0x20 == b'e'))
        })
}

/// Bytes [`already_normal`] accepts after the host: those no URL component percent-encodes
/// or rewrites.
static URL_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'(' | b')' | b'*' | b'+' | b','
            | b';' | b'=' | b':' | b'@' | b'/' | b'?' | b'#' | b'%');
        b += 1;
    }
    t
};

/// `(Jo Bloggs)` → `Jo Bloggs`: what is left of `jo@example.com (Jo Bloggs)` once the address
/// is taken out.
fn unparenthesise(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .filter(|inner| !inner.contains(['(', ')']))
        .unwrap_or(t)
}

/// Authors or categories as plain text, each once (compared case-insensitively, the first
/// spelling kept), at most [`MAX_LIST_LEN`]. The lists are short, so each new entry is
/// compared with those kept rather than hashed; only non-ASCII entries are lower-cased into
/// a copy (once each).
fn dedup_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    // (entry, its lower case when it is not ASCII)
    let mut kept: Vec<(String, Option<String>)> = Vec::new();
    for item in items {
        let clean = plain_line(item, MAX_SHORT_BYTES);
        if clean.is_empty() {
            continue;
        }
        let lower = (!clean.is_ascii()).then(|| clean.to_lowercase());
        // A lower-cased string has no upper-case ASCII letter, so comparing it with an ASCII
        // one ignoring ASCII case is comparing it with that one's lower case.
        let same = |(k, k_lower): &(String, Option<String>)| match (k_lower, &lower) {
            (None, None) => k.eq_ignore_ascii_case(&clean),
            (Some(kl), None) => kl.eq_ignore_ascii_case(&clean),
            (None, Some(l)) => l.eq_ignore_ascii_case(k),
            (Some(kl), Some(l)) => kl == l,
        };
        if !kept.iter().any(same) {
            kept.push((clean, lower));
            if kept.len() == MAX_LIST_LEN {
                break;
            }
        }
    }
    kept.into_iter().map(|(k, _)| k).collect()
}

fn clean_short(s: Option<&str>) -> Option<String> {
    s.map(|s| truncate(s.trim().to_string(), MAX_SHORT_BYTES))
        .filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Text

/// Marks a block boundary while HTML is stripped; a private-use character no feed should carry
/// (any in the input are removed first).
const BLOCK: char = '\u{E000}';

/// Elements whose boundaries separate lines of text.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

static STRIP_ALL: LazyLock<ammonia::Builder<'static>> = LazyLock::new(ammonia::Builder::empty);

/// HTML (or plain text) → plain text: every tag removed (script and style with their content),
/// entities decoded, whitespace collapsed, block elements (`p`, `br`, `li`, …) as line
/// breaks; at most `max_bytes`.
pub fn html_to_text(html: &str, max_bytes: usize) -> String {
    let mut text = Collapse::new(html.len(), max_bytes);
    // Most titles carry no markup at all, most descriptions simple markup: both skip the
    // HTML parser (html::strip gives what it would; tested on the whole corpus).
    // (0xEE leads the UTF-8 of BLOCK, U+E000.)
    if memchr::memchr3(b'<', b'&', 0xEE, html.as_bytes()).is_none() {
        text.push(html);
    } else if html::strip(html, &mut text).is_none() {
        text.clear();
        text.push(&html_to_text_full(html));
    }
    text.finish()
}

/// [`finish_text`] on `decoded` (the unit tests compare it with its first version).
#[cfg(test)]
fn finish_text(decoded: Cow<'_, str>, max_bytes: usize) -> String {
    let mut text = Collapse::new(decoded.len(), max_bytes);
    text.push(&decoded);
    text.finish()
}

/// Bytes that never need a change in [`Collapse::push`]: printable ASCII, UTF-8 continuation
/// bytes, and lead bytes of characters that are never whitespace, control characters or
/// [`BLOCK`]. Not plain: 0xC2 (U+0080–U+00BF: C1 controls, NEL, NBSP), 0xE1 (U+1680), 0xE2
/// (U+2000–U+2FFF: the general-punctuation spaces), 0xE3 (U+3000), 0xEE (U+E000, [`BLOCK`]).
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b, 0x21..=0x7E | 0x80..=0xBF | 0xC3..=0xE0 | 0xE4..=0xED | 0xEF..=0xF4);
        b += 1;
    }
    t
};

/// Whether the eight bytes of `x` (little-endian) can all join a [`Collapse`] run as they
/// are: printable ASCII (`0x20..=0x7E`), no two spaces in a row, and no space last (whose
/// fate depends on the next byte). A space inside is then followed by a printable non-space,
/// which is the byte loop's rule. Word-at-a-time tests, exact as booleans.
fn plain_ascii_run(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte below 0x20 (exact for thresholds up to 0x80).
    let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    // Some byte above 0x7E: adding 0x7F - 0x7E = 1 sets the high bit of 0x7F; a byte of 0x80
    // or more has its own high bit set.
    let above = (x.wrapping_add(ONES) | x) & HIGH;
    // Flags of the bytes equal to a space (no carry between bytes: at most 0x7F + 0x7F).
    let y = x ^ (ONES * 0x20);
    let spaces = !(((y & !HIGH).wrapping_add(!HIGH)) | y) & HIGH;
    below == 0 && above == 0 && spaces & (spaces >> 8) == 0 && spaces >> 63 == 0
}

/// What separates the next word from the previous one.
#[derive(Debug, PartialEq)]
enum Gap {
    None,
    Space,
    Line,
}

/// The last step of [`html_to_text`], fed text piece by piece: control characters removed,
/// whitespace collapsed (Unicode's: one space), a run containing a [`BLOCK`] one line break,
/// at most `max` bytes.
pub(crate) struct Collapse {
    out: String,
    gap: Gap,
    max: usize,
}

impl Collapse {
    fn new(input_len: usize, max: usize) -> Self {
        Collapse {
            out: String::with_capacity(input_len.min(max.saturating_add(4))),
            gap: Gap::None,
            max,
        }
    }

    /// Whether more text would be cut anyway.
    pub(crate) fn full(&self) -> bool {
        self.out.len() > self.max
    }

    /// A line break before the next word.
    pub(crate) fn block(&mut self) {
        self.gap = Gap::Line;
    }

    fn clear(&mut self) {
        self.out.clear();
        self.gap = Gap::None;
    }

    /// Append `text`. Runs that need no change (no whitespace but single ASCII spaces between
    /// words, no control character, no mark) are copied whole; the rest char by char.
    pub(crate) fn push(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() && !self.full() {
            let b = bytes[i];
            if PLAIN[usize::from(b)] {
                let mut j = i + 1;
                // Eight bytes at a time while they are printable ASCII with single spaces.
                while let Some(chunk) = bytes.get(j..j + 8) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    if !plain_ascii_run(u64::from_le_bytes(word)) {
                        break;
                    }
                    j += 8;
                }
                while j < bytes.len() {
                    let c = bytes[j];
                    if PLAIN[usize::from(c)]
                        || (c == b' ' && bytes.get(j + 1).is_some_and(|n| PLAIN[usize::from(*n)]))
                    {
                        j += 1;
                    } else {
                        break;
                    }
                }
                // A run ends on a char boundary: it stops only before an ASCII byte or a lead
                // byte it does not take.
                self.word(&text[i..j]);
                i = j;
                continue;
            }
            if matches!(b, b'\t'..=b'\r' | b' ') {
                // A run of ASCII whitespace at once.
                if self.gap == Gap::None {
                    self.gap = Gap::Space;
                }
                i += 1;
                while i < bytes.len() && matches!(bytes[i], b'\t'..=b'\r' | b' ') {
                    i += 1;
                }
                continue;
            }
            let c = text[i..].chars().next().unwrap_or(' ');
            let len = c.len_utf8();
            if c == BLOCK {
                self.gap = Gap::Line;
            } else if c.is_whitespace() {
                if self.gap == Gap::None {
                    self.gap = Gap::Space;
                }
            } else if !c.is_control() {
                self.word(&text[i..i + len]);
            }
            i += len;
        }
    }

    /// Append text without whitespace at its ends, after the pending gap.
    fn word(&mut self, w: &str) {
        if !self.out.is_empty() {
            match self.gap {
                Gap::Line => self.out.push('\n'),
                Gap::Space => self.out.push(' '),
                Gap::None => {}
            }
        }
        self.gap = Gap::None;
        self.out.push_str(w);
    }

    fn finish(self) -> String {
        truncate(self.out, self.max)
    }
}

/// The full path of [`html_to_text`] before whitespace: block marks, html5ever's parse
/// through ammonia (every tag removed, script and style with their content), serialised and
/// its entities decoded.
fn html_to_text_full(html: &str) -> String {
    let marked = mark_blocks(html);
    let stripped = STRIP_ALL.clean(&marked).to_string();
    html_escape::decode_html_entities(&stripped).into_owned()
}

/// [`html_to_text`] on one line: for titles, names, categories.
pub fn plain_line(html: &str, max_bytes: usize) -> String {
    let text = html_to_text(html, max_bytes.saturating_mul(2));
    let joined = if text.contains('\n') {
        text.replace('\n', " ")
    } else {
        text
    };
    truncate(joined, max_bytes)
}

/// Insert [`BLOCK`] before each block-level tag, so that `<p>a</p><p>b</p>` does not become
/// `ab` once the tags are gone.
fn mark_blocks(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 16);
    let mut rest = html;
    while let Some(pos) = rest.find(['<', BLOCK]) {
        let (before, at) = rest.split_at(pos);
        out.push_str(before);
        if at.starts_with(BLOCK) {
            rest = &at[BLOCK.len_utf8()..];
            continue;
        }
        if is_block_tag(&at[1..]) {
            out.push(BLOCK);
        }
        out.push('<');
        rest = &at[1..];
    }
    out.push_str(rest);
    out
}

/// Whether the markup after a `<` names a block-level tag (`p`, `/p`, `BR/`): its leading
/// letters and digits (at most 12), lower-cased, are in [`BLOCK_TAGS`].
fn is_block_tag(after_lt: &str) -> bool {
    let name = after_lt.trim_start_matches('/').as_bytes();
    let len = name
        .iter()
        .take(12)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let name = &name[..len];
    BLOCK_TAGS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
}

/// Cut `s` to at most `max` bytes at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        let kept = s.trim_end().len();
        s.truncate(kept);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Pre-pass

/// The tolerant rewrites before feed-rs sees the (already UTF-8) document.
fn prepare_text(mut text: Cow<'_, str>) -> Cow<'_, [u8]> {
    let fixes: [fn(&str) -> Option<String>; 7] = [
        recover::fix_for_utf8_parser,
        fix_rss_version,
        recover::fix_rss_without_channel,
        recover::fix_rss090,
        recover::fix_atom03,
        recover::fix_rdf_item_links,
        recover::fix_text_constructs,
    ];
    for fix in fixes {
        if let Some(fixed) = fix(&text) {
            text = Cow::Owned(fixed);
        }
    }
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// Whether the document (past leading whitespace) is JSON.
fn is_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// RSS versions feed-rs dispatches on.
const KNOWN_RSS_VERSIONS: [&str; 4] = ["2.0", "0.91", "0.92", ""];

/// If the root element is `<rss>` without a `version` attribute (or with one feed-rs does not
/// know, like `0.94` or `2.01`), the document with `version="2.0"`; `None` when nothing needs
/// fixing.
pub fn fix_rss_version(xml: &str) -> Option<String> {
    let root = root_element_start(xml)?;
    let after = &xml[root + 1..];
    let name_len = after
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(after.len());
    if &after[..name_len] != "rss" {
        return None;
    }
    let attrs_start = root + 1 + name_len;
    let attrs_end = attrs_start + tag_end(&xml[attrs_start..])?;
    let attrs = &xml[attrs_start..attrs_end];
    match attr_value(attrs, "version") {
        None => {
            let mut out = String::with_capacity(xml.len() + 16);
            out.push_str(&xml[..attrs_start]);
            out.push_str(" version=\"2.0\"");
            out.push_str(&xml[attrs_start..]);
            Some(out)
        }
        Some((_, v)) if KNOWN_RSS_VERSIONS.contains(&v.trim()) => None,
        Some((range, _)) => {
            let mut out = String::with_capacity(xml.len());
            out.push_str(&xml[..attrs_start + range.start]);
            out.push_str("2.0");
            out.push_str(&xml[attrs_start + range.end..]);
            Some(out)
        }
    }
}

/// Byte offset of the `<` of the root element, past declarations, comments, processing
/// instructions and a doctype.
pub(crate) fn root_element_start(xml: &str) -> Option<usize> {
    let mut i = 0;
    loop {
        let rest = &xml[i..];
        let skip = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .len();
        i += skip;
        let rest = &xml[i..];
        if rest.starts_with("<?") {
            i += rest.find("?>")? + 2;
        } else if rest.starts_with("<!--") {
            i += rest.find("-->")? + 3;
        } else if rest.starts_with("<!") {
            // A doctype, possibly with an internal subset in [ ].
            let close = match (rest.find('['), rest.find('>')) {
                (Some(b), Some(g)) if b < g => rest.find("]>").map(|p| p + 2)?,
                (_, Some(g)) => g + 1,
                _ => return None,
            };
            i += close;
        } else if rest.starts_with('<') {
            return Some(i);
        } else {
            return None;
        }
    }
}

/// Offset of the `>` ending a start tag, skipping quoted attribute values.
pub(crate) fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Find attribute `name` in the attribute text of a tag; the byte range of its value and the
/// value.
pub(crate) fn attr_value<'a>(
    attrs: &'a str,
    name: &str,
) -> Option<(std::ops::Range<usize>, &'a str)> {
    let b = attrs.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/' || b[i] == b'?') {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'>' {
            i += 1;
        }
        let attr_name = &attrs[name_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            if attr_name.is_empty() {
                return None;
            }
            continue; // attribute without value
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let (vs, ve) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let vs = i + 1;
                let ve = vs + attrs[vs..].find(q as char)?;
                i = ve + 1;
                (vs, ve)
            }
            Some(_) => {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                (vs, i)
            }
            None => return None,
        };
        if attr_name == name {
            return Some((vs..ve, &attrs[vs..ve]));
        }
    }
    None
}

/// Every file under the shared corpus's `feeds/` directory with its bytes (for the tests that
/// compare two implementations on all of it).
#[cfg(test)]
fn corpus_files() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");
    let mut dirs = vec![std::path::PathBuf::from(root)];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, bytes));
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wirewatch_proto::stable_id;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");

    fn read(rel: &str) -> Vec<u8> {
        let path = format!("{CORPUS}/{rel}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn feed(id: &str, url: &str) -> FeedRef {
        FeedRef {
            id: id.into(),
            url: url.into(),
            title: None,
        }
    }

    fn parse(rel: &str, url: &str) -> (FeedInfo, Vec<RawStory>) {
        let base = Url::parse(url).unwrap();
        parse_feed(&read(rel), &feed("t", url), Some(&base), Utc::now())
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    #[test]
    fn rss2_guardian() {
        let (info, stories) = parse(
            "rss-parser/test/input/guardian.rss",
            "https://www.theguardian.com/uk/rss",
        );
        assert_eq!(info.kind, FeedKind::Rss);
        assert_eq!(info.items, 55);
        assert_eq!(stories.len(), 55);
        let first = &stories[0];
        assert!(!first.title.is_empty());
        assert!(first.link.as_deref().unwrap().starts_with("https://"));
        assert!(first.guid.is_some());
        assert_eq!(first.id, stable_id(&["t", first.guid.as_deref().unwrap()]));
        assert!(first.published.is_some());
        for s in &stories {
            let text = s.text();
            assert!(
                !text.contains('<') || !text.contains('>'),
                "markup left: {text}"
            );
            assert!(
                !text.contains("&amp;") && !text.contains("&#"),
                "entity left: {text}"
            );
        }
        // Guardian summaries are HTML paragraphs.
        assert!(stories.iter().any(|s| s.summary.is_some()));
        assert_eq!(first.feed.title, info.title);
    }

    #[test]
    fn atom_heise() {
        let (info, stories) = parse(
            "rss-parser/test/input/heise.atom",
            "https://www.heise.de/newsticker/heise-atom.xml",
        );
        assert_eq!(info.kind, FeedKind::Atom);
        assert!(!stories.is_empty());
        for s in &stories {
            assert!(s.guid.is_some());
            assert!(s.link.as_deref().unwrap().starts_with("http"));
            assert!(!s.title.is_empty());
        }
    }

    #[test]
    fn json_feed() {
        let (info, stories) = parse(
            "feed-rs/fixture/jsonfeed/jsonfeed_example_1.json",
            "https://daringfireball.net/feeds/json",
        );
        assert_eq!(info.kind, FeedKind::Json);
        assert_eq!(info.title.as_deref(), Some("Daring Fireball"));
        assert!(!stories.is_empty());
        assert_eq!(stories[0].title, "How Jeff Bezos’s iPhone X Was Hacked");
        assert!(stories[0].content.is_some() || stories[0].summary.is_some());
        assert!(stories[0].published.is_some());
    }

    #[test]
    fn rss_without_version_and_undeclared_latin1_uol() {
        let bytes = read("rss-parser/test/input/uolNoticias.rss");
        // feed-rs alone rejects it.
        assert!(feed_rs::parser::parse(&bytes[..]).is_err());
        let base = Url::parse("http://rss.uol.com.br/feed/noticias.xml").unwrap();
        let (info, stories) =
            parse_feed(&bytes, &feed("uol", base.as_str()), Some(&base), Utc::now()).unwrap();
        assert_eq!(info.title.as_deref(), Some("UOL Noticias"));
        assert_eq!(info.description.as_deref(), Some("Últimas Notícias"));
        assert_eq!(info.language, None, "empty <language> is no language");
        assert_eq!(stories.len(), 15);
        assert_eq!(
            stories[0].title,
            "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"
        );
        let summary = stories[0].summary.as_deref().unwrap();
        assert!(summary.starts_with("Líder na pesquisa Ibope"), "{summary}");
        // No guid: the id is made from the link.
        assert!(stories[0].guid.is_none());
        assert_eq!(
            stories[0].id,
            stable_id(&["uol", stories[0].link.as_deref().unwrap()])
        );
    }

    #[test]
    fn html_in_titles_is_stripped() {
        let (_, stories) = parse(
            "gofeed/testdata/parser/rss/rss_channel_item_title_escaped_markup.xml",
            "https://example.com/feed",
        );
        assert_eq!(stories[0].title, "Item Title");
        let (_, stories) = parse(
            "feedjira/spec/sample_feeds/google_alerts_atom.xml",
            "https://www.google.com/alerts/feeds/1/2",
        );
        assert!(!stories.is_empty());
        assert!(stories.iter().any(|s| s.title.contains("Slack")));
        for s in &stories {
            assert!(
                !s.title.contains("<b>") && !s.title.contains("&lt;"),
                "{}",
                s.title
            );
        }
    }

    #[test]
    fn rdf_and_relative_links() {
        let (info, stories) = parse(
            "feed-rs/fixture/rss1/rss_1.0_spec_1.xml",
            "http://example.com/rdf",
        );
        assert_eq!(info.kind, FeedKind::Rss);
        assert!(!stories.is_empty());
        let (_, stories) = parse(
            "feed-rs/fixture/rss2/rss_2.0_relurl_1.xml",
            "https://example.org/blog/feed.xml",
        );
        for s in &stories {
            let link = s.link.as_deref().unwrap();
            assert!(Url::parse(link).is_ok(), "{link}");
        }
    }

    /// The first implementation of [`finish_text`] (split on marks, then on whitespace), kept
    /// as the reference for the one-pass version.
    fn finish_text_reference(decoded: &str, max_bytes: usize) -> String {
        let decoded: String = decoded
            .chars()
            .filter(|c| !c.is_control() || c.is_whitespace())
            .collect();
        let mut out = String::new();
        for line in decoded.split(BLOCK) {
            let mut first = true;
            for word in line.split_whitespace() {
                if first {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    first = false;
                } else {
                    out.push(' ');
                }
                out.push_str(word);
            }
            if out.len() > max_bytes {
                break;
            }
        }
        truncate(out, max_bytes)
    }

    #[test]
    fn finish_text_matches_its_reference() {
        let pieces = [
            "a", "word", " ", "  ", "\t", "\n", "\u{a0}", "\u{3000}", "\u{1}", "\u{85}", "\u{9f}",
            "é", "日本", "\u{e000}", "x\u{7f}y", "~", "!",
        ];
        // Every sequence of up to four pieces, at several cut lengths.
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &inputs {
                for p in pieces {
                    next.push(format!("{s}{p}"));
                }
            }
            inputs.extend(next);
            inputs.dedup();
        }
        for s in &inputs {
            for max in [0, 1, 2, 3, 5, 8, 64] {
                assert_eq!(
                    finish_text(Cow::Borrowed(s), max),
                    finish_text_reference(s, max),
                    "{s:?} max {max}"
                );
            }
        }
    }

    #[test]
    fn sanitises_text() {
        assert_eq!(
            html_to_text(
                "<p>Hello&nbsp;<b>world</b> &amp; friends</p><p>Second\n  para</p>",
                1000
            ),
            "Hello world & friends\nSecond para"
        );
        assert_eq!(
            html_to_text(
                "<script>alert(1)</script>Safe<style>p{}</style> text<br/>next",
                1000
            ),
            "Safe text\nnext"
        );
        assert_eq!(
            html_to_text("AT&amp;T &lt;b&gt; 3 &gt; 2", 1000),
            "AT&T <b> 3 > 2"
        );
        assert_eq!(
            plain_line(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>A</p><p>B</p></div>",
                100
            ),
            "A B"
        );
        assert_eq!(html_to_text("", 10), "");
        let long = "é".repeat(100);
        let cut = html_to_text(&long, 11);
        assert!(cut.len() <= 11 && cut.chars().all(|c| c == 'é'));
    }

    /// Every URL the fast check passes is one `url` gives back unchanged: on every link-like
    /// string of the corpus and on random strings made of the characters that matter.
    #[test]
    fn url_fast_path() {
        let same = |href: &str| {
            if already_normal(href) {
                let parsed = Url::parse(href).map(String::from);
                assert_eq!(parsed.as_deref(), Ok(href), "fast path would be wrong");
                true
            } else {
                false
            }
        };
        let mut taken = 0;
        let mut seen = 0;
        for dir in [
            "rss-parser/test/input",
            "miniflux/internal/reader/parser/testdata",
        ] {
            for entry in std::fs::read_dir(format!("{CORPUS}/{dir}")).unwrap() {
                let text = String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap())
                    .into_owned();
                for (i, _) in text.match_indices("http") {
                    let end = text[i..]
                        .find(['<', '"', '\'', ' ', '\n', ']'])
                        .map_or(text.len(), |e| i + e);
                    seen += 1;
                    taken += usize::from(same(&text[i..end]));
                }
            }
        }
        assert!(taken > seen / 2, "{taken} of {seen}");
        for s in [
            "http://example.com",
            "http://Example.com/",
            "http://1.2.3/",
            "http://a.0x1/",
            "http://a.b:80/",
            "http://a@b.c/",
            "http://b.c/a/../d",
            "http://b.c/%2E/",
            "http://b.c/a b",
            "http://b.c/?q='",
            "http://b.c/#`",
            "http://xn--p1ai/",
            "http://b.c./",
            "http://b..c/",
            "http://b.c\\d",
            "https://b.c/x?y#z",
        ] {
            same(s);
        }
        // Random strings over the characters that change parsing.
        let alphabet: Vec<char> = "aZ0x9-._~!$&()*+,;=:@/?#%2eE'\"<>^`{}|[] \t\\é"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut taken = 0;
        for _ in 0..200_000 {
            let mut s = String::from(if next() % 2 == 0 {
                "http://"
            } else {
                "https://"
            });
            // A plausible host, mostly a slash, then anything.
            for _ in 0..1 + next() % 6 {
                s.push(['a', 'b', '.', '-', '1', 'x', 'n'][(next() % 7) as usize]);
            }
            if next() % 5 != 0 {
                s.push('/');
            }
            for _ in 0..next() % 16 {
                s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            taken += usize::from(same(&s));
        }
        assert!(taken > 1_000, "{taken}");
    }

    /// Case-insensitive as `str::to_lowercase` is, also across ASCII and non-ASCII spellings.
    #[test]
    fn lists_drop_case_variants() {
        let list = dedup_list(
            [
                "Politics",
                "POLITICS",
                "Ελλάδα",
                "ΕΛΛΆΔΑ",
                "\u{212A}elvin",
                "kelvin",
                "Kelvin",
                " ",
                "Économie",
                "économie",
                "Economy",
            ]
            .into_iter(),
        );
        assert_eq!(
            list,
            ["Politics", "Ελλάδα", "\u{212A}elvin", "Économie", "Economy"]
        );
    }

    /// The collapse fed a whole text gives what it gives fed one character at a time (where
    /// no run, and so no word-at-a-time step, spans two characters), for any mix of words,
    /// single and double spaces, other whitespace, block marks, controls and non-ASCII.
    #[test]
    fn collapse_runs_equal_char_by_char() {
        let alphabet = [
            "a", "bc", "word", " ", " ", "  ", "\n", "\t", "é", "\u{a0}", "\u{2003}", "\u{1}",
            "\u{7f}", "~", "<", "日本",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for round in 0..20_000 {
            let mut text = String::new();
            for _ in 0..next(40) {
                let piece = alphabet[next(alphabet.len())];
                text.push_str(if round % 3 == 0 && piece == "a" {
                    "abcdefghij"
                } else {
                    piece
                });
                if next(8) == 0 {
                    text.push(BLOCK);
                }
            }
            for max in [usize::MAX / 2, 17] {
                let mut whole = Collapse::new(text.len(), max);
                whole.push(&text);
                let mut by_char = Collapse::new(text.len(), max);
                for c in text.chars() {
                    by_char.push(c.encode_utf8(&mut [0; 4]));
                }
                assert_eq!(whole.finish(), by_char.finish(), "{text:?} max {max}");
            }
        }
    }

    #[test]
    fn resolves_links() {
        let base = Url::parse("https://news.example/world/feed.xml").unwrap();
        assert_eq!(
            resolve_link("/a/1", Some(&base)).as_deref(),
            Some("https://news.example/a/1")
        );
        assert_eq!(
            resolve_link("b.html", Some(&base)).as_deref(),
            Some("https://news.example/world/b.html")
        );
        assert_eq!(
            resolve_link(" https://other.example/x ", Some(&base)).as_deref(),
            Some("https://other.example/x")
        );
        assert_eq!(resolve_link("/a/1", None), None);
        assert_eq!(resolve_link("javascript:void(0)", Some(&base)), None);
        assert_eq!(resolve_link("", Some(&base)), None);
    }

    #[test]
    fn relative_item_links_use_feed_url_then_feed_link() {
        let xml =
            br#"<rss version="2.0"><channel><title>T</title><link>https://site.example/</link>
            <item><title>One</title><link>/story/1</link></item></channel></rss>"#;
        let base = Url::parse("https://feeds.example/x/rss").unwrap();
        let (_, s) = parse_feed(xml, &feed("f", base.as_str()), Some(&base), Utc::now()).unwrap();
        assert_eq!(s[0].link.as_deref(), Some("https://feeds.example/story/1"));
        let (_, s) = parse_feed(xml, &feed("f", "file.xml"), None, Utc::now()).unwrap();
        assert_eq!(s[0].link.as_deref(), Some("https://site.example/story/1"));
    }

    #[test]
    fn rss_version_fix() {
        assert_eq!(
            fix_rss_version("<?xml version=\"1.0\"?>\n<!-- c --><rss>\n<channel/></rss>")
                .as_deref(),
            Some("<?xml version=\"1.0\"?>\n<!-- c --><rss version=\"2.0\">\n<channel/></rss>")
        );
        assert_eq!(
            fix_rss_version("<rss xmlns:dc=\"x\" version='0.94'><channel/></rss>").as_deref(),
            Some("<rss xmlns:dc=\"x\" version='2.0'><channel/></rss>")
        );
        assert_eq!(
            fix_rss_version("<rss version=\"2.0\"><channel/></rss>"),
            None
        );
        assert_eq!(fix_rss_version("<feed><title>x</title></feed>"), None);
        assert_eq!(
            fix_rss_version("<rss\n  xmlns:a=\"b\">"),
            Some("<rss version=\"2.0\"\n  xmlns:a=\"b\">".into())
        );
    }

    #[test]
    fn charset_detection() {
        // Declared ISO-8859-1.
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>S\xe3o Paulo</title></channel></rss>";
        let s = to_utf8(latin, None);
        assert!(s.contains("São Paulo") && !s.contains("encoding"), "{s}");
        // Undeclared, HTTP says koi8-r.
        let koi = b"<rss><channel><title>\xf0\xd2\xc9\xd7\xc5\xd4</title></channel></rss>";
        assert!(to_utf8(koi, Some("koi8-r")).contains("Привет"));
        // Valid UTF-8 is borrowed untouched.
        assert!(matches!(
            to_utf8("<rss>é</rss>".as_bytes(), None),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn not_a_feed_is_a_parse_error_naming_the_url() {
        let e = parse_feed(
            b"<html><body>hi</body></html>",
            &feed("f", "https://x/y"),
            None,
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), "parse");
        assert!(e.to_string().contains("https://x/y"), "{e}");
    }

    #[test]
    fn items_without_identity_are_skipped_and_duplicates_collapsed() {
        let xml = br#"<rss version="2.0"><channel><title>T</title>
            <item><author>only an author</author></item>
            <item><description>Only text</description></item>
            <item><guid>g1</guid><title>A</title></item>
            <item><guid>g1</guid><title>A again</title></item></channel></rss>"#;
        let (info, s) = parse_feed(xml, &feed("f", "https://x/"), None, Utc::now()).unwrap();
        assert_eq!(info.items, 4);
        assert_eq!(info.skipped_items, 1);
        assert_eq!(s.len(), 2);
        // A description-only item is a story, named by its text.
        assert_eq!(s[0].id, stable_id(&["f", "Only text"]));
        assert_eq!(s[1].id, stable_id(&["f", "g1"]));
    }

    #[test]
    fn undated_stories_get_the_fetch_time_marked_as_such() {
        let xml = br#"<rss version="2.0"><channel><title>T</title>
            <item><guid>dated</guid><pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item>
            <item><guid>updated-only</guid><dc:date xmlns:dc="http://purl.org/dc/elements/1.1/">2025-06-10T05:00:00Z</dc:date></item>
            <item><guid>undated</guid><title>No date</title></item></channel></rss>"#;
        let at = "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let (_, s) = parse_feed(xml, &feed("f", "https://x/"), None, at).unwrap();
        let by = |g: &str| s.iter().find(|s| s.guid.as_deref() == Some(g)).unwrap();
        assert!(!by("dated").published_is_fetch_time);
        assert_ne!(by("dated").published, Some(at));
        assert!(!by("updated-only").published_is_fetch_time);
        let undated = by("undated");
        assert!(undated.published_is_fetch_time);
        assert_eq!(undated.published, Some(at));
        assert_eq!(undated.updated, None);
        // The mark is on the wire only when set.
        let json = serde_json::to_value(undated).unwrap();
        assert_eq!(json["published_is_fetch_time"], true);
        let json = serde_json::to_value(by("dated")).unwrap();
        assert!(json.get("published_is_fetch_time").is_none());
    }
}
