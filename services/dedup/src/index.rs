//! The pure core of dedup: an in-memory index of identity keys and the verdicts already given.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wirewatch_proto::v1::{DedupRule, RawStory};

use crate::canon::{canonical_url, normalise_text};
use crate::config::DedupConfig;

/// The decision for one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// A new story; it starts its own cluster.
    Unique {
        /// Cluster id (the story's id for a new story).
        cluster_id: String,
    },
    /// A copy of an earlier story.
    Duplicate {
        /// The earlier story.
        duplicate_of: String,
        /// Its cluster.
        cluster_id: String,
        /// Rule that matched.
        rule: DedupRule,
        /// Similarity in [0, 1] (1 for exact rules).
        score: f64,
    },
}

impl Verdict {
    /// Rule label for metrics and output.
    pub fn rule_label(&self) -> &'static str {
        match self {
            Verdict::Unique { .. } => "none",
            Verdict::Duplicate { rule, .. } => rule.as_str(),
        }
    }
}

/// One identity key a story claims, with its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Rule this key belongs to.
    pub rule: DedupRule,
    /// Hashed key (`<rule>:<hex>`).
    pub key: String,
}

/// The keys of a story, strongest rule first.
pub fn keys(story: &RawStory, cfg: &DedupConfig) -> Vec<Key> {
    fn h(parts: &[&str]) -> String {
        let mut d = Sha256::new();
        for p in parts {
            d.update(p.as_bytes());
            d.update([0u8]);
        }
        hex::encode(&d.finalize()[..12])
    }
    let mut out = Vec::with_capacity(3);
    if let Some(g) = story
        .guid
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        out.push(Key {
            rule: DedupRule::Guid,
            key: format!("g:{}", h(&[&story.feed.id, g])),
        });
    }
    if let Some(c) = story
        .link
        .as_deref()
        .and_then(|l| canonical_url(l, &cfg.strip_query_params))
    {
        out.push(Key {
            rule: DedupRule::CanonicalUrl,
            key: format!("u:{}", h(&[&c])),
        });
    }
    let body = [story.content.as_deref(), story.summary.as_deref()]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("");
    let text = normalise_text(&format!("{}\n{}", story.title, body));
    if text.chars().count() >= cfg.min_content_chars {
        out.push(Key {
            rule: DedupRule::ContentHash,
            key: format!("c:{}", h(&[&text])),
        });
    }
    out
}

/// Key → (story id, cluster id) and story id → verdict.
#[derive(Debug, Default)]
pub struct Index {
    by_key: HashMap<String, (String, String)>,
    decided: HashMap<String, Verdict>,
}

/// What [`Index::check`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the story id had been decided before (a redelivery): nothing new to persist.
    pub redelivery: bool,
    /// Keys newly claimed by this story (to persist).
    pub new_keys: Vec<Key>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decide whether `story` is new or a duplicate, and remember it. Pure: no I/O.
    /// A story id already decided returns the same verdict (redelivery is idempotent).
    pub fn check(&mut self, story: &RawStory, cfg: &DedupConfig) -> Checked {
        if let Some(v) = self.decided.get(&story.id) {
            return Checked {
                verdict: v.clone(),
                redelivery: true,
                new_keys: vec![],
            };
        }
        let ks = keys(story, cfg);
        let hit = ks.iter().find_map(|k| {
            self.by_key
                .get(&k.key)
                .filter(|(id, _)| id != &story.id)
                .map(|(id, cluster)| (k.rule, id.clone(), cluster.clone()))
        });
        let verdict = match hit {
            Some((rule, of, cluster_id)) => Verdict::Duplicate {
                duplicate_of: of,
                cluster_id,
                rule,
                score: 1.0,
            },
            None => Verdict::Unique {
                cluster_id: story.id.clone(),
            },
        };
        let cluster = match &verdict {
            Verdict::Unique { cluster_id } | Verdict::Duplicate { cluster_id, .. } => {
                cluster_id.clone()
            }
        };
        // A duplicate's keys also point to the original, so a third copy matching only the
        // second (say, by its own link) still lands on the original story.
        let owner = match &verdict {
            Verdict::Unique { .. } => story.id.clone(),
            Verdict::Duplicate { duplicate_of, .. } => duplicate_of.clone(),
        };
        let mut new_keys = Vec::new();
        for k in ks {
            if !self.by_key.contains_key(&k.key) {
                self.by_key
                    .insert(k.key.clone(), (owner.clone(), cluster.clone()));
                new_keys.push(k);
            }
        }
        self.decided.insert(story.id.clone(), verdict.clone());
        Checked {
            verdict,
            redelivery: false,
            new_keys,
        }
    }

    /// Restore a key from persisted state.
    pub fn restore_key(&mut self, key: String, story_id: String, cluster_id: String) {
        self.by_key.insert(key, (story_id, cluster_id));
    }

    /// Restore a verdict from persisted state.
    pub fn restore_verdict(&mut self, story_id: String, verdict: Verdict) {
        self.decided.insert(story_id, verdict);
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use wirewatch_proto::v1::FeedRef;

    fn story(id: &str, feed: &str, guid: Option<&str>, link: &str, title: &str) -> RawStory {
        RawStory {
            id: id.into(),
            feed: FeedRef {
                id: feed.into(),
                url: format!("http://{feed}/rss"),
                title: None,
            },
            guid: guid.map(Into::into),
            link: Some(link.into()),
            title: title.into(),
            summary: Some(format!(
                "{title} — a long enough summary of what happened today."
            )),
            content: None,
            authors: vec![],
            categories: vec![],
            language: None,
            published: None,
            updated: None,
            fetched_at: Utc::now(),
            fetcher_version: String::new(),
        }
    }

    #[test]
    fn exact_rules() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let a = story(
            "a",
            "f1",
            Some("g1"),
            "https://x.com/s/1",
            "Talks collapse in Istanbul",
        );
        assert!(matches!(ix.check(&a, &cfg).verdict, Verdict::Unique { .. }));
        // Same link with tracking parameters from another outlet.
        let b = story(
            "b",
            "f2",
            None,
            "http://www.x.com/s/1/?utm_source=rss",
            "Other title entirely here",
        );
        let v = ix.check(&b, &cfg).verdict;
        assert_eq!(
            v,
            Verdict::Duplicate {
                duplicate_of: "a".into(),
                cluster_id: "a".into(),
                rule: DedupRule::CanonicalUrl,
                score: 1.0
            }
        );
        // Same GUID in the same feed under another id.
        let c = story("c", "f1", Some("g1"), "https://y.com/other", "Different");
        assert!(matches!(
            ix.check(&c, &cfg).verdict,
            Verdict::Duplicate {
                rule: DedupRule::Guid,
                ..
            }
        ));
        // Same GUID in another feed is not a duplicate by GUID.
        let d = story(
            "d",
            "f3",
            Some("g1"),
            "https://z.com/d",
            "Unrelated story about sport results",
        );
        assert!(matches!(ix.check(&d, &cfg).verdict, Verdict::Unique { .. }));
        // Same content, different link.
        let e = story(
            "e",
            "f4",
            None,
            "https://w.com/e",
            "Talks collapse in Istanbul",
        );
        assert!(
            matches!(ix.check(&e, &cfg).verdict, Verdict::Duplicate { rule: DedupRule::ContentHash, ref duplicate_of, .. } if duplicate_of == "a")
        );
    }

    #[test]
    fn redelivery_gives_same_verdict() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let a = story(
            "a",
            "f1",
            Some("g1"),
            "https://x.com/1",
            "A title long enough to hash",
        );
        let first = ix.check(&a, &cfg);
        let again = ix.check(&a, &cfg);
        assert_eq!(first.verdict, again.verdict);
        assert!(again.redelivery);
        assert!(again.new_keys.is_empty());
        assert!(matches!(again.verdict, Verdict::Unique { .. }));
    }

    #[test]
    fn short_text_is_not_content_identity() {
        let cfg = DedupConfig::default();
        let mut a = story("a", "f1", None, "https://x.com/1", "Live");
        a.summary = None;
        let mut b = story("b", "f2", None, "https://y.com/2", "Live");
        b.summary = None;
        let mut ix = Index::new();
        ix.check(&a, &cfg);
        assert!(matches!(ix.check(&b, &cfg).verdict, Verdict::Unique { .. }));
    }
}
