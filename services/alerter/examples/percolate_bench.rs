//! Matching throughput: stories/s against N generated subscriptions, evaluating every query
//! (brute force) versus the percolator index. Pure CPU, no I/O.
//!
//! `cargo run --release -p wirewatch-alerter --example percolate_bench -- [subscriptions] [stories]`
//! (defaults 10000 and 2000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use chrono::Utc;
use wirewatch_alerter::percolate::Percolator;
use wirewatch_alerter::query::{parse, Query, StoryIndex};
use wirewatch_proto::v1::{EnrichedStory, Entity, EntityKind, FeedRef, RawStory, TopicMatch};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &'a [String]) -> &'a str {
        &v[(self.next() % v.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let n_subs = args.first().copied().unwrap_or(10_000);
    let n_stories = args.get(1).copied().unwrap_or(2_000);

    let topics = names("topic", 60);
    let countries: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "{}{}",
                (b'a' + (i / 26) as u8) as char,
                (b'a' + (i % 26) as u8) as char
            )
        })
        .collect();
    let regions = names("region", 12);
    let orgs = names("org", 300);
    let people = names("person", 500);
    let words = names("w", 5_000);
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);

    // Subscriptions: a mix of the shapes users write.
    let mut queries: Vec<Query> = Vec::with_capacity(n_subs);
    let mut unindexable = 0;
    for i in 0..n_subs {
        let q = match i % 20 {
            0..=5 => format!(
                "topic:{} AND country:{}",
                r.pick(&topics),
                r.pick(&countries)
            ),
            6..=9 => format!(
                "(\"{} {}\" OR {}) AND NOT {}",
                r.pick(&words),
                r.pick(&words),
                r.pick(&words),
                r.pick(&words)
            ),
            10..=12 => format!(
                "org:{} AND ({} OR {})",
                r.pick(&orgs),
                r.pick(&words),
                r.pick(&words)
            ),
            13..=14 => format!(
                "country:{} AND severity>={}",
                r.pick(&countries),
                r.below(6)
            ),
            15..=16 => format!(
                "region:{} topic:{} -{}",
                r.pick(&regions),
                r.pick(&topics),
                r.pick(&words)
            ),
            17..=18 => format!("person:{} OR person:{}", r.pick(&people), r.pick(&people)),
            _ => {
                unindexable += 1;
                format!("NOT topic:{} AND severity>=4", r.pick(&topics))
            }
        };
        queries.push(parse(&q).unwrap());
    }

    // Stories: ~20-word title, ~150-word content, 2 topics, 2 countries, 3 entities.
    let mut stories = Vec::with_capacity(n_stories);
    for i in 0..n_stories {
        let text = |r: &mut Rng, n: usize| {
            (0..n)
                .map(|_| r.pick(&words).to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let topic = |r: &mut Rng| TopicMatch {
            id: r.pick(&topics).to_string(),
            label: "t".into(),
            score: 1.0,
            iptc: "x".into(),
            iptc_top: "x".into(),
            evidence: vec![],
        };
        let entity = |r: &mut Rng, kind, v: &[String]| {
            let id = r.pick(v).to_string();
            Entity {
                kind,
                name: id.to_uppercase(),
                id,
                mentions: 1,
                matched: vec![],
                salience: None,
            }
        };
        stories.push(EnrichedStory {
            story: RawStory {
                id: format!("s{i}"),
                feed: FeedRef {
                    id: "feed".into(),
                    url: "https://example.org/rss".into(),
                    title: None,
                },
                guid: None,
                link: None,
                title: text(&mut r, 20),
                summary: None,
                content: Some(text(&mut r, 150)),
                authors: vec![],
                categories: vec![],
                language: Some("en".into()),
                published: None,
                updated: None,
                fetched_at: Utc::now(),
                fetcher_version: "bench".into(),
                published_is_fetch_time: false,
            },
            cluster_id: format!("c{i}"),
            topics: vec![topic(&mut r), topic(&mut r)],
            countries: vec![
                r.pick(&countries).to_string(),
                r.pick(&countries).to_string(),
            ],
            entities: vec![
                entity(&mut r, EntityKind::Organisation, &orgs),
                entity(&mut r, EntityKind::Person, &people),
                entity(&mut r, EntityKind::Organisation, &orgs),
            ],
            detected_language: Some("en".into()),
            language_confidence: None,
            regions: vec![r.pick(&regions).to_string()],
            severity: Some(r.below(6) as u8),
            classified_at: Utc::now(),
            classifier_version: "bench".into(),
        });
    }

    let t = Instant::now();
    let index = Percolator::new(queries.iter().enumerate());
    let build_ms = t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let mut brute_matches = 0usize;
    for s in &stories {
        let ix = StoryIndex::new(s);
        brute_matches += queries.iter().filter(|q| q.matches_index(&ix)).count();
    }
    let brute = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut indexed_matches = 0usize;
    let mut candidates = 0usize;
    for s in &stories {
        let ix = StoryIndex::new(s);
        indexed_matches += index.matching(&ix, |i| queries.get(i)).len();
    }
    let indexed = t.elapsed().as_secs_f64();
    for s in &stories {
        candidates += index.candidates(&StoryIndex::new(s)).len();
    }
    assert_eq!(brute_matches, indexed_matches, "index changed the result");

    println!(
        "subscriptions: {n_subs} ({unindexable} without a required term), stories: {n_stories}"
    );
    println!("index build: {build_ms:.1} ms");
    println!(
        "brute force: {:.0} stories/s ({:.1} µs/story)",
        n_stories as f64 / brute,
        brute * 1e6 / n_stories as f64
    );
    println!(
        "percolator:  {:.0} stories/s ({:.1} µs/story, {:.0} candidates/story)",
        n_stories as f64 / indexed,
        indexed * 1e6 / n_stories as f64,
        candidates as f64 / n_stories as f64
    );
    println!(
        "matches: {indexed_matches} ({:.2}/story)",
        indexed_matches as f64 / n_stories as f64
    );
}
