//! No-panic run over every file under `../shared/corpus/feeds/` (real outlets' feeds and the
//! test suites of five feed parsers, ~1,400 files, many deliberately broken and many not feeds
//! at all: expectation JSON, READMEs). Each file parses or fails with a clear error; failures
//! are listed (path + error). Asserts zero panics — neither escaping `parse_feed` nor caught
//! inside it ([`PANIC_DETAIL`]) — and a floor on the number parsed.
//!
//! `cargo test -p wirewatch-fetcher --test corpus -- --nocapture`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use wirewatch_fetcher::parse::{parse_feed, PANIC_DETAIL};
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

#[test]
fn every_corpus_file_parses_or_fails_cleanly() {
    let feed = FeedRef {
        id: "corpus".into(),
        url: "file".into(),
        title: None,
    };
    let base = url::Url::parse("https://feeds.example/path/feed.xml").unwrap();
    let fetched_at = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
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
