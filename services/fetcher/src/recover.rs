//! Tolerant rewrites of feed documents that feed-rs would reject or misread. Pure string
//! functions, no I/O; each returns `None` when nothing needs changing, so the common feed is
//! not copied.
//!
//! - [`fix_for_utf8_parser`]: XML declarations and NULs removed from the (already UTF-8)
//!   document; quick-xml panics on a late `encoding=` switch.
//! - [`fix_rss_without_channel`]: an empty `<rss>` gets an empty `<channel>`.
//! - [`fix_rss090`]: RSS 0.90's Netscape namespace → RSS 1.0's.
//! - [`fix_rdf_item_links`]: RDF items without `<link>` get their `rdf:about` (feed-rs drops
//!   RDF items without a link).
//! - [`fix_atom03`]: Atom 0.3 (`http://purl.org/atom/ns#`) → the Atom 1.0 names feed-rs knows
//!   (`tagline` → `subtitle`, `issued` → `published`, `modified` → `updated`, `copyright` →
//!   `rights`).
//! - [`fix_text_constructs`]: text elements carrying markup or encodings feed-rs does not read:
//!   base64 (`mode="base64"`, `type="application/octet-stream"`), MIME types for `type`
//!   (`text/plain`, `application/xhtml+xml`), and "naked" markup (`<title><p>x</p></title>`),
//!   which feed-rs cuts at the first child element. Such bodies become escaped HTML.
//! - [`fix_ill_formed`] (only after a failed parse): bare `&`, HTML named entities XML does
//!   not define (`&nbsp;`), control characters XML forbids.
//! - [`fix_json_feed`] (only after a failed parse): JSON Feed `version` given as `"1.0"`/`"1.1"`,
//!   a missing `title`.

use std::fmt::Write as _;

/// The Atom 0.3 namespace.
const ATOM03_NS: &str = "http://purl.org/atom/ns#";
/// The Atom 1.0 namespace.
const ATOM10_NS: &str = "http://www.w3.org/2005/Atom";

/// Atom 0.3 element names and their Atom 1.0 equivalents.
const ATOM03_RENAMES: [(&str, &str); 4] = [
    ("tagline", "subtitle"),
    ("issued", "published"),
    ("modified", "updated"),
    ("copyright", "rights"),
];

/// Text elements whose content [`fix_text_constructs`] may rewrite (unprefixed names only).
const TEXT_ELEMENTS: [&str; 6] = [
    "title",
    "subtitle",
    "summary",
    "content",
    "rights",
    "description",
];

/// The document is UTF-8 by now, so every XML declaration goes (quick-xml, under feed-rs,
/// switches decoders on an `encoding=` it meets and panics when one comes after the start, e.g.
/// a second declaration mid-document), and so do NUL characters (never valid in XML; a leading
/// NUL makes quick-xml guess UTF-16). `None` when there is neither.
pub fn fix_for_utf8_parser(xml: &str) -> Option<String> {
    let has_decl = xml.contains("<?xml");
    let has_nul = xml.contains('\0');
    if !has_decl && !has_nul {
        return None;
    }
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(p) = rest.find("<?xml") {
        let after = &rest[p + 5..];
        if !after.starts_with(|c: char| c.is_whitespace() || c == '?') {
            out.push_str(&rest[..p + 5]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..p]);
        rest = match after.find("?>") {
            Some(e) => &after[e + 2..],
            None => "",
        };
    }
    out.push_str(rest);
    if has_nul {
        out.retain(|c| c != '\0');
    }
    Some(out)
}

/// An `<rss>` document without `<channel>` (an empty feed) gets an empty channel: feed-rs
/// reports "no root element" for it. `None` when not needed.
pub fn fix_rss_without_channel(xml: &str) -> Option<String> {
    let root = crate::parse::root_element_start(xml)?;
    let after = &xml[root..];
    if !after.starts_with("<rss")
        || !after[4..].starts_with(|c: char| c.is_whitespace() || c == '>')
    {
        return None;
    }
    if after.contains("<channel") {
        return None;
    }
    let tag_len = crate::parse::tag_end(after)?;
    if after[..tag_len].ends_with('/') {
        return None;
    }
    let at = root + tag_len + 1;
    Some(format!("{}<channel></channel>{}", &xml[..at], &xml[at..]))
}

/// The RSS 0.90 (Netscape RDF) namespace, and RSS 1.0's, which has the same elements.
const RSS090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS10_NS: &str = "http://purl.org/rss/1.0/";

/// Rewrite an RSS 0.90 document (RDF with Netscape's namespace, which feed-rs does not know,
/// so every item is lost) as RSS 1.0; `None` when `xml` is not RSS 0.90.
pub fn fix_rss090(xml: &str) -> Option<String> {
    let head = &xml[..floor_boundary(xml, 4096)];
    head.contains(RSS090_NS)
        .then(|| xml.replacen(RSS090_NS, RSS10_NS, 1))
}

/// Rewrite an Atom 0.3 document as Atom 1.0; `None` when `xml` is not Atom 0.3.
pub fn fix_atom03(xml: &str) -> Option<String> {
    let head = &xml[..floor_boundary(xml, 4096)];
    if !head.contains(ATOM03_NS) {
        return None;
    }
    let mut out = xml.replacen(ATOM03_NS, ATOM10_NS, 1);
    for (old, new) in ATOM03_RENAMES {
        // Leave the element alone when the document already has the 1.0 name (an entry with
        // both <issued> and <published> would otherwise get two).
        if out.contains(&format!("<{new}")) {
            continue;
        }
        out = rename_element(&out, old, new);
    }
    Some(out)
}

/// Rename unprefixed element `old` to `new` (start, end and empty tags).
fn rename_element(xml: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        let at = &rest[pos..];
        let (slash, name_from) = if at.starts_with("</") {
            ("</", 2)
        } else {
            ("<", 1)
        };
        let after = &at[name_from..];
        if after.starts_with(old)
            && after[old.len()..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
        {
            out.push_str(slash);
            out.push_str(new);
            rest = &after[old.len()..];
        } else {
            out.push('<');
            rest = &at[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Rewrite text elements feed-rs cannot read (see the module docs); `None` when none needs it.
pub fn fix_text_constructs(xml: &str) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `xml` already in `out`
    let mut i = 0;
    while let Some(rel) = xml[i..].find('<') {
        let start = i + rel;
        i = start + 1;
        let after = &xml[i..];
        let Some(name) = TEXT_ELEMENTS.iter().find(|n| {
            after.starts_with(**n)
                && after[n.len()..].starts_with(|c: char| c.is_whitespace() || c == '>')
        }) else {
            continue;
        };
        let Some(tag_len) = crate::parse::tag_end(after) else {
            break;
        };
        let attrs = &after[name.len()..tag_len];
        if attrs.ends_with('/') {
            continue; // empty element
        }
        let body_start = i + tag_len + 1;
        let close = format!("</{name}>");
        let Some(body_len) = xml[body_start..].find(&close) else {
            continue;
        };
        let body = &xml[body_start..body_start + body_len];
        let end = body_start + body_len + close.len();
        let Some(replacement) = rewrite_text(name, attrs, body) else {
            continue;
        };
        let o = out.get_or_insert_with(|| String::with_capacity(xml.len() + 64));
        o.push_str(&xml[copied..start]);
        o.push_str(&replacement);
        copied = end;
        i = end;
    }
    out.map(|mut o| {
        o.push_str(&xml[copied..]);
        o
    })
}

/// The rewritten element, or `None` when feed-rs reads it as it is.
fn rewrite_text(name: &str, attrs: &str, body: &str) -> Option<String> {
    let attr =
        |n: &str| crate::parse::attr_value(attrs, n).map(|(_, v)| v.trim().to_ascii_lowercase());
    let mode = attr("mode");
    let ty = attr("type");
    if attr("src").is_some() {
        return None; // out-of-line content: nothing to decode
    }
    let trimmed = body.trim();
    // Atom 1.0 content of any other MIME type is base64; in other text elements feedparser
    // and gofeed only decode the generic binary type (a custom type there is plain text).
    let binary_type = ty.as_deref().is_some_and(|t| {
        t == "application/octet-stream"
            || (name == "content"
                && t.contains('/')
                && !t.starts_with("text/")
                && !t.contains("xml")
                && !t.contains("html"))
    });
    let text = if mode.as_deref() == Some("base64") || binary_type {
        let raw = unwrap_cdata(trimmed);
        String::from_utf8_lossy(&decode_base64(raw)?).into_owned()
    } else if has_markup(trimmed) {
        // Naked markup: the element's children are the text's HTML (CDATA sections in it
        // are HTML too).
        unwrap_all_cdata(trimmed)
    } else {
        match ty.as_deref() {
            Some("text/plain") => return Some(element(name, "text", body, attrs)),
            Some("application/xhtml+xml" | "text/xhtml") => {
                return Some(element(name, "html", body, attrs))
            }
            Some(t) if t.contains('/') && t != "text/html" => {
                return Some(element(name, "text", body, attrs))
            }
            _ => return None,
        }
    };
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            _ => escaped.push(c),
        }
    }
    Some(element(name, "html", &escaped, attrs))
}

/// `<name type="ty" …other attributes…>body</name>`, dropping `type` and `mode`.
fn element(name: &str, ty: &str, body: &str, attrs: &str) -> String {
    let mut kept = String::new();
    for key in ["xml:base", "xml:lang", "rel", "href"] {
        if let Some((_, v)) = crate::parse::attr_value(attrs, key) {
            let _ = write!(kept, " {key}=\"{v}\"");
        }
    }
    format!("<{name} type=\"{ty}\"{kept}>{body}</{name}>")
}

fn has_markup(body: &str) -> bool {
    body.contains('<') && !body.starts_with("<![CDATA[")
}

/// `a <![CDATA[<b>b</b>]]> c` → `a <b>b</b> c`.
fn unwrap_all_cdata(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("<![CDATA[") {
        out.push_str(&rest[..p]);
        let inner = &rest[p + 9..];
        match inner.find("]]>") {
            Some(e) => {
                out.push_str(&inner[..e]);
                rest = &inner[e + 3..];
            }
            None => {
                out.push_str(inner);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// RSS 1.0 (RDF) items without `<link>` get one from `rdf:about` (the item's URI): feed-rs
/// drops RDF items that have no link. `None` when not RDF or nothing to add.
pub fn fix_rdf_item_links(xml: &str) -> Option<String> {
    let head = &xml[..floor_boundary(xml, 4096)];
    if !head.contains("<rdf:RDF") {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(rel) = xml[i..].find("<item") {
        let start = i + rel;
        i = start + 5;
        let after = &xml[start + 5..];
        if !after.starts_with(|c: char| c.is_whitespace()) {
            continue;
        }
        let Some(tag_len) = crate::parse::tag_end(after) else {
            break;
        };
        let attrs = &after[..tag_len];
        let body_start = start + 5 + tag_len + 1;
        let Some(body_len) = xml[body_start..].find("</item>") else {
            break;
        };
        let body = &xml[body_start..body_start + body_len];
        i = body_start + body_len;
        if attrs.ends_with('/') || body.contains("<link") {
            continue;
        }
        let Some((_, about)) = crate::parse::attr_value(attrs, "rdf:about") else {
            continue;
        };
        let o = out.get_or_insert_with(|| String::with_capacity(xml.len() + 64));
        o.push_str(&xml[copied..body_start]);
        let _ = write!(o, "<link>{about}</link>");
        copied = body_start;
    }
    out.map(|mut o| {
        o.push_str(&xml[copied..]);
        o
    })
}

fn unwrap_cdata(s: &str) -> &str {
    s.strip_prefix("<![CDATA[")
        .and_then(|s| s.strip_suffix("]]>"))
        .unwrap_or(s)
}

/// Standard or URL-safe base64, whitespace ignored; `None` on anything else.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Recover ill-formed XML after feed-rs rejected it: a `&` that starts no reference becomes
/// `&amp;`, HTML named entities XML does not define become numeric references, and control
/// characters XML forbids are removed. `None` when nothing changed.
pub fn fix_ill_formed(xml: &str) -> Option<String> {
    let mut out = String::with_capacity(xml.len() + 64);
    let mut changed = false;
    let mut rest = xml;
    let mut in_cdata = false;
    let mut stack: Vec<&str> = Vec::new();
    loop {
        if in_cdata {
            match rest.find("]]>") {
                Some(p) => {
                    out.push_str(&rest[..p + 3]);
                    rest = &rest[p + 3..];
                    in_cdata = false;
                    continue;
                }
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        }
        let Some(p) = rest.find(|c: char| c == '&' || c == '<' || is_forbidden(c)) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..p]);
        let at = &rest[p..];
        if let Some(after) = at.strip_prefix("<![CDATA[") {
            out.push_str("<![CDATA[");
            rest = after;
            in_cdata = true;
        } else if let Some(after) = at.strip_prefix("</") {
            // A close tag that does not match the open element (`<language>…</langauge>`)
            // closes it anyway; one matching an element further up closes those between.
            let name_len = after
                .find(['>', ' ', '\t', '\n', '\r'])
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let tail = &after[name_len..];
            let Some(gt) = tail.find('>') else {
                out.push_str(at);
                break;
            };
            if let Some(depth) = stack.iter().rposition(|open| *open == name) {
                for open in stack.drain(depth..).skip(1).rev() {
                    let _ = write!(out, "</{open}>");
                    changed = true;
                }
                out.push_str(&at[..2 + name_len + gt + 1]);
            } else {
                // Unmatched: close the open element instead, or drop it at the top level.
                if let Some(open) = stack.pop() {
                    let _ = write!(out, "</{open}>");
                }
                changed = true;
            }
            rest = &tail[gt + 1..];
        } else if at.starts_with("<!") || at.starts_with("<?") {
            out.push('<');
            rest = &at[1..];
        } else if let Some(after) = at.strip_prefix('<') {
            if !after.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == ':') {
                // `<3`, `a < b`: text, not a tag.
                out.push_str("&lt;");
                changed = true;
            } else {
                // A start tag: remember it unless it is empty (`<x/>`).
                let name_len = after
                    .find(['>', '/', ' ', '\t', '\n', '\r'])
                    .unwrap_or(after.len());
                let end = crate::parse::tag_end(at);
                let empty = end.is_some_and(|e| at[..e].ends_with('/'));
                if !empty && stack.len() < MAX_DEPTH {
                    stack.push(&after[..name_len]);
                }
                out.push('<');
            }
            rest = after;
        } else if let Some(after) = at.strip_prefix('&') {
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let terminated = after[name_len..].starts_with(';');
            if terminated && (is_xml_reference(name)) {
                out.push('&');
                rest = &at[1..];
            } else if terminated && name_len > 0 && name_len <= 32 {
                let entity = &at[..name_len + 2];
                let decoded = html_escape::decode_html_entities(entity);
                if decoded != entity {
                    for c in decoded.chars() {
                        let _ = write!(out, "&#{};", u32::from(c));
                    }
                } else {
                    out.push_str("&amp;");
                    out.push_str(&entity[1..]);
                }
                changed = true;
                rest = &at[entity.len()..];
            } else {
                out.push_str("&amp;");
                changed = true;
                rest = &at[1..];
            }
        } else {
            // A forbidden control character.
            let c = at.chars().next().unwrap_or(' ');
            changed = true;
            rest = &at[c.len_utf8()..];
        }
    }
    changed.then_some(out)
}

/// Deepest element nesting [`fix_ill_formed`] tracks.
const MAX_DEPTH: usize = 256;

fn is_forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

fn is_xml_reference(name: &str) -> bool {
    matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
        || name
            .strip_prefix("#x")
            .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        || name
            .strip_prefix('#')
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

/// Repair a JSON Feed feed-rs rejected: `"version": "1.0"`/`"1.1"` → the version URL, a missing
/// `title` → empty. `None` when the document is not a JSON object or nothing changed.
pub fn fix_json_feed(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let obj = v.as_object_mut()?;
    let mut changed = false;
    let version = obj
        .get("version")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let fixed = match version.as_deref().map(str::trim) {
        Some("1" | "1.0") => Some("https://jsonfeed.org/version/1"),
        Some("1.1") => Some("https://jsonfeed.org/version/1.1"),
        None => Some("https://jsonfeed.org/version/1.1"),
        _ => None,
    };
    if let Some(f) = fixed {
        obj.insert("version".into(), f.into());
        changed = true;
    }
    if !obj.get("title").is_some_and(serde_json::Value::is_string) {
        obj.insert("title".into(), "".into());
        changed = true;
    }
    if !obj.get("items").is_some_and(serde_json::Value::is_array) {
        obj.insert("items".into(), serde_json::Value::Array(Vec::new()));
        changed = true;
    }
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok()
}

/// Largest char boundary ≤ `max`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn atom03_is_renamed() {
        let x = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><tagline>T</tagline><entry><issued>2004</issued><modifiedx/></entry></feed>"#;
        let out = fix_atom03(x).unwrap();
        assert!(out.contains(ATOM10_NS));
        assert!(out.contains("<subtitle>T</subtitle>"));
        assert!(out.contains("<published>2004</published>"));
        assert!(out.contains("<modifiedx/>"));
        assert_eq!(
            fix_atom03("<feed xmlns=\"http://www.w3.org/2005/Atom\"/>"),
            None
        );
    }

    #[test]
    fn text_constructs() {
        let x = r#"<title mode="base64">RmVlZCBUaXRsZQ==</title>"#;
        assert_eq!(
            fix_text_constructs(x).unwrap(),
            r#"<title type="html">Feed Title</title>"#
        );
        let x = r#"<summary type="application/octet-stream">PHA+RW50cnk8L3A+</summary>"#;
        assert_eq!(
            fix_text_constructs(x).unwrap(),
            r#"<summary type="html">&lt;p&gt;Entry&lt;/p&gt;</summary>"#
        );
        let x = "<rss><channel><title><p>Feed</p></title></channel></rss>";
        assert_eq!(
            fix_text_constructs(x).unwrap(),
            r#"<rss><channel><title type="html">&lt;p&gt;Feed&lt;/p&gt;</title></channel></rss>"#
        );
        assert_eq!(
            fix_text_constructs("<title>Plain &amp; simple</title>"),
            None
        );
        assert_eq!(
            fix_text_constructs("<title type=\"html\">&lt;b&gt;</title>"),
            None
        );
        assert_eq!(fix_text_constructs("<title/><title"), None);
    }

    #[test]
    fn ill_formed() {
        assert_eq!(
            fix_ill_formed("<t>Fish & Chips &nbsp;&amp; more <3\u{8}</t>").unwrap(),
            "<t>Fish &amp; Chips &#160;&amp; more &lt;3</t>"
        );
        assert_eq!(fix_ill_formed("<t>a &amp; &#38; &#x26;</t>"), None);
        assert_eq!(fix_ill_formed("<![CDATA[a & b]]>"), None);
        assert_eq!(fix_ill_formed("&"), Some("&amp;".into()));
        assert_eq!(
            fix_ill_formed("<a><b>x</c><d/></a>").unwrap(),
            "<a><b>x</b><d/></a>"
        );
        assert_eq!(
            fix_ill_formed("<a><b><c>x</a>").unwrap(),
            "<a><b><c>x</c></b></a>"
        );
        assert_eq!(
            fix_ill_formed("<?xml version=\"1.0\"?><a><!-- c --><b/></a>"),
            None
        );
    }

    #[test]
    fn json_feed() {
        let out = fix_json_feed(br#"{"version":"1.0","items":[]}"#).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["version"], "https://jsonfeed.org/version/1");
        assert_eq!(v["title"], "");
        assert_eq!(
            fix_json_feed(
                br#"{"version":"https://jsonfeed.org/version/1","title":"t","items":[]}"#
            ),
            None
        );
        assert_eq!(fix_json_feed(b"[1]"), None);
    }

    #[test]
    fn rdf_links_and_mixed_cdata() {
        let x = r#"<rdf:RDF><item rdf:about="http://e.org/1"><title>T</title></item><item rdf:about="x"><link>y</link></item></rdf:RDF>"#;
        assert_eq!(
            fix_rdf_item_links(x).unwrap(),
            r#"<rdf:RDF><item rdf:about="http://e.org/1"><link>http://e.org/1</link><title>T</title></item><item rdf:about="x"><link>y</link></item></rdf:RDF>"#
        );
        assert_eq!(
            fix_rdf_item_links("<rss><item rdf:about=\"a\"></item></rss>"),
            None
        );
        let x = "<description>a <![CDATA[<b>b</b>]]> c</description>";
        assert_eq!(
            fix_text_constructs(x).unwrap(),
            r#"<description type="html">a &lt;b&gt;b&lt;/b&gt; c</description>"#
        );
    }

    #[test]
    fn declarations_and_nul() {
        assert_eq!(
            fix_for_utf8_parser("\0<?xml version=\"1.0\"?><a>x<?xml encoding=\"utf-16\"?>y<?xml-stylesheet href=\"s\"?></a>")
                .unwrap(),
            "<a>xy<?xml-stylesheet href=\"s\"?></a>"
        );
        assert_eq!(fix_for_utf8_parser("<a>x</a>"), None);
        assert_eq!(fix_for_utf8_parser("<?xml "), Some(String::new()));
    }

    #[test]
    fn empty_rss() {
        assert_eq!(
            fix_rss_without_channel("<?xml version=\"1.0\"?>\n<rss version=\"2.0\">\n</rss>")
                .unwrap(),
            "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel></channel>\n</rss>"
        );
        assert_eq!(fix_rss_without_channel("<rss><channel/></rss>"), None);
        assert_eq!(fix_rss_without_channel("<rssx></rssx>"), None);
        assert_eq!(fix_rss_without_channel("<rss/>"), None);
    }

    #[test]
    fn rss090() {
        let x = r#"<rdf:RDF xmlns="http://my.netscape.com/rdf/simple/0.9/"><item/></rdf:RDF>"#;
        assert_eq!(
            fix_rss090(x).unwrap(),
            r#"<rdf:RDF xmlns="http://purl.org/rss/1.0/"><item/></rdf:RDF>"#
        );
        assert_eq!(fix_rss090("<rss/>"), None);
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("a*b"), None);
    }
}
