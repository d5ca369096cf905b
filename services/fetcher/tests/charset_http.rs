//! Undeclared legacy encodings over real HTTP: Russian feeds in windows-1251 and KOI8-R,
//! served on 127.0.0.1:0 as `application/rss+xml` without a charset, with no byte-order mark
//! and no `encoding` in the XML declaration, fetched and parsed through the crate's public
//! path (`http::fetch` + `parse_feed_with_charset`, and `inspect`). Without the statistical
//! guess these come out as windows-1252 mojibake ("Ðîññèÿ…").

#![allow(clippy::unwrap_used)]

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use encoding_rs::{Encoding, KOI8_R, WINDOWS_1251};
use wirewatch_fetcher::http::{client, fetch, FetchOutcome, Limits, Validators};
use wirewatch_fetcher::parse::parse_feed_with_charset;
use wirewatch_fetcher::{inspect, FetcherConfig};
use wirewatch_proto::v1::FeedRef;

const CHANNEL: &str = "Новости дня";

/// (title, summary) of each item: ordinary Russian news copy, with `ё` and punctuation that
/// the legacy encodings place differently.
const ITEMS: [(&str, &str); 5] = [
    (
        "Правительство утвердило план развития Северного морского пути",
        "Документ предусматривает строительство новых портов и ледоколов до 2035 года.",
    ),
    (
        "В Санкт-Петербурге началась реставрация Исаакиевского собора",
        "Работы продлятся около трёх лет, собор останется открытым для посетителей.",
    ),
    (
        "Синоптики пообещали аномальную жару на юге страны",
        "В Краснодарском крае и Ростовской области температура поднимется до сорока градусов.",
    ),
    (
        "Российские учёные создали новый материал для солнечных батарей",
        "По словам исследователей, он дешевле кремния и служит вдвое дольше.",
    ),
    (
        "Ледоход на Енисее: в Красноярске закрыли набережную",
        "Спасатели просят жителей не подходить к воде и следить за сообщениями МЧС.",
    ),
];

/// The feed as its publisher writes it: an XML declaration without `encoding`.
fn feed_text() -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>{CHANNEL}</title><link>https://novosti.example/</link>"
    );
    for (i, (title, summary)) in ITEMS.iter().enumerate() {
        s.push_str(&format!(
            "<item><title>{title}</title><link>https://novosti.example/{i}</link><description>{summary}</description><pubDate>Mon, 02 Jun 2025 1{i}:00:00 +0300</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn encoded(enc: &'static Encoding) -> Vec<u8> {
    let text = feed_text();
    let (bytes, _, unmappable) = enc.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// `/feed/<encoding label>`: the feed in that encoding, with no charset anywhere.
async fn serve_feed(Path(label): Path<String>) -> Response {
    let Some(enc) = Encoding::for_label(label.as_bytes()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        encoded(enc),
    )
        .into_response()
}

async fn spawn_server() -> std::net::SocketAddr {
    let app = Router::new().route("/feed/{label}", get(serve_feed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn config(dir: &tempfile::TempDir) -> FetcherConfig {
    FetcherConfig {
        // No feeds file: `inspect` hashes an id from the URL.
        feeds_file: dir.path().join("feeds.toml"),
        // The server is on 127.0.0.1.
        allow_private_addresses: true,
        ..FetcherConfig::default()
    }
}

fn assert_russian(what: &str, title: Option<&str>, stories: &[wirewatch_proto::v1::RawStory]) {
    assert_eq!(title, Some(CHANNEL), "{what}: feed title");
    assert_eq!(stories.len(), ITEMS.len(), "{what}");
    for (story, (title, summary)) in stories.iter().zip(ITEMS) {
        assert_eq!(story.title, title, "{what}");
        assert_eq!(story.summary.as_deref(), Some(summary), "{what}");
    }
}

#[tokio::test]
async fn undeclared_cyrillic_feeds_decode() {
    let addr = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    let http = client(&cfg).unwrap();
    for (label, enc) in [("windows-1251", WINDOWS_1251), ("koi8-r", KOI8_R)] {
        let url = format!("http://{addr}/feed/{label}");
        // The bytes on the wire are the legacy encoding, not UTF-8.
        let FetchOutcome::Body {
            bytes,
            charset,
            final_url,
            ..
        } = fetch(&http, &url, &Validators::default(), &Limits::of(&cfg))
            .await
            .unwrap()
        else {
            panic!("{label}: no body");
        };
        assert_eq!(&bytes[..], encoded(enc).as_slice(), "{label}");
        assert!(std::str::from_utf8(&bytes).is_err(), "{label}");
        assert_eq!(charset, None, "{label}: the server sends no charset");
        let feed = FeedRef {
            id: "novosti".into(),
            url: url.clone(),
            title: None,
        };
        let (info, stories) = parse_feed_with_charset(
            &bytes,
            charset.as_deref(),
            &feed,
            Some(&final_url),
            Utc::now(),
        )
        .unwrap();
        assert_russian(label, info.title.as_deref(), &stories);

        // `wirewatch inspect`: fetch and parse in one call.
        let seen = inspect(&url, &cfg).await.unwrap();
        assert_russian(label, seen.feed.title.as_deref(), &seen.stories);
    }
}
