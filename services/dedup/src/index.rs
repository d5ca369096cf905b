//! The pure core of dedup: an in-memory index of identity keys and the verdicts already given.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wirewatch_proto::v1::{ClusterMatch, DedupRule, RawStory};

use crate::canon::{canonical_url, normalise_text};
use crate::config::DedupConfig;
use crate::minhash::{cluster_terms, fmix64, sig_of};
use crate::sim::{SimEntry, SimIndex};

/// Terms held by more stories than this in the window do not propose cluster candidates
/// (they still weigh in the score): it bounds the work per story.
pub const CLUSTER_MAX_DF: u32 = 1000;

/// Rule name on [`ClusterMatch`] when the titles decided.
pub const CLUSTER_RULE_TITLE: &str = "title_similarity";
/// Rule name on [`ClusterMatch`] when title+lead decided.
pub const CLUSTER_RULE: &str = "title_lead_similarity";

/// The decision for one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// A new story; it starts its own cluster or joins the cluster of an earlier story
    /// about the same event.
    Unique {
        /// Cluster id (the story's id, or the matched story's cluster).
        cluster_id: String,
        /// Why it joined another story's cluster (absent when it starts its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster_match: Option<ClusterMatch>,
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

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
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
    let mut out = Vec::with_capacity(4);
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
        // The same link within one feed comes first: with changed text it is an update.
        out.push(Key {
            rule: DedupRule::CanonicalUrl,
            key: format!("f:{}", h(&[&story.feed.id, &c])),
        });
        out.push(Key {
            rule: DedupRule::CanonicalUrl,
            key: format!("u:{}", h(&[&c])),
        });
    }
    let text = normalise_text(&format!("{}\n{}", story.title, body_of(story)));
    if text.chars().count() >= cfg.min_content_chars {
        out.push(Key {
            rule: DedupRule::ContentHash,
            key: format!("c:{}", h(&[&text])),
        });
    }
    out
}

/// The body used for content identity and similarity: full content, else the summary.
pub fn body_of(story: &RawStory) -> &str {
    [story.content.as_deref(), story.summary.as_deref()]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("")
}

/// 32-bit hash of a feed id (same-feed test for updates).
pub fn feed_hash(feed_id: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in feed_id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let m = fmix64(h);
    (m ^ (m >> 32)) as u32
}

#[derive(Debug)]
enum Expiring {
    Key(String),
    Verdict(String),
}

/// Key → (story id, cluster id), story id → verdict, and the similarity index of the window.
#[derive(Default)]
pub struct Index {
    by_key: HashMap<String, (String, String)>,
    decided: HashMap<String, Verdict>,
    /// What to forget when it leaves the window, oldest first: (time, key or story id).
    expiry: std::collections::VecDeque<(i64, Expiring)>,
    newest: i64,
    sim: Option<SimIndex>,
    scratch: Vec<u32>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("keys", &self.by_key.len())
            .field("decided", &self.decided.len())
            .field("similar", &self.sim.as_ref().map_or(0, SimIndex::len))
            .finish()
    }
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
    /// The similarity entry added for this story (to persist), if any.
    pub new_entry: Option<SimEntry>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            newest: i64::MIN,
            ..Self::default()
        }
    }

    /// Decide whether `story` is new or a duplicate, and remember it. Pure: no I/O.
    /// A story id already decided returns the same verdict (redelivery is idempotent).
    pub fn check(&mut self, story: &RawStory, cfg: &DedupConfig) -> Checked {
        if let Some(v) = self.decided.get(&story.id) {
            return Checked {
                verdict: v.clone(),
                redelivery: true,
                new_keys: vec![],
                new_entry: None,
            };
        }
        let ks = keys(story, cfg);
        let hit = ks.iter().find_map(|k| {
            self.by_key
                .get(&k.key)
                .filter(|(id, _)| id != &story.id)
                .map(|(id, cluster)| (k, id.clone(), cluster.clone()))
        });
        let mut new_entry = None;
        let verdict = match hit {
            Some((key, of, cluster_id)) => {
                // Same GUID or link in the same feed, but a text the original did not have:
                // an edited version of it.
                let same_feed = key.key.starts_with("g:") || key.key.starts_with("f:");
                let rule = key.rule;
                let changed_text = same_feed
                    && ks.iter().any(|k| {
                        k.rule == DedupRule::ContentHash
                            && self.by_key.get(&k.key).is_none_or(|(o, _)| o != &of)
                    });
                Verdict::Duplicate {
                    duplicate_of: of,
                    cluster_id,
                    rule: if changed_text {
                        DedupRule::Update
                    } else {
                        rule
                    },
                    score: 1.0,
                }
            }
            None => {
                let (v, e) = self.check_similar(story, cfg);
                new_entry = e;
                v
            }
        };
        let cluster = match &verdict {
            Verdict::Unique { cluster_id, .. } | Verdict::Duplicate { cluster_id, .. } => {
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
        let time = story.fetched_at.timestamp();
        for k in &new_keys {
            self.expiry.push_back((time, Expiring::Key(k.key.clone())));
        }
        self.expiry
            .push_back((time, Expiring::Verdict(story.id.clone())));
        self.expire(time, cfg);
        Checked {
            verdict,
            redelivery: false,
            new_keys,
            new_entry,
        }
    }

    fn sim_mut(&mut self, cfg: &DedupConfig) -> &mut SimIndex {
        self.sim.get_or_insert_with(|| {
            SimIndex::new(cfg.near_bands, cfg.near_rows, cfg.max_indexed_stories)
        })
    }

    /// Near-duplicate and cluster rules for a story no exact rule matched. Returns the
    /// verdict and, for a new story, the entry it added to the similarity index.
    fn check_similar(
        &mut self,
        story: &RawStory,
        cfg: &DedupConfig,
    ) -> (Verdict, Option<SimEntry>) {
        let time = story.fetched_at.timestamp();
        let window_secs = (cfg.window_days.min(36_500) * 86_400) as i64;
        let body = body_of(story);
        let feed = feed_hash(&story.feed.id);
        let sig = if cfg.near_enabled && story.title.len() + body.len() >= cfg.min_content_chars {
            let text = format!("{}\n{}", story.title, body);
            let mut scratch = std::mem::take(&mut self.scratch);
            let sig = sig_of(&text, cfg.shingle_words, &mut scratch);
            self.scratch = scratch;
            sig
        } else {
            None
        };
        if let Some(sig) = &sig {
            let since = time.saturating_sub(window_secs);
            let threshold = cfg.near_threshold;
            if let Some(hit) = self.sim_mut(cfg).near(sig, since, threshold) {
                let rule = if hit.entry.feed == feed && hit.score >= cfg.update_threshold {
                    DedupRule::Update
                } else {
                    DedupRule::NearDuplicate
                };
                return (
                    Verdict::Duplicate {
                        duplicate_of: hit.entry.story_id.to_string(),
                        cluster_id: hit.entry.cluster().to_string(),
                        rule,
                        score: round4(hit.score),
                    },
                    None,
                );
            }
        }
        let (title_terms, terms) = if cfg.cluster_enabled {
            (
                cluster_terms(&story.title, "", 0),
                cluster_terms(&story.title, body, cfg.cluster_lead_words),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mut cluster_match = None;
        let mut cluster_id = story.id.clone();
        if !terms.is_empty() {
            let since = time.saturating_sub((cfg.cluster_window_hours.min(876_000) * 3600) as i64);
            let sim = self.sim_mut(cfg);
            let max_df = CLUSTER_MAX_DF;
            if let Some((e, score, by_title)) =
                sim.cluster(&title_terms, &terms, since, cfg.cluster_threshold, max_df)
            {
                cluster_id = e.cluster().to_string();
                cluster_match = Some(ClusterMatch {
                    story_id: e.story_id.to_string(),
                    rule: if by_title {
                        CLUSTER_RULE_TITLE
                    } else {
                        CLUSTER_RULE
                    }
                    .into(),
                    score: round4(score),
                });
            }
        }
        let entry = (sig.is_some() || !terms.is_empty()).then(|| SimEntry {
            story_id: story.id.as_str().into(),
            cluster_id: (cluster_id != story.id).then(|| cluster_id.as_str().into()),
            feed,
            time,
            sig: sig.map(Box::new),
            terms: terms.into_boxed_slice(),
            title_terms: title_terms.into_boxed_slice(),
        });
        if let Some(e) = &entry {
            self.sim_mut(cfg).insert(e.clone(), window_secs);
        }
        (
            Verdict::Unique {
                cluster_id,
                cluster_match,
            },
            entry,
        )
    }

    /// Restore a similarity entry from persisted state (oldest first).
    pub fn restore_entry(&mut self, entry: SimEntry, cfg: &DedupConfig) {
        let window_secs = (cfg.window_days.min(36_500) * 86_400) as i64;
        self.sim_mut(cfg).insert(entry, window_secs);
    }

    /// Stories held in the similarity index.
    pub fn similar_len(&self) -> usize {
        self.sim.as_ref().map_or(0, SimIndex::len)
    }

    /// The similarity index, if any story was added (for measurements).
    pub fn sim(&self) -> Option<&SimIndex> {
        self.sim.as_ref()
    }

    /// Forget keys and verdicts that left the window (`window_days` before the newest time
    /// seen), so memory stays bounded during a long run as it is at each start.
    fn expire(&mut self, now: i64, cfg: &DedupConfig) {
        self.newest = self.newest.max(now);
        let cutoff = self
            .newest
            .saturating_sub((cfg.window_days.min(36_500) * 86_400) as i64);
        while self.expiry.front().is_some_and(|(t, _)| *t < cutoff) {
            match self.expiry.pop_front() {
                Some((_, Expiring::Key(k))) => {
                    self.by_key.remove(&k);
                }
                Some((_, Expiring::Verdict(id))) => {
                    self.decided.remove(&id);
                }
                None => break,
            }
        }
    }

    /// Restore a key from persisted state, with the time it was stored (unix seconds), so it
    /// leaves memory with the window.
    pub fn restore_key_at(&mut self, key: String, story_id: String, cluster_id: String, time: i64) {
        self.expiry.push_back((time, Expiring::Key(key.clone())));
        self.by_key.insert(key, (story_id, cluster_id));
    }

    /// Restore a verdict from persisted state, with the time it was given.
    pub fn restore_verdict_at(&mut self, story_id: String, verdict: Verdict, time: i64) {
        self.expiry
            .push_back((time, Expiring::Verdict(story_id.clone())));
        self.decided.insert(story_id, verdict);
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
        // Same GUID in the same feed under another id, same text: a GUID duplicate.
        let c0 = story(
            "c0",
            "f1",
            Some("g1"),
            "https://y.com/other",
            "Talks collapse in Istanbul",
        );
        assert!(matches!(
            ix.check(&c0, &cfg).verdict,
            Verdict::Duplicate {
                rule: DedupRule::Guid,
                ..
            }
        ));
        // Same GUID in the same feed with changed text: an update of the original.
        let c = story("c", "f1", Some("g1"), "https://y.com/other", "Different");
        assert!(matches!(
            ix.check(&c, &cfg).verdict,
            Verdict::Duplicate {
                rule: DedupRule::Update,
                ref duplicate_of,
                ..
            } if duplicate_of == "a"
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

    const ARTICLE: &str = "Russian and Ukrainian delegations met in Istanbul on Friday for the first direct peace talks in three years, but the meeting ended after less than two hours without an agreement on a ceasefire.\n\nTurkish foreign minister Hakan Fidan opened the session and urged both sides to seize the opportunity. Ukraine's delegation was led by defence minister Rustem Umerov, while the Russian side was headed by presidential aide Vladimir Medinsky.\n\nThe two sides agreed on a prisoner exchange of one thousand prisoners each, the largest of the war, according to both delegations. A Ukrainian source said Russia had presented unacceptable demands, including the withdrawal of Ukrainian troops from territory still under Kyiv's control.\n\nEuropean leaders meeting in Tirana said they would tighten sanctions on Moscow if it refused an unconditional ceasefire.";

    fn long_story(id: &str, feed: &str, link: &str, title: &str, body: &str) -> RawStory {
        let mut s = story(id, feed, None, link, title);
        s.summary = None;
        s.content = Some(body.into());
        s
    }

    #[test]
    fn near_duplicate_and_update() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let a = long_story(
            "a",
            "f1",
            "https://x.com/a",
            "Istanbul peace talks end without ceasefire",
            ARTICLE,
        );
        assert!(matches!(ix.check(&a, &cfg).verdict, Verdict::Unique { .. }));
        // Syndicated by another outlet: new headline, boilerplate, last paragraph dropped.
        let trimmed = ARTICLE
            .rsplit_once("\n\n")
            .map(|(h, _)| h)
            .unwrap_or(ARTICLE);
        let body = format!(
            "{trimmed}\n\nThis story was first published by the wire service. All rights reserved."
        );
        let b = long_story(
            "b",
            "f2",
            "https://y.com/b?utm_source=rss",
            "Peace talks in Istanbul break up",
            &body,
        );
        let c = ix.check(&b, &cfg);
        match &c.verdict {
            Verdict::Duplicate {
                duplicate_of,
                rule,
                score,
                cluster_id,
            } => {
                assert_eq!(duplicate_of, "a");
                assert_eq!(cluster_id, "a");
                assert_eq!(*rule, DedupRule::NearDuplicate);
                assert!(*score >= cfg.near_threshold && *score < 1.0, "{score}");
            }
            v => panic!("expected a near-duplicate, got {v:?}"),
        }
        assert!(c.new_entry.is_none(), "duplicates are not indexed");
        // The same feed re-publishes an edited version under a new link: an update.
        let edited = ARTICLE.replace("less than two hours", "about ninety minutes");
        let d = long_story(
            "d",
            "f1",
            "https://x.com/a-updated",
            "Istanbul peace talks end without ceasefire",
            &edited,
        );
        assert!(matches!(
            ix.check(&d, &cfg).verdict,
            Verdict::Duplicate { rule: DedupRule::Update, ref duplicate_of, .. } if duplicate_of == "a"
        ));
        // Outside the window it is a new story.
        let mut late = long_story("e", "f3", "https://z.com/e", "Istanbul talks", &body);
        late.fetched_at = a.fetched_at + chrono::Duration::days(cfg.window_days as i64 + 1);
        assert!(matches!(
            ix.check(&late, &cfg).verdict,
            Verdict::Unique { .. }
        ));
        // With the rule off, the copy is new.
        let off = DedupConfig {
            near_enabled: false,
            ..DedupConfig::default()
        };
        let mut ix = Index::new();
        ix.check(&a, &off);
        assert!(matches!(ix.check(&b, &off).verdict, Verdict::Unique { .. }));
    }

    #[test]
    fn same_event_joins_cluster() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let a = long_story(
            "a",
            "f1",
            "https://x.com/a",
            "Russia and Ukraine peace talks in Istanbul end without ceasefire",
            ARTICLE,
        );
        ix.check(&a, &cfg);
        let other = long_story("o", "f1", "https://x.com/o", "Central bank raises interest rates again", "The central bank raised its main interest rate by a quarter point on Thursday, citing stubborn inflation in services and wages.");
        ix.check(&other, &cfg);
        let b = long_story(
            "b",
            "f2",
            "https://y.com/b",
            "Istanbul peace talks: Ukraine and Russia agree prisoner swap but no ceasefire",
            "Delegations from Ukraine and Russia agreed in Istanbul to swap a thousand prisoners each, yet failed to agree a ceasefire, officials said after the short meeting.",
        );
        match ix.check(&b, &cfg).verdict {
            Verdict::Unique {
                cluster_id,
                cluster_match: Some(m),
            } => {
                assert_eq!(cluster_id, "a");
                assert_eq!(m.story_id, "a");
                assert_eq!(m.rule, CLUSTER_RULE_TITLE);
                assert!(m.score >= cfg.cluster_threshold, "{}", m.score);
            }
            v => panic!("expected a cluster match, got {v:?}"),
        }
        // A third story joining via the second still gets the first one's cluster id.
        let c = long_story(
            "c",
            "f3",
            "https://z.com/c",
            "Ukraine Russia prisoner swap agreed at Istanbul talks",
            "A prisoner swap of a thousand each was agreed by Ukraine and Russia in Istanbul.",
        );
        assert!(
            matches!(ix.check(&c, &cfg).verdict, Verdict::Unique { ref cluster_id, cluster_match: Some(_) } if cluster_id == "a")
        );
        // Unrelated story: own cluster.
        let d = long_story(
            "d",
            "f3",
            "https://z.com/d",
            "Football club wins the league after late goal",
            "A late goal settled the title race on the final day of the season.",
        );
        assert!(
            matches!(ix.check(&d, &cfg).verdict, Verdict::Unique { ref cluster_id, cluster_match: None } if cluster_id == "d")
        );
    }

    #[test]
    fn exact_keys_leave_memory_with_the_window() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let a = story(
            "a",
            "f1",
            Some("g1"),
            "https://x.com/1",
            "A title long enough to hash",
        );
        ix.check(&a, &cfg);
        assert_eq!(ix.len(), 4);
        // A story a window later pushes "a" out: its keys and verdict are forgotten.
        let mut b = story(
            "b",
            "f2",
            None,
            "https://y.com/2",
            "Another title, long enough too",
        );
        b.fetched_at = a.fetched_at + chrono::Duration::days(cfg.window_days as i64 + 1);
        ix.check(&b, &cfg);
        // b has no GUID: link in feed, link, content.
        assert_eq!(ix.len(), 3, "only b's keys remain");
        let mut again = a.clone();
        again.id = "a2".into();
        again.fetched_at = b.fetched_at;
        assert!(matches!(
            ix.check(&again, &cfg).verdict,
            Verdict::Unique { .. }
        ));
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
