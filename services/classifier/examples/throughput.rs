//! Throughput of `Classifier::classify` on ~2 KB stories against a bare Aho-Corasick scan of
//! the same texts with the same patterns, in the same run; and the memory of the loaded
//! rules (resident-set growth while loading, and the automata's own accounting).
//!
//! ```text
//! cargo run --release -p wirewatch-classifier --example throughput -- [rounds]
//! ```
//! Stories: the BBC set's articles (evaluation only, read from `../shared/corpus`), each cut
//! to its first 2,048 bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use aho_corasick::{AhoCorasickBuilder, MatchKind};
use wirewatch_classifier::{Classifier, ClassifierConfig};
use wirewatch_proto::v1::{FeedRef, RawStory};

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(3, |s| s.parse().expect("rounds"));
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let text =
        std::fs::read_to_string(root.join("../shared/corpus/news/bbc-2225/bbc_news_2225.jsonl"))
            .expect("bbc corpus");
    let stories: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let title = v["title"].as_str().unwrap_or("").to_string();
            let body = cut(
                v["body"].as_str().unwrap_or(""),
                2048 - title.len().min(200),
            )
            .to_string();
            (title, body)
        })
        .collect();
    let bytes: usize = stories.iter().map(|(t, b)| t.len() + b.len()).sum();
    println!(
        "{} stories, mean {:.0} bytes",
        stories.len(),
        bytes as f64 / stories.len() as f64
    );

    let before = rss_bytes();
    let t = Instant::now();
    let c = Classifier::load(&ClassifierConfig::with_config_dir(root.join("config"))).unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let after = rss_bytes();
    let patterns = c.patterns();
    println!(
        "load: {load_ms:.0} ms; {} patterns; RSS growth {:.1} MiB; automata + lists {:.1} MiB",
        patterns.len(),
        (after.saturating_sub(before)) as f64 / 1048576.0,
        c.memory_usage() as f64 / 1048576.0
    );
    let raw: Vec<RawStory> = stories
        .iter()
        .enumerate()
        .map(|(i, (t, b))| RawStory {
            id: format!("s{i}"),
            feed: FeedRef {
                id: "bench".into(),
                url: String::new(),
                title: None,
            },
            guid: None,
            link: None,
            title: t.clone(),
            summary: None,
            content: Some(b.clone()),
            authors: vec![],
            categories: vec![],
            language: None,
            published: None,
            updated: None,
            fetched_at: chrono::Utc::now(),
            fetcher_version: String::new(),
        })
        .collect();
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
        .unwrap();
    println!(
        "bare automaton: {:.1} MiB",
        ac.memory_usage() as f64 / 1048576.0
    );

    for max in [4096usize, 1024] {
        let t = Instant::now();
        let mut n = 0usize;
        for (title, body) in &stories {
            let text = format!("{title}\n{body}");
            n += usize::from(whatlang::detect(cut(&text, max)).is_some());
        }
        println!(
            "whatlang alone on the first {max} bytes: {:.0} stories/s ({n} detected)",
            stories.len() as f64 / t.elapsed().as_secs_f64()
        );
    }
    for round in 1..=rounds {
        let t = Instant::now();
        let mut hits = 0usize;
        for (title, body) in &stories {
            hits += ac.find_iter(title.as_str()).count() + ac.find_iter(body.as_str()).count();
        }
        let bare = stories.len() as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut topics = 0usize;
        for s in &raw {
            topics += c.classify(s.clone(), String::new()).topics.len();
        }
        let full = raw.len() as f64 / t.elapsed().as_secs_f64();
        println!(
            "round {round}: classify {full:.0} stories/s; bare scan {bare:.0} stories/s ({hits} hits); ratio {:.2} ({topics} topics)",
            full / bare
        );
    }
}
