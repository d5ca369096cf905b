//! Measurements for docs/bench/dedup.md. Run in release:
//! `cargo run --release -p wirewatch-dedup --example dedup_eval -- [all|bbc|pairs|synth|speed|restore N]`
//! `speed` also writes the benchmark texts to `target/dedup_bench_texts.jsonl` for
//! `services/dedup/bench/datasketch_bench.py`.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::collections::HashMap;
use std::time::Instant;

use wirewatch_dedup::minhash::{
    cluster_terms, shingles, sig_of, signature32, to_sig, weighted_jaccard,
};
use wirewatch_dedup::sim::{SimEntry, SimIndex};
use wirewatch_dedup::{index, DedupConfig, Index, Verdict};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    if matches!(what, "all" | "bbc") {
        bbc();
    }
    if matches!(what, "all" | "pairs") {
        pairs();
    }
    if matches!(what, "all" | "synth") {
        synth_sweep();
    }
    if matches!(what, "all" | "speed" | "dump") {
        dump_synth();
    }
    if matches!(what, "all" | "speed") {
        speed();
    }
    if what == "lshsim" {
        lsh_sim();
    }
    if what == "restore" {
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
        restore(n);
    }
}

fn bbc() {
    let Some((arts, pairs)) = synth::load_bbc() else {
        println!("bbc corpus missing");
        return;
    };
    let cfg = DedupConfig::default();
    let mut ix = Index::new();
    let mut verdicts = HashMap::new();
    for (i, a) in arts.iter().enumerate() {
        let s = synth::raw(
            &a.id,
            "bbc",
            None,
            &format!("https://bbc.co.uk/{}", a.id),
            &a.title,
            &a.body,
            i as i64,
        );
        let v = ix.check(&s, &cfg).verdict;
        verdicts.insert(a.id.clone(), v);
    }
    for kind in ["exact", "same_title_diff_body"] {
        let mut by_rule: HashMap<String, usize> = HashMap::new();
        let mut n = 0;
        let mut scores = Vec::new();
        for p in pairs.iter().filter(|p| p.kind == kind) {
            n += 1;
            let found = match verdicts.get(&p.b) {
                Some(Verdict::Duplicate {
                    duplicate_of,
                    rule,
                    score,
                    ..
                }) if duplicate_of == &p.a
                    || matches!(verdicts.get(duplicate_of), Some(Verdict::Duplicate { duplicate_of: d, .. }) if d == &p.a)
                    || matches!(verdicts.get(&p.a), Some(Verdict::Duplicate { duplicate_of: d, .. }) if d == duplicate_of) =>
                {
                    scores.push(*score);
                    rule.as_str().to_string()
                }
                Some(Verdict::Unique {
                    cluster_match: Some(_),
                    ..
                }) => "cluster only".into(),
                _ => "not found".into(),
            };
            *by_rule.entry(found).or_default() += 1;
        }
        let mut r: Vec<_> = by_rule.into_iter().collect();
        r.sort();
        scores.sort_by(f64::total_cmp);
        println!(
            "bbc {kind}: {n} pairs, found by rule: {r:?}, score min {:?}",
            scores.first()
        );
    }
    let titles: HashMap<&str, &str> = arts
        .iter()
        .map(|a| (a.id.as_str(), a.title.as_str()))
        .collect();
    let mut joins: Vec<_> = verdicts
        .iter()
        .filter_map(|(id, v)| match v {
            Verdict::Unique {
                cluster_match: Some(m),
                ..
            } => Some((id.clone(), m.clone())),
            _ => None,
        })
        .collect();
    joins.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, m) in joins.iter().step_by(joins.len().max(1).div_ceil(8).max(1)) {
        println!(
            "  cluster join: {:?} -> {:?} ({} {})",
            titles.get(id.as_str()).unwrap_or(&""),
            titles.get(m.story_id.as_str()).unwrap_or(&""),
            m.rule,
            m.score
        );
    }
    let total_dups = verdicts
        .values()
        .filter(|v| matches!(v, Verdict::Duplicate { .. }))
        .count();
    let clustered = verdicts
        .values()
        .filter(|v| {
            matches!(
                v,
                Verdict::Unique {
                    cluster_match: Some(_),
                    ..
                }
            )
        })
        .count();
    println!("bbc all: {} stories, {total_dups} duplicate verdicts, {clustered} unique stories joined a cluster", arts.len());
}

fn curve(name: &str, items: &[(f64, bool)]) {
    let pos = items.iter().filter(|x| x.1).count();
    println!("{name}: {} pairs, {pos} positive", items.len());
    println!("  thr   prec   recall  f1");
    for t in (1..=18).map(|i| i as f64 * 0.05) {
        let tp = items.iter().filter(|x| x.0 >= t && x.1).count();
        let fp = items.iter().filter(|x| x.0 >= t && !x.1).count();
        let p = tp as f64 / (tp + fp).max(1) as f64;
        let r = tp as f64 / pos.max(1) as f64;
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        println!("  {t:.2}  {p:.3}  {r:.3}  {f:.3}");
    }
}

fn scores(pairs: &[(String, String, f64)], label: impl Fn(f64) -> bool, name: &str) {
    // Document frequencies from all sentences of the set (the "window").
    let mut df: HashMap<u32, f64> = HashMap::new();
    let docs: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|(a, b, _)| (cluster_terms(a, "", 0), cluster_terms(b, "", 0)))
        .collect();
    for (a, b) in &docs {
        for t in a.iter().chain(b.iter()) {
            *df.entry(*t).or_default() += 1.0;
        }
    }
    // Same weight as SimIndex::cluster: w = ln(1 + N/df), N = all sentences (>= 1000).
    let n = ((docs.len() * 2) as f64).max(wirewatch_dedup::sim::IDF_MIN_DOCS);
    let w = |t: u32| (1.0 + n / df.get(&t).copied().unwrap_or(1.0).max(1.0)).ln();
    let mut sc = Vec::new();
    let mut plain = Vec::new();
    let mut nd = Vec::new();
    let mut nd_exact = Vec::new();
    let mut s = Vec::new();
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for ((ta, tb), (a, b, g)) in docs.iter().zip(pairs) {
        sc.push((weighted_jaccard(ta, tb, w), label(*g)));
        plain.push((weighted_jaccard(ta, tb, |_| 1.0), label(*g)));
        let x = sig_of(a, 3, &mut s);
        let y = sig_of(b, 3, &mut s);
        if let (Some(x), Some(y)) = (x, y) {
            nd.push((wirewatch_dedup::minhash::jaccard(&x, &y), label(*g)));
        }
        shingles(a, 3, &mut sa);
        shingles(b, 3, &mut sb);
        nd_exact.push((weighted_jaccard(&sa, &sb, |_| 1.0), label(*g)));
    }
    curve(
        &format!("{name} cluster score (idf-weighted term jaccard)"),
        &sc,
    );
    curve(&format!("{name} plain term jaccard (no idf)"), &plain);
    curve(
        &format!("{name} near-dup score (minhash estimate, 3-shingles)"),
        &nd,
    );
    let _ = nd_exact;
}

fn pairs() {
    let mut sts = Vec::new();
    for f in ["sts-train.csv", "sts-dev.csv", "sts-test.csv"] {
        let Ok(t) = std::fs::read_to_string(format!("{CORPUS}dedup/stsbenchmark/{f}")) else {
            continue;
        };
        for l in t.lines() {
            let c: Vec<&str> = l.split('\t').collect();
            if c.len() >= 7 && c[0] == "main-news" && c[1] == "headlines" {
                if let Ok(g) = c[4].parse::<f64>() {
                    sts.push((c[5].to_string(), c[6].to_string(), g));
                }
            }
        }
    }
    scores(&sts, |g| g >= 3.0, "sts headlines (positive: score >= 3)");
    let only_cluster = |v: &[(String, String, f64)], thr: f64| {
        let sub: Vec<_> = v.to_vec();
        let _ = thr;
        sub
    };
    let sts4 = only_cluster(&sts, 4.0);
    scores(&sts4, |g| g >= 4.0, "sts headlines (positive: score >= 4)");
    let mut msrp = Vec::new();
    for f in ["msr_paraphrase_train.txt", "msr_paraphrase_test.txt"] {
        let Ok(t) = std::fs::read_to_string(format!("{CORPUS}dedup/msrp/{f}")) else {
            continue;
        };
        for l in t.lines().skip(1) {
            let c: Vec<&str> = l.split('\t').collect();
            if c.len() >= 5 {
                msrp.push((
                    c[3].to_string(),
                    c[4].to_string(),
                    if c[0].ends_with('1') { 1.0 } else { 0.0 },
                ));
            }
        }
    }
    scores(&msrp, |g| g >= 1.0, "msrp (positive: paraphrase)");
}

fn synth_sweep() {
    let Some((arts, pairs)) = synth::load_bbc() else {
        return;
    };
    let originals = synth::distinct(&arts, &pairs, 0.3);
    println!(
        "synth: {} distinct originals of {} articles",
        originals.len(),
        arts.len()
    );
    let set = synth::syndication(&arts, &pairs, 2000, 42);
    for (b, r) in [(10usize, 3usize), (8, 2), (8, 3), (12, 3), (16, 4), (32, 4)] {
        for thr in [0.3, 0.4, 0.5, 0.6, 0.7] {
            let cfg = DedupConfig {
                near_bands: b,
                near_rows: r,
                near_threshold: thr,
                ..DedupConfig::default()
            };
            let (p, rc, _) = run_synth(&set, &cfg);
            println!("synth b={b:2} r={r} thr={thr:.1}: precision {p:.4} recall {rc:.4}");
        }
    }
    let cfg = DedupConfig::default();
    let (p, rc, rules) = run_synth(&set, &cfg);
    println!(
        "synth default (b={} r={} thr={}): precision {p:.4} recall {rc:.4} rules {rules:?}",
        cfg.near_bands, cfg.near_rows, cfg.near_threshold
    );
    // The same copies with the near-duplicate rule off: what the exact rules alone find.
    let cfg = DedupConfig {
        near_enabled: false,
        ..DedupConfig::default()
    };
    let (p, rc, rules) = run_synth(&set, &cfg);
    println!("synth exact rules only: precision {p:.4} recall {rc:.4} rules {rules:?}");
    // Exact Jaccard of copies to their originals.
    let by_id: HashMap<&str, &wirewatch_proto::v1::RawStory> =
        set.iter().map(|(s, _)| (s.id.as_str(), s)).collect();
    let mut js: Vec<f64> = Vec::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (s, o) in &set {
        if let Some(o) = o.as_deref().and_then(|o| by_id.get(o)) {
            shingles(&format!("{}\n{}", o.title, index::body_of(o)), 3, &mut a);
            shingles(&format!("{}\n{}", s.title, index::body_of(s)), 3, &mut b);
            js.push(weighted_jaccard(&a, &b, |_| 1.0));
        }
    }
    js.sort_by(f64::total_cmp);
    println!(
        "synth exact jaccard copy/original: min {:.3} p1 {:.3} p5 {:.3} median {:.3}",
        js[0],
        js[js.len() / 100],
        js[js.len() / 20],
        js[js.len() / 2]
    );
}

/// The syndication set as JSON lines for the datasketch comparison.
fn dump_synth() {
    let Some((arts, pairs)) = synth::load_bbc() else {
        return;
    };
    let set = synth::syndication(&arts, &pairs, 2000, 42);
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/dedup_synth.jsonl"
    );
    let lines: Vec<String> = set
        .iter()
        .map(|(s, o)| serde_json::json!({"id": s.id, "text": format!("{}\n{}", s.title, index::body_of(s)), "original": o}).to_string())
        .collect();
    let _ = std::fs::write(out, lines.join("\n"));
    println!("synth set written to {out}");
}

fn run_synth(
    set: &[(wirewatch_proto::v1::RawStory, Option<String>)],
    cfg: &DedupConfig,
) -> (f64, f64, HashMap<&'static str, usize>) {
    let mut ix = Index::new();
    let (mut tp, mut fp, mut copies) = (0usize, 0usize, 0usize);
    let mut family = HashMap::new();
    let mut rules = HashMap::new();
    for (story, original) in set {
        family.insert(
            story.id.clone(),
            original.clone().unwrap_or_else(|| story.id.clone()),
        );
        copies += original.is_some() as usize;
        if let Verdict::Duplicate {
            duplicate_of, rule, ..
        } = ix.check(story, cfg).verdict
        {
            *rules.entry(rule.as_str()).or_default() += 1;
            if original.is_some() && family.get(&duplicate_of) == family.get(&story.id) {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    (
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / copies.max(1) as f64,
        rules,
    )
}

/// ~2 KB stories: BBC articles cut to 1.8–2.2 KB on a word boundary.
fn bench_texts() -> Vec<(String, String)> {
    let Some((arts, _)) = synth::load_bbc() else {
        return vec![];
    };
    arts.iter()
        .filter(|a| a.body.len() >= 1800)
        .map(|a| {
            let mut end = 2000.min(a.body.len());
            while !a.body.is_char_boundary(end)
                || (end < a.body.len() && !a.body.as_bytes()[end].is_ascii_whitespace())
            {
                end += 1;
                if end >= a.body.len() {
                    end = a.body.len();
                    break;
                }
            }
            (a.title.clone(), a.body[..end].to_string())
        })
        .collect()
}

fn speed() {
    let texts = bench_texts();
    let out = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/dedup_bench_texts.jsonl"
    );
    let lines: Vec<String> = texts
        .iter()
        .map(|(t, b)| serde_json::json!({"text": format!("{t}\n{b}")}).to_string())
        .collect();
    let _ = std::fs::write(out, lines.join("\n"));
    let bytes: usize = texts.iter().map(|(t, b)| t.len() + b.len() + 1).sum();
    println!(
        "speed: {} texts, mean {} bytes, written to {out}",
        texts.len(),
        bytes / texts.len().max(1)
    );
    let reps = 20;
    // 1. Signatures only (tokenise + shingle + 128 permutations).
    let joined: Vec<String> = texts.iter().map(|(t, b)| format!("{t}\n{b}")).collect();
    let mut s = Vec::new();
    let t0 = Instant::now();
    let mut acc = 0u64;
    for _ in 0..reps {
        for t in &joined {
            if let Some(sig) = sig_of(t, 3, &mut s) {
                acc = acc.wrapping_add(sig[0] as u64);
            }
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "signature only: {:.0} stories/s ({:.1} MB/s) [{acc}]",
        (reps * joined.len()) as f64 / dt,
        (reps * bytes) as f64 / dt / 1e6
    );
    let t0 = Instant::now();
    for _ in 0..reps {
        for t in &joined {
            shingles(t, 3, &mut s);
            acc = acc.wrapping_add(wirewatch_dedup::minhash::signature32_mulshift64(&s)[0] as u64);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "signature only, 64-bit multiply-shift family: {:.0} stories/s [{acc}]",
        (reps * joined.len()) as f64 / dt
    );
    let t0 = Instant::now();
    for _ in 0..reps {
        for t in &joined {
            shingles(t, 3, &mut s);
            acc = acc.wrapping_add(s.len() as u64);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "tokenise + shingle only: {:.0} stories/s [{acc}]",
        (reps * joined.len()) as f64 / dt
    );
    // 2. Signature + LSH query + insert (the near-dup core, b=20 r=6, same as datasketch run).
    let cfg = DedupConfig::default();
    let t0 = Instant::now();
    let mut found = 0usize;
    let mut n = 0usize;
    for rep in 0..reps {
        let mut ix = SimIndex::new(cfg.near_bands, cfg.near_rows, usize::MAX);
        for (i, t) in joined.iter().enumerate() {
            shingles(t, 3, &mut s);
            let sig = to_sig(&signature32(&s));
            if ix.near(&sig, i64::MIN, cfg.near_threshold).is_some() {
                found += 1;
            }
            ix.insert(
                SimEntry {
                    story_id: format!("{rep}:{i}").into(),
                    cluster_id: None,
                    feed: 0,
                    time: 0,
                    sig: Some(Box::new(sig)),
                    terms: Box::new([]),
                    title_terms: Box::new([]),
                },
                i64::MAX,
            );
            n += 1;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "minhash+lsh query+insert: {:.0} stories/s (found {found})",
        n as f64 / dt
    );
    // 3. The whole core: Index::check (exact keys, near-dup, clustering).
    let stories: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, (t, b))| {
            synth::raw(
                &format!("s{i}"),
                "f",
                Some(&format!("g{i}")),
                &format!("https://e.com/a/{i}?utm_source=x"),
                t,
                b,
                i as i64,
            )
        })
        .collect();
    let t0 = Instant::now();
    let mut n = 0usize;
    for rep in 0..reps {
        let mut ix = Index::new();
        for s in &stories {
            let mut s = s.clone();
            s.id = format!("{rep}{}", s.id);
            std::hint::black_box(ix.check(&s, &cfg));
            n += 1;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("Index::check (all rules): {:.0} stories/s", n as f64 / dt);
    // 4. Exact keys. A window's worth of stories (350,000: 50,000 a day for 7 days), each
    //    with a GUID and a link (no text: the title is below min_content_chars), decided
    //    through Index::check, so the table holds 1.05M keys (GUID, feed + link, link).
    let n_window = 350_000usize;
    let bare: Vec<_> = (0..n_window)
        .map(|i| {
            synth::raw(
                &format!("k{i}"),
                "feed",
                Some(&format!("urn:guid:{i}")),
                &format!("https://www.example.com/news/world/story-{i}/?utm_source=rss&id={i}"),
                "t",
                "",
                0,
            )
        })
        .collect();
    let mut kx = Index::new();
    for s in &bare {
        kx.check(s, &cfg);
    }
    let seed = kx.seed();
    // 4a. The GUID/URL check itself: hash the identity string (GUID within its feed,
    //     canonical link) to 64 bits and look it up. Half the probes are hits (the window's
    //     own GUIDs and links), half misses (new ones).
    let guids: Vec<String> = (0..n_window * 2).map(|i| format!("urn:guid:{i}")).collect();
    let links: Vec<String> = (0..n_window * 2)
        .map(|i| format!("example.com/news/world/story-{i}?id={i}"))
        .collect();
    let t0 = Instant::now();
    let (mut k, mut hits) = (0usize, 0usize);
    let mut batch = Vec::with_capacity(16);
    let mut scratch = Vec::with_capacity(16);
    for _ in 0..3 {
        // Per story: its GUID within its feed and its link, as Index::check hashes them,
        // looked up 8 stories at a time (the table's batched lookup).
        for (g, l) in guids.iter().zip(links.iter()) {
            let feed = index::scope_seed(seed, "feed");
            batch.push(index::key_in_scope(feed, index::KeyKind::Guid, g));
            batch.push(index::key_hash(seed, index::KeyKind::Link, "", l));
            if batch.len() == 16 {
                hits += kx.count_held(&batch, &mut scratch);
                k += batch.len();
                batch.clear();
            }
        }
    }
    hits += kx.count_held(&batch, &mut scratch);
    k += batch.len();
    batch.clear();
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "exact GUID/URL checks, batched (xxh3-64 of the identity + lookup, {} keys in the table): {:.2}M keys/s ({hits} hits of {k})",
        kx.len(),
        k as f64 / dt / 1e6
    );
    let t0 = Instant::now();
    let (mut k, mut hits) = (0usize, 0usize);
    for _ in 0..3 {
        for (g, l) in guids.iter().zip(links.iter()) {
            hits +=
                kx.contains_key(index::key_hash(seed, index::KeyKind::Guid, "feed", g)) as usize;
            hits += kx.contains_key(index::key_hash(seed, index::KeyKind::Link, "", l)) as usize;
            k += 2;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "exact GUID/URL checks, one at a time (xxh3-64 of the identity + lookup, {} keys in the table): {:.2}M keys/s ({hits} hits of {k})",
        kx.len(),
        k as f64 / dt / 1e6
    );
    // 4b. The same from the raw story: trim the GUID, canonicalise the link (url crate
    //     parse, tracking parameters, host), normalise, hash, look up.
    let t0 = Instant::now();
    let (mut k, mut hits) = (0usize, 0usize);
    for s in &bare {
        for key in index::keys(s, &cfg) {
            k += 1;
            hits += kx.contains_key(key.key) as usize;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "exact keys from raw stories (canonicalise + hash + lookup): {:.2}M keys/s ({hits} hits)",
        k as f64 / dt / 1e6
    );
    let t0 = Instant::now();
    let mut k = 0usize;
    for s in &bare {
        if let Some(l) = s.link.as_deref() {
            k += wirewatch_dedup::canon::canonical_url(l, &[]).map_or(0, |c| c.len());
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "canonical_url alone: {:.2}M links/s [{k}]",
        bare.len() as f64 / dt / 1e6
    );
    println!(
        "exact index memory: {:.0} bytes/story ({} stories, {} keys; key table, id table, verdicts)",
        kx.exact_heap_bytes() as f64 / n_window as f64,
        n_window,
        kx.len()
    );
    drop(kx);
    // 5. Memory per story in the similarity index (100k stories, 128-lane sigs, terms).
    let mut ix = Index::new();
    let t0 = Instant::now();
    for i in 0..100_000usize {
        let (t, b) = &texts[i % texts.len()];
        // Vary the text so every story is unique.
        let b = format!("{b} unique{i} marker{} token{}", i * 7, i * 13);
        let s = synth::raw(
            &format!("m{i}"),
            "f",
            None,
            &format!("https://e.com/{i}"),
            &format!("{t} {i}"),
            &b,
            i as i64,
        );
        let mut c = cfg.clone();
        c.near_threshold = 1.1; // never match: measure an index of 100k distinct stories
        c.cluster_threshold = 1.1;
        // The 1,241 texts repeat; a one-hour cluster window (3,600 stories here) keeps the
        // repeated titles from making every term chain as long as the index.
        c.cluster_window_hours = 1;
        ix.check(&s, &c);
    }
    let dt = t0.elapsed().as_secs_f64();
    if let Some(sim) = ix.sim() {
        println!(
            "memory: {} stories, similarity index {:.0} bytes/story (near-dup part: band index + sketches {:.1} bytes/story); exact part {:.0} bytes/story; built at {:.0} stories/s",
            sim.len(),
            sim.heap_bytes() as f64 / sim.len() as f64,
            sim.near_bytes() as f64 / sim.len() as f64,
            ix.exact_heap_bytes() as f64 / sim.len() as f64,
            sim.len() as f64 / dt
        );
    }
}

fn restore(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dedup.db");
        let state = wirewatch_dedup::state::State::open(&path).await.expect("open");
        let texts = bench_texts();
        let cfg = DedupConfig::default();
        let mut ix = Index::with_seed(state.seed());
        let t0 = Instant::now();
        let now = chrono::Utc::now();
        let mut c = cfg.clone();
        c.near_threshold = 1.1;
        c.cluster_threshold = 1.1;
        // Clustering is not what is measured here: candidates only from the same second.
        c.cluster_window_hours = 0;
        // Written in batches of 10,000 per transaction: the stage's one transaction per
        // story (~850/s here) would take 20 minutes for 1M; the rows are the same.
        let mut batch: Vec<(String, wirewatch_dedup::index::Checked)> = Vec::new();
        for i in 0..n {
            let (t, b) = &texts[i % texts.len()];
            let b = format!("{b} unique{i} marker{} token{}", i * 7, i * 13);
            let mut s = synth::raw(&format!("m{i}"), &format!("f{}", i % 500), Some(&format!("g{i}")), &format!("https://e{}.com/{i}", i % 500), &format!("{t} {i}"), &b, 0);
            s.fetched_at = now - chrono::Duration::seconds((n - i) as i64 / 2);
            let checked = ix.check(&s, &c);
            batch.push((s.id, checked));
            if batch.len() == 10_000 || i + 1 == n {
                let refs: Vec<(&str, &wirewatch_dedup::index::Checked)> = batch.iter().map(|(id, c)| (id.as_str(), c)).collect();
                state.save_batch(&refs, now).await.expect("save");
                batch.clear();
            }
        }
        println!("restore: wrote {n} stories in {:.1}s", t0.elapsed().as_secs_f64());
        drop(ix);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        drop(state);
        // A fresh open, as at a start: open (version check, seed) + load of the window.
        let t0 = Instant::now();
        let state = wirewatch_dedup::state::State::open(&path).await.expect("open");
        let ix = state.load_with(now - chrono::Duration::days(7), &cfg).await.expect("load");
        let dt = t0.elapsed().as_secs_f64();
        println!("restore: {n} stories ({} keys, {} similarity entries, db {:.0} MB) opened and loaded in {dt:.2}s = {:.0} stories/s", ix.len(), ix.similar_len(), size as f64 / 1e6, n as f64 / dt);
        if let Some(sim) = ix.sim() {
            println!(
                "restore: memory after load: near-dup {:.1} bytes/story, similarity index {:.0} bytes/story, exact part {:.0} bytes/story",
                sim.near_bytes() as f64 / sim.len() as f64,
                sim.heap_bytes() as f64 / sim.len() as f64,
                ix.exact_heap_bytes() as f64 / n as f64
            );
        }
    });
}

/// Simulated compact LSH: bands over the 16-bit signature, score from a b-bit sketch of the
/// low bits (1, 2 or 16 bits per lane): which banding and sketch keep precision and recall.
fn lsh_sim() {
    let Some((arts, pairs)) = synth::load_bbc() else {
        return;
    };
    let set = synth::syndication(&arts, &pairs, 2000, 42);
    let mut s = Vec::new();
    let sigs: Vec<Option<wirewatch_dedup::minhash::Sig>> = set
        .iter()
        .map(|(st, _)| sig_of(&format!("{}\n{}", st.title, index::body_of(st)), 3, &mut s))
        .collect();
    for (b, r) in [
        (4usize, 2usize),
        (6, 2),
        (8, 2),
        (8, 3),
        (10, 3),
        (12, 3),
        (16, 4),
        (32, 4),
    ] {
        for bits in [1u32, 2, 16] {
            for thr in [0.4, 0.5] {
                let mut tables: HashMap<u64, Vec<usize>> = HashMap::new();
                let (mut tp, mut fp, mut copies, mut cands) = (0, 0, 0, 0usize);
                let mut family: HashMap<&str, &str> = HashMap::new();
                for (i, (st, orig)) in set.iter().enumerate() {
                    family.insert(&st.id, orig.as_deref().unwrap_or(&st.id));
                    copies += orig.is_some() as usize;
                    let Some(sig) = &sigs[i] else { continue };
                    let mut best: Option<(usize, f64)> = None;
                    for band in 0..b {
                        let k = wirewatch_dedup::minhash::band_key(sig, band, r) ^ band as u64;
                        for &j in tables.get(&k).map(|v| v.as_slice()).unwrap_or(&[]) {
                            cands += 1;
                            let Some(o) = sigs[j].as_ref() else { continue };
                            let mask = if bits == 16 {
                                0xffff
                            } else {
                                (1u16 << bits) - 1
                            };
                            let eq = sig
                                .iter()
                                .zip(o.iter())
                                .filter(|(x, y)| (**x & mask) == (**y & mask))
                                .count() as f64
                                / 128.0;
                            let c = 1.0 / (1u64 << bits) as f64;
                            let est = ((eq - c) / (1.0 - c)).clamp(0.0, 1.0);
                            if est >= thr && best.is_none_or(|(_, bs)| est > bs) {
                                best = Some((j, est));
                            }
                        }
                    }
                    match best {
                        Some((j, _)) => {
                            if orig.is_some()
                                && family.get(set[j].0.id.as_str()) == family.get(st.id.as_str())
                            {
                                tp += 1;
                            } else {
                                fp += 1;
                            }
                        }
                        None => {
                            for band in 0..b {
                                let k =
                                    wirewatch_dedup::minhash::band_key(sig, band, r) ^ band as u64;
                                tables.entry(k).or_default().push(i);
                            }
                        }
                    }
                }
                println!(
                    "lshsim b={b:2} r={r} sketch {bits:2} bits thr {thr}: precision {:.4} recall {:.4} candidates/story {:.2}",
                    tp as f64 / (tp + fp).max(1) as f64,
                    tp as f64 / copies as f64,
                    cands as f64 / set.len() as f64
                );
            }
        }
    }
}
