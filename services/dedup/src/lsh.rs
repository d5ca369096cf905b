//! The compact MinHash-LSH band index of the near-duplicate rule.
//!
//! What it keeps per story is the point of this module (issue #5 asks for at most 64 bytes
//! per story): no signature, only
//! - one 32-bit entry per LSH band (`bands` of them, 10 by default): the band key's top bits
//!   are the bucket of a directory, its remaining bits share the word with the story's offset
//!   in its run;
//! - a 128-bit sketch: the lowest bit of each of the 128 MinHash minima (1-bit MinHash), from
//!   which a candidate's Jaccard similarity is estimated as `2·P(equal bit) − 1`;
//! - one directory word per story (amortised) and one presence bit.
//!
//! Stories arrive with consecutive sequence numbers (their slot in [`crate::sim::SimIndex`]).
//! New ones go to a small *active* buffer, searched linearly; a full buffer
//! ([`ACTIVE_STORIES`]) is sealed into an immutable *run*, and the two newest runs are merged
//! while they have the same size (a binary counter, so each entry is rewritten O(log n) times
//! and at most ~2·log₂(window / 1024) + window / 65,536 runs exist), up to
//! [`MAX_RUN_STORIES`]. The window evicts whole runs: a run is dropped when every story in it
//! has left the similarity index; until then its older stories are skipped by the caller (it
//! checks the slot and the time of each candidate).
//!
//! A run of `n` stories (`n` ≤ 2¹⁶, `ob = ⌈log₂ n⌉` offset bits) keeps its entries grouped by
//! the top `ob` bits of the band key (a counting sort with a directory of `2^ob + 1` starts);
//! each entry holds the other `32 − ob` key bits and the offset. The full 32-bit key is thus
//! recoverable (bucket ‖ stored bits), so merging loses nothing, and a lookup is one directory
//! read and a scan of one bucket (≈ `bands` entries).

use crate::minhash::{band_key, Sig, PERMS};

/// Stories in the active (unsorted) buffer before it is sealed into a run.
pub const ACTIVE_STORIES: usize = 1024;
/// Largest run: offsets are 16 bits.
pub const MAX_RUN_STORIES: usize = 1 << 16;
/// At most this many stories sharing one band key in one run are returned (newest first):
/// a band key common to many stories (boilerplate in short texts) cannot make a lookup scan
/// the whole window.
pub const MAX_MATCHES_PER_KEY: usize = 64;

/// A 1-bit MinHash sketch: bit `i` is the lowest bit of minimum `i`.
pub type Sketch = [u64; 2];

/// The sketch of a signature.
pub fn sketch_of(sig: &Sig) -> Sketch {
    let mut s = [0u64; 2];
    for (i, v) in sig.iter().enumerate() {
        s[i / 64] |= u64::from(*v & 1) << (i % 64);
    }
    s
}

/// Estimated Jaccard similarity of two sketches: a lane's bits agree with probability
/// `J + (1 − J)/2`, so `J ≈ 2·agree − 1` (clamped to [0, 1]).
pub fn sketch_jaccard(a: &Sketch, b: &Sketch) -> f64 {
    let differ = (a[0] ^ b[0]).count_ones() + (a[1] ^ b[1]).count_ones();
    let agree = (PERMS as u32 - differ) as f64 / PERMS as f64;
    (2.0 * agree - 1.0).clamp(0.0, 1.0)
}

/// The 32-bit key of band `band` of a signature (band number mixed in, so one table serves
/// all bands).
#[inline]
fn key32(sig: &Sig, band: usize, rows: usize) -> u32 {
    let k = band_key(sig, band, rows);
    (k ^ (k >> 32)) as u32
}

/// An immutable run of consecutive stories.
struct Run {
    /// Sequence number of the first story (wrapping).
    base: u32,
    /// Stories covered.
    len: u32,
    /// Offset bits (`⌈log₂ len⌉`, at least 1).
    ob: u32,
    /// Bucket starts into `ents`, `2^ob + 1` of them.
    dir: Box<[u32]>,
    /// `(low 32 − ob key bits) << ob | offset`, grouped by bucket, offsets ascending.
    ents: Box<[u32]>,
    /// Sketch per offset (zero where the story has no signature).
    sketches: Box<[Sketch]>,
    /// Whether the story at an offset has a signature, one bit each.
    present: Box<[u64]>,
}

impl Run {
    /// Build from `(key, offset)` pairs (in offset order) of `len` stories.
    fn build(
        base: u32,
        len: usize,
        pairs: impl Iterator<Item = (u32, u32)> + Clone,
        sketches: Box<[Sketch]>,
        present: Box<[u64]>,
    ) -> Self {
        let ob = (usize::BITS - (len.max(2) - 1).leading_zeros()).max(1);
        let shift = 32 - ob;
        let mut dir = vec![0u32; (1usize << ob) + 1];
        let mut total = 0usize;
        for (k, _) in pairs.clone() {
            dir[(k >> shift) as usize + 1] += 1;
            total += 1;
        }
        for i in 1..dir.len() {
            dir[i] += dir[i - 1];
        }
        let mut fill: Vec<u32> = dir[..dir.len() - 1].to_vec();
        let mut ents = vec![0u32; total];
        let low_mask = if shift == 32 {
            u32::MAX
        } else {
            (1u32 << shift) - 1
        };
        for (k, off) in pairs {
            let b = (k >> shift) as usize;
            ents[fill[b] as usize] = ((k & low_mask) << ob) | off;
            fill[b] += 1;
        }
        Self {
            base,
            len: len as u32,
            ob,
            dir: dir.into_boxed_slice(),
            ents: ents.into_boxed_slice(),
            sketches,
            present,
        }
    }

    /// Every `(key, offset)` of the run.
    fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + Clone + '_ {
        let shift = 32 - self.ob;
        let off_mask = (1u32 << self.ob) - 1;
        self.dir.windows(2).enumerate().flat_map(move |(b, w)| {
            self.ents[w[0] as usize..w[1] as usize]
                .iter()
                .map(move |e| (((b as u32) << shift) | (e >> self.ob), e & off_mask))
        })
    }

    /// Offsets of the stories whose band key is `key`, newest first, at most
    /// [`MAX_MATCHES_PER_KEY`].
    fn matches(&self, key: u32, mut f: impl FnMut(u32)) {
        let shift = 32 - self.ob;
        let b = (key >> shift) as usize;
        let (lo, hi) = (self.dir[b] as usize, self.dir[b + 1] as usize);
        let want = key << self.ob >> self.ob; // low 32 − ob bits
        let off_mask = (1u32 << self.ob) - 1;
        let mut n = 0;
        for e in self.ents[lo..hi].iter().rev() {
            if e >> self.ob == want {
                f(e & off_mask);
                n += 1;
                if n >= MAX_MATCHES_PER_KEY {
                    break;
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.dir.len() * 4
            + self.ents.len() * 4
            + self.sketches.len() * std::mem::size_of::<Sketch>()
            + self.present.len() * 8
    }
}

/// The band index.
pub struct Lsh {
    bands: usize,
    rows: usize,
    /// Oldest first, consecutive: `runs[i+1].base == runs[i].base + runs[i].len`.
    runs: Vec<Run>,
    /// Sequence number of the active buffer's first story.
    active_base: u32,
    /// Stories in the active buffer.
    active_len: usize,
    /// Per band, the keys of the active buffer's stories and their offsets (offset order):
    /// a lookup in band `b` scans only `active_keys[b]`.
    active_keys: Vec<Vec<u32>>,
    active_offs: Vec<Vec<u16>>,
    active_sketches: Vec<Sketch>,
    active_present: Vec<u64>,
}

impl Lsh {
    /// An empty index with `bands × rows` banding whose first story will be `first_seq`.
    pub fn new(bands: usize, rows: usize, first_seq: u32) -> Self {
        Self {
            bands,
            rows,
            runs: Vec::new(),
            active_base: first_seq,
            active_len: 0,
            active_keys: vec![Vec::new(); bands],
            active_offs: vec![Vec::new(); bands],
            active_sketches: Vec::new(),
            active_present: Vec::new(),
        }
    }

    /// Sequence number the next story must have.
    pub fn next_seq(&self) -> u32 {
        self.active_base.wrapping_add(self.active_len as u32)
    }

    /// Add story `seq` (must be [`Lsh::next_seq`]) with its signature, if it has one.
    pub fn insert(&mut self, seq: u32, sig: Option<&Sig>) {
        debug_assert_eq!(seq, self.next_seq());
        if self.active_len == ACTIVE_STORIES {
            self.seal();
        }
        let off = self.active_len;
        if off.is_multiple_of(64) {
            self.active_present.push(0);
        }
        match sig {
            Some(sig) => {
                for b in 0..self.bands {
                    self.active_keys[b].push(key32(sig, b, self.rows));
                    self.active_offs[b].push(off as u16);
                }
                self.active_sketches.push(sketch_of(sig));
                self.active_present[off / 64] |= 1 << (off % 64);
            }
            None => self.active_sketches.push([0; 2]),
        }
        self.active_len += 1;
    }

    /// Turn the active buffer into a run and merge runs of equal size.
    fn seal(&mut self) {
        let run = Run::build(
            self.active_base,
            self.active_len,
            self.active_keys
                .iter()
                .zip(self.active_offs.iter())
                .flat_map(|(k, o)| k.iter().zip(o.iter()).map(|(k, o)| (*k, u32::from(*o)))),
            std::mem::take(&mut self.active_sketches).into_boxed_slice(),
            std::mem::take(&mut self.active_present).into_boxed_slice(),
        );
        self.active_base = self.active_base.wrapping_add(self.active_len as u32);
        self.active_len = 0;
        for (k, o) in self.active_keys.iter_mut().zip(self.active_offs.iter_mut()) {
            k.clear();
            o.clear();
        }
        self.runs.push(run);
        while self.runs.len() >= 2 {
            let n = self.runs.len();
            let (a, b) = (&self.runs[n - 2], &self.runs[n - 1]);
            if a.len != b.len || (a.len + b.len) as usize > MAX_RUN_STORIES {
                break;
            }
            let Some(b) = self.runs.pop() else { break };
            let Some(a) = self.runs.pop() else { break };
            self.runs.push(merge(&a, &b));
        }
    }

    /// Calls `f(seq, sketch)` once for every story sharing at least one band with `sig`
    /// (evicted stories of a live run included: the caller checks them).
    pub fn candidates(&self, sig: &Sig, seen: &mut Vec<u32>, mut f: impl FnMut(u32, &Sketch)) {
        seen.clear();
        for b in 0..self.bands {
            let key = key32(sig, b, self.rows);
            for run in &self.runs {
                run.matches(key, |off| {
                    let seq = run.base.wrapping_add(off);
                    if !seen.contains(&seq) {
                        seen.push(seq);
                        f(seq, &run.sketches[off as usize]);
                    }
                });
            }
            let offs = &self.active_offs[b];
            let hits = self.active_keys[b]
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, k)| **k == key)
                .take(MAX_MATCHES_PER_KEY);
            for (i, _) in hits {
                let off = offs[i];
                let seq = self.active_base.wrapping_add(u32::from(off));
                if !seen.contains(&seq) {
                    seen.push(seq);
                    f(seq, &self.active_sketches[off as usize]);
                }
            }
        }
    }

    /// The sketch of story `seq`, if it is held and has a signature.
    pub fn sketch(&self, seq: u32) -> Option<&Sketch> {
        let off = seq.wrapping_sub(self.active_base) as usize;
        if off < self.active_len {
            return (self.active_present[off / 64] >> (off % 64) & 1 == 1)
                .then(|| &self.active_sketches[off]);
        }
        self.runs.iter().find_map(|r| {
            let off = seq.wrapping_sub(r.base) as usize;
            (off < r.len as usize && r.present[off / 64] >> (off % 64) & 1 == 1)
                .then(|| &r.sketches[off])
        })
    }

    /// Drop the runs all of whose stories come before `first_live` (the oldest sequence
    /// number still held by the caller).
    pub fn drop_before(&mut self, first_live: u32) {
        let dead = self
            .runs
            .iter()
            .take_while(|r| {
                // Wrapping distance from the run's start to the first live story.
                first_live.wrapping_sub(r.base) >= r.len
                    && first_live.wrapping_sub(r.base) < (1 << 31)
            })
            .count();
        self.runs.drain(..dead);
    }

    /// Heap bytes held: every allocation's capacity times its element size.
    pub fn heap_bytes(&self) -> usize {
        self.runs.iter().map(Run::heap_bytes).sum::<usize>()
            + self.runs.capacity() * std::mem::size_of::<Run>()
            + self
                .active_keys
                .iter()
                .map(|k| k.capacity() * 4)
                .sum::<usize>()
            + self
                .active_offs
                .iter()
                .map(|o| o.capacity() * 2)
                .sum::<usize>()
            + self.active_keys.capacity() * std::mem::size_of::<Vec<u32>>() * 2
            + self.active_sketches.capacity() * std::mem::size_of::<Sketch>()
            + self.active_present.capacity() * 8
    }

    /// Runs held (for tests and measurements).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

fn merge(a: &Run, b: &Run) -> Run {
    let len = (a.len + b.len) as usize;
    let pairs = a.pairs().chain(b.pairs().map(move |(k, o)| (k, o + a.len)));
    let sketches: Box<[Sketch]> = a
        .sketches
        .iter()
        .chain(b.sketches.iter())
        .copied()
        .collect();
    let mut present = vec![0u64; len.div_ceil(64)];
    for (i, s) in (0..a.len as usize)
        .map(|o| a.present[o / 64] >> (o % 64) & 1)
        .chain((0..b.len as usize).map(|o| b.present[o / 64] >> (o % 64) & 1))
        .enumerate()
    {
        present[i / 64] |= s << (i % 64);
    }
    Run::build(a.base, len, pairs, sketches, present.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::sig_of;

    fn sig(seed: usize, n: usize) -> Sig {
        let text: Vec<String> = (0..n)
            .map(|i| format!("w{}", i * 7 + seed * 100_000))
            .collect();
        let mut s = Vec::new();
        sig_of(&text.join(" "), 3, &mut s).unwrap()
    }

    fn found(l: &Lsh, q: &Sig) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        l.candidates(q, &mut seen, |seq, _| out.push(seq));
        out.sort_unstable();
        out
    }

    #[test]
    fn finds_stories_in_active_buffer_and_in_merged_runs() {
        let mut l = Lsh::new(10, 3, 7);
        let n = ACTIVE_STORIES * 5 + 17;
        for i in 0..n {
            let seq = l.next_seq();
            // Every 13th story has no signature (short text).
            l.insert(seq, (i % 13 != 0).then(|| sig(i, 60)).as_ref());
        }
        // Five sealed buffers merge into runs of 4096 and 1024 stories.
        assert_eq!(l.runs(), 2);
        for i in [1usize, 500, 1024, 3000, 4097, n - 1] {
            let q = sig(i, 60);
            let hits = found(&l, &q);
            assert_eq!(hits, vec![7 + i as u32], "story {i}");
            let s = l.sketch(7 + i as u32).unwrap();
            assert_eq!(sketch_jaccard(s, &sketch_of(&q)), 1.0);
        }
        assert!(l.sketch(7).is_none(), "story 0 has no signature");
        assert!(found(&l, &sig(n + 5, 60)).is_empty());
    }

    #[test]
    fn near_copy_is_a_candidate_with_a_close_estimate() {
        let mut l = Lsh::new(10, 3, 0);
        let base: Vec<String> = (0..400).map(|i| format!("t{i}")).collect();
        let mut s = Vec::new();
        let a = sig_of(&base.join(" "), 3, &mut s).unwrap();
        l.insert(0, Some(&a));
        let mut copy = base.clone();
        copy.truncate(360);
        let b = sig_of(&copy.join(" "), 3, &mut s).unwrap();
        let mut est = None;
        l.candidates(&b, &mut Vec::new(), |seq, sk| {
            est = Some((seq, sketch_jaccard(sk, &sketch_of(&b))))
        });
        let (seq, est) = est.unwrap();
        assert_eq!(seq, 0);
        // Exact Jaccard of the shingle sets is 358/398 = 0.90.
        assert!((est - 0.90).abs() < 0.15, "{est}");
    }

    #[test]
    fn dropping_evicts_whole_runs() {
        let mut l = Lsh::new(4, 2, u32::MAX - 1500); // sequence numbers wrap
        for i in 0..ACTIVE_STORIES * 3 {
            let seq = l.next_seq();
            l.insert(seq, Some(&sig(i, 30)));
        }
        assert_eq!(l.runs(), 1); // 2048 stories merged; 1024 active
        let before = l.heap_bytes();
        l.drop_before((u32::MAX - 1500).wrapping_add(2047));
        assert_eq!(l.runs(), 1, "one story of the run is still live");
        l.drop_before((u32::MAX - 1500).wrapping_add(2048));
        assert_eq!(l.runs(), 0);
        assert!(l.heap_bytes() < before);
        assert_eq!(
            found(&l, &sig(2500, 30)),
            vec![(u32::MAX - 1500).wrapping_add(2500)]
        );
    }

    #[test]
    fn sketch_estimate_of_unrelated_texts_is_low() {
        let (a, b) = (sketch_of(&sig(1, 300)), sketch_of(&sig(2, 300)));
        assert!(sketch_jaccard(&a, &b) < 0.35);
        assert_eq!(sketch_jaccard(&a, &a), 1.0);
    }
}
