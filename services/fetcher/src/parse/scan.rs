//! One pass over an RSS or Atom document into a [`Doc`], borrowing text from the input
//! wherever no entity or second text piece forces a copy: the strict mode with [`Tokens`]
//! (slices of the validated text, quick-xml's reading without its per-event UTF-8 check),
//! the lenient mode with quick-xml's reader.
//!
//! Two modes:
//! - **strict** (the fast path): RSS 2.0 and Atom 1.0 as feed-rs reads them, field for field
//!   (same elements, same last-one-wins assignments, same date parser). Anything whose meaning
//!   depends on what the pre-pass or feed-rs would do in an unusual case — a DOCTYPE, RDF,
//!   RSS 0.91/0.92, Atom 0.3, `xml:base`, a prefix without a declaration, a namespace
//!   declared again differently, a text element with child elements, `mode`/odd `type`
//!   attributes, out-of-line content, mixed text and CDATA, a NUL, ill-formed XML — makes it
//!   return `None`, and the caller takes the feed-rs path. `tests/corpus.rs` checks that both
//!   paths give the same stories on every corpus file the fast path accepts.
//! - **lenient** (the supplement): RSS, RSS 1.0 (RDF) only; reads the fields feed-rs does not
//!   ([`Ext`](super::doc::Ext): Dublin Core, Atom and iTunes fallbacks, feedparser's RSS
//!   link rule) so that the feed-rs path gets them too. Unbound prefixes are read by their
//!   usual names (`dc:`, `atom:`, `itunes:`, `content:`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::parser::{ElementParser, Parser};
use quick_xml::Reader;

use super::date::parse_date;
use super::doc::{Doc, DocEntry};
use super::FeedKind;

/// Namespaces the scanner tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Rss,
    Atom,
    Dc,
    Content,
    Itunes,
    Wfw,
    Rdf,
    Other,
}

const RSS090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";

fn ns_of_uri(uri: &str) -> Ns {
    match uri {
        "http://purl.org/rss/1.0/" => Ns::Rss,
        // RSS 0.90 (Netscape): the pre-pass renames it to RSS 1.0's namespace.
        RSS090_NS => Ns::Rss,
        "http://www.w3.org/2005/Atom" => Ns::Atom,
        "http://purl.org/dc/elements/1.1/" => Ns::Dc,
        "http://purl.org/rss/1.0/modules/content/" => Ns::Content,
        "http://wellformedweb.org/CommentAPI/" => Ns::Wfw,
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Ns::Rdf,
        u if u.eq_ignore_ascii_case("http://www.itunes.com/dtds/podcast-1.0.dtd") => Ns::Itunes,
        _ => Ns::Other,
    }
}

/// The namespace a prefix usually stands for, for documents that forget to declare it.
fn ns_of_conventional_prefix(prefix: &str) -> Ns {
    match prefix {
        "atom" => Ns::Atom,
        "dc" => Ns::Dc,
        "content" => Ns::Content,
        "itunes" => Ns::Itunes,
        "rdf" => Ns::Rdf,
        _ => Ns::Other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rss,
    Rdf,
    Atom,
}

/// Where an element sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Channel,
    Item,
    /// An Atom person (`author`) of the current entry: core (Atom documents) or ext (RSS).
    Person {
        ext: bool,
    },
    Other,
}

/// The field a captured text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    // Feed level.
    FeedTitle,
    FeedDescription,
    FeedLanguage,
    FeedUpdated,
    FeedPlainLink,
    FeedDcTitle,
    FeedDcLanguage,
    FeedDcDescription,
    FeedItunesSummary,
    // Entry level.
    Id,
    /// Atom id / RSS guid: feed-rs keeps only a present text.
    Guid,
    Title,
    Summary,
    Content,
    RssAuthor,
    Category,
    Published,
    Updated,
    /// Atom `<updated>` / `<published>`: assigned only when the element has text.
    AtomUpdated,
    AtomPublished,
    PlainLink,
    CommentsFeedLink,
    DcTitle,
    DcDescription,
    ItunesSummary,
    ExtContent,
    ExtPublished,
    ExtAuthor,
    PersonName,
    PersonEmail,
    /// RSS 1.0: `dc:language` is the feed's language (as written).
    RdfLanguage,
    /// RSS 1.0: `dc:description` is the summary when none came before it.
    RdfDescription,
}

/// A text being collected.
struct Capture<'a> {
    field: Field,
    depth: usize,
    text: Option<Cow<'a, str>>,
    /// The first non-blank piece was text (not CDATA): a later CDATA makes "mixed" content the
    /// pre-pass would rewrite.
    text_first: bool,
    /// An element inside the text (lenient mode: the text is dropped).
    broken: bool,
}

impl<'a> Capture<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        if piece.is_empty() {
            return;
        }
        match &mut self.text {
            None => self.text = Some(piece),
            Some(t) => t.to_mut().push_str(&piece),
        }
    }
}

/// Person fields being collected (Atom `<author>`).
#[derive(Default)]
struct PersonAcc<'a> {
    name: Option<Cow<'a, str>>,
    email: Option<Cow<'a, str>>,
}

/// RSS links met so far in a channel or item.
#[derive(Default)]
struct LinkAcc {
    /// The last plain `<link>` (text or `href`).
    plain: Option<String>,
    /// The first `atom:link` with `rel` `alternate` or none.
    atom: Option<String>,
}

impl LinkAcc {
    fn take(&mut self) -> Option<String> {
        let acc = std::mem::take(self);
        acc.plain.or(acc.atom)
    }
}

/// Read `xml` into a [`Doc`]; `None` when it is not RSS/Atom or (strict) anything unusual.
pub(crate) fn scan(xml: &str, strict: bool) -> Option<Doc<'_>> {
    Scanner::new(strict).run(xml)
}

struct Scanner<'a> {
    strict: bool,
    mode: Option<Mode>,
    doc: Doc<'a>,
    stack: Vec<Ctx>,
    prefixes: Vec<(String, Ns)>,
    capture: Option<Capture<'a>>,
    person: PersonAcc<'a>,
    /// Atom links of the feed and of the current entry: (href, rel) in document order.
    feed_links: Vec<(String, Option<String>)>,
    links: Vec<(String, Option<String>)>,
    /// RSS links of the channel and of the current item.
    channel_link: LinkAcc,
    item_link: LinkAcc,
    channel_seen: bool,
    /// `xml:base` in effect (lenient mode only: strict refuses it): (element depth, base).
    bases: Vec<(usize, url::Url)>,
    /// Attribute text last found to declare only prefixes already in force.
    known_decls: String,
    /// What decides whether feed-rs keeps the current RDF item.
    rdf_item: RdfItem,
    /// Inside an RSS item (at any depth).
    in_item: bool,
}

/// An RDF item as the pre-pass and feed-rs see it: feed-rs drops items without a link, and
/// the pre-pass gives `rdf:about` as the link to items with no `<link…` element.
#[derive(Default)]
struct RdfItem {
    about: Option<String>,
    /// A start tag whose name begins with `link` (the pre-pass's textual test).
    link_element: bool,
    /// `<link>` elements with text.
    links: usize,
}

/// The events the scanner acts on; empty elements come as `Start` + `End`.
enum Ev<'a> {
    Start(BytesStart<'a>),
    End,
    Text(Cow<'a, str>),
    CData(Cow<'a, str>),
    /// A general or character reference (`&name;`), by its name.
    Ref(BytesRef<'a>),
    Comment,
    DocType,
    Pi,
    /// An XML declaration (or, from quick-xml, an unexpanded empty element: never, as
    /// `expand_empty_elements` is set).
    Decl,
    Eof,
}

/// Where the scanner's events come from. `None` from [`Events::next`]: ill-formed XML.
enum Events<'a> {
    /// The fast path: [`Tokens`].
    Strict(Tokens<'a>),
    /// The supplement of the reference path: quick-xml, as lenient as feed-rs's reader.
    Lenient(Reader<&'a [u8]>),
}

impl<'a> Events<'a> {
    fn next(&mut self) -> Option<Ev<'a>> {
        match self {
            Events::Strict(t) => t.next(),
            Events::Lenient(r) => Some(match r.read_event().ok()? {
                Event::Start(e) => Ev::Start(e),
                Event::End(_) => Ev::End,
                Event::Text(t) => Ev::Text(t.into_inner()),
                Event::CData(t) => Ev::CData(t.into_inner()),
                Event::GeneralRef(r) => Ev::Ref(r),
                Event::Comment(_) => Ev::Comment,
                Event::DocType(_) => Ev::DocType,
                Event::PI(_) => Ev::Pi,
                Event::Decl(_) | Event::Empty(_) => Ev::Decl,
                Event::Eof => Ev::Eof,
            }),
        }
    }

    /// Byte offset just after the last event (after a BOM, like quick-xml's
    /// `buffer_position`).
    fn position(&self) -> u64 {
        match self {
            Events::Strict(t) => t.pos as u64,
            Events::Lenient(r) => r.buffer_position(),
        }
    }
}

/// A tokenizer for the fast path over text that is already valid UTF-8: every event is a
/// slice of it (an O(1) boundary check), where quick-xml 0.42 validates the UTF-8 of every
/// event again, even from `Reader::from_str` (a tenth of the fast path's time).
///
/// It reads XML as quick-xml does with `expand_empty_elements`,
/// `trim_markup_names_in_closing_tags` and `check_end_names` (tags found with quick-xml's
/// own [`ElementParser`], quote-aware), and is at most stricter: whatever quick-xml rejects
/// (unclosed markup or reference, a mismatched or unmatched end tag, a malformed `<!…>`)
/// gives `None`, and so do a DOCTYPE (which the strict scanner refuses anyway) and an empty
/// element name. `tests/corpus.rs` holds the result equal to the reference path's.
struct Tokens<'a> {
    text: &'a str,
    pos: usize,
    /// Names of the open elements.
    open: Vec<&'a str>,
    /// The last start tag was empty (`<a/>`): its `End` comes next.
    pending_end: bool,
}

/// XML whitespace (as quick-xml counts it in names).
fn xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            text: text.strip_prefix('\u{feff}').unwrap_or(text),
            pos: 0,
            open: Vec::with_capacity(16),
            pending_end: false,
        }
    }

    /// `text[from..to]`; `None` off a character boundary (never, as every cut is at ASCII
    /// markup, but out-of-range slicing must not panic).
    fn slice(&self, from: usize, to: usize) -> Option<&'a str> {
        self.text.get(from..to)
    }

    fn next(&mut self) -> Option<Ev<'a>> {
        if self.pending_end {
            self.pending_end = false;
            self.open.pop();
            return Some(Ev::End);
        }
        let rest = self.text.as_bytes().get(self.pos..)?;
        match rest.first() {
            None => Some(Ev::Eof),
            Some(b'<') => self.markup(rest),
            Some(b'&') => match memchr::memchr3(b';', b'&', b'<', &rest[1..]) {
                // quick-xml's `allow_dangling_amp` is off: a `&` without `;` is an error.
                Some(i) if rest[i + 1] == b';' => {
                    let name = self.slice(self.pos + 1, self.pos + 1 + i)?;
                    self.pos += i + 2;
                    Some(Ev::Ref(BytesRef::new(name)))
                }
                _ => None,
            },
            Some(_) => {
                let end =
                    memchr::memchr2(b'<', b'&', rest).map_or(self.text.len(), |i| self.pos + i);
                let piece = self.slice(self.pos, end)?;
                self.pos = end;
                Some(Ev::Text(Cow::Borrowed(piece)))
            }
        }
    }

    /// The markup at `rest` (which starts with `<`).
    fn markup(&mut self, rest: &[u8]) -> Option<Ev<'a>> {
        let at = self.pos;
        match *rest.get(1)? {
            b'!' => {
                if rest.starts_with(b"<!--") {
                    // quick-xml: the first `>` after at least `<!---` that follows `--`.
                    let j = memchr::memmem::find(&rest[4..], b"-->")?;
                    self.pos += 4 + j + 3;
                    Some(Ev::Comment)
                } else if rest.starts_with(b"<![CDATA[") {
                    let j = memchr::memmem::find(&rest[9..], b"]]>")?;
                    let piece = self.slice(at + 9, at + 9 + j)?;
                    self.pos += 9 + j + 3;
                    Some(Ev::CData(Cow::Borrowed(piece)))
                } else {
                    // A DOCTYPE (refused by the strict scanner) or malformed markup.
                    None
                }
            }
            b'?' => {
                let j = memchr::memmem::find(&rest[2..], b"?>")?;
                let content = self.slice(at + 2, at + 2 + j)?.as_bytes();
                self.pos += 2 + j + 2;
                let decl =
                    content.starts_with(b"xml") && content.get(3).is_none_or(|b| xml_space(*b));
                Some(if decl { Ev::Decl } else { Ev::Pi })
            }
            b'/' => {
                let gt = ElementParser::Outside.feed(rest)?;
                let content = self.slice(at + 2, at + gt)?;
                let name = content.trim_end_matches([' ', '\t', '\r', '\n']);
                if self.open.pop()? != name {
                    return None;
                }
                self.pos += gt + 1;
                Some(Ev::End)
            }
            _ => {
                let gt = ElementParser::Outside.feed(rest)?;
                let empty = rest[gt - 1] == b'/';
                let content = self.slice(at + 1, at + gt - usize::from(empty))?;
                let name_len = content.bytes().position(xml_space).unwrap_or(content.len());
                if name_len == 0 {
                    return None;
                }
                self.open.push(&content[..name_len]);
                self.pending_end = empty;
                self.pos += gt + 1;
                Some(Ev::Start(BytesStart::from_content(content, name_len)))
            }
        }
    }
}

/// Bail out of the strict mode (the fast path): return `None` from the enclosing function.
macro_rules! unusual {
    ($self:ident) => {
        if $self.strict {
            return None;
        }
    };
}

impl<'a> Scanner<'a> {
    fn new(strict: bool) -> Self {
        Scanner {
            strict,
            mode: None,
            doc: Doc::default(),
            stack: Vec::with_capacity(16),
            prefixes: Vec::new(),
            capture: None,
            person: PersonAcc::default(),
            feed_links: Vec::new(),
            links: Vec::new(),
            channel_link: LinkAcc::default(),
            item_link: LinkAcc::default(),
            channel_seen: false,
            bases: Vec::new(),
            known_decls: String::new(),
            rdf_item: RdfItem::default(),
            in_item: false,
        }
    }

    /// Read `xml`: strict mode with [`Tokens`] (slices of the already validated text), lenient
    /// mode with quick-xml's reader.
    fn run(mut self, text: &'a str) -> Option<Doc<'a>> {
        let xml = text.as_bytes();
        if self.strict && !untouched_by_prepass(xml) {
            return None;
        }
        let mut events = if self.strict {
            Events::Strict(Tokens::new(text))
        } else {
            let mut reader = Reader::from_str(text);
            reader.config_mut().expand_empty_elements = true;
            reader.config_mut().trim_markup_names_in_closing_tags = true;
            Events::Lenient(reader)
        };
        loop {
            match events.next()? {
                Ev::Start(e) => {
                    let root = self.mode.is_none();
                    self.start(&e)?;
                    if root && self.strict {
                        let rdf_text = memchr::memmem::find(head(xml), b"<rdf:RDF").is_some();
                        // In RSS 2.0 the pre-pass's RDF link fix would still apply.
                        if (self.mode == Some(Mode::Rss) && rdf_text)
                            || !rss090_declared_at_root(xml, events.position())
                        {
                            return None;
                        }
                    }
                }
                Ev::End => self.end()?,
                Ev::Text(piece) => {
                    if let Some(c) = &mut self.capture {
                        if c.text.as_deref().is_none_or(|t| t.trim().is_empty())
                            && !piece.trim().is_empty()
                        {
                            c.text_first = true;
                        }
                        c.push(piece);
                    }
                }
                Ev::CData(piece) => {
                    if let Some(c) = &mut self.capture {
                        if c.text_first && self.strict {
                            return None;
                        }
                        c.push(piece);
                    }
                }
                Ev::Ref(r) => {
                    // A character reference to no character (`&#x0;`) fails feed-rs wherever
                    // it is, so it fails this scan wherever it is too.
                    let ch = r.resolve_char_ref().ok()?;
                    if let Some(c) = &mut self.capture {
                        if c.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
                            c.text_first = true;
                        }
                        let piece = match ch {
                            Some(ch) => Cow::Owned(ch.to_string()),
                            None => {
                                let name = r.into_inner();
                                match quick_xml::escape::resolve_predefined_entity(&name) {
                                    Some(s) => Cow::Borrowed(s),
                                    None => Cow::Owned(format!("&{name};")),
                                }
                            }
                        };
                        c.push(piece);
                    }
                }
                Ev::Comment => {
                    if self.capture.is_some() {
                        unusual!(self);
                    }
                }
                Ev::DocType => unusual!(self),
                Ev::Eof => break,
                Ev::Pi => {
                    if self.capture.is_some() {
                        // The pre-pass rewrites a text element with markup in it.
                        unusual!(self);
                    }
                }
                Ev::Decl => {}
            }
        }
        if self.mode.is_none() || !self.stack.is_empty() {
            return None;
        }
        if self.strict && self.mode == Some(Mode::Rss) && !self.channel_seen {
            // The pre-pass gives an `<rss>` without `<channel>` one, judged by its text.
            return None;
        }
        self.doc.ext.scanned = true;
        Some(self.doc)
    }

    /// Record namespace declarations; in strict mode refuse `xml:base` and a prefix declared
    /// again with another meaning.
    fn declarations(&mut self, e: &BytesStart<'_>, root: bool) -> Option<()> {
        let raw = e.attributes_raw();
        // Podcast feeds repeat `xmlns:itunes="…"` on every iTunes element.
        if !raw.contains("xml") || raw == self.known_decls {
            return Some(());
        }
        let mut only_known = true;
        for a in e.attributes().with_checks(false).flatten() {
            let key = a.key.as_ref();
            if key == "xml:base" {
                unusual!(self);
                only_known = false;
                self.push_base(&a.value);
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                if a.value.trim() == RSS090_NS {
                    // The pre-pass renames the first occurrence only.
                    unusual!(self);
                }
                let ns = ns_of_uri(a.value.trim());
                match self.prefixes.iter().find(|(p, _)| p == prefix) {
                    Some((_, old)) if *old != ns => unusual!(self),
                    Some(_) => {}
                    None => {
                        only_known = false;
                        self.prefixes.push((prefix.to_string(), ns));
                    }
                }
            } else if key == "xmlns" && !root {
                only_known = false;
                let ns = ns_of_uri(a.value.trim());
                let default = match self.mode {
                    Some(Mode::Atom) => Ns::Atom,
                    _ => Ns::Rss,
                };
                if ns != default {
                    unusual!(self);
                }
            }
        }
        if only_known {
            // Nothing but declarations already in force: the same text again changes nothing.
            self.known_decls.clear();
            self.known_decls.push_str(raw);
        }
        Some(())
    }

    /// Enter an element with `xml:base`: relative to the base in effect.
    fn push_base(&mut self, value: &str) {
        let value = unescape(value);
        let base = match self.bases.last() {
            Some((_, b)) => b.join(&value).ok(),
            None => url::Url::parse(&value).ok(),
        };
        if let Some(b) = base {
            self.bases.push((self.stack.len() + 1, b));
        }
    }

    fn based(&self, href: String) -> String {
        based(&self.bases, href)
    }

    fn resolve(&self, prefix: Option<&str>) -> Option<Ns> {
        let Some(p) = prefix else {
            return Some(match self.mode {
                Some(Mode::Atom) => Ns::Atom,
                _ => Ns::Rss,
            });
        };
        match self.prefixes.iter().find(|(q, _)| q == p) {
            Some((_, ns)) => Some(*ns),
            None if p == "xml" => Some(Ns::Other),
            None if self.strict => None,
            None => Some(ns_of_conventional_prefix(p)),
        }
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Option<()> {
        let depth = self.stack.len();
        if let Some(c) = &mut self.capture {
            if self.strict {
                return None;
            }
            c.broken = true;
            self.stack.push(Ctx::Other);
            return Some(());
        }
        let qname = e.name();
        let name = qname.as_ref();
        if self.stack.last() == Some(&Ctx::Other) {
            // Inside an element nothing is read from: so are its children, and whatever they
            // declare is scoped to them.
            if self.in_item && name.starts_with("link") {
                self.rdf_item.link_element = true;
            }
            self.stack.push(Ctx::Other);
            return Some(());
        }
        let (prefix, local) = match name.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        if self.mode.is_none() {
            return self.root(e, prefix, local);
        }
        self.declarations(e, false)?;
        let ns = self.resolve(prefix)?;
        let parent = self.stack.last().copied().unwrap_or(Ctx::Other);
        let mode = self.mode.unwrap_or(Mode::Rss);
        let mut ctx = Ctx::Other;
        let mut field = None;
        match (mode, parent, ns, local) {
            (Mode::Rss | Mode::Rdf, Ctx::Root, Ns::Rss, "channel") => {
                if self.channel_seen {
                    unusual!(self);
                } else {
                    self.channel_seen = true;
                    ctx = Ctx::Channel;
                }
            }
            (Mode::Rss, Ctx::Channel, Ns::Rss, "item")
            | (Mode::Rdf, Ctx::Root, Ns::Rss, "item") => {
                self.doc.entries.push(DocEntry::default());
                self.item_link = LinkAcc::default();
                self.rdf_item = RdfItem::default();
                self.in_item = true;
                if mode == Mode::Rdf {
                    // What the pre-pass gives an item without `<link>`: its `rdf:about`.
                    self.rdf_item.about = attr(e, "rdf:about");
                }
                ctx = Ctx::Item;
            }
            (Mode::Rss | Mode::Rdf, Ctx::Channel | Ctx::Item, _, _) => {
                let item = parent == Ctx::Item;
                if item && prefix.is_none() && local.starts_with("link") {
                    self.rdf_item.link_element = true;
                }
                field = self.rss_child(e, item, ns, local)?;
                if ns == Ns::Atom && local == "author" && item {
                    ctx = Ctx::Person { ext: true };
                    self.person = PersonAcc::default();
                }
            }
            (Mode::Atom, Ctx::Root, Ns::Atom, "entry") => {
                self.doc.entries.push(DocEntry::default());
                self.links.clear();
                ctx = Ctx::Item;
            }
            (Mode::Atom, Ctx::Root | Ctx::Item, Ns::Atom, _) => {
                let entry = parent == Ctx::Item;
                field = self.atom_child(e, entry, local)?;
                if local == "author" && entry {
                    ctx = Ctx::Person { ext: false };
                    self.person = PersonAcc::default();
                }
            }
            (Mode::Atom, Ctx::Item, Ns::Wfw, "commentRss" | "commentRSS") => {
                field = Some(Field::CommentsFeedLink);
            }
            (_, Ctx::Person { .. }, _, "name") => field = Some(Field::PersonName),
            (_, Ctx::Person { .. }, _, "email") => field = Some(Field::PersonEmail),
            _ => {}
        }
        self.stack.push(ctx);
        if let Some(field) = field {
            self.capture = Some(Capture {
                field,
                depth: depth + 1,
                text: None,
                text_first: false,
                broken: false,
            });
        }
        Some(())
    }

    fn root(&mut self, e: &BytesStart<'_>, prefix: Option<&str>, local: &str) -> Option<()> {
        let mut default_ns = None;
        let mut version = None;
        let mut lang = None;
        for a in e.attributes().with_checks(false).flatten() {
            let key = a.key.as_ref();
            match key {
                "xmlns" => default_ns = Some(ns_of_uri(a.value.trim())),
                "version" => version = Some(a.value.trim().to_string()),
                "xml:lang" => lang = Some(unescape(&a.value).into_owned()),
                "xml:base" => {
                    unusual!(self);
                    self.push_base(&a.value);
                }
                _ => {
                    if let Some(p) = key.strip_prefix("xmlns:") {
                        self.prefixes
                            .push((p.to_string(), ns_of_uri(a.value.trim())));
                    }
                }
            }
        }
        let mode = match (prefix, local) {
            (None, "rss") => {
                if default_ns.is_some() || matches!(version.as_deref(), Some("0.91" | "0.92")) {
                    unusual!(self);
                }
                Mode::Rss
            }
            (None, "feed") if default_ns == Some(Ns::Atom) && self.strict => {
                self.doc.language = lang.map(Cow::Owned);
                Mode::Atom
            }
            (p, "RDF") => {
                // The pre-pass reads RDF items only under `<rdf:RDF>`, and a default
                // namespace other than RSS 1.0's hides every element from feed-rs.
                if p != Some("rdf") || default_ns.is_some_and(|n| n != Ns::Rss) {
                    unusual!(self);
                }
                Mode::Rdf
            }
            _ => return None,
        };
        self.mode = Some(mode);
        self.doc.kind = Some(match mode {
            Mode::Atom => FeedKind::Atom,
            Mode::Rss | Mode::Rdf => FeedKind::Rss,
        });
        self.stack.push(Ctx::Root);
        Some(())
    }

    /// A child of an RSS `<channel>` or `<item>`: the field its text goes to.
    fn rss_child(
        &mut self,
        e: &BytesStart<'_>,
        item: bool,
        ns: Ns,
        local: &str,
    ) -> Option<Option<Field>> {
        use Field as F;
        let text_element = matches!(
            (ns, local),
            (Ns::Rss, "title" | "description") | (Ns::Dc, "title" | "description")
        );
        if text_element && self.strict && has_attr(e, &["type", "mode"]) {
            return None;
        }
        // An `href` link (plain or atom:) with `rel` alternate or none, absolute when an
        // `xml:base` is in effect.
        let alternate = || {
            let rel = attr(e, "rel");
            matches!(rel.as_deref(), None | Some("alternate"))
                .then(|| attr(e, "href"))
                .flatten()
                .filter(|h| !h.trim().is_empty())
        };
        let href = match (ns, local) {
            (Ns::Rss | Ns::Atom, "link") => alternate().map(|h| self.based(h)),
            _ => None,
        };
        let acc = if item {
            &mut self.item_link
        } else {
            &mut self.channel_link
        };
        let rdf = self.mode == Some(Mode::Rdf);
        Some(match (item, ns, local) {
            (_, Ns::Rss, "link") => {
                if href.is_some() {
                    acc.plain = href;
                }
                Some(if item { F::PlainLink } else { F::FeedPlainLink })
            }
            // RSS 1.0 as feed-rs reads it: no guid, author, category, pubDate or updated;
            // the language from dc:language; dc:description as the summary when none came yet.
            (false, Ns::Rss, "language" | "lastBuildDate" | "updated") if rdf => None,
            (false, Ns::Dc, "language") if rdf => Some(F::RdfLanguage),
            (true, Ns::Rss, "author" | "category" | "guid" | "pubDate" | "updated") if rdf => None,
            (true, Ns::Atom, "updated") if rdf => None,
            (true, Ns::Dc, "description") if rdf => Some(F::RdfDescription),
            (_, Ns::Atom, "link") => {
                if acc.atom.is_none() {
                    acc.atom = href;
                }
                None
            }
            (false, Ns::Rss, "title") => Some(F::FeedTitle),
            (false, Ns::Rss, "description") => Some(F::FeedDescription),
            (false, Ns::Rss, "language") => Some(F::FeedLanguage),
            (false, Ns::Rss, "lastBuildDate" | "updated") => Some(F::FeedUpdated),
            (false, Ns::Dc, "title") => Some(F::FeedDcTitle),
            (false, Ns::Dc, "language") => Some(F::FeedDcLanguage),
            (false, Ns::Dc, "description") => Some(F::FeedDcDescription),
            (false, Ns::Itunes, "summary") => Some(F::FeedItunesSummary),
            (true, Ns::Rss, "title") => Some(F::Title),
            (true, Ns::Rss, "description") => Some(F::Summary),
            (true, Ns::Rss, "author") => Some(F::RssAuthor),
            (true, Ns::Rss, "category") => Some(F::Category),
            (true, Ns::Rss, "guid") => Some(F::Guid),
            (true, Ns::Rss, "pubDate") | (true, Ns::Dc, "date") => Some(F::Published),
            (true, Ns::Rss | Ns::Atom, "updated") => Some(F::Updated),
            (true, Ns::Content, "encoded") => Some(F::Content),
            (true, Ns::Dc, "creator") => Some(F::RssAuthor),
            (true, Ns::Dc, "title") => Some(F::DcTitle),
            (true, Ns::Dc, "description") => Some(F::DcDescription),
            (true, Ns::Dc, "author") => Some(F::ExtAuthor),
            (true, Ns::Itunes, "summary") => Some(F::ItunesSummary),
            (true, Ns::Atom, "content") => Some(F::ExtContent),
            (true, Ns::Atom, "published") => Some(F::ExtPublished),
            _ => None,
        })
    }

    /// A child of an Atom `<feed>` or `<entry>`: the field its text goes to.
    fn atom_child(
        &mut self,
        e: &BytesStart<'_>,
        entry: bool,
        local: &str,
    ) -> Option<Option<Field>> {
        use Field as F;
        if matches!(
            local,
            "title" | "subtitle" | "summary" | "content" | "rights"
        ) {
            if has_attr(e, &["mode", "src"]) {
                return None;
            }
            let ty = attr(e, "type");
            if !matches!(ty.as_deref(), None | Some("text" | "html" | "text/html")) {
                return None;
            }
        }
        Some(match (entry, local) {
            (_, "link") => {
                if let Some(href) = attr(e, "href") {
                    let rel = attr(e, "rel").unwrap_or_else(|| "alternate".into());
                    let links = if entry {
                        &mut self.links
                    } else {
                        &mut self.feed_links
                    };
                    links.push((href, Some(rel)));
                }
                None
            }
            (false, "title") => Some(F::FeedTitle),
            (false, "subtitle") => Some(F::FeedDescription),
            (false, "updated") => Some(F::FeedUpdated),
            (true, "id") => Some(F::Id),
            (true, "title") => Some(F::Title),
            (true, "summary") => Some(F::Summary),
            (true, "content") => {
                let lang = attr(e, "xml:lang");
                if let Some(entry) = self.doc.entries.last_mut() {
                    entry.language = lang.map(Cow::Owned);
                }
                Some(F::Content)
            }
            (true, "updated") => Some(F::AtomUpdated),
            (true, "published" | "pubDate") => Some(F::AtomPublished),
            (true, "category") => {
                if let Some(term) = attr(e, "term") {
                    let label = attr(e, "label");
                    if let Some(entry) = self.doc.entries.last_mut() {
                        entry
                            .categories
                            .push(Cow::Owned(label.unwrap_or_else(|| term.trim().to_string())));
                    }
                }
                None
            }
            _ => None,
        })
    }

    fn end(&mut self) -> Option<()> {
        let depth = self.stack.len();
        if self.capture.as_ref().is_some_and(|c| c.depth == depth) {
            if let Some(c) = self.capture.take() {
                if !c.broken {
                    self.store(c.field, c.text);
                }
            }
        }
        if self.bases.last().is_some_and(|(d, _)| *d == depth) {
            self.bases.pop();
        }
        let ctx = self.stack.pop()?;
        match ctx {
            Ctx::Item => self.end_entry(),
            Ctx::Channel => self.doc.ext.link = self.channel_link.take(),
            Ctx::Root if self.mode == Some(Mode::Atom) => {
                self.doc.link = pick(&self.feed_links).map(Cow::Owned);
            }
            Ctx::Person { ext } => {
                let p = std::mem::take(&mut self.person);
                if let (Some(entry), Some(who)) = (self.doc.entries.last_mut(), p.name.or(p.email))
                {
                    if ext {
                        entry.ext.authors.push(who);
                    } else {
                        entry.authors.push(who);
                    }
                }
            }
            _ => {}
        }
        Some(())
    }

    fn end_entry(&mut self) {
        self.in_item = false;
        let mode = self.mode;
        let links = std::mem::take(&mut self.links);
        let mut rss_link = self.item_link.take();
        if mode == Some(Mode::Rdf) {
            let rdf = std::mem::take(&mut self.rdf_item);
            let about = rdf.about.filter(|_| !rdf.link_element);
            if rdf.links == 0 && about.is_none() {
                // feed-rs drops an RDF item without a link.
                self.doc.entries.pop();
                return;
            }
            if rss_link.is_none() {
                rss_link = about.filter(|a| !a.trim().is_empty());
            }
        }
        let Some(entry) = self.doc.entries.last_mut() else {
            return;
        };
        entry.ext.scanned = true;
        match mode {
            Some(Mode::Atom) => entry.link = pick(&links).map(Cow::Owned),
            Some(Mode::Rdf) => entry.ext.link = rss_link,
            _ => {
                entry.ext.link = rss_link;
                if entry.updated.is_none() && entry.published.is_some() {
                    entry.updated = entry.published;
                }
            }
        }
    }

    fn store(&mut self, field: Field, text: Option<Cow<'a, str>>) {
        use Field as F;
        let date = |t: &Option<Cow<'_, str>>| -> Option<DateTime<Utc>> {
            t.as_deref().and_then(parse_date)
        };
        if matches!(field, F::PersonName | F::PersonEmail) {
            match field {
                F::PersonName => self.person.name = text,
                _ => self.person.email = text,
            }
            return;
        }
        let doc = &mut self.doc;
        match field {
            F::FeedTitle => doc.title = text,
            F::FeedDescription => doc.description = text,
            F::FeedLanguage => doc.language = text.map(|t| Cow::Owned(t.to_lowercase())),
            F::FeedUpdated => {
                if text.is_some() || self.mode != Some(Mode::Atom) {
                    doc.updated = date(&text);
                }
            }
            F::FeedPlainLink => {
                if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
                    self.channel_link.plain = Some(based(&self.bases, t.into_owned()));
                }
            }
            F::RdfLanguage => {
                doc.language.clone_from(&text);
                doc.ext.language = text;
            }
            F::FeedDcTitle => doc.ext.title = text,
            F::FeedDcLanguage => doc.ext.language = text,
            F::FeedDcDescription => doc.ext.description = text,
            F::FeedItunesSummary => doc.ext.summary = text,
            _ => {
                let Some(entry) = doc.entries.last_mut() else {
                    return;
                };
                match field {
                    F::Id | F::Guid => {
                        if let Some(t) = text {
                            entry.id = if field == F::Guid { trim_cow(t) } else { t };
                        }
                    }
                    F::Title => entry.title = text,
                    F::Summary => entry.summary = text,
                    F::Content => entry.content = text,
                    F::RssAuthor => {
                        if let Some(t) = text {
                            entry.authors.push(person_name(&t));
                        }
                    }
                    F::ExtAuthor => {
                        if let Some(t) = text {
                            entry.ext.authors.push(person_name(&t));
                        }
                    }
                    F::Category => {
                        if let Some(t) = text {
                            entry.categories.push(trim_cow(t));
                        }
                    }
                    F::Published => entry.published = date(&text),
                    F::Updated => entry.updated = date(&text),
                    F::AtomUpdated if text.is_some() => entry.updated = date(&text),
                    F::AtomPublished if text.is_some() => entry.published = date(&text),
                    F::RdfDescription => {
                        if entry.summary.is_none() {
                            entry.summary.clone_from(&text);
                        }
                        entry.ext.description = text;
                    }
                    F::PlainLink => {
                        if text.is_some() {
                            self.rdf_item.links += 1;
                        }
                        if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
                            self.item_link.plain = Some(based(&self.bases, t.into_owned()));
                        }
                    }
                    F::CommentsFeedLink => {
                        if let Some(t) = text {
                            self.links.push((t.into_owned(), None));
                        }
                    }
                    F::DcTitle => entry.ext.title = text,
                    F::DcDescription => entry.ext.description = text,
                    F::ItunesSummary => entry.ext.summary = text,
                    F::ExtContent => entry.ext.content = text,
                    F::ExtPublished => entry.ext.published = date(&text),
                    _ => {}
                }
            }
        }
    }
}

/// Whether the reference path's textual pre-pass leaves `xml`'s meaning alone, so that the
/// fast path may read it as it is: no NUL (removed), no `<?xml` declaration but a leading one
/// (every one is removed, inside attribute values and text too), no Atom 0.3 namespace and no
/// in the first 4 KiB (it triggers document-wide renames).
fn untouched_by_prepass(xml: &[u8]) -> bool {
    if memchr::memchr(0, xml).is_some() {
        return false;
    }
    let lead = xml
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(xml.len());
    for at in memchr::memmem::find_iter(xml, b"<?xml") {
        let declaration = xml
            .get(at + 5)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'?');
        if declaration && at != lead {
            return false;
        }
    }
    memchr::memmem::find(head(xml), b"http://purl.org/atom/ns#").is_none()
}

/// The part of a document the pre-pass looks at to decide on document-wide rewrites.
fn head(xml: &[u8]) -> &[u8] {
    &xml[..xml.len().min(4096)]
}

/// RSS 0.90's namespace is renamed by the pre-pass at its first occurrence in the first
/// 4 KiB only: the fast path reads it as RSS 1.0's when that occurrence is the root's
/// declaration (ending at `root_end`), and gives up when it occurs anywhere else.
fn rss090_declared_at_root(xml: &[u8], root_end: u64) -> bool {
    match memchr::memmem::find(xml, RSS090_NS.as_bytes()) {
        None => true,
        Some(at) => (at as u64) < root_end && root_end <= 4096,
    }
}

/// feed-rs's choice among Atom links: the first `alternate` (or rel-less) one with an href,
/// else the first with an href.
fn pick(links: &[(String, Option<String>)]) -> Option<String> {
    links
        .iter()
        .find(|(h, rel)| matches!(rel.as_deref(), None | Some("alternate")) && !h.trim().is_empty())
        .or_else(|| links.iter().find(|(h, _)| !h.trim().is_empty()))
        .map(|(h, _)| h.trim().to_string())
}

/// A link as written, made absolute against the `xml:base` in effect (if any).
fn based(bases: &[(usize, url::Url)], href: String) -> String {
    match bases.last() {
        Some((_, b)) => b.join(href.trim()).map(String::from).unwrap_or(href),
        None => href,
    }
}

fn trim_cow(t: Cow<'_, str>) -> Cow<'_, str> {
    match t {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
        Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
    }
}

fn unescape(v: &str) -> Cow<'_, str> {
    quick_xml::escape::unescape(v).unwrap_or(Cow::Borrowed(v))
}

/// An attribute's value, unescaped as feed-rs does (raw when the escape is broken).
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| unescape(&a.value).into_owned())
}

fn has_attr(e: &BytesStart<'_>, names: &[&str]) -> bool {
    !e.attributes_raw().trim().is_empty()
        && e.attributes()
            .with_checks(false)
            .flatten()
            .any(|a| names.contains(&a.key.as_ref()))
}

/// The name in an RSS `<author>` / `dc:creator` (`jo@example.com (Jo)` → `Jo`), else the
/// e-mail address; feed-rs's rule (`Person::parse`), so both paths agree.
fn person_name<'a>(raw: &str) -> Cow<'a, str> {
    use std::sync::LazyLock;
    static EMAIL: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"\b(<\[\()?(mailto:)?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})(>]\))?\b",
        )
        .ok()
    });
    if raw.contains('@') {
        if let Some(caps) = EMAIL.as_ref().and_then(|re| re.captures(raw)) {
            if let (Some(email), Some(span)) = (caps.get(3), caps.get(0)) {
                let prefix_len = span.start();
                let suffix_len = raw.len() - span.end();
                let name = if prefix_len > suffix_len {
                    raw.get(..span.start() - 1).unwrap_or("")
                } else if span.end() < raw.len() {
                    raw.get(span.end() + 1..).unwrap_or("")
                } else {
                    ""
                };
                let name = name.trim();
                return Cow::Owned(if name.is_empty() {
                    email.as_str().trim().to_string()
                } else {
                    name.to_string()
                });
            }
        }
    }
    Cow::Owned(raw.trim().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn person_names() {
        // feed-rs keeps the parentheses; the normaliser drops them (both paths alike).
        assert_eq!(person_name("jo@example.com (Jo Bloggs)"), "(Jo Bloggs)");
        assert_eq!(person_name("Jo Bloggs <jo@example.com>"), "Jo Bloggs");
        assert_eq!(person_name("jo@example.com"), "jo@example.com");
        assert_eq!(person_name("  Jo  "), "Jo");
    }

    #[test]
    fn rss_fields_and_fallbacks() {
        let x = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
          <channel><dc:title>T</dc:title><link>http://a/</link><link href="http://b/"/>
          <item><dc:title>DC &amp; title</dc:title><guid> g </guid><pubDate>Tue, 15 Nov 2022 20:15:04 GMT</pubDate>
            <atom:link rel="alternate" href="http://c/"/><description><![CDATA[<p>x</p>]]></description></item>
          </channel></rss>"#;
        let d = scan(x, true).unwrap();
        assert_eq!(d.ext.title.as_deref(), Some("T"));
        assert_eq!(d.ext.link.as_deref(), Some("http://b/"));
        let e = &d.entries[0];
        assert_eq!(e.ext.title.as_deref(), Some("DC & title"));
        assert_eq!(e.id, "g");
        assert_eq!(e.ext.link.as_deref(), Some("http://c/"));
        assert_eq!(e.summary.as_deref(), Some("<p>x</p>"));
        assert!(
            matches!(e.summary, Some(Cow::Borrowed(_))),
            "CDATA is borrowed"
        );
        assert!(e.published.is_some() && e.updated == e.published);
    }

    #[test]
    fn strict_refuses_the_unusual() {
        for x in [
            "<!DOCTYPE rss><rss><channel/></rss>",
            "<rss><channel><title><b>x</b></title></channel></rss>",
            "<rss><channel><item><dc:title>x</dc:title></item></channel></rss>",
            "<rss version=\"0.91\"><channel/></rss>",
            "<rss><channel xml:base=\"http://x/\"/></rss>",
            "<rss><channel><title>a <![CDATA[b]]></title></channel></rss>",
            "<feed xmlns=\"http://purl.org/atom/ns#\"/>",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"xhtml\"/></feed>",
            "<rss><channel><title>x</titl></channel></rss>",
            "<rss><channel><foo>&#x0;</foo></channel></rss>",
            "<RDF xmlns=\"http://purl.org/rss/1.0/\"/>",
        ] {
            assert!(scan(x, true).is_none(), "{x}");
        }
        // The lenient scan reads what it can.
        let d = scan(
            "<rss><channel><item><dc:title>x</dc:title></item></channel></rss>",
            false,
        )
        .unwrap();
        assert_eq!(d.entries[0].ext.title.as_deref(), Some("x"));
    }

    #[test]
    fn rdf_items() {
        let x = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
          <channel rdf:about="http://e/"><title>T</title><link>http://e/</link><dc:language>en-GB</dc:language></channel>
          <item rdf:about="http://e/1"><title>One</title><dc:description>d1</dc:description><guid>ignored</guid></item>
          <item><title>No link, no about: dropped</title></item>
          <item rdf:about="http://e/3"><link>http://e/3b</link><title>Three</title></item>
        </rdf:RDF>"#;
        let d = scan(x, true).unwrap();
        assert_eq!(d.language.as_deref(), Some("en-GB"));
        assert_eq!(d.entries.len(), 2);
        assert_eq!(d.entries[0].ext.link.as_deref(), Some("http://e/1"));
        assert_eq!(d.entries[0].summary.as_deref(), Some("d1"));
        assert_eq!(d.entries[0].id, "");
        assert_eq!(d.entries[1].ext.link.as_deref(), Some("http://e/3b"));
    }

    #[test]
    fn atom_entry() {
        let x = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de"><title type="html">A &lt;b&gt;</title>
          <link rel="self" href="http://self/"/><link href="/home"/>
          <entry><id>urn:1</id><title>E</title><author><name>N</name><email>e@x</email></author>
          <link rel="enclosure" href="http://m/"/><link rel="alternate" href="http://e/1"/>
          <updated>2024-01-02T03:04:05Z</updated><category term="t" label="L"/><content type="html" xml:lang="en">&lt;p&gt;c</content></entry></feed>"#;
        let d = scan(x, true).unwrap();
        assert_eq!(d.kind, Some(FeedKind::Atom));
        assert_eq!(d.language.as_deref(), Some("de"));
        assert_eq!(d.title.as_deref(), Some("A <b>"));
        assert_eq!(d.link.as_deref(), Some("/home"));
        let e = &d.entries[0];
        assert_eq!(e.link.as_deref(), Some("http://e/1"));
        assert_eq!(e.authors, vec!["N"]);
        assert_eq!(e.categories, vec!["L"]);
        assert_eq!(e.content.as_deref(), Some("<p>c"));
        assert_eq!(e.language.as_deref(), Some("en"));
        assert!(e.updated.is_some() && e.published.is_none());
    }

    /// An event as text, to compare the two sources.
    fn describe(ev: &Ev<'_>) -> String {
        match ev {
            Ev::Start(e) => format!("start {:?} name {:?}", &**e, e.name().as_ref()),
            Ev::End => "end".into(),
            Ev::Text(t) => format!("text {t:?}"),
            Ev::CData(t) => format!("cdata {t:?}"),
            Ev::Ref(r) => format!("ref {:?}", &**r),
            Ev::Comment => "comment".into(),
            Ev::DocType => "doctype".into(),
            Ev::Pi => "pi".into(),
            Ev::Decl => "decl".into(),
            Ev::Eof => "eof".into(),
        }
    }

    /// Runs the tokenizer and quick-xml (as configured for the lenient scan) side by side:
    /// every event the tokenizer gives, quick-xml gives too, at the same offset; where the
    /// tokenizer gives up, quick-xml fails too or meets a DOCTYPE or an empty name (which the
    /// tokenizer refuses on purpose). Returns whether the tokenizer read to the end.
    fn lockstep(text: &str) -> bool {
        let mut tokens = Events::Strict(Tokens::new(text));
        let mut reader = Reader::from_str(text);
        reader.config_mut().expand_empty_elements = true;
        reader.config_mut().trim_markup_names_in_closing_tags = true;
        let mut reader = Events::Lenient(reader);
        for _ in 0..=text.len() + 1 {
            let Some(ours) = tokens.next() else {
                let theirs = reader.next();
                assert!(
                    match &theirs {
                        None | Some(Ev::DocType) => true,
                        Some(Ev::Start(e)) => e.name().as_ref().is_empty(),
                        Some(_) => false,
                    },
                    "tokenizer gave up where quick-xml read {:?} in {text:?}",
                    theirs.as_ref().map(describe)
                );
                return false;
            };
            let theirs = reader.next();
            assert_eq!(
                Some(describe(&ours)),
                theirs.as_ref().map(describe),
                "in {text:?}"
            );
            assert_eq!(tokens.position(), reader.position(), "in {text:?}");
            if matches!(ours, Ev::Eof) {
                return true;
            }
        }
        panic!("no end of events in {text:?}");
    }

    #[test]
    fn tokenizer_agrees_with_quick_xml() {
        for x in [
            "",
            "\u{feff}<a/>",
            "<?xml version=\"1.0\"?><a x='>' y=\"'\">t&amp;u&#233;v</a >",
            "<a><![CDATA[ <b> ]] ]]><!----><!-- - -- --><?pi x?><?xml-stylesheet a?></a>",
            "<a>&#x0;</a>",
            "<a/><b/>trailing",
            "<a></b>",
            "</a>",
            "<a>&amp</a>",
            "<a>&",
            "<a",
            "<",
            "<a><!-- unclosed",
            "<a><![CDATA[ unclosed",
            "<a><!-x-></a>",
            "<a><![cdata[x]]></a>",
            "<!DOCTYPE rss><rss/>",
            "<>x</>",
            "<??><?xml?><?xml\tv?>",
            "<a\nb='1'\n/><c\t/>",
            "<é attr=\"ü\">ö</é>",
            "<a x=\"unclosed></a>",
            "</a x='>'>",
        ] {
            lockstep(x);
        }
        // Every UTF-8 corpus file, whole and cut short at a few places.
        let (mut files, mut read_through) = (0, 0);
        for (_, bytes) in crate::parse::corpus_files() {
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            files += 1;
            read_through += usize::from(lockstep(text));
            for cut in [
                1,
                7,
                100,
                1000,
                text.len() / 2,
                text.len().saturating_sub(3),
            ] {
                lockstep(&text[..text.floor_char_boundary(cut.min(text.len()))]);
            }
        }
        println!("tokenizer read {read_through} of {files} UTF-8 corpus files to the end");
        assert!(
            files > 1000 && read_through > 500,
            "{read_through} of {files}"
        );
    }
}
