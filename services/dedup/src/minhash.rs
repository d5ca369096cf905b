//! MinHash signatures over normalised word shingles, and the term sets used for clustering.
//!
//! Everything here is pure and allocation-light: one pass over the bytes of a story makes the
//! word hashes, shingles are hashed from a ring of the last `k` word hashes, and the 128
//! permutations are a fixed family `h_i(x) = a_i·x + b_i mod 2³²` (odd `a_i`, so each is a
//! permutation of the 32-bit shingle hashes) evaluated in blocks of 16 lanes so the compiler
//! keeps the minima in vector registers. It is 2.2× faster here than the 64-bit
//! multiply-shift family (`signature32_mulshift64`, kept for the comparison) with the same
//! recall on the syndication set (docs/bench/dedup.md).
//!
//! Signatures are stored as the low 16 bits of each minimum (b-bit MinHash): the estimate of
//! Jaccard similarity is corrected for the 2⁻¹⁶ chance of equal low bits. The seeds are fixed
//! ([`SIG_VERSION`] names them): persisted signatures stay comparable across restarts.

/// Number of permutations (lanes) in a signature.
pub const PERMS: usize = 128;

/// Version of the hashing scheme; persisted signatures of another version are not restored.
pub const SIG_VERSION: i64 = 2;

/// A stored signature: low 16 bits of each of the 128 minima.
pub type Sig = [u16; PERMS];

/// The fixed permutation family.
struct Family {
    a: [u64; PERMS],
    b: [u64; PERMS],
}

const fn splitmix(state: u64) -> (u64, u64) {
    let s = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (s, z ^ (z >> 31))
}

const fn family() -> Family {
    let mut a = [0u64; PERMS];
    let mut b = [0u64; PERMS];
    let mut st = 0x5EED_D3D0_0000_0001u64;
    let mut i = 0;
    while i < PERMS {
        let (s1, x) = splitmix(st);
        let (s2, y) = splitmix(s1);
        st = s2;
        a[i] = x | 1;
        b[i] = y;
        i += 1;
    }
    Family { a, b }
}

static FAMILY: Family = family();

struct Family32 {
    a: [u32; PERMS],
    b: [u32; PERMS],
}

const fn family32() -> Family32 {
    let f = family();
    let mut a = [0u32; PERMS];
    let mut b = [0u32; PERMS];
    let mut i = 0;
    while i < PERMS {
        a[i] = (f.a[i] >> 32) as u32 | 1;
        b[i] = (f.b[i] >> 32) as u32;
        i += 1;
    }
    Family32 { a, b }
}

static FAMILY32: Family32 = family32();

/// 64-bit finaliser (murmur3 fmix64): spreads a word hash over all bits.
#[inline]
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Whether a line is blog or newsletter furniture (see [`crate::canon::normalise_text`]);
/// ASCII case-insensitive prefix test, no allocation.
fn is_boilerplate(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "discover more from",
        "subscribe to get the latest posts",
        "leave a reply",
        "cancel reply",
        "continue reading",
        "share this:",
        "like this:",
        "related posts",
        "type your email",
        "the post ",
    ];
    let l = line.trim_start().as_bytes();
    if l.len() > 200 {
        return false;
    }
    PREFIXES
        .iter()
        .any(|p| l.len() >= p.len() && l[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
        || line
            .as_bytes()
            .windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"appeared first on"))
}

/// Calls `f(hash)` for every word of `text` (letters and digits; ASCII lowercased; any
/// non-ASCII byte counts as a letter so other scripts form words), skipping boilerplate lines.
/// FNV-1a per byte, finalised with [`fmix64`].
#[inline]
pub fn for_each_word(text: &str, mut f: impl FnMut(u64, &[u8])) {
    for line in text.split('\n') {
        if line.len() < 200 && is_boilerplate(line) {
            continue;
        }
        let bytes = line.as_bytes();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut start = usize::MAX;
        for (i, &c) in bytes.iter().enumerate() {
            let lc = c.to_ascii_lowercase();
            let word = lc.is_ascii_lowercase() || lc.is_ascii_digit() || c >= 0x80;
            if word {
                if start == usize::MAX {
                    start = i;
                    h = 0xcbf2_9ce4_8422_2325;
                }
                h = (h ^ lc as u64).wrapping_mul(0x0000_0100_0000_01b3);
            } else if start != usize::MAX {
                f(fmix64(h), &bytes[start..i]);
                start = usize::MAX;
            }
        }
        if start != usize::MAX {
            f(fmix64(h), &bytes[start..]);
        }
    }
}

/// The 32-bit hashes of the distinct `k`-word shingles of `text` (sorted). Texts shorter
/// than `k` words give one shingle of all their words.
pub fn shingles(text: &str, k: usize, out: &mut Vec<u32>) {
    shingles_unsorted(text, k, out);
    out.sort_unstable();
    out.dedup();
}

/// Like [`shingles`] but in text order with repeats: MinHash does not need a set (the
/// minimum ignores repeats), and sorting costs a tenth of the signature.
pub fn shingles_unsorted(text: &str, k: usize, out: &mut Vec<u32>) {
    out.clear();
    let k = k.clamp(1, 8);
    // The last `k` word hashes, oldest first.
    let mut ring = [0u64; 8];
    let mut n = 0usize;
    for_each_word(text, |h, _| {
        if n < k {
            ring[n] = h;
        } else {
            ring.copy_within(1..k, 0);
            ring[k - 1] = h;
        }
        n += 1;
        if n >= k {
            out.push(shingle_hash(&ring[..k]));
        }
    });
    if n > 0 && n < k {
        out.push(shingle_hash(&ring[..n]));
    }
}

#[inline]
fn shingle_hash(words: &[u64]) -> u32 {
    let mut acc = 0u64;
    for w in words {
        acc = acc.rotate_left(23) ^ w;
        acc = acc.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let m = fmix64(acc);
    (m ^ (m >> 32)) as u32
}

/// The MinHash signature of a set of shingle hashes (full 32-bit minima).
pub fn signature32(shingles: &[u32]) -> [u32; PERMS] {
    let mut sig = [u32::MAX; PERMS];
    let fam = &FAMILY32;
    // Lanes in blocks of 16 so a block's minima stay in registers over all shingles.
    for ((sb, ab), bb) in sig
        .chunks_exact_mut(16)
        .zip(fam.a.chunks_exact(16))
        .zip(fam.b.chunks_exact(16))
    {
        let mut m = [u32::MAX; 16];
        let a: [u32; 16] = std::array::from_fn(|i| ab[i]);
        let b: [u32; 16] = std::array::from_fn(|i| bb[i]);
        for &x in shingles {
            for j in 0..16 {
                m[j] = m[j].min(a[j].wrapping_mul(x).wrapping_add(b[j]));
            }
        }
        sb.copy_from_slice(&m);
    }
    sig
}

/// The 64-bit multiply-shift variant (`(a·x + b) >> 32`), kept for the benchmark comparison.
pub fn signature32_mulshift64(shingles: &[u32]) -> [u32; PERMS] {
    let mut sig = [u32::MAX; PERMS];
    let fam = &FAMILY;
    for &x in shingles {
        let x = x as u64;
        for ((s, a), b) in sig.iter_mut().zip(fam.a.iter()).zip(fam.b.iter()) {
            let v = (a.wrapping_mul(x).wrapping_add(*b) >> 32) as u32;
            *s = (*s).min(v);
        }
    }
    sig
}

/// The stored form of a signature (low 16 bits of each minimum).
pub fn to_sig(full: &[u32; PERMS]) -> Sig {
    let mut s = [0u16; PERMS];
    for (o, v) in s.iter_mut().zip(full.iter()) {
        *o = *v as u16;
    }
    s
}

/// The signature of `text` over `k`-word shingles (`scratch` is reused between calls).
/// `None` when the text has no words.
pub fn sig_of(text: &str, k: usize, scratch: &mut Vec<u32>) -> Option<Sig> {
    shingles_unsorted(text, k, scratch);
    if scratch.is_empty() {
        return None;
    }
    Some(to_sig(&signature32(scratch)))
}

/// Estimated Jaccard similarity of two signatures (b-bit corrected, clamped to [0, 1]).
pub fn jaccard(a: &Sig, b: &Sig) -> f64 {
    let eq = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
    let c = 1.0 / 65536.0;
    ((eq as f64 / PERMS as f64 - c) / (1.0 - c)).clamp(0.0, 1.0)
}

/// The key of band `band` (rows `band*rows .. band*rows+rows`) of a signature.
#[inline]
pub fn band_key(sig: &Sig, band: usize, rows: usize) -> u64 {
    let mut h = (band as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x1234_5678;
    for v in &sig[band * rows..band * rows + rows] {
        h = (h ^ *v as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// Words that carry no event identity, left out of cluster terms.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
    "as", "at", "be", "been", "before", "being", "between", "but", "by", "can", "could", "did",
    "do", "does", "during", "each", "for", "from", "had", "has", "have", "he", "her", "here",
    "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "more", "most", "new",
    "no", "not", "now", "of", "on", "one", "only", "or", "other", "our", "out", "over", "said",
    "says", "she", "should", "so", "some", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "under", "up", "us", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your", "s", "t", "mr", "mrs", "ms", "say", "year", "years",
];

/// Whether `w` is a stopword of the cluster terms (or a single character).
pub(crate) fn is_stopword(w: &[u8]) -> bool {
    w.len() <= 1
        || STOPWORDS
            .iter()
            .any(|s| w.eq_ignore_ascii_case(s.as_bytes()))
}

/// The distinct terms (32-bit hashes, sorted) of a title and the first `lead_words` words of
/// the body: stopwords dropped, a plural `s` stripped from longer words so "talks" meets "talk".
pub fn cluster_terms(title: &str, body: &str, lead_words: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(16 + lead_words);
    let mut push = |w: &[u8]| {
        if is_stopword(w) {
            return;
        }
        let w = if w.len() > 4 && (w[w.len() - 1] | 0x20) == b's' && (w[w.len() - 2] | 0x20) != b's'
        {
            &w[..w.len() - 1]
        } else {
            w
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &c in w {
            h = (h ^ c.to_ascii_lowercase() as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let m = fmix64(h);
        out.push((m ^ (m >> 32)) as u32);
    };
    for_each_word(title, |_, w| push(w));
    let mut n = 0;
    for_each_word(body, |_, w| {
        if n < lead_words {
            push(w);
        }
        n += 1;
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// IDF-weighted Jaccard of two sorted term sets: Σ w(t) over shared terms / Σ w(t) over all,
/// with `w(t) = ln(1 + n / (1 + df(t)))`. With `df ≡ 0` this is plain Jaccard.
pub fn weighted_jaccard(a: &[u32], b: &[u32], mut weight: impl FnMut(u32) -> f64) -> f64 {
    let (mut i, mut j) = (0, 0);
    let (mut inter, mut union) = (0.0, 0.0);
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i] < b[j]) {
            union += weight(a[i]);
            i += 1;
        } else if i >= a.len() || b[j] < a[i] {
            union += weight(b[j]);
            j += 1;
        } else {
            let w = weight(a[i]);
            inter += w;
            union += w;
            i += 1;
            j += 1;
        }
    }
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_jaccard(a: &[u32], b: &[u32]) -> f64 {
        weighted_jaccard(a, b, |_| 1.0)
    }

    #[test]
    fn words_are_case_and_punctuation_insensitive() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        shingles("Peace talks, in Istanbul: COLLAPSE!", 3, &mut a);
        shingles("peace talks in istanbul collapse", 3, &mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        shingles("two words", 3, &mut a);
        assert_eq!(a.len(), 1);
        shingles("  ,,, ", 3, &mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn shingle_order_matters() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        shingles("a b c", 3, &mut a);
        shingles("c b a", 3, &mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn boilerplate_lines_are_skipped() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        shingles("Peace talks collapse in Istanbul today", 3, &mut a);
        shingles(
            "Peace talks collapse in Istanbul today\nDiscover more from KKN\nSubscribe to get the latest posts sent to your email.\nLeave a Reply",
            3,
            &mut b,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn estimate_tracks_exact_jaccard() {
        // Texts with a known overlap: 400 distinct words, the second drops the last `d`
        // and adds `d` new ones.
        let words: Vec<String> = (0..800).map(|i| format!("w{i}")).collect();
        let mut sa = Vec::new();
        let mut sb = Vec::new();
        let mut errs = Vec::new();
        for d in [0usize, 20, 60, 100, 200, 300] {
            let a = words[..400].join(" ");
            let b = [&words[..400 - d], &words[400..400 + d]].concat().join(" ");
            shingles(&a, 3, &mut sa);
            shingles(&b, 3, &mut sb);
            let exact = exact_jaccard(&sa, &sb);
            let est = jaccard(&to_sig(&signature32(&sa)), &to_sig(&signature32(&sb)));
            errs.push((est - exact).abs());
            assert!((est - exact).abs() < 0.15, "d={d} exact={exact} est={est}");
        }
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        assert!(mean < 0.06, "mean abs error {mean}");
    }

    #[test]
    fn identical_sets_estimate_one_and_disjoint_zero() {
        let mut s = Vec::new();
        let a = sig_of("the quick brown fox jumps over the lazy dog", 2, &mut s).unwrap();
        let b = sig_of("the quick brown fox jumps over the lazy dog", 2, &mut s).unwrap();
        assert_eq!(jaccard(&a, &b), 1.0);
        let c = sig_of("completely unrelated words appear here instead", 2, &mut s).unwrap();
        assert!(jaccard(&a, &c) < 0.1);
        assert!(sig_of("", 2, &mut s).is_none());
    }

    #[test]
    fn cluster_terms_drop_stopwords_and_plurals() {
        let a = cluster_terms("Peace talks in Istanbul", "", 0);
        let b = cluster_terms("the peace talk at istanbul", "", 0);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        let c = cluster_terms("Title", "one two three four five", 2);
        assert_eq!(c.len(), 2); // "title" and "two" ("one" is a stopword)
    }

    #[test]
    fn weighted_jaccard_weights_rare_terms() {
        let a = [1u32, 2, 3];
        let b = [1u32, 2, 4];
        assert!((weighted_jaccard(&a, &b, |_| 1.0) - 0.5).abs() < 1e-9);
        // Shared terms rare (heavy), differing terms common (light): higher score.
        let w = |t: u32| if t <= 2 { 3.0 } else { 0.5 };
        assert!(weighted_jaccard(&a, &b, w) > 0.8);
        assert_eq!(weighted_jaccard(&[], &[], |_| 1.0), 0.0);
    }
}
