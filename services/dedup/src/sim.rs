//! The similarity index: MinHash-LSH for near-duplicates ([`crate::lsh`]) and an inverted
//! index of title+lead terms for same-story clusters, over the stories of the time window.
//!
//! Entries live in a queue in arrival order, numbered by a sequence number; the oldest are
//! evicted when they leave the window (or the index is full), so memory is bounded by the
//! window. The near-duplicate part keeps no signature: [`Lsh`] holds one 32-bit entry per band
//! and a 128-bit sketch per story. Term lookups use chains instead of posting vectors: a hash
//! map holds, per term, the newest entry and a count; each entry holds, per term, the previous
//! entry with the same term. Walking a chain stops at the first evicted entry (all older ones
//! are evicted too), and eviction only decrements counts, so both are O(terms).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::lsh::{sketch_jaccard, sketch_of, Lsh, Sketch};
use crate::minhash::{weighted_jaccard, Sig};

/// A hasher for keys that already are good hashes (band keys, term hashes).
#[derive(Default)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A hash map over keys that already are good hashes.
pub type Map<K, V> = HashMap<K, V, BuildHasherDefault<PreHashed>>;

/// What the index remembers of one story.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEntry {
    /// Story id.
    pub story_id: Box<str>,
    /// Cluster id when it differs from the story id.
    pub cluster_id: Option<Box<str>>,
    /// Hash of the feed id (same-feed near-duplicates are updates).
    pub feed: u32,
    /// Story time, unix seconds.
    pub time: i64,
    /// MinHash signature of the text (absent for text too short to compare). Consumed by
    /// [`SimIndex::insert`]: the index keeps only band entries and a sketch of it.
    pub sig: Option<Box<Sig>>,
    /// Title+lead terms, sorted.
    pub terms: Box<[u32]>,
    /// Title terms alone, sorted.
    pub title_terms: Box<[u32]>,
    /// Entity keys of title and lead ([`crate::entities`]), sorted, at most
    /// [`crate::entities::MAX_ENTITIES`].
    pub entities: Box<[u32]>,
}

impl SimEntry {
    /// The entry's cluster id.
    pub fn cluster(&self) -> &str {
        self.cluster_id.as_deref().unwrap_or(&self.story_id)
    }
}

struct Slot {
    /// The entry, its signature taken out.
    entry: SimEntry,
    /// Previous entry with the same term, per term.
    term_next: Box<[u32]>,
}

/// A near-duplicate candidate that passed the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    /// The matched entry.
    pub entry: &'a SimEntry,
    /// Score in [0, 1].
    pub score: f64,
}

/// What a new story brings to [`SimIndex::cluster`], and how its candidates are scored.
#[derive(Debug, Clone, Copy)]
pub struct ClusterQuery<'q> {
    /// Title terms, sorted.
    pub title: &'q [u32],
    /// Title + lead terms, sorted.
    pub terms: &'q [u32],
    /// Entity keys, sorted.
    pub entities: &'q [u32],
    /// The story's time (unix seconds).
    pub time: i64,
    /// How far back a candidate may be (seconds); older entries are not candidates.
    pub window_secs: i64,
    /// Score a candidate must reach.
    pub threshold: f64,
    /// Terms held by more entries than this do not propose candidates.
    pub max_df: u32,
    /// Added to the text similarity, times the IDF weight of the entities the two stories
    /// share ([`EntityEvidence::weight`]).
    pub entity_bonus: f64,
    /// Subtracted when both stories name entities and share none.
    pub entity_penalty: f64,
    /// Subtracted at the far end of the window, in proportion to the candidate's age.
    pub time_penalty: f64,
}

/// The best cluster candidate of a story.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterHit<'a> {
    /// The matched entry.
    pub entry: &'a SimEntry,
    /// The score that decided: text similarity with the entity and time adjustments.
    pub score: f64,
    /// The text similarity alone (the larger of title and title + lead).
    pub text: f64,
    /// Whether the title alone gave the text similarity.
    pub by_title: bool,
    /// Entity keys the two stories share, sorted.
    pub shared: Vec<u32>,
}

/// The entity evidence between a new story and a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EntityEvidence {
    /// Entity keys the two share.
    pub shared: usize,
    /// Sum of the IDF weights of the shared keys over the largest weight a key can have
    /// ([`crate::entities::shared_weight`]), in [0, 1]: one rare name shared weighs more
    /// than "US" shared.
    pub weight: f64,
    /// Whether both stories name entities.
    pub both_named: bool,
}

/// The cluster score of a candidate: text similarity `text`, plus `entity_bonus` times the
/// entity evidence's weight (or minus `entity_penalty` when both name entities and share
/// none), minus `time_penalty` times the candidate's age relative to the window (`age_frac`
/// in [0, 1]). In [0, 1].
pub fn cluster_score(text: f64, ev: EntityEvidence, age_frac: f64, q: &ClusterQuery<'_>) -> f64 {
    let s = crate::entities::entity_score(
        text,
        ev.shared,
        ev.both_named,
        q.entity_bonus * ev.weight,
        q.entity_penalty,
    );
    (s - q.time_penalty * age_frac.clamp(0.0, 1.0)).clamp(0.0, 1.0)
}

/// Window index of signatures and terms.
pub struct SimIndex {
    bands: usize,
    rows: usize,
    max_entries: usize,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    base: u32,
    lsh: Lsh,
    term_heads: Map<u32, (u32, u32)>,
    /// Entries holding each entity key (document frequencies of entities).
    entity_df: Map<u32, u32>,
    newest: i64,
    /// Scratch for candidate accumulation.
    seen: Map<u32, (f64, f64)>,
    /// Scratch for near-duplicate candidates.
    near_seen: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// Floor on the document count used for IDF weights (see [`SimIndex::cluster`]).
pub const IDF_MIN_DOCS: f64 = 1000.0;

impl SimIndex {
    /// An empty index with `bands × rows` LSH banding (≤ 128 lanes) holding at most
    /// `max_entries` stories.
    pub fn new(bands: usize, rows: usize, max_entries: usize) -> Self {
        let rows = rows.clamp(1, crate::minhash::PERMS);
        let bands = bands.clamp(1, crate::minhash::PERMS / rows);
        Self {
            bands,
            rows,
            max_entries: max_entries.max(1),
            slots: VecDeque::new(),
            base: 0,
            lsh: Lsh::new(bands, rows, 0),
            term_heads: Map::default(),
            entity_df: Map::default(),
            newest: i64::MIN,
            seen: Map::default(),
            near_seen: Vec::new(),
        }
    }

    /// Stories held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no story is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The banding in use.
    pub fn banding(&self) -> (usize, usize) {
        (self.bands, self.rows)
    }

    fn get(&self, seq: u32) -> Option<&Slot> {
        if seq == NONE || seq < self.base {
            return None;
        }
        self.slots.get((seq - self.base) as usize)
    }

    /// Drop entries older than `cutoff` (unix seconds) from the front.
    pub fn evict_before(&mut self, cutoff: i64) {
        while self.slots.front().is_some_and(|s| s.entry.time < cutoff) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some(slot) = self.slots.pop_front() else {
            return;
        };
        for t in slot.entry.terms.iter() {
            dec(&mut self.term_heads, *t);
        }
        for k in slot.entry.entities.iter() {
            if let Some(c) = self.entity_df.get_mut(k) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    self.entity_df.remove(k);
                }
            }
        }
        self.base = self.base.wrapping_add(1);
        self.lsh.drop_before(self.base);
    }

    /// Add a story; evicts what left the window (`window_secs` before the newest time seen)
    /// and the oldest entries beyond the size bound. Returns the story's sequence number.
    pub fn insert(&mut self, mut entry: SimEntry, window_secs: i64) -> u32 {
        self.newest = self.newest.max(entry.time);
        self.evict_before(self.newest.saturating_sub(window_secs));
        while self.slots.len() >= self.max_entries {
            self.pop_front();
        }
        if self.base as usize + self.slots.len() >= (NONE - 1) as usize {
            // Sequence space exhausted (4 billion stories in one run): start afresh rather
            // than wrap; the persisted state still holds the window for the next start.
            *self = Self::new(self.bands, self.rows, self.max_entries);
        }
        let seq = self.base + self.slots.len() as u32;
        if self.slots.is_empty() {
            // Every run ended with the evicted stories: start the band index at this story.
            self.lsh = Lsh::new(self.bands, self.rows, seq);
        }
        self.lsh.insert(seq, entry.sig.take().as_deref());
        for k in entry.entities.iter() {
            *self.entity_df.entry(*k).or_insert(0) += 1;
        }
        let term_next: Vec<u32> = entry
            .terms
            .iter()
            .map(|t| push_head(&mut self.term_heads, *t, seq))
            .collect();
        self.slots.push_back(Slot {
            entry,
            term_next: term_next.into_boxed_slice(),
        });
        seq
    }

    /// The sketch of the story with sequence number `seq`, while it is held and had a
    /// signature.
    pub fn sketch(&self, seq: u32) -> Option<&Sketch> {
        self.get(seq)?;
        self.lsh.sketch(seq)
    }

    /// The most similar entry sharing at least one LSH band with `sig`, stored no earlier
    /// than `since`, whose estimated Jaccard similarity (from the 1-bit sketches) is at least
    /// `threshold`. Ties go to the oldest entry (the original).
    pub fn near(&mut self, sig: &Sig, since: i64, threshold: f64) -> Option<Hit<'_>> {
        let mut best: Option<(u32, f64)> = None;
        let q = sketch_of(sig);
        let mut seen = std::mem::take(&mut self.near_seen);
        self.lsh.candidates(sig, &mut seen, |seq, sk| {
            let Some(slot) = self.get(seq) else { return };
            if slot.entry.time < since {
                return;
            }
            let score = sketch_jaccard(&q, sk);
            if score >= threshold
                && best.is_none_or(|(bs, bscore)| score > bscore || (score == bscore && seq < bs))
            {
                best = Some((seq, score));
            }
        });
        self.near_seen = seen;
        best.and_then(|(seq, score)| {
            self.get(seq).map(|s| Hit {
                entry: &s.entry,
                score,
            })
        })
    }

    /// The entry most similar to a new story (`q`), among entries of the last
    /// `q.window_secs`. The text similarity is the larger of the IDF-weighted Jaccard
    /// similarity of the titles and that of title + lead (document frequencies from the window
    /// plus the story itself, `w = ln(1 + N/df)` with `N ≥` [`IDF_MIN_DOCS`]); the score adds
    /// the entity evidence and subtracts the age penalty ([`cluster_score`]) and must be at
    /// least `q.threshold`. Terms held by more than `q.max_df` entries only weigh in the
    /// score, they do not propose candidates (they are the window's stopwords), which bounds
    /// the work per story.
    pub fn cluster(&mut self, q: &ClusterQuery<'_>) -> Option<ClusterHit<'_>> {
        let (title, terms) = (q.title, q.terms);
        if terms.is_empty() {
            return None;
        }
        let since = q.time.saturating_sub(q.window_secs);
        // IDF with the query counted as a document, and at least IDF_MIN_DOCS documents so
        // a small window (just started) scores close to plain Jaccard.
        let heads = &self.term_heads;
        let n = (self.slots.len() as f64 + 1.0).max(IDF_MIN_DOCS);
        let weight = |t: u32| {
            let df = heads.get(&t).map_or(0, |h| h.1) as f64
                + f64::from(u8::from(terms.binary_search(&t).is_ok()));
            (1.0 + n / df.max(1.0)).ln()
        };
        // Shared weight accumulated per candidate while walking the chains gives an upper
        // bound on its text similarity (shared / query weight), so most candidates are never
        // scored; the entity bonus is the most the score can add to it.
        let wq: Vec<f64> = terms.iter().map(|t| weight(*t)).collect();
        let total_q: f64 = wq.iter().sum();
        let total_title: f64 = title.iter().map(|t| weight(*t)).sum();
        let max_bonus = q.entity_bonus.max(0.0);
        let mut unwalked = (0.0, 0.0);
        let mut seen = std::mem::take(&mut self.seen);
        seen.clear();
        for (t, w) in terms.iter().zip(wq.iter()) {
            let in_title = if title.binary_search(t).is_ok() {
                *w
            } else {
                0.0
            };
            let Some(&(head, count)) = self.term_heads.get(t) else {
                continue;
            };
            if count > q.max_df {
                unwalked.0 += w;
                unwalked.1 += in_title;
                continue;
            }
            let mut seq = head;
            while let Some(slot) = self.get(seq) {
                if slot.entry.time < since {
                    break;
                }
                let acc = seen.entry(seq).or_insert((0.0, 0.0));
                acc.0 += w;
                acc.1 += in_title;
                seq = match slot.entry.terms.binary_search(t) {
                    Ok(p) => slot.term_next[p],
                    Err(_) => NONE,
                };
            }
        }
        let window = q.window_secs.max(1) as f64;
        let mut best: Option<(u32, f64, f64, bool)> = None;
        for (&seq, acc) in seen.iter() {
            let bound_lead = (acc.0 + unwalked.0) / total_q.max(f64::MIN_POSITIVE);
            let bound_title = (acc.1 + unwalked.1) / total_title.max(f64::MIN_POSITIVE);
            let floor = best.map_or(q.threshold, |b| b.1.max(q.threshold));
            if bound_lead + max_bonus < floor && bound_title + max_bonus < floor {
                continue;
            }
            if let Some(slot) = self.get(seq) {
                let e = &slot.entry;
                let by_title = weighted_jaccard(title, &e.title_terms, weight);
                let by_lead = weighted_jaccard(terms, &e.terms, weight);
                let text = by_title.max(by_lead);
                let ev = self.entity_evidence(q.entities, &e.entities, n);
                let age = (q.time - e.time).max(0) as f64 / window;
                let score = cluster_score(text, ev, age, q);
                if score >= q.threshold
                    && best.is_none_or(|(bs, b, _, _)| score > b || (score == b && seq < bs))
                {
                    best = Some((seq, score, text, by_title >= by_lead));
                }
            }
        }
        self.seen = seen;
        let (seq, score, text, by_title) = best?;
        let entry = &self.get(seq)?.entry;
        Some(ClusterHit {
            entry,
            score,
            text,
            by_title,
            shared: crate::entities::shared(q.entities, &entry.entities),
        })
    }

    /// The entity evidence between a new story's keys `q` and an entry's `c`, with IDF
    /// weights from the window plus the new story (`n` documents).
    fn entity_evidence(&self, q: &[u32], c: &[u32], n: f64) -> EntityEvidence {
        let (mut i, mut j, mut shared) = (0, 0, 0);
        let mut weights = 0.0;
        while i < q.len() && j < c.len() {
            match q[i].cmp(&c[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let df = self.entity_df.get(&q[i]).copied().unwrap_or(0) as f64 + 1.0;
                    weights += crate::entities::entity_weight(df, n);
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        EntityEvidence {
            shared,
            weight: crate::entities::shared_weight(std::iter::once(weights), n),
            both_named: !q.is_empty() && !c.is_empty(),
        }
    }

    /// Heap bytes held, for the memory measurement: every allocation's capacity times its
    /// element size (hash maps: buckets times entry size plus one control byte each), without
    /// the allocator's own overhead.
    pub fn heap_bytes(&self) -> usize {
        let per_map_entry_term = std::mem::size_of::<(u32, (u32, u32))>() + 1;
        let maps = self.term_heads.capacity() * per_map_entry_term
            + self.entity_df.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
            + self.seen.capacity() * (std::mem::size_of::<(u32, (f64, f64))>() + 1);
        let slots = self.slots.capacity() * std::mem::size_of::<Slot>();
        let heap: usize = self
            .slots
            .iter()
            .map(|s| {
                s.entry.story_id.len()
                    + s.entry.cluster_id.as_ref().map_or(0, |c| c.len())
                    + s.entry.terms.len() * 4
                    + s.entry.title_terms.len() * 4
                    + s.entry.entities.len() * 4
                    + s.term_next.len() * 4
            })
            .sum();
        maps + slots + heap + self.near_bytes()
    }

    /// Heap bytes of the near-duplicate part only: the band index with its sketches.
    pub fn near_bytes(&self) -> usize {
        self.lsh.heap_bytes() + self.near_seen.capacity() * 4
    }
}

fn push_head<K: std::hash::Hash + Eq>(m: &mut Map<K, (u32, u32)>, k: K, seq: u32) -> u32 {
    let e = m.entry(k).or_insert((NONE, 0));
    let prev = e.0;
    *e = (seq, e.1 + 1);
    prev
}

fn dec<K: std::hash::Hash + Eq>(m: &mut Map<K, (u32, u32)>, k: K) {
    if let Some(e) = m.get_mut(&k) {
        e.1 = e.1.saturating_sub(1);
        if e.1 == 0 {
            m.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::entities;
    use crate::minhash::{cluster_terms, sig_of};

    fn entry(id: &str, text: &str, title: &str, time: i64) -> SimEntry {
        let mut s = Vec::new();
        SimEntry {
            story_id: id.into(),
            cluster_id: None,
            feed: 1,
            time,
            sig: sig_of(text, 3, &mut s).map(Box::new),
            terms: cluster_terms(title, text, 20).into_boxed_slice(),
            title_terms: cluster_terms(title, "", 0).into_boxed_slice(),
            entities: entities(title, text, 20).keys.into_boxed_slice(),
        }
    }

    fn query<'q>(q: &'q [u32], ents: &'q [u32], time: i64, window_secs: i64) -> ClusterQuery<'q> {
        ClusterQuery {
            title: q,
            terms: q,
            entities: ents,
            time,
            window_secs,
            threshold: 0.3,
            max_df: 100,
            entity_bonus: 0.0,
            entity_penalty: 0.0,
            time_penalty: 0.0,
        }
    }

    fn text(seed: usize, n: usize) -> String {
        (0..n)
            .map(|i| format!("w{}", (i * 7 + seed * 1000)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn finds_near_copy_and_evicts_by_window() {
        let mut ix = SimIndex::new(10, 3, 1000);
        let a = text(1, 300);
        ix.insert(entry("a", &a, "t", 100), 1000);
        ix.insert(entry("b", &text(2, 300), "u", 250), 1000);
        let copy = format!("{a} plus a few added words at the end");
        let mut s = Vec::new();
        let sig = sig_of(&copy, 3, &mut s).unwrap();
        let hit = ix.near(&sig, 0, 0.8).unwrap();
        assert_eq!(&*hit.entry.story_id, "a");
        assert!(hit.score > 0.8 && hit.score <= 1.0, "{}", hit.score);
        // `since` after the entry's time hides it.
        assert!(ix.near(&sig, 120, 0.8).is_none());
        // A later insert pushes "a" out of the window.
        ix.insert(entry("c", &text(3, 300), "v", 1200), 1000);
        assert_eq!(ix.len(), 2);
        assert!(ix.near(&sig, 0, 0.8).is_none());
        // Evicting everything empties the maps (nothing leaks).
        ix.evict_before(i64::MAX);
        assert!(ix.is_empty());
        assert!(ix.term_heads.is_empty());
        assert_eq!(ix.lsh.runs(), 0);
    }

    #[test]
    fn size_bound_evicts_oldest() {
        let mut ix = SimIndex::new(16, 8, 3);
        for i in 0..10 {
            ix.insert(
                entry(&format!("s{i}"), &text(i, 50), "t", i as i64),
                1_000_000,
            );
        }
        assert_eq!(ix.len(), 3);
        let mut s = Vec::new();
        let sig = sig_of(&text(9, 50), 3, &mut s).unwrap();
        assert_eq!(&*ix.near(&sig, 0, 0.9).unwrap().entry.story_id, "s9");
        let sig = sig_of(&text(1, 50), 3, &mut s).unwrap();
        assert!(ix.near(&sig, 0, 0.5).is_none());
    }

    #[test]
    fn cluster_by_title_terms() {
        let mut ix = SimIndex::new(16, 8, 100);
        ix.insert(
            entry(
                "a",
                "",
                "Russia and Ukraine peace talks in Istanbul end without deal",
                10,
            ),
            1000,
        );
        ix.insert(
            entry(
                "b",
                "",
                "Football club wins league title after late goal",
                11,
            ),
            1000,
        );
        ix.insert(
            entry("c", "", "Stock markets fall as oil prices climb", 12),
            1000,
        );
        let q = cluster_terms(
            "Istanbul peace talks between Russia, Ukraine collapse",
            "",
            0,
        );
        let hit = ix.cluster(&query(&q, &[], 20, 1000)).unwrap();
        assert!(hit.by_title);
        assert_eq!(&*hit.entry.story_id, "a");
        assert!(hit.score > 0.3);
        let q2 = cluster_terms("Election results announced in Brazil", "", 0);
        assert!(ix.cluster(&query(&q2, &[], 20, 1000)).is_none());
        // Time proximity: a window that ends after the match hides it.
        assert!(ix.cluster(&query(&q, &[], 20, 9)).is_none());
    }

    /// An index of one storm story per place, "Storm hits <place> as thousands flee".
    fn storms(places: &[&str]) -> SimIndex {
        let mut ix = SimIndex::new(16, 8, 100);
        for (i, p) in places.iter().enumerate() {
            let title = format!("Storm hits {p} as thousands flee");
            ix.insert(
                entry(
                    &format!("{}", (b'a' + i as u8) as char),
                    "",
                    &title,
                    10 + i as i64,
                ),
                1000,
            );
        }
        ix
    }

    #[test]
    fn shared_entities_raise_and_different_ones_lower_the_score() {
        let mut ix = storms(&["Manila", "Havana"]);
        let title = "Thousands flee storm in Manila";
        let q = cluster_terms(title, "", 0);
        let e = entities(title, "", 0).keys;
        let mut with = query(&q, &e, 20, 1000);
        with.entity_bonus = 0.15;
        let hit = ix.cluster(&with).unwrap();
        assert_eq!(&*hit.entry.story_id, "a");
        assert_eq!(hit.shared.len(), 1);
        // "manila": in one entry and the query, of IDF_MIN_DOCS documents.
        let w = crate::entities::shared_weight(
            [crate::entities::entity_weight(2.0, IDF_MIN_DOCS)].into_iter(),
            IDF_MIN_DOCS,
        );
        assert!(w > 0.8 && w < 1.0, "{w}");
        assert!((hit.score - (hit.text + 0.15 * w).min(1.0)).abs() < 1e-9);
        // A story naming another place: its words alone join it to Manila's story (the only
        // one in this index); the penalty holds it back by 0.1.
        let mut ix = storms(&["Manila"]);
        let title = "Thousands flee storm in Havana";
        let q = cluster_terms(title, "", 0);
        let e = entities(title, "", 0).keys;
        let plain = ix.cluster(&query(&q, &e, 20, 1000)).unwrap();
        assert!(plain.shared.is_empty());
        let text = plain.text;
        let mut with = query(&q, &e, 20, 1000);
        with.entity_penalty = 0.1;
        with.threshold = text - 0.05;
        assert!(ix.cluster(&with).is_none());
        with.threshold = text - 0.15;
        let hit = ix.cluster(&with).unwrap();
        assert!((hit.score - (text - 0.1)).abs() < 1e-9);
    }

    #[test]
    fn older_candidates_need_more_similarity() {
        let mut ix = SimIndex::new(16, 8, 100);
        ix.insert(
            entry(
                "a",
                "",
                "Volcano erupts near village, residents evacuated",
                0,
            ),
            100_000,
        );
        let q = cluster_terms("Residents evacuated as volcano erupts", "", 0);
        let near = ix.cluster(&query(&q, &[], 100, 1000)).unwrap().score;
        let mut late = query(&q, &[], 900, 1000);
        late.time_penalty = 0.1;
        let far = ix.cluster(&late).map(|h| h.score);
        // 90 % of the window later, 0.09 less.
        assert!(
            far.is_some_and(|f| (near - f - 0.09).abs() < 1e-9),
            "{near} {far:?}"
        );
    }
}
