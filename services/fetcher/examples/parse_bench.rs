//! Parse + normalise throughput on real feeds, in one run, next to:
//! - a bare quick-xml pass over the same bytes (every event read, nothing kept: the practical
//!   limit for an XML feed parser);
//! - feed-rs alone (no pre-pass, no normalisation);
//! - wirewatch's reference path (pre-pass + feed-rs + extension scan + normaliser);
//! - wirewatch as deployed (`parse_feed`: the fast path when it accepts the feed);
//! - Python's fastfeedparser and feedparser (`bench/peers.py`, run as a co-process), when
//!   `PARSE_BENCH_PYTHON` names a Python that has them.
//!
//! All contenders, Rust and Python, take turns (a tenth of the budget each, ten times over)
//! and each keeps its best turn: load from other processes on a shared machine then disturbs
//! all alike, and the minimum discards the disturbed turns.
//!
//! ```sh
//! python3 -m venv /tmp/peers && /tmp/peers/bin/pip install fastfeedparser feedparser
//! PARSE_BENCH_PYTHON=/tmp/peers/bin/python \
//!   cargo run --release -p wirewatch-fetcher --example parse_bench -- [seconds-per-case]
//! ```
//!
//! `parse_bench profile [seconds] [name-part]` runs only `parse_feed` over the feeds (those
//! whose path contains `name-part`), for a profiler.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use quick_xml::events::Event;
use wirewatch_fetcher::parse::{parse_feed, parse_feed_via, Route};
use wirewatch_proto::v1::FeedRef;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");

/// Real outlets' feeds, 15–130 items (plus one 730-item podcast feed).
const FEEDS: [&str; 6] = [
    "rss-parser/test/input/itunes-missing-image.rss",
    "rss-parser/test/input/rss-1.rss",
    "rss-parser/test/input/guardian.rss",
    "rss-parser/test/input/heise.atom",
    "miniflux/internal/reader/parser/testdata/rdf_UTF8.xml",
    "rss-parser/test/input/giantbomb-podcast.rss",
];

/// Run `f` repeatedly for about `budget`; seconds per call.
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget || n == 0 {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// Slices the budget of each contender is cut into.
const SLICES: u32 = 10;

/// One contender: runs for about the given time, returns its seconds per call.
type Contender<'a> = Box<dyn FnMut(Duration) -> f64 + 'a>;

/// Time every contender in turns of `budget / SLICES` each, `SLICES` times over, and keep each
/// one's best turn: on a shared machine, load that comes and goes then hits all of them alike
/// and the minimum discards the turns it disturbed. Seconds per call, per contender.
fn time_interleaved(budget: Duration, fs: &mut [Contender<'_>]) -> Vec<f64> {
    let slice = budget / SLICES;
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..SLICES {
        for (f, b) in fs.iter_mut().zip(best.iter_mut()) {
            *b = b.min(f(slice));
        }
    }
    best
}

/// A Rust contender.
fn rust<'a>(mut f: impl FnMut() + 'a) -> Contender<'a> {
    Box::new(move |slice| time(slice, &mut f))
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

/// The Python peers (`bench/peers.py`) as a co-process, so that their turns interleave with
/// the Rust contenders' turns.
struct Peers {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

/// The Python peers, by the names `peers.py` knows them.
const PEERS: [&str; 2] = ["fastfeedparser", "feedparser"];

impl Peers {
    fn start(python: &str) -> Option<Self> {
        use std::process::{Command, Stdio};
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| println!("  (peers.py: {e})"))
            .ok()?;
        let input = child.stdin.take()?;
        let output = std::io::BufReader::new(child.stdout.take()?);
        Some(Peers {
            child,
            input,
            output,
        })
    }

    /// Send one command, read its JSON answer (`Null` when the co-process is gone).
    fn ask(&mut self, command: &str) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let mut line = String::new();
        let sent = writeln!(self.input, "{command}").and_then(|()| self.input.flush());
        if sent.is_err() || self.output.read_line(&mut line).is_err() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&line).unwrap_or(serde_json::Value::Null)
    }

    /// Load `path`; which peers parse it (the others' errors are printed).
    fn load(&mut self, path: &str) -> Vec<&'static str> {
        let v = self.ask(&format!("load {path}"));
        PEERS
            .into_iter()
            .filter(|p| {
                if let Some(e) = v[p]["error"].as_str() {
                    println!("  ({p} failed: {e})");
                }
                v[p]["items"].is_u64()
            })
            .collect()
    }

    /// Seconds per parse of `peer` on the loaded file, over about `slice`.
    fn time(&mut self, peer: &str, slice: Duration) -> f64 {
        let v = self.ask(&format!("time {peer} {}", slice.as_secs_f64()));
        v["s"].as_f64().unwrap_or(f64::NAN)
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = self.ask("quit");
        let _ = self.child.wait();
    }
}

/// Seconds per parse of every contender on one feed.
#[derive(Default, Clone, Copy)]
struct Times {
    qxml: f64,
    feedrs: f64,
    reference: f64,
    ww: f64,
    ffp: Option<f64>,
    fp: Option<f64>,
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let profile = args.first().is_some_and(|a| a == "profile");
    if profile {
        args.remove(0);
    }
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let python = std::env::var("PARSE_BENCH_PYTHON").ok();
    let peers = python
        .as_deref()
        .filter(|_| !profile)
        .and_then(Peers::start)
        .map(std::cell::RefCell::new);
    let budget = Duration::from_secs_f64(secs);
    let feed = FeedRef {
        id: "bench".into(),
        url: "https://feeds.example/bench".into(),
        title: None,
    };
    let base = url::Url::parse(&feed.url).unwrap();
    if profile {
        let only = args.get(1).cloned().unwrap_or_default();
        let docs: Vec<Vec<u8>> = FEEDS
            .iter()
            .filter(|rel| rel.contains(&only))
            .map(|rel| std::fs::read(format!("{CORPUS}/{rel}")).expect(rel))
            .collect();
        let mut rounds = 0u64;
        let t = time(budget, || {
            rounds += 1;
            for d in &docs {
                let _ = black_box(parse_feed(black_box(d), &feed, Some(&base), Utc::now()));
            }
        });
        let mb: f64 = docs.iter().map(|d| d.len() as f64 / 1e6).sum();
        println!(
            "parse_feed: {:.1} MB/s, {rounds} rounds of {mb:.3} MB",
            mb / t
        );
        return;
    }
    println!(
        "{:<28} {:>5} {:>5} {:>4} | {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>7} {:>7}",
        "feed (MB/s)",
        "KiB",
        "items",
        "path",
        "qxml",
        "feed-rs",
        "ww-ref",
        "ww",
        "ffp",
        "fp",
        "ww item/s",
        "ww/qxml",
        "ww/ffp"
    );
    let (mut bytes_all, mut items_all) = (0f64, 0f64);
    let mut sum = Times::default();
    let (mut ffp_all, mut fp_all) = (Some(0f64), Some(0f64));
    for rel in FEEDS {
        let path = format!("{CORPUS}/{rel}");
        let bytes = std::fs::read(&path).expect(rel);
        let (_, stories) = parse_feed(&bytes, &feed, Some(&base), Utc::now()).expect(rel);
        let fast = parse_feed_via(Route::Fast, &bytes, None, &feed, Some(&base), Utc::now())
            .expect(rel)
            .is_some();
        let (events, errors) = quick_xml_pass(&bytes);
        if errors > 0 {
            println!("  ({rel}: quick-xml {events} events, {errors} errors)");
        }
        let live = peers
            .as_ref()
            .map(|p| p.borrow_mut().load(&path))
            .unwrap_or_default();
        let mut contenders = vec![
            rust(|| {
                black_box(quick_xml_pass(black_box(&bytes)));
            }),
            rust(|| {
                let _ = black_box(feed_rs::parser::parse(black_box(&bytes[..])));
            }),
            rust(|| {
                let _ = black_box(parse_feed_via(
                    Route::Reference,
                    black_box(&bytes),
                    None,
                    &feed,
                    Some(&base),
                    Utc::now(),
                ));
            }),
            rust(|| {
                let _ = black_box(parse_feed(
                    black_box(&bytes),
                    &feed,
                    Some(&base),
                    Utc::now(),
                ));
            }),
        ];
        if let Some(p) = &peers {
            for peer in live.iter().copied() {
                contenders.push(Box::new(move |slice| p.borrow_mut().time(peer, slice)));
            }
        }
        let t = time_interleaved(budget, &mut contenders);
        drop(contenders);
        let peer_time = |name: &str| live.iter().position(|p| *p == name).map(|i| t[4 + i]);
        let t = Times {
            qxml: t[0],
            feedrs: t[1],
            reference: t[2],
            ww: t[3],
            ffp: peer_time("fastfeedparser"),
            fp: peer_time("feedparser"),
        };
        let mb = bytes.len() as f64 / 1e6;
        let name = rel.rsplit('/').next().unwrap_or(rel);
        print_row(
            name,
            mb,
            stories.len() as f64,
            if fast { "fast" } else { "ref" },
            &t,
        );
        bytes_all += mb;
        items_all += stories.len() as f64;
        sum.qxml += t.qxml;
        sum.feedrs += t.feedrs;
        sum.reference += t.reference;
        sum.ww += t.ww;
        ffp_all = ffp_all.zip(t.ffp).map(|(a, b)| a + b);
        fp_all = fp_all.zip(t.fp).map(|(a, b)| a + b);
    }
    sum.ffp = ffp_all;
    sum.fp = fp_all;
    print_row("ALL (one pass each)", bytes_all, items_all, "", &sum);
    drop(peers);
    undeclared_legacy(budget, &feed, &base);
}

/// What guessing an undeclared legacy encoding costs: a real windows-1251 feed parsed as
/// served (declared in its XML declaration) and with the declaration taken out (chardetng
/// guesses), in turns.
fn undeclared_legacy(budget: Duration, feed: &FeedRef, base: &url::Url) {
    const RU: &str = "miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml";
    let declared = std::fs::read(format!("{CORPUS}/{RU}")).expect(RU);
    let end = memchr::memmem::find(&declared, b"?>").map_or(0, |i| i + 2);
    let undeclared = declared[end..].to_vec();
    let titles = |bytes: &[u8]| {
        let (_, stories) = parse_feed(bytes, feed, Some(base), Utc::now()).expect(RU);
        stories.into_iter().map(|s| s.title).collect::<Vec<_>>()
    };
    assert_eq!(titles(&declared), titles(&undeclared), "guess differs");
    let t = time_interleaved(
        budget,
        &mut [
            rust(|| {
                let _ = black_box(parse_feed(
                    black_box(&declared),
                    feed,
                    Some(base),
                    Utc::now(),
                ));
            }),
            rust(|| {
                let _ = black_box(parse_feed(
                    black_box(&undeclared),
                    feed,
                    Some(base),
                    Utc::now(),
                ));
            }),
        ],
    );
    let mb = undeclared.len() as f64 / 1e6;
    println!(
        "windows-1251 feed ({:.0} KiB): declared {:.1} MB/s, undeclared (guessed) {:.1} MB/s",
        mb * 1e6 / 1024.0,
        mb / t[0],
        mb / t[1]
    );
}

fn print_row(name: &str, mb: f64, items: f64, path: &str, t: &Times) {
    let rate = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{:.1}", mb / s));
    println!(
        "{name:<28} {:>5.0} {:>5.0} {path:>4} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8} {:>8} | {:>9.0} {:>6.2}x {:>6}",
        mb * 1e6 / 1024.0,
        items,
        mb / t.qxml,
        mb / t.feedrs,
        mb / t.reference,
        mb / t.ww,
        rate(t.ffp),
        rate(t.fp),
        items / t.ww,
        t.qxml / t.ww,
        t.ffp.map_or("-".to_string(), |f| format!("{:.2}x", f / t.ww)),
    );
}
