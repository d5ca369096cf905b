//! No-panic run over every file under `../shared/corpus/feeds/` (real outlets' feeds and the
//! test suites of five feed parsers, ~1,400 files, many deliberately broken and many not feeds
//! at all: expectation JSON, READMEs). Each file parses or fails with a clear error; failures
//! are listed (path + error). Asserts zero panics — neither escaping `parse_feed` nor caught
//! inside it ([`PANIC_DETAIL`]) — and a floor on the number parsed.
//!
//! `fast_path_equals_reference_path` runs both parse paths on every file: wherever the fast
//! path (one quick-xml pass) accepts a document, its feed info and stories must equal those of
//! the reference path (pre-pass + feed-rs), field for field.
//!
//! `cargo test -p wirewatch-fetcher --test corpus -- --nocapture`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use wirewatch_fetcher::parse::{parse_feed, parse_feed_via, Route, PANIC_DETAIL};
use wirewatch_proto::v1::FeedRef;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/feeds");

/// Files parsed when this floor was set (1,242 of 1,529; see docs/bench/parsing.md), minus
/// slack. Raise it when the parser gets better.
const MIN_PARSED: usize = 1_230;

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(CORPUS)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The feed, base URL and fetch time every file is parsed with.
fn fixture() -> (FeedRef, url::Url, DateTime<Utc>) {
    let feed = FeedRef {
        id: "corpus".into(),
        url: "file".into(),
        title: None,
    };
    let base = url::Url::parse("https://feeds.example/path/feed.xml").unwrap();
    let fetched_at = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    (feed, base, fetched_at)
}

#[test]
fn every_corpus_file_parses_or_fails_cleanly() {
    let (feed, base, fetched_at) = fixture();
    let (mut parsed, mut stories, mut panics) = (0usize, 0usize, Vec::new());
    let mut failures = Vec::new();
    let all = files();
    for path in &all {
        let rel = path.strip_prefix(CORPUS).unwrap().display().to_string();
        let bytes = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| {
            parse_feed(&bytes, &feed, Some(&base), fetched_at)
        })) {
            Ok(Ok((_, s))) => {
                parsed += 1;
                stories += s.len();
            }
            Ok(Err(e)) if e.to_string().contains(PANIC_DETAIL) => panics.push(rel),
            Ok(Err(e)) => failures.push(format!("{rel}: {e}")),
            Err(_) => panics.push(rel),
        }
    }
    println!("FAILED TO PARSE ({}):", failures.len());
    for f in &failures {
        println!("  {f}");
    }
    println!("PANICS ({}): {panics:?}", panics.len());
    println!(
        "files {} parsed {parsed} failed {} panicked {} stories {stories}",
        all.len(),
        failures.len(),
        panics.len()
    );
    assert!(all.len() > 1000, "corpus not found at {CORPUS}");
    assert!(panics.is_empty(), "panics on {panics:?}");
    assert!(
        parsed >= MIN_PARSED,
        "only {parsed} files parsed (floor {MIN_PARSED})"
    );
}

/// Files the fast path took when this floor was set (see docs/bench/parsing.md), minus slack:
/// a change that makes it refuse common feeds shows here.
const MIN_FAST: usize = 550;

#[test]
fn fast_path_equals_reference_path() {
    let (feed, base, fetched_at) = fixture();
    let (mut fast, mut stories, mut differ) = (0usize, 0usize, Vec::new());
    let all = files();
    for path in &all {
        let rel = path.strip_prefix(CORPUS).unwrap().display().to_string();
        let bytes = std::fs::read(path).unwrap();
        let fast_path = catch_unwind(AssertUnwindSafe(|| {
            parse_feed_via(Route::Fast, &bytes, None, &feed, Some(&base), fetched_at)
        }))
        .unwrap_or_else(|_| panic!("fast path panicked on {rel}"));
        let Ok(Some(got)) = fast_path else {
            continue;
        };
        fast += 1;
        stories += got.1.len();
        match parse_feed_via(
            Route::Reference,
            &bytes,
            None,
            &feed,
            Some(&base),
            fetched_at,
        ) {
            Ok(Some(want)) if want == got => {}
            Ok(None) => differ.push(format!("{rel}: reference path gave nothing")),
            Ok(Some(want)) => {
                let detail = if want.0 != got.0 {
                    format!("feed: reference {:?}\n    fast {:?}", want.0, got.0)
                } else if want.1.len() != got.1.len() {
                    format!("{} vs {} stories", want.1.len(), got.1.len())
                } else {
                    let (w, g) = want.1.iter().zip(&got.1).find(|(w, g)| w != g).unwrap();
                    format!("story: reference {w:?}\n    fast {g:?}")
                };
                differ.push(format!("{rel}: {detail}"));
            }
            Err(e) => differ.push(format!("{rel}: reference path failed: {e}")),
        }
    }
    println!("DIFFERENT ({}):", differ.len());
    for d in &differ {
        println!("  {d}");
    }
    println!("files {} fast path {fast} stories {stories}", all.len());
    assert!(differ.is_empty(), "{} files differ", differ.len());
    assert!(fast >= MIN_FAST, "fast path took only {fast} files");
}
