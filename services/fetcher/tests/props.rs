//! Property tests on the pre-pass and normaliser: no input makes them panic, entity expansion
//! (billion laughs) stays bounded, the fast parse path agrees with the reference path on
//! mutated real feeds, and any text survives UTF-16/32 with or without a byte-order mark.
//! `cargo test -p wirewatch-fetcher --test props`.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use wirewatch_fetcher::parse::{
    fix_rss_version, html_to_text, parse_feed, parse_feed_via, parse_feed_with_charset, plain_line,
    to_utf8, Route, MAX_TEXT_BYTES, MAX_TITLE_BYTES, PANIC_DETAIL,
};
use wirewatch_fetcher::recover;
use wirewatch_proto::v1::FeedRef;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");

/// Real feeds of each family, mutated below.
const SEEDS: [&str; 6] = [
    "rss-parser/test/input/guardian.rss",
    "rss-parser/test/input/heise.atom",
    "rss-parser/test/input/uolNoticias.rss",
    "feed-rs/fixture/jsonfeed/jsonfeed_example_1.json",
    "feed-rs/fixture/rss1/rss_1.0_spec_1.xml",
    "gofeed/testdata/parser/atom/atom03_feed_copyright_base64.xml",
];

fn feed() -> FeedRef {
    FeedRef {
        id: "p".into(),
        url: "https://feeds.example/p".into(),
        title: None,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Fragments that stress the tolerant paths.
const SNIPPETS: [&str; 14] = [
    "<",
    ">",
    "&",
    "&nbsp;",
    "&#x0;",
    "]]>",
    "<![CDATA[",
    "</title>",
    "<title mode=\"base64\">",
    "\u{0}",
    "\u{feff}",
    "<rss>",
    "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    "<!DOCTYPE x [",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, usize),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) => {
                if let Some(x) = bytes.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Insert(i, s) => {
                let at = (i % len).min(bytes.len());
                bytes.splice(at..at, SNIPPETS[s].bytes());
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                   charset in prop::option::of("[a-z0-9-]{0,12}")) {
        let r = parse_feed_with_charset(&bytes, charset.as_deref(), &feed(), None, now());
        prop_assert!(r.err().is_none_or(|e| !e.to_string().contains(PANIC_DETAIL)));
        let _ = to_utf8(&bytes, charset.as_deref());
        let _ = recover::fix_json_feed(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "(?s).{0,512}") {
        let _ = fix_rss_version(&s);
        let _ = recover::fix_atom03(&s);
        let _ = recover::fix_rdf_item_links(&s);
        let _ = recover::fix_text_constructs(&s);
        let _ = recover::fix_ill_formed(&s);
        let _ = recover::decode_base64(&s);
        let text = html_to_text(&s, 100);
        prop_assert!(text.len() <= 100);
        prop_assert!(plain_line(&s, 50).len() <= 50);
    }

    #[test]
    fn markup_like_text_never_panics(s in "([<>&;/!\\[\\]?=\"' a-z#0-9]|CDATA|title|rss|feed|item|entry){0,80}") {
        let _ = recover::fix_text_constructs(&s);
        let _ = recover::fix_ill_formed(&s);
        let _ = fix_rss_version(&s);
        let r = parse_feed(s.as_bytes(), &feed(), None, now());
        prop_assert!(r.err().is_none_or(|e| !e.to_string().contains(PANIC_DETAIL)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_feeds_never_panic(seed in 0..SEEDS.len(),
                                      muts in proptest::collection::vec(mutation(), 1..8)) {
        let bytes = std::fs::read(format!("{CORPUS}/{}", SEEDS[seed])).unwrap();
        let bytes = mutate(bytes, &muts);
        let base = url::Url::parse("https://feeds.example/x/feed").unwrap();
        let r = parse_feed(&bytes, &feed(), Some(&base), now());
        if let Err(e) = &r {
            prop_assert!(!e.to_string().contains(PANIC_DETAIL), "feed-rs panicked");
        }
        // Wherever both paths read the mutant, they agree. (The fast path may read a mutant
        // that the pre-pass's textual rewrites break further: a `<title mode="base64">` pasted
        // into another tag makes the base64 fix swallow the next `</title>`.)
        if let Ok(Some(fast)) = parse_feed_via(Route::Fast, &bytes, None, &feed(), Some(&base), now()) {
            if let Ok(Some(reference)) =
                parse_feed_via(Route::Reference, &bytes, None, &feed(), Some(&base), now())
            {
                prop_assert_eq!(reference, fast);
            }
        }
        if let Ok((info, stories)) = r {
            prop_assert!(info.items >= stories.len());
            for s in &stories {
                prop_assert!(s.title.len() <= MAX_TITLE_BYTES);
                prop_assert!(s.summary.as_ref().is_none_or(|t| t.len() <= MAX_TEXT_BYTES));
                prop_assert!(s.content.as_ref().is_none_or(|t| t.len() <= MAX_TEXT_BYTES));
            }
        }
    }
}

/// `text` as UTF-16 or UTF-32, little- or big-endian, with or without a byte-order mark.
fn encode(text: &str, wide: bool, le: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut unit = |u: u32| match (wide, le) {
        (true, true) => out.extend(u.to_le_bytes()),
        (true, false) => out.extend(u.to_be_bytes()),
        (false, true) => out.extend((u as u16).to_le_bytes()),
        (false, false) => out.extend((u as u16).to_be_bytes()),
    };
    if bom {
        unit(0xFEFF);
    }
    if wide {
        text.chars().for_each(|c| unit(u32::from(c)));
    } else {
        text.encode_utf16().for_each(|u| unit(u32::from(u)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A document starting with `<` (as every XML feed does, a declaration aside) comes back
    /// intact from UTF-16/32, with or without a byte-order mark, whatever the HTTP charset
    /// claims.
    #[test]
    fn utf16_and_utf32_round_trip(body in "[^\u{0}\u{feff}]{0,64}", wide: bool, le: bool, bom: bool,
                                  charset in prop::option::of(prop::sample::select(vec!["utf-8", "iso-8859-1", "utf-16", "koi8-r"]))) {
        let text = format!("<rss>{body}</rss>");
        let bytes = encode(&text, wide, le, bom);
        let decoded = to_utf8(&bytes, charset);
        prop_assert_eq!(decoded.as_ref(), text.as_str());
    }
}

/// Billion laughs: ten levels of ten-fold entity references (10⁹ "lol"s if expanded). XML
/// entities declared in a DTD are never expanded (neither by quick-xml under feed-rs nor by the
/// repair pass, which only knows HTML's fixed entity table), so the result is either an error
/// or a story whose text is bounded by the input size — checked by size, not by time.
#[test]
fn billion_laughs_is_bounded() {
    let mut dtd =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY lol0 \"lol\">\n");
    for i in 1..10 {
        let refs: String = (0..10).map(|_| format!("&lol{};", i - 1)).collect();
        dtd.push_str(&format!("<!ENTITY lol{i} \"{refs}\">\n"));
    }
    dtd.push_str("]>\n");
    for body in [
        "<rss version=\"2.0\"><channel><title>&lol9;</title><item><title>&lol9;</title><description>&lol9;&lol9;</description></item></channel></rss>",
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>&lol9;</title><entry><id>x</id><title>&lol9;</title><summary type=\"html\">&lol9;</summary></entry></feed>",
    ] {
        let doc = format!("{dtd}{body}");
        match parse_feed(doc.as_bytes(), &feed(), None, now()) {
            Err(e) => assert_eq!(e.kind(), "parse"),
            Ok((info, stories)) => {
                let total: usize = info.title.as_ref().map_or(0, String::len)
                    + stories.iter().map(|s| s.text().len()).sum::<usize>();
                assert!(total <= 4 * doc.len(), "expanded to {total} bytes from {}", doc.len());
            }
        }
    }
}
