//! The pure core of dedup: an in-memory index of identity keys and the verdicts already given.
//!
//! Identity keys are 64-bit XXH3 hashes of the identity (feed + GUID, feed + canonical link,
//! canonical link, normalised text), seeded per state file. They live in a [`KeyTable`] of
//! `u64 → u32` whose values are sequence numbers of the decided-story records, kept in
//! arrival order; the window evicts records from the front and their keys with them.
//! Collisions: with `n` keys in the window a new key falsely matches with probability
//! `n / 2⁶⁴` — 1.4M keys (50,000 stories a day, 4 keys each, 7 days) give 7.6·10⁻¹⁴ per
//! lookup, about one false duplicate in 3·10¹² stories (docs/bench/dedup.md).
//!
//! GUID trust: a feed whose GUIDs are reused (the same GUID on a different story: another link
//! and unrelated text) or rotated (a new GUID on the same link and the same text at each poll)
//! is detected after [`DedupConfig::guid_distrust_after`] such events in the window, and its
//! GUIDs are then ignored: its stories are identified by link and content.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wirewatch_proto::v1::{ClusterMatch, DedupRule, RawStory};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::canon::{canonical_url, normalise_text};
use crate::config::DedupConfig;
use crate::entities::{entities, Entities};
use crate::lsh::{sketch_jaccard, sketch_of};
use crate::minhash::{cluster_terms, fmix64, sig_of};
use crate::sim::{ClusterQuery, Map, SimEntry, SimIndex};
use crate::table::KeyTable;

/// Terms held by more stories than this in the window do not propose cluster candidates
/// (they still weigh in the score): it bounds the work per story.
pub const CLUSTER_MAX_DF: u32 = 1000;

/// Rule name on [`ClusterMatch`] when the titles decided.
pub const CLUSTER_RULE_TITLE: &str = "title_similarity";
/// Rule name on [`ClusterMatch`] when title+lead decided.
pub const CLUSTER_RULE: &str = "title_lead_similarity";
/// Suffix of the rule name when the two stories share entities (the shared names are in
/// [`Verdict::Unique::shared_entities`]).
pub const CLUSTER_RULE_ENTITIES: &str = "+entities";

/// Key seed of an index without a state file (`wirewatch dedup`, tests); a state file draws
/// its own at creation and keeps it.
pub const DEFAULT_KEY_SEED: u64 = 0x5EED_0D3D_0000_0002;

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
        /// The names it shares with the matched story (as written in this story), the
        /// entity evidence of the cluster match.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shared_entities: Vec<String>,
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

    /// The story a copy of this one is a copy of: `id` itself for a unique story.
    fn owner<'a>(&'a self, id: &'a str) -> &'a str {
        match self {
            Verdict::Unique { .. } => id,
            Verdict::Duplicate { duplicate_of, .. } => duplicate_of,
        }
    }

    fn cluster(&self) -> &str {
        match self {
            Verdict::Unique { cluster_id, .. } | Verdict::Duplicate { cluster_id, .. } => {
                cluster_id
            }
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// What an identity key stands for; also its position in a story's key array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// GUID within its feed.
    Guid = 0,
    /// Canonical link within its feed (the same link again in the same feed: an update when
    /// the text changed).
    FeedLink = 1,
    /// Canonical link across feeds.
    Link = 2,
    /// Normalised title + text.
    Content = 3,
}

impl KeyKind {
    /// All kinds, strongest first.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Guid,
        KeyKind::FeedLink,
        KeyKind::Link,
        KeyKind::Content,
    ];

    /// The rule a match of this key reports.
    pub fn rule(self) -> DedupRule {
        match self {
            KeyKind::Guid => DedupRule::Guid,
            KeyKind::FeedLink | KeyKind::Link => DedupRule::CanonicalUrl,
            KeyKind::Content => DedupRule::ContentHash,
        }
    }

    fn tag(self) -> u64 {
        // Distinct per kind, so a GUID equal to a link never meets it.
        [
            0x9E37_79B9_7F4A_7C15,
            0xC2B2_AE3D_27D4_EB4F,
            0x1656_67B1_9E37_79F9,
            0x27D4_EB2F_1656_67C5,
        ][self as usize]
    }
}

/// One identity key a story claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// What it stands for.
    pub kind: KeyKind,
    /// The 64-bit key.
    pub key: u64,
}

impl Key {
    /// Rule this key belongs to.
    pub fn rule(&self) -> DedupRule {
        self.kind.rule()
    }
}

/// The 64-bit key of `value` within `scope` (a feed id, or empty): XXH3 of the value, seeded
/// with the kind's tag and [`scope_seed`]. No allocation.
#[inline]
pub fn key_hash(seed: u64, kind: KeyKind, scope: &str, value: &str) -> u64 {
    key_in_scope(scope_seed(seed, scope), kind, value)
}

/// The seed of a scope: `seed` itself for no scope, else XXH3 of the scope (a feed id) seeded
/// with `seed`. Computed once per story for its feed-scoped keys.
#[inline]
pub fn scope_seed(seed: u64, scope: &str) -> u64 {
    if scope.is_empty() {
        seed
    } else {
        xxh3_64_with_seed(scope.as_bytes(), seed)
    }
}

/// The key of `value` in a scope whose seed is `scope_seed`.
#[inline]
pub fn key_in_scope(scope_seed: u64, kind: KeyKind, value: &str) -> u64 {
    xxh3_64_with_seed(value.as_bytes(), scope_seed ^ kind.tag())
}

/// The keys of a story, strongest rule first, with the default seed.
pub fn keys(story: &RawStory, cfg: &DedupConfig) -> Vec<Key> {
    keys_with(story, cfg, DEFAULT_KEY_SEED, true)
}

/// The keys of a story with `seed`; without the GUID key when `use_guid` is false (a feed
/// whose GUIDs are not trusted).
pub fn keys_with(story: &RawStory, cfg: &DedupConfig, seed: u64, use_guid: bool) -> Vec<Key> {
    let mut out = Vec::with_capacity(4);
    let feed = scope_seed(seed, &story.feed.id);
    if let Some(g) = guid_of(story).filter(|_| use_guid) {
        out.push(Key {
            kind: KeyKind::Guid,
            key: key_in_scope(feed, KeyKind::Guid, g),
        });
    }
    if let Some(c) = story
        .link
        .as_deref()
        .and_then(|l| canonical_url(l, &cfg.strip_query_params))
    {
        // The same link within one feed comes first: with changed text it is an update.
        out.push(Key {
            kind: KeyKind::FeedLink,
            key: key_in_scope(feed, KeyKind::FeedLink, &c),
        });
        out.push(Key {
            kind: KeyKind::Link,
            key: key_hash(seed, KeyKind::Link, "", &c),
        });
    }
    if let Some(text) = content_text(story, cfg) {
        out.push(Key {
            kind: KeyKind::Content,
            key: key_hash(seed, KeyKind::Content, "", &text),
        });
    }
    out
}

fn guid_of(story: &RawStory) -> Option<&str> {
    story
        .guid
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
}

fn content_text(story: &RawStory, cfg: &DedupConfig) -> Option<String> {
    let text = normalise_text(&format!("{}\n{}", story.title, body_of(story)));
    (text.chars().count() >= cfg.min_content_chars).then_some(text)
}

/// The keys a version-1 state file used (`<tag>:<hex of 12 bytes of SHA-256>`), as the
/// 64-bit values [`legacy_key_value`] makes of them: looked up only while such keys are in
/// the window after an upgrade.
fn legacy_keys(story: &RawStory, cfg: &DedupConfig) -> Vec<(KeyKind, u64)> {
    fn h(tag: char, parts: &[&str]) -> u64 {
        let mut d = Sha256::new();
        for p in parts {
            d.update(p.as_bytes());
            d.update([0u8]);
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&d.finalize()[..8]);
        u64::from_be_bytes(b) ^ legacy_tag(tag)
    }
    let mut out = Vec::with_capacity(4);
    let feed = story.feed.id.as_str();
    if let Some(g) = guid_of(story) {
        out.push((KeyKind::Guid, h('g', &[feed, g])));
    }
    if let Some(c) = story
        .link
        .as_deref()
        .and_then(|l| canonical_url(l, &cfg.strip_query_params))
    {
        out.push((KeyKind::FeedLink, h('f', &[feed, &c])));
        out.push((KeyKind::Link, h('u', &[&c])));
    }
    if let Some(text) = content_text(story, cfg) {
        out.push((KeyKind::Content, h('c', &[&text])));
    }
    out
}

fn legacy_tag(c: char) -> u64 {
    fmix64(c as u64 + 1)
}

/// The 64-bit value of a version-1 key text (`g:0123…`): its tag and the first 8 bytes of its
/// hash. `None` when the text is not such a key.
pub fn legacy_key_value(text: &str) -> Option<(KeyKind, u64)> {
    let (tag, hex) = text.split_once(':')?;
    let kind = match tag {
        "g" => KeyKind::Guid,
        "f" => KeyKind::FeedLink,
        "u" => KeyKind::Link,
        "c" => KeyKind::Content,
        _ => return None,
    };
    let v = u64::from_str_radix(hex.get(..16)?, 16).ok()?;
    Some((kind, v ^ legacy_tag(tag.chars().next()?)))
}

/// The body used for content identity and similarity: full content, else the summary.
pub fn body_of(story: &RawStory) -> &str {
    [story.content.as_deref(), story.summary.as_deref()]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("")
}

/// 32-bit hash of a feed id (same-feed test for updates, GUID trust per feed).
pub fn feed_hash(feed_id: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in feed_id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let m = fmix64(h);
    (m ^ (m >> 32)) as u32
}

/// Why a feed's GUIDs are not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidDistrust {
    /// The same GUID came on a different story (another link, unrelated text).
    Reuse,
    /// The same story (same link, same text) came under a new GUID.
    Rotation,
}

impl GuidDistrust {
    /// Label and persisted name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuidDistrust::Reuse => "reuse",
            GuidDistrust::Rotation => "rotation",
        }
    }

    /// Parse [`GuidDistrust::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reuse" => Some(GuidDistrust::Reuse),
            "rotation" => Some(GuidDistrust::Rotation),
            _ => None,
        }
    }
}

/// What the index knows of one feed's GUIDs within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedTrust {
    /// GUID reuse events seen.
    pub reuse: u32,
    /// GUID rotation events seen.
    pub rotation: u32,
    /// Set once the events reach `guid_distrust_after`: the feed's GUIDs are ignored.
    pub distrust: Option<GuidDistrust>,
    /// Time of the last event (unix seconds); the record leaves with the window.
    pub last_event: i64,
}

/// One decided story: its verdict and the keys it claimed.
#[derive(Debug)]
struct Decided {
    id: Box<str>,
    verdict: Verdict,
    time: i64,
    /// Claimed keys by [`KeyKind`] position; `present` says which are set.
    keys: [u64; 4],
    present: u8,
    /// The story's slot in the similarity index (unique stories), else `NONE`.
    sim_seq: u32,
}

impl Decided {
    fn key(&self, kind: KeyKind) -> Option<u64> {
        (self.present >> kind as u8 & 1 == 1).then_some(self.keys[kind as usize])
    }
    fn owner(&self) -> &str {
        self.verdict.owner(&self.id)
    }
}

const NONE: u32 = u32::MAX;

/// Version-1 keys restored after an upgrade, until they leave the window.
#[derive(Default)]
struct Legacy {
    keys: Map<u64, (Box<str>, Box<str>)>,
    expiry: VecDeque<(i64, u64)>,
}

/// Identity keys, the verdicts of the window, per-feed GUID trust and the similarity index.
pub struct Index {
    seed: u64,
    /// Decided stories in arrival order; `stories[0]` has sequence number `base`.
    stories: VecDeque<Decided>,
    base: u32,
    /// Hash of a story id → sequence number (redeliveries).
    by_id: KeyTable,
    /// Identity key → sequence number of the story that claimed it.
    by_key: KeyTable,
    newest: i64,
    sim: Option<SimIndex>,
    scratch: Vec<u32>,
    feeds: HashMap<u32, FeedTrust>,
    legacy: Legacy,
    checks: u64,
    /// Scratch for key lookups.
    found: Vec<Option<u32>>,
}

impl Default for Index {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("keys", &self.by_key.len())
            .field("decided", &self.stories.len())
            .field("legacy_keys", &self.legacy.keys.len())
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
    /// The story's feed hash and its GUID trust, when this story changed it (to persist).
    pub feed_trust: Option<(u32, FeedTrust)>,
    /// Set when this story made its feed's GUIDs untrusted (for the metric and the log).
    pub distrusted: Option<GuidDistrust>,
}

impl Index {
    /// An empty index with the default key seed.
    pub fn new() -> Self {
        Self::with_seed(DEFAULT_KEY_SEED)
    }

    /// An empty index whose keys are hashed with `seed` (a state file keeps its seed).
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            stories: VecDeque::new(),
            base: 0,
            by_id: KeyTable::new(),
            by_key: KeyTable::new(),
            newest: i64::MIN,
            sim: None,
            scratch: Vec::new(),
            feeds: HashMap::new(),
            legacy: Legacy::default(),
            checks: 0,
            found: Vec::with_capacity(4),
        }
    }

    /// The key seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn id_hash(&self, id: &str) -> u64 {
        xxh3_64_with_seed(id.as_bytes(), self.seed ^ 0xD1D1_D1D1_D1D1_D1D1)
    }

    fn get(&self, seq: u32) -> Option<&Decided> {
        self.stories.get(seq.wrapping_sub(self.base) as usize)
    }

    fn get_mut(&mut self, seq: u32) -> Option<&mut Decided> {
        self.stories.get_mut(seq.wrapping_sub(self.base) as usize)
    }

    fn decided(&self, id: &str) -> Option<&Decided> {
        self.by_id
            .get(self.id_hash(id))
            .and_then(|s| self.get(s))
            .filter(|d| &*d.id == id)
    }

    /// Whether `key` is held (for the key benchmark).
    pub fn contains_key(&self, key: u64) -> bool {
        self.by_key.contains(key)
    }

    /// How many of `keys` are held (for the key benchmark: the batched lookup
    /// [`Index::check`] makes of a story's keys); `scratch` is reused between calls.
    pub fn count_held(&self, keys: &[u64], scratch: &mut Vec<Option<u32>>) -> usize {
        self.by_key.get_many(keys, scratch);
        scratch.iter().filter(|s| s.is_some()).count()
    }

    /// Whether the feed's GUIDs are trusted.
    pub fn guid_trusted(&self, feed_id: &str) -> bool {
        self.feeds
            .get(&feed_hash(feed_id))
            .is_none_or(|t| t.distrust.is_none())
    }

    /// Decide whether `story` is new or a duplicate, and remember it. Pure: no I/O.
    /// A story id already decided returns the same verdict (redelivery is idempotent).
    pub fn check(&mut self, story: &RawStory, cfg: &DedupConfig) -> Checked {
        if let Some(d) = self.decided(&story.id) {
            return Checked {
                verdict: d.verdict.clone(),
                redelivery: true,
                new_keys: vec![],
                new_entry: None,
                feed_trust: None,
                distrusted: None,
            };
        }
        let time = story.fetched_at.timestamp();
        let feed = feed_hash(&story.feed.id);
        let ks = keys_with(story, cfg, self.seed, self.guid_trusted(&story.feed.id));
        let key_of = |kind: KeyKind| ks.iter().find(|k| k.kind == kind).map(|k| k.key);
        let mut event = None;
        let mut hit: Option<(KeyKind, u32)> = None;
        let mut found = std::mem::take(&mut self.found);
        let raw: [u64; 4] = std::array::from_fn(|i| ks.get(i).map_or(0, |k| k.key));
        self.by_key.get_many(&raw[..ks.len()], &mut found);
        for (k, seq) in ks.iter().zip(found.iter()) {
            let Some(seq) = *seq else {
                continue;
            };
            let Some(d) = self.get(seq) else { continue };
            if d.owner() == story.id {
                continue;
            }
            if k.kind == KeyKind::Guid && self.guid_reused(story, cfg, &ks, seq) {
                // Another story under this GUID: the GUID says nothing, the other keys decide.
                event = Some(GuidDistrust::Reuse);
                continue;
            }
            hit = Some((k.kind, seq));
            break;
        }
        self.found = found;
        let mut new_entry = None;
        let mut sim_seq = NONE;
        let verdict = match hit {
            Some((kind, seq)) => {
                let d = self.get(seq).expect("hit sequence numbers are live");
                let of = d.owner().to_string();
                let cluster_id = d.verdict.cluster().to_string();
                let same_content = key_of(KeyKind::Content).is_some_and(|c| {
                    self.by_key
                        .get(c)
                        .and_then(|s| self.get(s))
                        .is_some_and(|o| o.owner() == of)
                });
                // The same link in the same feed, with the same text, under a new GUID while
                // the story had one: the feed rotates its GUIDs.
                if kind == KeyKind::FeedLink
                    && same_content
                    && key_of(KeyKind::Guid).is_some()
                    && d.key(KeyKind::Guid).is_some()
                {
                    event = Some(GuidDistrust::Rotation);
                }
                // Same GUID or link in the same feed, but a text the original did not have:
                // an edited version of it.
                let same_feed = matches!(kind, KeyKind::Guid | KeyKind::FeedLink);
                let changed_text = same_feed && key_of(KeyKind::Content).is_some() && !same_content;
                Verdict::Duplicate {
                    duplicate_of: of,
                    cluster_id,
                    rule: if changed_text {
                        DedupRule::Update
                    } else {
                        kind.rule()
                    },
                    score: 1.0,
                }
            }
            None => match self.legacy_hit(story, cfg) {
                Some(v) => v,
                None => {
                    let (v, e, s) = self.check_similar(story, cfg);
                    new_entry = e;
                    sim_seq = s;
                    v
                }
            },
        };
        let seq = self.base.wrapping_add(self.stories.len() as u32);
        let mut new_keys = Vec::new();
        let mut rec = Decided {
            id: story.id.as_str().into(),
            verdict: verdict.clone(),
            time,
            keys: [0; 4],
            present: 0,
            sim_seq,
        };
        for k in ks {
            if self.by_key.insert_if_absent(k.key, seq) {
                rec.keys[k.kind as usize] = k.key;
                rec.present |= 1 << k.kind as u8;
                new_keys.push(k);
            }
        }
        self.by_id.insert(self.id_hash(&story.id), seq);
        self.stories.push_back(rec);
        let (feed_trust, distrusted) = match event {
            Some(ev) => self.feed_event(feed, ev, time, cfg),
            None => (None, None),
        };
        self.expire(time, cfg);
        Checked {
            verdict,
            redelivery: false,
            new_keys,
            new_entry,
            feed_trust,
            distrusted,
        }
    }

    /// Whether the story claiming `seq` under this story's GUID is another story: both have
    /// a link in this feed and the links differ, the texts differ, and the texts are not
    /// similar (estimated Jaccard below `near_threshold`; without signatures, the titles
    /// differ). An edited story whose link changed with its headline stays an update.
    fn guid_reused(&mut self, story: &RawStory, cfg: &DedupConfig, ks: &[Key], seq: u32) -> bool {
        let key_of = |kind: KeyKind| ks.iter().find(|k| k.kind == kind).map(|k| k.key);
        let Some(d) = self.get(seq) else { return false };
        let owner = d.owner().to_string();
        let links_differ = match (key_of(KeyKind::FeedLink), d.key(KeyKind::FeedLink)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        if !links_differ {
            return false;
        }
        let same_content = key_of(KeyKind::Content).is_some_and(|c| {
            self.by_key
                .get(c)
                .and_then(|s| self.get(s))
                .is_some_and(|o| o.owner() == owner)
        });
        if same_content {
            return false;
        }
        let their_sketch = self
            .decided(&owner)
            .map(|o| o.sim_seq)
            .and_then(|s| self.sim.as_ref().and_then(|sim| sim.sketch(s)))
            .copied();
        let text = format!("{}\n{}", story.title, body_of(story));
        let mut scratch = std::mem::take(&mut self.scratch);
        let ours = sig_of(&text, cfg.shingle_words, &mut scratch).map(|s| sketch_of(&s));
        self.scratch = scratch;
        match (ours, their_sketch) {
            (Some(a), Some(b)) => sketch_jaccard(&a, &b) < cfg.near_threshold,
            // No signatures to compare (short texts, or the original left the similarity
            // index): another link and another text under the same GUID is reuse.
            _ => true,
        }
    }

    /// Count a GUID reuse or rotation event of `feed`; past the configured number of events
    /// the feed's GUIDs are distrusted. Returns the record to persist and, when it just
    /// became untrusted, why.
    fn feed_event(
        &mut self,
        feed: u32,
        ev: GuidDistrust,
        time: i64,
        cfg: &DedupConfig,
    ) -> (Option<(u32, FeedTrust)>, Option<GuidDistrust>) {
        let t = self.feeds.entry(feed).or_default();
        match ev {
            GuidDistrust::Reuse => t.reuse += 1,
            GuidDistrust::Rotation => t.rotation += 1,
        }
        t.last_event = t.last_event.max(time);
        let mut newly = None;
        if t.distrust.is_none() && t.reuse.max(t.rotation) >= cfg.guid_distrust_after.max(1) {
            let why = if t.reuse >= t.rotation {
                GuidDistrust::Reuse
            } else {
                GuidDistrust::Rotation
            };
            t.distrust = Some(why);
            newly = Some(why);
        }
        (Some((feed, *t)), newly)
    }

    /// A match among the keys of a version-1 state file (only while some are in the window).
    fn legacy_hit(&self, story: &RawStory, cfg: &DedupConfig) -> Option<Verdict> {
        if self.legacy.keys.is_empty() {
            return None;
        }
        let ks = legacy_keys(story, cfg);
        let (kind, (of, cluster)) = ks.iter().find_map(|(kind, k)| {
            self.legacy
                .keys
                .get(k)
                .filter(|(o, _)| **o != *story.id)
                .map(|v| (*kind, v))
        })?;
        let same_content = ks
            .iter()
            .filter(|(k, _)| *k == KeyKind::Content)
            .any(|(_, c)| self.legacy.keys.get(c).is_some_and(|(o, _)| o == of));
        let has_content = ks.iter().any(|(k, _)| *k == KeyKind::Content);
        let same_feed = matches!(kind, KeyKind::Guid | KeyKind::FeedLink);
        Some(Verdict::Duplicate {
            duplicate_of: of.to_string(),
            cluster_id: cluster.to_string(),
            rule: if same_feed && has_content && !same_content {
                DedupRule::Update
            } else {
                kind.rule()
            },
            score: 1.0,
        })
    }

    fn sim_mut(&mut self, cfg: &DedupConfig) -> &mut SimIndex {
        self.sim.get_or_insert_with(|| {
            SimIndex::new(cfg.near_bands, cfg.near_rows, cfg.max_indexed_stories)
        })
    }

    /// Near-duplicate and cluster rules for a story no exact rule matched. Returns the
    /// verdict and, for a new story, the entry it added to the similarity index and its
    /// sequence number there.
    fn check_similar(
        &mut self,
        story: &RawStory,
        cfg: &DedupConfig,
    ) -> (Verdict, Option<SimEntry>, u32) {
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
                    NONE,
                );
            }
        }
        let (title_terms, terms, ents) = if cfg.cluster_enabled {
            (
                cluster_terms(&story.title, "", 0),
                cluster_terms(&story.title, body, cfg.cluster_lead_words),
                entities(&story.title, body, cfg.cluster_lead_words),
            )
        } else {
            (Vec::new(), Vec::new(), Entities::default())
        };
        let mut cluster_match = None;
        let mut shared_entities = Vec::new();
        let mut cluster_id = story.id.clone();
        if !terms.is_empty() {
            let query = ClusterQuery {
                title: &title_terms,
                terms: &terms,
                entities: &ents.keys,
                time,
                window_secs: (cfg.cluster_window_hours.min(876_000) * 3600) as i64,
                threshold: cfg.cluster_threshold,
                max_df: CLUSTER_MAX_DF,
                entity_bonus: cfg.cluster_entity_bonus,
                entity_penalty: cfg.cluster_entity_penalty,
                time_penalty: cfg.cluster_time_penalty,
            };
            if let Some(hit) = self.sim_mut(cfg).cluster(&query) {
                cluster_id = hit.entry.cluster().to_string();
                let base = if hit.by_title {
                    CLUSTER_RULE_TITLE
                } else {
                    CLUSTER_RULE
                };
                shared_entities = ents.phrases_of(&hit.shared);
                cluster_match = Some(ClusterMatch {
                    story_id: hit.entry.story_id.to_string(),
                    rule: if hit.shared.is_empty() {
                        base.to_string()
                    } else {
                        format!("{base}{CLUSTER_RULE_ENTITIES}")
                    },
                    score: round4(hit.score),
                    shared_entities: Vec::new(),
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
            entities: ents.keys.into_boxed_slice(),
        });
        let mut seq = NONE;
        if let Some(e) = &entry {
            seq = self.sim_mut(cfg).insert(e.clone(), window_secs);
        }
        (
            Verdict::Unique {
                cluster_id,
                cluster_match,
                shared_entities,
            },
            entry,
            seq,
        )
    }

    /// Restore a similarity entry from persisted state (oldest first), after the verdicts.
    pub fn restore_entry(&mut self, entry: SimEntry, cfg: &DedupConfig) {
        let window_secs = (cfg.window_days.min(36_500) * 86_400) as i64;
        let h = self.id_hash(&entry.story_id);
        let id = entry.story_id.clone();
        let seq = self.sim_mut(cfg).insert(entry, window_secs);
        if let Some(s) = self.by_id.get(h) {
            if let Some(d) = self.get_mut(s).filter(|d| d.id == id) {
                d.sim_seq = seq;
            }
        }
    }

    /// Stories held in the similarity index.
    pub fn similar_len(&self) -> usize {
        self.sim.as_ref().map_or(0, SimIndex::len)
    }

    /// The similarity index, if any story was added (for measurements).
    pub fn sim(&self) -> Option<&SimIndex> {
        self.sim.as_ref()
    }

    /// Forget stories, keys and feed events that left the window (`window_days` before the
    /// newest time seen), so memory stays bounded during a long run as it is at each start.
    fn expire(&mut self, now: i64, cfg: &DedupConfig) {
        self.newest = self.newest.max(now);
        let cutoff = self
            .newest
            .saturating_sub((cfg.window_days.min(36_500) * 86_400) as i64);
        while self.stories.front().is_some_and(|d| d.time < cutoff) {
            let Some(d) = self.stories.pop_front() else {
                break;
            };
            let seq = self.base;
            self.base = self.base.wrapping_add(1);
            for kind in KeyKind::ALL {
                if let Some(k) = d.key(kind) {
                    self.by_key.remove_if(k, seq);
                }
            }
            let h = self.id_hash(&d.id);
            self.by_id.remove_if(h, seq);
        }
        while self.legacy.expiry.front().is_some_and(|(t, _)| *t < cutoff) {
            if let Some((_, k)) = self.legacy.expiry.pop_front() {
                self.legacy.keys.remove(&k);
            }
        }
        self.checks += 1;
        if self.checks.is_multiple_of(4096) {
            self.feeds.retain(|_, t| t.last_event >= cutoff);
        }
    }

    /// Restore a decided story from persisted state (oldest first): its verdict, the time it
    /// was decided (unix seconds, so it leaves memory with the window) and the keys it
    /// claimed.
    pub fn restore_story(&mut self, story_id: &str, verdict: Verdict, time: i64, keys: &[Key]) {
        let seq = self.base.wrapping_add(self.stories.len() as u32);
        let mut rec = Decided {
            id: story_id.into(),
            verdict,
            time,
            keys: [0; 4],
            present: 0,
            sim_seq: NONE,
        };
        for k in keys {
            if self.by_key.insert_if_absent(k.key, seq) {
                rec.keys[k.kind as usize] = k.key;
                rec.present |= 1 << k.kind as u8;
            }
        }
        self.by_id.insert(self.id_hash(story_id), seq);
        self.stories.push_back(rec);
        self.newest = self.newest.max(time);
    }

    /// Restore a key of a version-1 state file (`g:…`, `f:…`, `u:…`, `c:…`) with its owner,
    /// cluster and time; ignored when the text is not such a key.
    pub fn restore_legacy_key(&mut self, key: &str, story_id: &str, cluster_id: &str, time: i64) {
        if let Some((_, k)) = legacy_key_value(key) {
            self.legacy.expiry.push_back((time, k));
            self.legacy
                .keys
                .insert(k, (story_id.into(), cluster_id.into()));
        }
    }

    /// Restore a feed's GUID trust.
    pub fn restore_feed(&mut self, feed: u32, trust: FeedTrust) {
        self.feeds.insert(feed, trust);
    }

    /// Feeds whose GUIDs are distrusted now.
    pub fn distrusted_feeds(&self) -> usize {
        self.feeds.values().filter(|t| t.distrust.is_some()).count()
    }

    /// Keys held (version-1 keys of the window included).
    pub fn len(&self) -> usize {
        self.by_key.len() + self.legacy.keys.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.legacy.keys.is_empty()
    }

    /// Heap bytes of the exact part (key and id tables, decided stories), capacity times
    /// element size, for the memory measurement.
    pub fn exact_heap_bytes(&self) -> usize {
        self.by_key.heap_bytes()
            + self.by_id.heap_bytes()
            + self.stories.capacity() * std::mem::size_of::<Decided>()
            + self
                .stories
                .iter()
                .map(|d| {
                    d.id.len()
                        + match &d.verdict {
                            Verdict::Unique {
                                cluster_id,
                                cluster_match,
                                shared_entities,
                            } => {
                                cluster_id.capacity()
                                    + cluster_match
                                        .as_ref()
                                        .map_or(0, |m| m.story_id.capacity() + m.rule.capacity())
                                    + shared_entities.capacity() * std::mem::size_of::<String>()
                                    + shared_entities.iter().map(String::capacity).sum::<usize>()
                            }
                            Verdict::Duplicate {
                                duplicate_of,
                                cluster_id,
                                ..
                            } => duplicate_of.capacity() + cluster_id.capacity(),
                        }
                })
                .sum::<usize>()
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
            published_is_fetch_time: false,
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
                shared_entities,
            } => {
                assert_eq!(cluster_id, "a");
                assert_eq!(m.story_id, "a");
                // The titles decided, with the names both stories carry as evidence.
                assert_eq!(
                    m.rule,
                    format!("{CLUSTER_RULE_TITLE}{CLUSTER_RULE_ENTITIES}")
                );
                assert!(m.score >= cfg.cluster_threshold, "{}", m.score);
                assert!(
                    ["Istanbul", "Ukraine", "Russia"]
                        .iter()
                        .all(|n| shared_entities.iter().any(|s| s == n)),
                    "{shared_entities:?}"
                );
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
            matches!(ix.check(&c, &cfg).verdict, Verdict::Unique { ref cluster_id, cluster_match: Some(_), .. } if cluster_id == "a")
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
            matches!(ix.check(&d, &cfg).verdict, Verdict::Unique { ref cluster_id, cluster_match: None, .. } if cluster_id == "d")
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

    /// A long text of `n` words from a vocabulary no other seed shares.
    fn words(seed: usize, n: usize) -> String {
        (0..n)
            .map(|i| format!("v{seed}x{}", (i * 31) % 997))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn keys_are_seeded_and_distinct_per_kind() {
        let s = story(
            "a",
            "f1",
            Some("https://x.com/1"),
            "https://x.com/1",
            "A title long enough to hash",
        );
        let cfg = DedupConfig::default();
        let a = keys_with(&s, &cfg, 1, true);
        let b = keys_with(&s, &cfg, 2, true);
        assert_eq!(a.len(), 4);
        // The GUID equals the link here, yet the kinds keep the keys apart.
        let mut vals: Vec<u64> = a.iter().map(|k| k.key).collect();
        vals.dedup();
        assert_eq!(vals.len(), 4);
        assert!(a.iter().zip(b.iter()).all(|(x, y)| x.key != y.key));
        assert!(keys_with(&s, &cfg, 1, false)
            .iter()
            .all(|k| k.kind != KeyKind::Guid));
    }

    #[test]
    fn feed_reusing_guids_is_detected_and_its_stories_stay_unique() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        // A healthy feed: an edited story under the same GUID and link is an update, and
        // counts as no GUID event.
        let h1 = long_story(
            "h1",
            "healthy",
            "https://h.com/1",
            "Istanbul talks",
            ARTICLE,
        );
        let mut h1 = h1;
        h1.guid = Some("h-1".into());
        ix.check(&h1, &cfg);
        let mut h2 = h1.clone();
        h2.id = "h2".into();
        h2.content = Some(ARTICLE.replace("less than two hours", "about ninety minutes"));
        h2.link = Some("https://h.com/1-istanbul-talks-updated".into());
        assert!(matches!(
            ix.check(&h2, &cfg).verdict,
            Verdict::Duplicate { rule: DedupRule::Update, ref duplicate_of, .. } if duplicate_of == "h1"
        ));
        assert!(ix.guid_trusted("healthy"));
        // A feed that puts one GUID ("latest") on every story: other links, unrelated texts.
        let mut distrusted = Vec::new();
        for i in 0..6 {
            let mut s = long_story(
                &format!("r{i}"),
                "reuser",
                &format!("https://r.com/story/{i}"),
                &format!("Story number {i} of the day"),
                &words(i, 300),
            );
            s.guid = Some("latest".into());
            let c = ix.check(&s, &cfg);
            assert!(
                matches!(c.verdict, Verdict::Unique { .. }),
                "story {i}: {:?}",
                c.verdict
            );
            distrusted.push(c.distrusted);
            if i > 0 && i <= 3 {
                let (_, t) = c.feed_trust.expect("a reuse event is persisted");
                assert_eq!(t.reuse, i as u32);
            }
        }
        // Events at stories 1, 2, 3: the third makes the feed untrusted.
        assert_eq!(
            distrusted,
            vec![None, None, None, Some(GuidDistrust::Reuse), None, None]
        );
        assert!(!ix.guid_trusted("reuser"));
        assert!(ix.guid_trusted("healthy"));
        assert_eq!(ix.distrusted_feeds(), 1);
        // Its stories are still identified by link: the same link again is a duplicate, by
        // canonical_url, not by GUID.
        let mut again = long_story(
            "r0-again",
            "reuser",
            "https://r.com/story/0?utm_source=x",
            "Story number 0 of the day",
            &words(0, 300),
        );
        again.guid = Some("latest".into());
        assert!(matches!(
            ix.check(&again, &cfg).verdict,
            Verdict::Duplicate { rule: DedupRule::CanonicalUrl, ref duplicate_of, .. } if duplicate_of == "r0"
        ));
    }

    #[test]
    fn feed_rotating_guids_is_detected() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let mut first = None;
        for poll in 0..5 {
            // The same item at every poll, under a GUID that changes each time.
            let mut s = long_story(
                &format!("p{poll}"),
                "rotor",
                "https://rot.com/a",
                "Istanbul talks end",
                ARTICLE,
            );
            s.guid = Some(format!("urn:poll:{poll}"));
            let c = ix.check(&s, &cfg);
            if poll == 0 {
                first = Some(c.verdict.clone());
                assert!(matches!(c.verdict, Verdict::Unique { .. }));
                continue;
            }
            assert!(
                matches!(c.verdict, Verdict::Duplicate { rule: DedupRule::CanonicalUrl, ref duplicate_of, .. } if duplicate_of == "p0"),
                "poll {poll}: {:?}",
                c.verdict
            );
            assert_eq!(
                c.distrusted,
                (poll == 3).then_some(GuidDistrust::Rotation),
                "poll {poll}"
            );
        }
        assert!(first.is_some());
        assert!(!ix.guid_trusted("rotor"));
        // A new GUID that is not a rotation (another link, another text) stays unique.
        let mut other = long_story(
            "q",
            "rotor",
            "https://rot.com/b",
            "Football results",
            &words(9, 200),
        );
        other.guid = Some("urn:poll:99".into());
        assert!(matches!(
            ix.check(&other, &cfg).verdict,
            Verdict::Unique { .. }
        ));
    }

    #[test]
    fn legacy_keys_match_after_an_upgrade() {
        let cfg = DedupConfig::default();
        let s = story(
            "old",
            "f1",
            Some("g1"),
            "https://x.com/1",
            "A title long enough to hash",
        );
        let mut d = Sha256::new();
        for p in ["f1", "g1"] {
            d.update(p.as_bytes());
            d.update([0u8]);
        }
        let text = format!("g:{}", hex::encode(&d.finalize()[..12]));
        let mut ix = Index::new();
        ix.restore_legacy_key(&text, "old", "old", s.fetched_at.timestamp());
        let mut d = Sha256::new();
        d.update(content_text(&s, &cfg).unwrap().as_bytes());
        d.update([0u8]);
        let text = format!("c:{}", hex::encode(&d.finalize()[..12]));
        ix.restore_legacy_key(&text, "old", "old", s.fetched_at.timestamp());
        assert_eq!(ix.len(), 2);
        let mut copy = s.clone();
        copy.id = "new".into();
        copy.link = Some("https://y.com/elsewhere".into());
        assert!(matches!(
            ix.check(&copy, &cfg).verdict,
            Verdict::Duplicate { rule: DedupRule::Guid, ref duplicate_of, .. } if duplicate_of == "old"
        ));
        assert_eq!(legacy_key_value("x:00"), None);
        assert_eq!(legacy_key_value("g:zz"), None);
    }
}
