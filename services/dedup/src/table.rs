//! A compact open-addressing hash table from 64-bit keys that already are uniform hashes
//! (XXH3 of an identity) to 32-bit values (sequence numbers).
//!
//! Why not `HashMap<u64, u32>`: an exact check is one lookup in a table of about a million
//! keys (the window), which is a cache miss; the standard map reads a control group and then
//! the bucket (two misses for a hit, buckets padded to 16 bytes). Here keys sit in a flat
//! `u64` array probed linearly from their top bits, at most half full, so a miss usually
//! reads one cache line and a hit reads the key and then its value (12 bytes per slot, 24–48
//! bytes per key with the load between ¼ and ½). Deletion shifts the following entries
//! back (no tombstones), so lookups stay short however long the window slides; the table
//! halves when it falls below ⅛ full.
//!
//! The key 0 marks an empty slot, so a key equal to 0 is stored as 1: two keys in 2⁶⁴
//! share a slot value, which is below the collision rate of the 64-bit keys themselves.

/// Fewest slots (a power of two).
const MIN_SLOTS: usize = 1024;

/// The table.
#[derive(Debug, Clone)]
pub struct KeyTable {
    keys: Vec<u64>,
    vals: Vec<u32>,
    len: usize,
    /// `64 − log₂(slots)`: the home slot of a key is its top bits.
    shift: u32,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn norm(k: u64) -> u64 {
    if k == 0 {
        1
    } else {
        k
    }
}

impl KeyTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::with_slots(MIN_SLOTS)
    }

    fn with_slots(slots: usize) -> Self {
        Self {
            keys: vec![0; slots],
            vals: vec![0; slots],
            len: 0,
            shift: 64 - slots.trailing_zeros(),
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.keys.len() - 1
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        (k >> self.shift) as usize
    }

    /// The slot holding `k`, or the empty slot where it would go.
    #[inline]
    fn find(&self, k: u64) -> (usize, bool) {
        self.find_from(self.home(k), k)
    }

    #[inline]
    fn find_from(&self, start: usize, k: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut i = start;
        loop {
            let s = self.keys[i];
            if s == k {
                return (i, true);
            }
            if s == 0 {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `k`.
    #[inline]
    pub fn get(&self, k: u64) -> Option<u32> {
        match self.find(norm(k)) {
            (i, true) => Some(self.vals[i]),
            _ => None,
        }
    }

    /// Whether `k` is held.
    #[inline]
    pub fn contains(&self, k: u64) -> bool {
        self.find(norm(k)).1
    }

    /// The values of several keys, into `out` (cleared first). The home slots of a group of
    /// keys are read first, all independent of each other, so their cache misses overlap
    /// instead of queueing one behind the other; the probes then mostly find the slot they
    /// need already loaded. A story's keys are looked up this way.
    pub fn get_many(&self, ks: &[u64], out: &mut Vec<Option<u32>>) {
        const GROUP: usize = 16;
        out.clear();
        let mask = self.mask();
        for chunk in ks.chunks(GROUP) {
            let mut first = [0u64; GROUP];
            for (f, k) in first.iter_mut().zip(chunk) {
                *f = self.keys[self.home(norm(*k))];
            }
            for (f, k) in first.iter().zip(chunk) {
                let k = norm(*k);
                let home = self.home(k);
                out.push(if *f == k {
                    Some(self.vals[home])
                } else if *f == 0 {
                    None
                } else {
                    match self.find_from((home + 1) & mask, k) {
                        (i, true) => Some(self.vals[i]),
                        _ => None,
                    }
                });
            }
        }
    }

    /// Insert `k → v` unless `k` is held; returns whether it was inserted.
    pub fn insert_if_absent(&mut self, k: u64, v: u32) -> bool {
        let k = norm(k);
        if (self.len + 1) * 2 > self.keys.len() {
            self.resize(self.keys.len() * 2);
        }
        match self.find(k) {
            (_, true) => false,
            (i, false) => {
                self.keys[i] = k;
                self.vals[i] = v;
                self.len += 1;
                true
            }
        }
    }

    /// Insert or replace `k → v`.
    pub fn insert(&mut self, k: u64, v: u32) {
        if !self.insert_if_absent(k, v) {
            let (i, _) = self.find(norm(k));
            self.vals[i] = v;
        }
    }

    /// Remove `k` if it maps to `v` (an older owner's entry is left alone); returns whether
    /// it was removed.
    pub fn remove_if(&mut self, k: u64, v: u32) -> bool {
        let (i, found) = self.find(norm(k));
        if !found || self.vals[i] != v {
            return false;
        }
        self.remove_at(i);
        self.len -= 1;
        if self.keys.len() > MIN_SLOTS && self.len * 8 < self.keys.len() {
            self.resize(self.keys.len() / 2);
        }
        true
    }

    /// Backward-shift deletion: move each following entry of the probe run into the hole
    /// unless its home lies cyclically after the hole.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.keys[j];
            if k == 0 {
                self.keys[hole] = 0;
                return;
            }
            let h = self.home(k);
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                self.keys[hole] = k;
                self.vals[hole] = self.vals[j];
                hole = j;
            }
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(self, Self::with_slots(slots.max(MIN_SLOTS)));
        for (k, v) in old.keys.iter().zip(old.vals.iter()) {
            if *k != 0 {
                let (i, _) = self.find(*k);
                self.keys[i] = *k;
                self.vals[i] = *v;
                self.len += 1;
            }
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes (slots times 12).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.vals.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::fmix64;

    #[test]
    fn insert_get_remove_keep_every_other_key_reachable() {
        let mut t = KeyTable::new();
        let key = |i: u64| fmix64(i + 1);
        for i in 0..100_000u64 {
            assert!(t.insert_if_absent(key(i), i as u32));
        }
        assert!(!t.insert_if_absent(key(5), 0), "already held");
        assert_eq!(t.len(), 100_000);
        // Removing with the wrong value leaves the key.
        assert!(!t.remove_if(key(7), 8));
        for i in (0..100_000u64).step_by(2) {
            assert!(t.remove_if(key(i), i as u32));
        }
        let all: Vec<u64> = (0..100_000u64).map(key).collect();
        let mut many = Vec::new();
        t.get_many(&all, &mut many);
        for i in 0..100_000u64 {
            let want = (i % 2 == 1).then_some(i as u32);
            assert_eq!(t.get(key(i)), want, "key {i}");
            assert_eq!(many[i as usize], want, "key {i} (get_many)");
        }
        // Emptied, the table shrinks back.
        let big = t.heap_bytes();
        for i in (1..100_000u64).step_by(2) {
            assert!(t.remove_if(key(i), i as u32));
        }
        assert!(t.is_empty());
        assert!(t.heap_bytes() < big / 8);
        // Keys 0 and clustered home slots work too.
        t.insert(0, 3);
        t.insert(0, 4);
        assert_eq!(t.get(0), Some(4));
        for i in 0..50u64 {
            t.insert(i, i as u32); // all share home slot 0
        }
        for i in (1..50u64).step_by(3) {
            assert!(t.remove_if(i, i as u32));
        }
        for i in 1..50u64 {
            assert_eq!(t.get(i), (i % 3 != 1).then_some(i as u32), "key {i}");
        }
    }
}
