//! Parse + normalise throughput on real feeds, next to a bare quick-xml pass over the same
//! bytes (every event read, nothing kept: the practical floor for an XML feed parser) and
//! feed-rs alone (no pre-pass, no normalisation).
//!
//! `cargo run --release -p wirewatch-fetcher --example parse_bench [seconds-per-case]`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use quick_xml::events::Event;
use wirewatch_fetcher::parse::parse_feed;
use wirewatch_proto::v1::FeedRef;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");

/// Real outlets' feeds, 15–130 items (plus one 730-item podcast feed).
const FEEDS: [&str; 7] = [
    "rss-parser/test/input/itunes-missing-image.rss",
    "rss-parser/test/input/rss-1.rss",
    "rss-parser/test/input/guardian.rss",
    "rss-parser/test/input/heise.atom",
    "feedjira/historical_sample_feeds_082e4a9/spec/sample_feeds/ZedShaw.xml",
    "miniflux/internal/reader/parser/testdata/rdf_UTF8.xml",
    "rss-parser/test/input/giantbomb-podcast.rss",
];

/// Run `f` repeatedly for about `budget`; seconds per call.
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// Events read and errors met (quick-xml is strict, e.g. about mismatched end tags; reading
/// goes on after an error, so the whole document is always scanned).
fn quick_xml_pass(bytes: &[u8]) -> (usize, usize) {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let (mut events, mut errors) = (0, 0);
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => break,
            Ok(_) => events += 1,
            Err(_) => {
                errors += 1;
                if errors > 10_000 {
                    break;
                }
            }
        }
        buf.clear();
    }
    (events, errors)
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(secs);
    let feed = FeedRef {
        id: "bench".into(),
        url: "https://feeds.example/bench".into(),
        title: None,
    };
    let base = url::Url::parse(&feed.url).unwrap();
    println!(
        "{:<34} {:>7} {:>6} {:>10} {:>11} {:>10} {:>11} {:>7}",
        "feed", "KiB", "items", "qxml MB/s", "feedrs MB/s", "ww MB/s", "ww items/s", "ww/qxml"
    );
    let (mut total_bytes, mut total_items) = (0f64, 0f64);
    let (mut t_q, mut t_w, mut t_f) = (0f64, 0f64, 0f64);
    for rel in FEEDS {
        let bytes = std::fs::read(format!("{CORPUS}/{rel}")).expect(rel);
        let (_, stories) = parse_feed(&bytes, &feed, Some(&base), Utc::now()).expect(rel);
        let (events, errors) = quick_xml_pass(&bytes);
        if errors > 0 {
            println!("  ({rel}: quick-xml {events} events, {errors} errors)");
        }
        let q = time(budget, || {
            black_box(quick_xml_pass(black_box(&bytes)));
        });
        let f = time(budget, || {
            let _ = black_box(feed_rs::parser::parse(black_box(&bytes[..])));
        });
        let w = time(budget, || {
            let _ = black_box(parse_feed(
                black_box(&bytes),
                &feed,
                Some(&base),
                Utc::now(),
            ));
        });
        let mb = bytes.len() as f64 / 1e6;
        let name = rel.rsplit('/').next().unwrap_or(rel);
        println!(
            "{name:<34} {:>7.0} {:>6} {:>10.1} {:>11.1} {:>10.1} {:>11.0} {:>6.2}x",
            bytes.len() as f64 / 1024.0,
            stories.len(),
            mb / q,
            mb / f,
            mb / w,
            stories.len() as f64 / w,
            q / w
        );
        total_bytes += mb;
        total_items += stories.len() as f64;
        t_q += q;
        t_w += w;
        t_f += f;
    }
    println!(
        "{:<34} {:>7.0} {:>6.0} {:>10.1} {:>11.1} {:>10.1} {:>11.0} {:>6.2}x",
        "ALL (sum of one pass each)",
        total_bytes * 1e6 / 1024.0,
        total_items,
        total_bytes / t_q,
        total_bytes / t_f,
        total_bytes / t_w,
        total_items / t_w,
        t_q / t_w
    );
}
