//! Shared by the syndication test and the `dedup_eval` example: the BBC corpus and a
//! deterministic syndication set built from it.
#![allow(dead_code)]

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use wirewatch_proto::v1::{FeedRef, RawStory};

/// Path of the BBC corpus (relative to this crate).
pub const BBC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/news/bbc-2225/bbc_news_2225.jsonl"
);
/// Path of the BBC duplicate pairs.
pub const BBC_PAIRS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/news/bbc-2225/duplicate_pairs.jsonl"
);

/// One BBC article.
#[derive(Debug, Clone)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
}

/// One known pair (`kind` is `exact` or `same_title_diff_body`).
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub kind: String,
}

/// The corpus, or `None` when it is not there.
pub fn load_bbc() -> Option<(Vec<Article>, Vec<Pair>)> {
    let text = std::fs::read_to_string(BBC).ok()?;
    let pairs = std::fs::read_to_string(BBC_PAIRS).ok()?;
    let arts = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Article {
            id: v["id"].as_str().unwrap_or_default().to_string(),
            title: v["title"].as_str().unwrap_or_default().to_string(),
            body: v["body"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    let pairs = pairs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Pair {
            a: v["a"].as_str().unwrap_or_default().to_string(),
            b: v["b"].as_str().unwrap_or_default().to_string(),
            kind: v["kind"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    Some((arts, pairs))
}

/// A story as a feed would deliver it.
pub fn raw(
    id: &str,
    feed: &str,
    guid: Option<&str>,
    link: &str,
    title: &str,
    body: &str,
    secs: i64,
) -> RawStory {
    RawStory {
        id: id.into(),
        feed: FeedRef {
            id: feed.into(),
            url: format!("https://{feed}/rss"),
            title: None,
        },
        guid: guid.map(Into::into),
        link: Some(link.into()),
        title: title.into(),
        summary: None,
        content: Some(body.into()),
        authors: vec![],
        categories: vec![],
        language: None,
        published: None,
        updated: None,
        fetched_at: Utc
            .timestamp_opt(1_780_000_000 + secs, 0)
            .single()
            .unwrap_or_else(Utc::now),
        fetcher_version: String::new(),
        published_is_fetch_time: false,
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const BOILER: &[&str] = &[
    "Subscribe to get the latest posts sent to your email.",
    "This article was originally published by BBC News and is republished here under licence. Copyright 2005 Global Wire Syndicate. All rights reserved.",
    "Follow us on Twitter and Facebook for more breaking news from around the world.",
    "Leave a Reply\nCancel reply",
    "Related stories: more business, politics and sport news from our partners at the wire desk.",
];

/// The articles left when the second story of each known pair, and every article whose exact
/// 3-word-shingle Jaccard similarity with an earlier kept one is at least `max_jaccard`, are
/// left out: the corpus holds more near-copies than its pair list names.
pub fn distinct<'a>(arts: &'a [Article], pairs: &[Pair], max_jaccard: f64) -> Vec<&'a Article> {
    use wirewatch_dedup::minhash::{shingles, sig_of, weighted_jaccard};
    use wirewatch_dedup::sim::{SimEntry, SimIndex};
    let skip: HashSet<&str> = pairs.iter().map(|p| p.b.as_str()).collect();
    let mut ix = SimIndex::new(64, 2, usize::MAX);
    let mut sets: Vec<Vec<u32>> = Vec::new();
    let mut kept = Vec::new();
    let mut scratch = Vec::new();
    for a in arts.iter().filter(|a| !skip.contains(a.id.as_str())) {
        let text = format!("{}\n{}", a.title, a.body);
        let mut set = Vec::new();
        shingles(&text, 3, &mut set);
        let Some(sig) = sig_of(&text, 3, &mut scratch) else {
            continue;
        };
        // Candidates at a low estimate, then the exact Jaccard decides.
        let mut near = false;
        let mut probe = 0.05;
        while let Some(hit) = ix.near(&sig, i64::MIN, probe) {
            let j: usize = hit.entry.story_id.parse().unwrap_or(0);
            if weighted_jaccard(&set, &sets[j], |_| 1.0) >= max_jaccard {
                near = true;
                break;
            }
            probe = hit.score + 1e-9;
            if probe > 1.0 {
                break;
            }
        }
        if near {
            continue;
        }
        ix.insert(
            SimEntry {
                story_id: sets.len().to_string().into(),
                cluster_id: None,
                feed: 0,
                time: 0,
                sig: Some(Box::new(sig)),
                terms: Box::new([]),
                title_terms: Box::new([]),
                entities: Box::new([]),
            },
            i64::MAX,
        );
        sets.push(set);
        kept.push(a);
    }
    kept
}

/// A syndication set: every original (the second story of each known pair left out, so the
/// originals are distinct stories) as published by "bbc", then `copies` copies of a random
/// subset, each by another outlet with 1–3 edits: tracking parameters on its own link,
/// a changed headline, appended boilerplate, a trimmed paragraph. Returns the stories in
/// publication order and, per story, the id of its original (`None` for originals).
pub fn syndication(
    arts: &[Article],
    pairs: &[Pair],
    copies: usize,
    seed: u64,
) -> Vec<(RawStory, Option<String>)> {
    let originals = distinct(arts, pairs, 0.3);
    let mut out: Vec<(RawStory, Option<String>)> = originals
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let link = format!("https://www.bbc.co.uk/news/{}", a.id);
            (
                raw(
                    &format!("o:{}", a.id),
                    "bbc",
                    Some(&a.id),
                    &link,
                    &a.title,
                    &a.body,
                    i as i64,
                ),
                None,
            )
        })
        .collect();
    let mut rng = Rng(seed | 1);
    let base = out.len() as i64;
    for c in 0..copies {
        let a = originals[rng.below(originals.len())];
        let mut title = a.title.clone();
        let mut paras: Vec<String> = a.body.split("\n\n").map(str::to_string).collect();
        let mut link = format!(
            "https://outlet{}.example/world/{}-{c}",
            c % 17,
            a.id.replace('/', "-")
        );
        let edits = 1 + rng.below(3);
        for _ in 0..edits {
            match rng.below(4) {
                0 => link.push_str(&format!(
                    "?utm_source=rss&utm_medium=feed&fbclid=x{}",
                    rng.next() % 1000
                )),
                1 => {
                    title = match rng.below(3) {
                        0 => format!("UPDATED: {title}"),
                        1 => format!("{title} - report"),
                        _ => {
                            let mut w: Vec<&str> = title.split(' ').collect();
                            if w.len() > 2 {
                                w.swap(0, 1);
                                w.pop();
                            }
                            w.join(" ")
                        }
                    }
                }
                2 => paras.push(BOILER[rng.below(BOILER.len())].to_string()),
                _ => {
                    if paras.len() > 4 {
                        let i = if rng.below(2) == 0 {
                            paras.len() - 1
                        } else {
                            1 + rng.below(paras.len() - 2)
                        };
                        paras.remove(i);
                    }
                }
            }
        }
        let feed = format!("outlet{}", c % 17);
        out.push((
            raw(
                &format!("c{c}:{}", a.id),
                &feed,
                None,
                &link,
                &title,
                &paras.join("\n\n"),
                base + c as i64,
            ),
            Some(format!("o:{}", a.id)),
        ));
    }
    out
}
