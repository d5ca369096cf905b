//! A one-pass HTML → text stripper for the HTML feeds actually carry (paragraphs, links,
//! emphasis, images, line breaks, entities), giving exactly what the full path of
//! [`super::html_to_text`] gives — html5ever's parse through ammonia, serialised and decoded —
//! without building a DOM per field. Whatever could make the two differ returns `None`, and the
//! caller takes the full path: any element but the ordinary inline and block ones
//! ([`is_simple_element`]; not `script`, `style`, `textarea`, tables, `select`, unknown names…),
//! comments that end abruptly, doctypes, CDATA,
//! processing instructions, tags cut off by the end of the text, NULs, and character
//! references html5ever reads in ways a table lookup does not (without `;`, legacy
//! prefixes, numeric references to controls or outside Unicode).
//!
//! The unit test `same_as_ammonia_on_the_corpus` runs both on every text field of every corpus
//! feed.

use super::{is_block_tag, Collapse, BLOCK};

/// The elements this stripper reads: HTML's ordinary inline elements, and the block elements
/// of [`super::BLOCK_TAGS`] but the table ones; html5ever keeps their text in place. Any other
/// (`script`, `style`, `textarea`, `title`, `noscript`, tables, `select`, `template`,
/// `html`/`head`/`body`, frames, SVG/MathML, unknown names — the full path was seen to drop
/// the text of an unknown `<root>`) needs the full parser.
const INLINE_ELEMENTS: &[&str] = &[
    "a", "abbr", "acronym", "audio", "b", "bdi", "bdo", "big", "center", "cite", "code", "del",
    "details", "dfn", "em", "font", "i", "img", "ins", "kbd", "main", "mark", "nav", "picture",
    "q", "s", "samp", "small", "source", "span", "strike", "strong", "sub", "summary", "sup",
    "time", "tt", "u", "var", "video", "wbr",
];

/// Block elements whose text html5ever's tree builder may move (foster parenting).
const TABLE_ELEMENTS: &[&str] = &["table", "td", "th", "tr"];

fn is_simple_element(name: &str) -> bool {
    let is = |list: &[&str]| list.iter().any(|t| t.eq_ignore_ascii_case(name));
    is(INLINE_ELEMENTS) || (is(super::BLOCK_TAGS) && !is(TABLE_ELEMENTS))
}

/// HTML named references that html5ever also reads without a `;` (the legacy ones): text
/// starting with one of these after `&` needs html5ever's longest-prefix rules.
const LEGACY_ENTITIES: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

fn is_html_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Feed the text of `html` to `out`: a line break at each block-level tag, character
/// references decoded. `None` when the full parser is needed (`out` then holds a part, for the
/// caller to clear). Stops early once `out` is full: the text so far does not depend on what
/// follows in this subset of HTML.
pub(crate) fn strip(html: &str, out: &mut Collapse) -> Option<()> {
    let b = html.as_bytes();
    if memchr::memchr(0, b).is_some() {
        return None;
    }
    let mut i = 0;
    let mut copied = 0;
    let mut decoded = String::new();
    while let Some(rel) = memchr::memchr3(b'<', b'&', 0xEE, &b[i..]) {
        let at = i + rel;
        out.push(&html[copied..at]);
        if out.full() {
            return Some(());
        }
        match b[at] {
            b'<' => match tag(html, at)? {
                Lt::Text => {
                    out.push("<");
                    i = at + 1;
                }
                Lt::Markup { end, block } => {
                    if block {
                        out.block();
                    }
                    i = end;
                }
            },
            b'&' => {
                decoded.clear();
                i = reference(html, at, &mut decoded)?;
                out.push(&decoded);
            }
            _ => {
                // 0xEE leads U+E000–U+EFFF: drop BLOCK itself (the full path removes any in
                // the input), keep the rest.
                let c = html[at..].chars().next()?;
                if c != BLOCK {
                    out.push(&html[at..at + c.len_utf8()]);
                }
                i = at + c.len_utf8();
            }
        }
        copied = i;
    }
    out.push(&html[copied..]);
    Some(())
}

/// What a `<` starts.
enum Lt {
    /// Nothing: the `<` is text (`a < b`, `<3`).
    Text,
    /// A tag or comment ending (exclusive) at `end`; `block`: a block-level tag.
    Markup { end: usize, block: bool },
}

/// What the `<` at `at` starts; `None` when it needs the full parser.
fn tag(html: &str, at: usize) -> Option<Lt> {
    let b = html.as_bytes();
    let next = b.get(at + 1).copied();
    let name_at = match next {
        Some(c) if c.is_ascii_alphabetic() => at + 1,
        Some(b'/') if b.get(at + 2).is_some_and(u8::is_ascii_alphabetic) => at + 2,
        Some(b'!') if html[at..].starts_with("<!--") => {
            return comment(html, at).map(|end| Lt::Markup { end, block: false })
        }
        Some(b'!' | b'?' | b'/') | None => return None,
        Some(_) => return Some(Lt::Text),
    };
    let name_end = b[name_at..]
        .iter()
        .position(|c| is_html_space(*c) || *c == b'/' || *c == b'>')
        .map_or(b.len(), |p| name_at + p);
    let name = &html[name_at..name_end];
    if !is_simple_element(name) {
        return None;
    }
    let end = tag_end(b, name_end)?;
    Some(Lt::Markup {
        end,
        block: is_block_tag(&html[at + 1..]),
    })
}

/// End (exclusive) of a start or end tag whose attributes begin at `i`: html5ever's attribute
/// states, so that a `>` inside a quoted value does not end the tag. `None` at the end of input.
fn tag_end(b: &[u8], mut i: usize) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Unquoted,
        AfterQuoted,
    }
    let mut s = S::BeforeName;
    loop {
        let c = *b.get(i)?;
        s = match (s, c) {
            (_, 0) => return None,
            (S::Unquoted, b'>') | (S::BeforeValue, b'>') => return Some(i + 1),
            (S::Unquoted, c) if is_html_space(c) => S::BeforeName,
            (S::Unquoted, _) => S::Unquoted,
            (S::BeforeValue, c) if is_html_space(c) => S::BeforeValue,
            (S::BeforeValue, q @ (b'"' | b'\'')) => {
                // Jump to the closing quote (long URLs are most of a tag's bytes).
                i += 1 + memchr::memchr(q, b.get(i + 1..)?)?;
                S::AfterQuoted
            }
            (S::BeforeValue, _) => S::Unquoted,
            (_, b'>') => return Some(i + 1),
            (S::Name | S::AfterName, b'=') => S::BeforeValue,
            (S::BeforeName | S::AfterName | S::AfterQuoted, c) if is_html_space(c) || c == b'/' => {
                S::BeforeName
            }
            (S::Name, c) if is_html_space(c) => S::AfterName,
            (S::Name, b'/') => S::BeforeName,
            (_, _) => S::Name,
        };
        i += 1;
    }
}

/// End of a `<!--…-->` comment at `at`; `None` for the abrupt and odd forms html5ever reads
/// differently (`<!-->`, `<!--->`, `--!>`, unterminated).
fn comment(html: &str, at: usize) -> Option<usize> {
    let body = &html[at + 4..];
    if body.starts_with('>') || body.starts_with("->") {
        return None;
    }
    let end = body.find("-->")?;
    if body[..end].contains("--!") {
        return None;
    }
    Some(at + 4 + end + 3)
}

/// Decode the character reference at `at` (a `&`) into `out`; where the text resumes.
fn reference(html: &str, at: usize, out: &mut String) -> Option<usize> {
    let rest = &html[at + 1..];
    let b = rest.as_bytes();
    match b.first() {
        Some(b'#') => {
            let (digits, radix, skip) = match b.get(1) {
                Some(b'x' | b'X') => (&rest[2..], 16, 2),
                _ => (&rest[1..], 10, 1),
            };
            let len = digits
                .bytes()
                .position(|c| !c.is_ascii_hexdigit() || (radix == 10 && !c.is_ascii_digit()))
                .unwrap_or(digits.len());
            if len == 0 || len > 8 || !digits[len..].starts_with(';') {
                return None;
            }
            let n = u32::from_str_radix(&digits[..len], radix).ok()?;
            let ok = matches!(n, 0x09 | 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE001..=0xFDCF)
                || matches!(n, 0xFDF0..=0xFFFD)
                || (0x10000..=0x10FFFF).contains(&n) && n & 0xFFFE != 0xFFFE;
            if !ok {
                return None;
            }
            out.push(char::from_u32(n)?);
            Some(at + 1 + skip + len + 1)
        }
        Some(c) if c.is_ascii_alphanumeric() => {
            let len = b
                .iter()
                .position(|c| !c.is_ascii_alphanumeric())
                .unwrap_or(b.len());
            let name = &rest[..len];
            if LEGACY_ENTITIES.iter().any(|l| name.starts_with(l)) {
                // `&copy2024`, `&notit;`: html5ever's prefix rules; `&amp;` and other exact
                // legacy names with `;` are plain table lookups.
                let exact = rest[len..].starts_with(';') && LEGACY_ENTITIES.contains(&name);
                if !exact {
                    return None;
                }
            }
            if rest[len..].starts_with(';') {
                let entity = &html[at..at + 1 + len + 1];
                let decoded = html_escape::decode_html_entities(entity);
                if decoded != entity {
                    out.push_str(&decoded);
                    return Some(at + entity.len());
                }
            }
            // Not a reference (`AT&T`, `&foo;`): the `&` is text.
            out.push('&');
            Some(at + 1)
        }
        // `& `, `&&`, `&` at the end: text.
        _ => {
            out.push('&');
            Some(at + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::borrow::Cow;

    use super::super::{finish_text, html_to_text_full};
    use super::*;

    /// Both paths, after the common last step, cut at `max` bytes.
    fn both_cut(html: &str, max: usize) -> Option<(String, String)> {
        let mut fast = Collapse::new(html.len(), max);
        strip(html, &mut fast)?;
        Some((
            fast.finish(),
            finish_text(Cow::Owned(html_to_text_full(html)), max),
        ))
    }

    fn both(html: &str) -> Option<(String, String)> {
        both_cut(html, usize::MAX / 4)
    }

    #[test]
    fn simple_markup_is_stripped_like_ammonia() {
        for html in [
            "<p>Hello&nbsp;<b>world</b> &amp; friends</p><p>Second\n  para</p>",
            "AT&T &lt;b&gt; 3 > 2 a < b <3 & more &#8217; &#x2014; &hellip;",
            r#"<a href="x?a=1&b=2" title='>'>link</a><img src=x alt="a > b"/> tail"#,
            "one<br>two<BR/>three</P><li>item<!-- a comment <p> -->end",
            "<div class=x data-y=z>unquoted</div><p/>selfclosed",
            "&foo; &zzz &#65;&#x42;",
            "\u{e000}private\u{e001}use",
            "<P>upper</P><blockquote>q</blockquote>",
        ] {
            let (fast, full) = both(html).unwrap_or_else(|| panic!("declined: {html}"));
            assert_eq!(fast, full, "{html}");
        }
    }

    #[test]
    fn hard_cases_are_declined() {
        for html in [
            "<script>x</script>",
            "<table><tr><td>a</td></tr></table>",
            "&copy2024",
            "&notit;",
            "&#128;",
            "&#0;",
            "<!-->",
            "<a href='x",
            "<![CDATA[x]]>",
            "</>",
            "<title>t</title>",
            "&#65",
            "we open a <root> node</p>",
        ] {
            let mut out = Collapse::new(html.len(), 1000);
            assert!(strip(html, &mut out).is_none(), "{html}");
        }
    }

    /// Every text field of every corpus feed (as feed-rs reads them): where the stripper
    /// accepts the text, its result equals the full path's.
    #[test]
    fn same_as_ammonia_on_the_corpus() {
        let (mut taken, mut declined, mut differ) = (0, 0, Vec::new());
        for (path, bytes) in crate::parse::corpus_files() {
            let Ok(Ok(feed)) = std::panic::catch_unwind(|| feed_rs::parser::parse(&bytes[..]))
            else {
                continue;
            };
            let mut texts: Vec<String> = Vec::new();
            texts.extend(feed.title.map(|t| t.content));
            texts.extend(feed.description.map(|t| t.content));
            for e in feed.entries {
                texts.extend(e.title.map(|t| t.content));
                texts.extend(e.summary.map(|t| t.content));
                texts.extend(e.content.and_then(|c| c.body));
            }
            for t in texts {
                // Cut short too: the stripper stops early then.
                if let Some((fast, full)) = both_cut(&t, 100) {
                    assert_eq!(fast, full, "cut at 100: {t:?}");
                }
                match both(&t) {
                    None => declined += 1,
                    Some((fast, full)) if fast == full => taken += 1,
                    Some((fast, full)) => differ.push(format!(
                        "{}: {t:?}\n  fast {fast:?}\n  full {full:?}",
                        path.display()
                    )),
                }
            }
        }
        for d in differ.iter().take(20) {
            println!("{d}");
        }
        println!(
            "stripper took {taken} texts, declined {declined}, differed on {}",
            differ.len()
        );
        assert!(differ.is_empty(), "{} texts differ", differ.len());
        assert!(taken > 5_000, "stripper took only {taken} texts");
    }
}
