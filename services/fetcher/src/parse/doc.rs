//! The parsed document between the parsers and the normaliser: what either parse path (the
//! quick-xml fast path or feed-rs) found, before any text is cleaned. Strings borrow from the
//! input where the fast path could (`Cow`), so a common feed is not copied before
//! normalisation.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, FeedType, Link};

use super::FeedKind;

/// A parsed feed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Doc<'a> {
    pub kind: Option<FeedKind>,
    pub title: Option<Cow<'a, str>>,
    /// The home-page link as written (relative or absolute).
    pub link: Option<Cow<'a, str>>,
    pub language: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub updated: Option<DateTime<Utc>>,
    pub entries: Vec<DocEntry<'a>>,
    pub ext: Ext<'a>,
}

/// A parsed item or entry.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DocEntry<'a> {
    /// GUID / Atom id as written; empty when there is none.
    pub id: Cow<'a, str>,
    /// `xml:base` in effect for the entry's content, if any.
    pub base: Option<String>,
    /// The article link as written.
    pub link: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    pub summary: Option<Cow<'a, str>>,
    pub content: Option<Cow<'a, str>>,
    /// Author names (or e-mail addresses when there is no name).
    pub authors: Vec<Cow<'a, str>>,
    pub categories: Vec<Cow<'a, str>>,
    pub language: Option<Cow<'a, str>>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub ext: Ext<'a>,
}

/// What RSS documents say through other vocabularies (Dublin Core, Atom, iTunes) and the link
/// rule feedparser applies to RSS: fallbacks for fields the RSS elements leave empty. Always
/// read by the scanner (`scan`), in both parse paths.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Ext<'a> {
    /// Whether the scanner read this item or channel (in the feed-rs path it may not have).
    pub scanned: bool,
    /// RSS link as feedparser reads it: the last `<link>` (text or `href`), else the first
    /// `atom:link` whose `rel` is `alternate` or absent.
    pub link: Option<String>,
    pub title: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub summary: Option<Cow<'a, str>>,
    pub content: Option<Cow<'a, str>>,
    pub language: Option<Cow<'a, str>>,
    pub published: Option<DateTime<Utc>>,
    pub authors: Vec<Cow<'a, str>>,
}

impl Doc<'static> {
    /// The document feed-rs parsed.
    pub fn from_feed_rs(feed: Feed) -> Self {
        let kind = match feed.feed_type {
            FeedType::Atom => FeedKind::Atom,
            FeedType::JSON => FeedKind::Json,
            FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2 => FeedKind::Rss,
        };
        Doc {
            kind: Some(kind),
            title: feed.title.map(|t| Cow::Owned(t.content)),
            link: pick_link(&feed.links).map(|l| Cow::Owned(l.href.clone())),
            language: feed.language.map(Cow::Owned),
            description: feed.description.map(|t| Cow::Owned(t.content)),
            updated: feed.updated,
            entries: feed.entries.into_iter().map(entry_from_feed_rs).collect(),
            ext: Ext::default(),
        }
    }
}

fn entry_from_feed_rs(e: Entry) -> DocEntry<'static> {
    DocEntry {
        link: pick_link(&e.links).map(|l| Cow::Owned(l.href.clone())),
        id: Cow::Owned(e.id),
        base: e.base,
        title: e.title.map(|t| Cow::Owned(t.content)),
        summary: e.summary.map(|t| Cow::Owned(t.content)),
        content: e.content.and_then(|c| c.body).map(Cow::Owned),
        authors: e
            .authors
            .into_iter()
            .filter_map(|p| p.name.or(p.email))
            .map(Cow::Owned)
            .collect(),
        categories: e
            .categories
            .into_iter()
            .map(|c| Cow::Owned(c.label.unwrap_or(c.term)))
            .collect(),
        language: e.language.map(Cow::Owned),
        published: e.published,
        updated: e.updated,
        ext: Ext::default(),
    }
}

/// The link that points at the article: `alternate` (or no rel) first, then any.
pub(crate) fn pick_link(links: &[Link]) -> Option<&Link> {
    links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")) && !l.href.trim().is_empty())
        .or_else(|| links.iter().find(|l| !l.href.trim().is_empty()))
}

impl<'a> Doc<'a> {
    /// Take the scanner's extension fields (and RSS links) for this feed-rs document, when the
    /// scanner saw the same items.
    pub fn supplement(&mut self, scanned: Doc<'a>) {
        if scanned.entries.len() != self.entries.len() || !scanned.ext.scanned {
            return;
        }
        self.ext = scanned.ext;
        for (mine, theirs) in self.entries.iter_mut().zip(scanned.entries) {
            mine.ext = theirs.ext;
        }
    }
}
