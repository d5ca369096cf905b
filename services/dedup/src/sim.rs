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

    /// The entry most similar to a story with title terms `title` and title+lead terms
    /// `terms`, among entries no older than `since`: the score is the larger of the
    /// IDF-weighted Jaccard similarity of the titles and that of title+lead (document
    /// frequencies from the window plus the story itself, `w = ln(1 + N/df)` with
    /// `N ≥` [`IDF_MIN_DOCS`]), and must be at least `threshold`. Returns the entry,
    /// the score, and whether the title alone decided. Terms held by more than `max_df`
    /// entries only weigh in the score, they do not propose candidates (they are the
    /// window's stopwords), which bounds the work per story.
    pub fn cluster(
        &mut self,
        title: &[u32],
        terms: &[u32],
        since: i64,
        threshold: f64,
        max_df: u32,
    ) -> Option<(&SimEntry, f64, bool)> {
        if terms.is_empty() {
            return None;
        }
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
        // bound on its score (shared / query weight), so most candidates are never scored.
        let wq: Vec<f64> = terms.iter().map(|t| weight(*t)).collect();
        let total_q: f64 = wq.iter().sum();
        let total_title: f64 = title.iter().map(|t| weight(*t)).sum();
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
            if count > max_df {
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
        let mut best: Option<(u32, f64, bool)> = None;
        for (&seq, acc) in seen.iter() {
            let bound_lead = (acc.0 + unwalked.0) / total_q.max(f64::MIN_POSITIVE);
            let bound_title = (acc.1 + unwalked.1) / total_title.max(f64::MIN_POSITIVE);
            let floor = best.map_or(threshold, |b| b.1.max(threshold));
            if bound_lead < floor && bound_title < floor {
                continue;
            }
            if let Some(slot) = self.get(seq) {
                let by_title = weighted_jaccard(title, &slot.entry.title_terms, weight);
                let by_lead = weighted_jaccard(terms, &slot.entry.terms, weight);
                let score = by_title.max(by_lead);
                if score >= threshold
                    && best.is_none_or(|(bs, b, _)| score > b || (score == b && seq < bs))
                {
                    best = Some((seq, score, by_title >= by_lead));
                }
            }
        }
        self.seen = seen;
        best.and_then(|(seq, score, t)| self.get(seq).map(|s| (&s.entry, score, t)))
    }

    /// Heap bytes held, for the memory measurement: every allocation's capacity times its
    /// element size (hash maps: buckets times entry size plus one control byte each), without
    /// the allocator's own overhead.
    pub fn heap_bytes(&self) -> usize {
        let per_map_entry_term = std::mem::size_of::<(u32, (u32, u32))>() + 1;
        let maps = self.term_heads.capacity() * per_map_entry_term
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
        let (e, score, by_title) = ix.cluster(&q, &q, 0, 0.3, 100).unwrap();
        assert!(by_title);
        assert_eq!(&*e.story_id, "a");
        assert!(score > 0.3);
        let q = cluster_terms("Election results announced in Brazil", "", 0);
        assert!(ix.cluster(&q, &q, 0, 0.3, 100).is_none());
        // Time proximity: `since` after the match hides it.
        let q = cluster_terms(
            "Istanbul peace talks between Russia, Ukraine collapse",
            "",
            0,
        );
        assert!(ix.cluster(&q, &q, 11, 0.3, 100).is_none());
    }
}
