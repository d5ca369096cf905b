//! Throughput of `Classifier::classify` on ~2 KB stories against a bare Aho-Corasick scan of
//! the same texts with the same patterns, in the same run; and the memory of the loaded
//! rules (resident-set growth while loading, and the automata's own accounting).
//!
//! The baseline is the faster of two bare scans, each one leftmost-longest automaton over
//! exactly the classifier's distinct forms (`Classifier::patterns()`), counting matches in
//! title and body: aho-corasick's default automaton (a contiguous NFA for this many patterns)
//! and a DFA (what the classifier's shared scanner uses). The ratio is classify / the faster.
//!
//! ```text
//! cargo run --release -p wirewatch-classifier --example throughput -- [rounds] [batch]
//! ```
//! Stories: the BBC set's articles (evaluation only, read from `../shared/corpus`), each cut
//! to its first 2,048 bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, MatchKind};
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
            published_is_fetch_time: false,
        })
        .collect();
    let build = |kind| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(kind)
            .build(&patterns)
            .unwrap()
    };
    let baselines = [
        ("default (NFA)", build(None)),
        ("DFA", build(Some(AhoCorasickKind::DFA))),
    ];
    for (name, ac) in &baselines {
        println!(
            "bare automaton, {name}: {:.1} MiB",
            ac.memory_usage() as f64 / 1048576.0
        );
    }
    println!(
        "classifier's shared automaton: {}",
        if c.automaton_is_dfa() { "DFA" } else { "NFA" }
    );
    for max in [4096usize, 1024] {
        let t = Instant::now();
        let mut n = 0usize;
        for (title, body) in &stories {
            let text = format!("{title}\n{body}");
            n += usize::from(whatlang::detect(cut(&text, max)).is_some());
        }
        println!(
            "whatlang alone on the first {max} bytes (the path of non-English stories): {:.0} stories/s ({n} detected)",
            stories.len() as f64 / t.elapsed().as_secs_f64()
        );
    }
    let mut screened = 0usize;
    for s in &raw {
        let e = c.classify(s.clone(), String::new());
        screened += usize::from(e.detected_language.as_deref() == Some("en"));
    }
    println!("{screened} of {} stories detected as English", raw.len());
    // Each round runs the three measurements batch by batch, alternating, so that the load of
    // the shared machine weighs on all of them alike. With the whole set as one batch (the
    // default) each automaton runs warm over 2,225 stories; with small batches they take turns
    // in the caches, as in a pipeline. Stories are cloned before the clock starts (the stage
    // owns the decoded story it classifies).
    let batch: usize = std::env::args()
        .nth(2)
        .map_or(stories.len(), |s| s.parse().expect("batch"));
    println!("batch: {batch} stories");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let mut secs = [0.0f64; 3];
        let (mut hits, mut topics) = (0usize, 0usize);
        for (chunk, owned) in stories.chunks(batch).zip(raw.chunks(batch)) {
            for (k, (_, ac)) in baselines.iter().enumerate() {
                let t = Instant::now();
                for (title, body) in chunk {
                    hits +=
                        ac.find_iter(title.as_str()).count() + ac.find_iter(body.as_str()).count();
                }
                secs[k] += t.elapsed().as_secs_f64();
            }
            let owned = owned.to_vec();
            let t = Instant::now();
            for s in owned {
                topics += c.classify(s, String::new()).topics.len();
            }
            secs[2] += t.elapsed().as_secs_f64();
        }
        let rate = |s: f64| stories.len() as f64 / s;
        let best = rate(secs[0]).max(rate(secs[1]));
        let full = rate(secs[2]);
        ratios.push(full / best);
        println!(
            "round {round}: classify {full:.0} stories/s; bare scan {:.0} (NFA) / {:.0} (DFA) stories/s ({} hits); ratio to the faster {:.2} ({topics} topics)",
            rate(secs[0]),
            rate(secs[1]),
            hits / 2,
            full / best
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "ratio over {rounds} rounds: min {:.2}, median {:.2}, max {:.2}",
        ratios[0],
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
}
