//! Which character encoding a feed is in, and its text as UTF-8.
//!
//! The order is feedparser's (its `convert_to_utf8`, after RFC 3023): the HTTP charset, then
//! the XML declaration's `encoding`, then what the first bytes show, then UTF-8, then a
//! statistical guess, then windows-1252 (a superset of ISO-8859-1 that decodes any byte); the
//! first that decodes the document without an error wins, and `gb2312` is read as its superset
//! GB18030.
//!
//! The guess is for **undeclared legacy encodings** (a Russian feed in windows-1251 or KOI8-R,
//! a Greek one in ISO-8859-7, a Japanese one in Shift_JIS… served without any charset):
//! `chardetng`, Firefox's detector, scores the candidate encodings on the document's non-ASCII
//! bytes (the first [`DETECT_MAX_BYTES`] from the first non-ASCII one), helped by the feed host's top-level domain
//! where one is known. feedparser asks chardet before UTF-8; here the guess comes after it,
//! so that it costs nothing unless the bytes are not valid UTF-8 (valid multi-byte UTF-8 is
//! practically never legacy text, and chardet would call it UTF-8 too). A declared charset
//! that decodes the bytes still wins over the guess, as in feedparser.
//!
//! Two deliberate differences, both where feedparser produces text nobody can read:
//! - **A byte-order mark, or the zero bytes of BOM-less UTF-16/32 around a leading `<`, wins
//!   over any charset** (as in browsers and the XML specification's appendix F). feedparser
//!   ranks them last, so a UTF-16 document served as `charset=utf-8` "decodes" as UTF-8
//!   (NULs are valid UTF-8) into NUL-riddled text. Conversely a UTF-16/32 charset or
//!   declaration on a document whose bytes are evidently ASCII-compatible is ignored.
//! - **Valid UTF-8 with non-ASCII characters beats a single-byte HTTP charset** when the
//!   document declares UTF-8 or nothing: servers that add a default `charset=ISO-8859-1` to
//!   every `text/xml` response are common, and real Latin-1 text is practically never valid
//!   multi-byte UTF-8.
//!
//! UTF-32 is decoded here (encoding_rs has no UTF-32); everything else through encoding_rs.

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// Most bytes of a document the encoding detector reads from its first non-ASCII byte on:
/// plenty for the statistics (dozens of titles), and it bounds what a big legacy feed costs
/// (chardetng scores 27 candidates on every byte: ~6 MB/s on the shared dev box).
pub const DETECT_MAX_BYTES: usize = 64 * 1024;

/// A Unicode encoding the first bytes give away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

/// A byte-order mark, or failing that BOM-less UTF-16/32 sniffed from a leading `<` or
/// whitespace; with the length of the mark.
fn sniff(bytes: &[u8]) -> Option<(Unit, usize)> {
    let b = |i: usize| bytes.get(i).copied();
    let ascii = |x: Option<u8>| x.is_some_and(|c| c == b'<' || c.is_ascii_whitespace());
    match (b(0), b(1), b(2), b(3)) {
        (Some(0), Some(0), Some(0xFE), Some(0xFF)) => Some((Unit::Utf32Be, 4)),
        (Some(0xFF), Some(0xFE), Some(0), Some(0)) => Some((Unit::Utf32Le, 4)),
        (Some(0xEF), Some(0xBB), Some(0xBF), _) => Some((Unit::Utf8, 3)),
        (Some(0xFE), Some(0xFF), _, _) => Some((Unit::Utf16Be, 2)),
        (Some(0xFF), Some(0xFE), _, _) => Some((Unit::Utf16Le, 2)),
        (Some(0), Some(0), Some(0), x) if ascii(x) => Some((Unit::Utf32Be, 0)),
        (x, Some(0), Some(0), Some(0)) if ascii(x) => Some((Unit::Utf32Le, 0)),
        (Some(0), x, Some(0), Some(y)) if ascii(x) && y != 0 => Some((Unit::Utf16Be, 0)),
        (x, Some(0), Some(y), Some(0)) if ascii(x) && y != 0 => Some((Unit::Utf16Le, 0)),
        _ => None,
    }
}

/// `bytes` as `unit`; `None` on malformed input.
fn decode_unit(bytes: &[u8], unit: Unit) -> Option<Cow<'_, str>> {
    let via =
        |enc: &'static Encoding| enc.decode_without_bom_handling_and_without_replacement(bytes);
    match unit {
        Unit::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Unit::Utf16Le => via(UTF_16LE),
        Unit::Utf16Be => via(UTF_16BE),
        Unit::Utf32Le | Unit::Utf32Be => {
            if !bytes.len().is_multiple_of(4) {
                return None;
            }
            bytes
                .chunks_exact(4)
                .map(|c| {
                    let q = [c[0], c[1], c[2], c[3]];
                    char::from_u32(if unit == Unit::Utf32Le {
                        u32::from_le_bytes(q)
                    } else {
                        u32::from_be_bytes(q)
                    })
                })
                .collect::<Option<String>>()
                .map(Cow::Owned)
        }
    }
}

/// An encoding label as feedparser reads it (`gb2312` → GB18030).
fn encoding_for(label: &str) -> Option<&'static Encoding> {
    let label = label.trim();
    if label.eq_ignore_ascii_case("gb2312") {
        return Some(GB18030);
    }
    Encoding::for_label(label.as_bytes())
}

/// The Unicode unit a label names, for UTF-16/32 labels (encoding_rs does not know UTF-32).
fn unit_for(label: &str) -> Option<Unit> {
    let l = label.trim().to_ascii_lowercase().replace('_', "-");
    match l.as_str() {
        "utf-32" | "utf32" | "ucs-4" | "iso-10646-ucs-4" | "utf-32be" => Some(Unit::Utf32Be),
        "utf-32le" => Some(Unit::Utf32Le),
        "utf-16" | "utf16" | "ucs-2" | "iso-10646-ucs-2" | "utf-16le" => Some(Unit::Utf16Le),
        "utf-16be" => Some(Unit::Utf16Be),
        _ => None,
    }
}

/// The `encoding` of a leading `<?xml … ?>` declaration, read from the first bytes as ASCII
/// (or decoded as `unit` first).
fn declared_encoding(body: &[u8], unit: Option<Unit>) -> Option<String> {
    let head = &body[..body.len().min(1024)];
    let head: Cow<'_, str> = match unit {
        Some(u) if u != Unit::Utf8 => {
            // Cut at a whole code unit so that the head decodes.
            let n = match u {
                Unit::Utf32Le | Unit::Utf32Be => head.len() / 4 * 4,
                _ => head.len() / 2 * 2,
            };
            match u {
                Unit::Utf16Le => UTF_16LE.decode_without_bom_handling(&head[..n]).0,
                Unit::Utf16Be => UTF_16BE.decode_without_bom_handling(&head[..n]).0,
                _ => decode_unit(&head[..n], u)?,
            }
        }
        _ => String::from_utf8_lossy(head),
    };
    let t = head.trim_start();
    let decl = &t[..t.find("?>")?];
    if !decl.starts_with("<?xml") {
        return None;
    }
    super::attr_value(&decl[5..], "encoding").map(|(_, v)| v.trim().to_string())
}

/// Whether `enc` maps every byte to one character (the legacy Latin, Cyrillic… encodings).
fn single_byte(enc: &'static Encoding) -> bool {
    enc.is_single_byte()
}

/// Where a document's text starts when it can be handed on as UTF-8 without transcoding: the
/// encoding [`to_utf8`] would choose is UTF-8, provided the bytes turn out valid (the caller
/// validates; on invalid bytes it must take [`to_utf8`], which then chooses again). `None`
/// when another encoding is in play or the choice needs the validation itself.
pub(crate) fn presumed_utf8<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> Option<&'a [u8]> {
    let start = match sniff(bytes) {
        Some((Unit::Utf8, n)) => n,
        Some(_) => return None,
        None => 0,
    };
    let body = &bytes[start..];
    if start == 0 {
        if let Some(label) = http_charset {
            let enc = encoding_for(label);
            if enc != Some(UTF_8) && (enc.is_some() || unit_for(label).is_some()) {
                return None;
            }
        }
        if let Some(label) = declared_encoding(body, None) {
            if encoding_for(&label) != Some(UTF_8) && unit_for(&label).is_none() {
                return None;
            }
        }
    }
    Some(body)
}

/// Decode an XML document to UTF-8 (see the module docs for how the encoding is chosen).
/// Valid UTF-8 is borrowed untouched; transcoded text loses its XML declaration (it would name
/// the old encoding). Without a feed URL, an undeclared legacy encoding is guessed as for a
/// generic top-level domain; `parse_feed_with_charset` gives it the feed URL's.
pub fn to_utf8<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> Cow<'a, str> {
    decode(bytes, http_charset, None)
}

/// The top-level domain of a feed's URL, as the encoding detector takes it (the rightmost
/// label of a domain name, lower-case ASCII; `None` for an IP address or anything odd).
pub(crate) fn tld_of(url: &url::Url) -> Option<&str> {
    let url::Host::Domain(host) = url.host()? else {
        return None;
    };
    let label = host.trim_end_matches('.').rsplit('.').next()?;
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    (!label.is_empty() && label.bytes().all(plain)).then_some(label)
}

/// The legacy encoding `body` (not valid UTF-8) is most likely in, by chardetng's statistics
/// over [`DETECT_MAX_BYTES`] from its first non-ASCII byte; `tld` (see [`tld_of`]) tips the balance between
/// close candidates (`ru` favours the Cyrillic encodings, …).
fn detect(body: &[u8], tld: Option<&str>) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    // The detector skips a leading ASCII run itself, cheaply: the budget starts after it.
    let first = body.iter().position(|b| !b.is_ascii()).unwrap_or(0);
    let cut = body.len().min(first.saturating_add(DETECT_MAX_BYTES));
    // `last` only when the whole document was fed: a cut through a multi-byte character
    // must not count against the multi-byte encodings.
    detector.feed(&body[..cut], cut == body.len());
    detector.guess(tld.map(str::as_bytes), Utf8Detection::Deny)
}

/// [`to_utf8`] for a feed fetched from a host under the top-level domain `tld` (see
/// [`tld_of`]), which informs the guess of an undeclared legacy encoding.
pub(crate) fn decode<'a>(
    bytes: &'a [u8],
    http_charset: Option<&str>,
    tld: Option<&str>,
) -> Cow<'a, str> {
    let sniffed = sniff(bytes);
    if let Some((unit, len)) = sniffed {
        if let Some(text) = decode_unit(&bytes[len..], unit) {
            return finish(text, unit == Unit::Utf8);
        }
    }
    let start = match sniffed {
        Some((Unit::Utf8, n)) => n,
        _ => 0,
    };
    let body = &bytes[start..];
    // ASCII-compatible by now: UTF-16/32 labels cannot be right.
    let http = http_charset
        .and_then(encoding_for)
        .filter(|e| *e != UTF_16LE && *e != UTF_16BE);
    let declared = declared_encoding(body, None)
        .as_deref()
        .and_then(encoding_for)
        .filter(|e| *e != UTF_16LE && *e != UTF_16BE);
    if let Some(h) = http {
        if single_byte(h) && declared.is_none_or(|d| d == UTF_8) && !body.is_ascii() {
            if let Ok(s) = std::str::from_utf8(body) {
                return Cow::Borrowed(s);
            }
        }
    }
    for enc in [http, declared, Some(UTF_8)].into_iter().flatten() {
        if enc == UTF_8 {
            if let Ok(s) = std::str::from_utf8(body) {
                return Cow::Borrowed(s);
            }
        } else if let Some(text) = enc.decode_without_bom_handling_and_without_replacement(body) {
            return finish(text, false);
        }
    }
    // Nothing declared decodes the bytes and they are not UTF-8: guess.
    for enc in [detect(body, tld), WINDOWS_1252] {
        if let Some(text) = enc.decode_without_bom_handling_and_without_replacement(body) {
            return finish(text, false);
        }
    }
    // windows-1252 decodes every byte; unreachable in practice, lossy to be total.
    finish(WINDOWS_1252.decode_without_bom_handling(body).0, false)
}

/// Borrowed UTF-8 stays as it is; transcoded text drops its XML declaration.
fn finish(text: Cow<'_, str>, utf8: bool) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(s) if utf8 => Cow::Borrowed(s),
        t => Cow::Owned(drop_xml_declaration(&t).to_string()),
    }
}

fn drop_xml_declaration(s: &str) -> &str {
    let t = s.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if t.starts_with("<?xml") {
        if let Some(end) = t.find("?>") {
            return &t[end + 2..];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn utf16(s: &str, le: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    }

    fn utf32(s: &str, le: bool) -> Vec<u8> {
        s.chars()
            .flat_map(|c| {
                let u = u32::from(c);
                if le {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                }
            })
            .collect()
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss><channel><title>Grüße ✓</title></channel></rss>";

    #[test]
    fn utf16_and_utf32_with_and_without_bom() {
        for le in [true, false] {
            let mut with_bom = if le {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            with_bom.extend(utf16(DOC, le));
            let bare = utf16(DOC, le);
            let mut bom32 = if le {
                vec![0xFF, 0xFE, 0, 0]
            } else {
                vec![0, 0, 0xFE, 0xFF]
            };
            bom32.extend(utf32(DOC, le));
            let bare32 = utf32(DOC, le);
            for (what, bytes) in [
                ("utf-16 bom", with_bom),
                ("utf-16 bare", bare),
                ("utf-32 bom", bom32),
                ("utf-32 bare", bare32),
            ] {
                // Even with a wrong HTTP charset: the zero bytes settle it.
                for http in [None, Some("utf-8"), Some("iso-8859-1")] {
                    let s = to_utf8(&bytes, http);
                    assert!(
                        s.contains("<title>Grüße ✓</title>"),
                        "{what} le={le} {http:?}: {s}"
                    );
                    assert!(!s.contains("<?xml"), "{what}: declaration kept");
                    assert!(presumed_utf8(&bytes, http).is_none());
                }
            }
        }
    }

    #[test]
    fn precedence() {
        let latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t>S\u{e3}o</t>";
        let latin: Vec<u8> = latin
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        // Declared ISO-8859-1, no HTTP charset.
        assert_eq!(to_utf8(&latin, None), "<t>São</t>");
        // The HTTP charset beats the declaration (koi8-r reads 0xE3 as "Ц").
        assert_eq!(to_utf8(&latin, Some("koi8-r")), "<t>SЦo</t>");
        // An HTTP charset that cannot decode the bytes is passed over.
        assert_eq!(to_utf8(&latin, Some("utf-8")), "<t>São</t>");
        // Undeclared, invalid UTF-8: windows-1252.
        assert_eq!(
            to_utf8(b"<t>\x93q\x94</t>", None),
            "<t>\u{201c}q\u{201d}</t>"
        );
        // Valid multi-byte UTF-8 beats a single-byte HTTP charset.
        let utf8 = "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>São</t>";
        assert_eq!(to_utf8(utf8.as_bytes(), Some("ISO-8859-1")), utf8);
        assert!(matches!(to_utf8(utf8.as_bytes(), None), Cow::Borrowed(_)));
        // A UTF-8 BOM wins over the HTTP charset and is dropped.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("<t>é</t>".as_bytes());
        assert_eq!(to_utf8(&bom, Some("windows-1252")), "<t>é</t>");
        // A UTF-16 label on ASCII-compatible bytes is ignored.
        let ascii = "<?xml version='1.0' encoding='utf-16'?><t>a</t>";
        assert_eq!(to_utf8(ascii.as_bytes(), Some("utf-16")), ascii);
        // gb2312 is read as GB18030.
        assert_eq!(encoding_for("GB2312"), Some(GB18030));
    }

    /// A small RSS document in `lang`, as its publisher would write it (no declaration).
    fn feed_of(titles: &[&str], summary: &str) -> String {
        let mut s = String::from("<rss version=\"2.0\"><channel><title>");
        s.push_str(titles[0]);
        s.push_str("</title>");
        for (i, t) in titles.iter().enumerate() {
            s.push_str(&format!(
                "<item><guid>https://news.example/{i}</guid><title>{t}</title><description>{summary}</description></item>"
            ));
        }
        s.push_str("</channel></rss>");
        s
    }

    const RUSSIAN: [&str; 4] = [
        "Центробанк сохранил ключевую ставку на прежнем уровне",
        "В Москве открылась выставка современного искусства",
        "Учёные обнаружили новый вид глубоководных рыб в Тихом океане",
        "Сборная России по хоккею вышла в финал чемпионата мира",
    ];
    const RUSSIAN_SUMMARY: &str = "Совет директоров Банка России принял решение оставить ставку без изменений, сославшись на замедление инфляции и охлаждение потребительского спроса.";

    fn encode(text: &str, enc: &'static Encoding) -> Vec<u8> {
        let (bytes, _, unmappable) = enc.encode(text);
        assert!(!unmappable, "{} cannot encode the sample", enc.name());
        bytes.into_owned()
    }

    #[test]
    fn undeclared_legacy_encodings_are_guessed() {
        use encoding_rs::{
            GBK, ISO_8859_2, ISO_8859_5, ISO_8859_7, KOI8_R, SHIFT_JIS, WINDOWS_1250, WINDOWS_1251,
            WINDOWS_1253,
        };
        let russian = feed_of(&RUSSIAN, RUSSIAN_SUMMARY);
        let greek = feed_of(
            &[
                "Η κυβέρνηση ανακοίνωσε νέα μέτρα για τη στήριξη των νοικοκυριών",
                "Σεισμός 4,8 Ρίχτερ στην Κρήτη χωρίς ζημιές",
            ],
            "Ο υπουργός Οικονομικών παρουσίασε το πακέτο στη Βουλή και δήλωσε ότι θα εφαρμοστεί από τον επόμενο μήνα.",
        );
        let polish = feed_of(
            &[
                "Rząd przyjął projekt ustawy o ochronie środowiska",
                "Wisła wylała w kilku gminach, służby ewakuują mieszkańców",
            ],
            "Minister zapowiedział, że nowe przepisy wejdą w życie jeszcze w tym roku, a gminy otrzymają dodatkowe środki.",
        );
        let japanese = feed_of(
            &[
                "東京都内で大雨警報が発表されました",
                "新しい新幹線の路線が来年開業する予定です",
            ],
            "気象庁によると、今夜から明日の朝にかけて激しい雨が降るおそれがあり、交通機関に遅れが出ています。",
        );
        let chinese = feed_of(
            &["国家统计局发布最新经济数据", "北京地铁新线路今日开通运营"],
            "数据显示，今年前三季度工业生产稳步增长，消费市场持续恢复，就业形势总体稳定。",
        );
        let cases: [(&str, &'static Encoding, Option<&str>); 10] = [
            (&russian, WINDOWS_1251, None),
            (&russian, KOI8_R, None),
            (&russian, ISO_8859_5, Some("ru")),
            (&russian, WINDOWS_1251, Some("com")),
            (&greek, WINDOWS_1253, None),
            (&greek, ISO_8859_7, Some("gr")),
            (&polish, ISO_8859_2, Some("pl")),
            (&polish, WINDOWS_1250, None),
            (&japanese, SHIFT_JIS, None),
            (&chinese, GBK, None),
        ];
        for (text, enc, tld) in cases {
            let bytes = encode(text, enc);
            assert!(std::str::from_utf8(&bytes).is_err());
            assert_eq!(
                decode(&bytes, None, tld),
                text,
                "{} tld {tld:?}",
                enc.name()
            );
            // An XML declaration without an encoding is no hint either (and is dropped).
            let mut declared = b"<?xml version=\"1.0\"?>".to_vec();
            declared.extend_from_slice(&bytes);
            assert_eq!(
                decode(&declared, None, tld),
                text,
                "{} declared",
                enc.name()
            );
        }
        // Undeclared Western text stays windows-1252.
        let german = feed_of(
            &["Bundesregierung beschließt höhere Zuschüsse für Pendler"],
            "Die Maßnahme soll ab März gelten, erklärte das Ministerium in Köln.",
        );
        assert_eq!(to_utf8(&encode(&german, WINDOWS_1252), None), german);
    }

    #[test]
    fn declared_charsets_beat_the_guess() {
        use encoding_rs::{KOI8_R, WINDOWS_1251};
        let russian = feed_of(&RUSSIAN, RUSSIAN_SUMMARY);
        let cp1251 = encode(&russian, WINDOWS_1251);
        // A declared single-byte charset is taken as it is, right or wrong (feedparser too).
        let as_koi8 = KOI8_R.decode_without_bom_handling(&cp1251).0;
        assert_eq!(to_utf8(&cp1251, Some("koi8-r")), as_koi8);
        let mut declared = b"<?xml version=\"1.0\" encoding=\"koi8-r\"?>".to_vec();
        declared.extend_from_slice(&cp1251);
        assert_eq!(to_utf8(&declared, None), as_koi8);
        // A declared UTF-8 that the bytes are not: guessed.
        assert_eq!(to_utf8(&cp1251, Some("utf-8")), russian);
        let mut declared = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_vec();
        declared.extend_from_slice(&cp1251);
        assert_eq!(to_utf8(&declared, None), russian);
        // Valid UTF-8 never reaches the detector: borrowed as it is.
        assert!(matches!(
            to_utf8(russian.as_bytes(), None),
            Cow::Borrowed(s) if s == russian
        ));
    }

    #[test]
    fn long_documents_are_guessed_from_their_head() {
        use encoding_rs::SHIFT_JIS;
        let item = "<item><title>東京都内で大雨警報が発表されました</title></item>";
        // The cut falls at a different place in the two-byte characters as the ASCII between
        // the first character and the cut grows; either way the guess holds.
        for pad in 0..3 {
            let mut text = format!("<rss version=\"2.0\"><channel>{item}<!--");
            text.push_str(&"x".repeat(pad));
            text.push_str("-->");
            while text.len() < 2 * DETECT_MAX_BYTES {
                text.push_str(item);
            }
            text.push_str("</channel></rss>");
            assert_eq!(to_utf8(&encode(&text, SHIFT_JIS), None), text, "pad {pad}");
        }
    }

    #[test]
    fn top_level_domains() {
        let tld = |u: &str| tld_of(&url::Url::parse(u).unwrap()).map(str::to_string);
        assert_eq!(tld("https://lenta.ru/rss/news").as_deref(), Some("ru"));
        assert_eq!(tld("http://News.Example.GR./feed").as_deref(), Some("gr"));
        assert_eq!(tld("https://пример.рф/rss").as_deref(), Some("xn--p1ai"));
        assert_eq!(tld("http://127.0.0.1:8080/feed"), None);
        assert_eq!(tld("http://[::1]/feed"), None);
        assert_eq!(tld("file:///tmp/feed.xml"), None);
    }

    #[test]
    fn presumed_utf8_only_when_utf8_would_be_chosen() {
        assert!(presumed_utf8(b"<rss/>", None).is_some());
        assert!(presumed_utf8(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss/>",
            Some("utf-8")
        )
        .is_some());
        assert!(presumed_utf8(
            b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss/>",
            None
        )
        .is_none());
        assert!(presumed_utf8(b"<rss/>", Some("windows-1251")).is_none());
        assert_eq!(
            presumed_utf8(b"\xEF\xBB\xBF<rss/>", Some("latin1")),
            Some(&b"<rss/>"[..])
        );
    }
}
