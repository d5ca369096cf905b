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
    if matches!(what, "all" | "stream") {
        stream();
    }
    if what == "lshsim" {
        lsh_sim();
    }
    if what == "restore" {
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
        restore(n);
    }
}

/// The default configuration, with the cluster settings overridden by `CLUSTER_THRESHOLD`,
/// `CLUSTER_BONUS`, `CLUSTER_PENALTY` from the environment (for comparisons).
fn cluster_cfg_from_env() -> DedupConfig {
    let get = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let d = DedupConfig::default();
    DedupConfig {
        cluster_threshold: get("CLUSTER_THRESHOLD", d.cluster_threshold),
        cluster_entity_bonus: get("CLUSTER_BONUS", d.cluster_entity_bonus),
        cluster_entity_penalty: get("CLUSTER_PENALTY", d.cluster_entity_penalty),
        ..d
    }
}

fn bbc() {
    let Some((arts, pairs)) = synth::load_bbc() else {
        println!("bbc corpus missing");
        return;
    };
    let cfg = cluster_cfg_from_env();
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
    let step = if std::env::var_os("ALL_JOINS").is_some() {
        1
    } else {
        joins.len().max(1).div_ceil(8).max(1)
    };
    for (id, m) in joins.iter().step_by(step) {
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
        let (p, r, f) = prf(items, t);
        println!("  {t:.2}  {p:.3}  {r:.3}  {f:.3}");
    }
}

fn scores(
    pairs: &[(String, String, f64)],
    label: impl Fn(f64) -> bool,
    name: &str,
) -> Vec<(f64, bool)> {
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
    entity_sweep(name, pairs, &sc, &label);
    curve(&format!("{name} plain term jaccard (no idf)"), &plain);
    curve(
        &format!("{name} near-dup score (minhash estimate, 3-shingles)"),
        &nd,
    );
    let _ = nd_exact;
    sc
}

/// Precision, recall and F1 of `items` (score, positive) at threshold `t`.
fn prf(items: &[(f64, bool)], t: f64) -> (f64, f64, f64) {
    let pos = items.iter().filter(|x| x.1).count();
    let tp = items.iter().filter(|x| x.0 >= t && x.1).count();
    let fp = items.iter().filter(|x| x.0 >= t && !x.1).count();
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / pos.max(1) as f64;
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f)
}

/// The operating point with the highest recall whose precision is at least `min_p`
/// (thresholds in steps of 0.01), and the threshold of the best F1.
fn op_point(items: &[(f64, bool)], min_p: f64) -> ((f64, f64, f64, f64), (f64, f64)) {
    let mut best = (1.0, 0.0, 0.0, 0.0);
    let mut best_f = (1.0, 0.0);
    for i in 5..=95 {
        let t = i as f64 / 100.0;
        let (p, r, f) = prf(items, t);
        if p >= min_p && r > best.2 {
            best = (t, p, r, f);
        }
        if f > best_f.1 {
            best_f = (t, f);
        }
    }
    (best, best_f)
}

/// Entity evidence on the pairs: how often the two sides share an entity, and the cluster
/// score with an entity bonus / penalty (`entities::entity_score`) over a grid. The bonus is
/// scaled by the entity overlap: 1 (any shared), shared / smaller set, or the same with IDF
/// weights (document frequencies of the entity keys over the set).
fn entity_sweep(
    name: &str,
    pairs: &[(String, String, f64)],
    text: &[(f64, bool)],
    label: &impl Fn(f64) -> bool,
) {
    use wirewatch_dedup::entities::{entities, entity_score, shared};
    let ents: Vec<_> = pairs
        .iter()
        .map(|(a, b, _)| (entities(a, "", 0).keys, entities(b, "", 0).keys))
        .collect();
    let mut df: HashMap<u32, f64> = HashMap::new();
    for (a, b) in &ents {
        for k in a.iter().chain(b) {
            *df.entry(*k).or_default() += 1.0;
        }
    }
    let n = ((ents.len() * 2) as f64).max(wirewatch_dedup::sim::IDF_MIN_DOCS);
    let w =
        |k: &u32| wirewatch_dedup::entities::entity_weight(df.get(k).copied().unwrap_or(1.0), n);
    // (shared count, both named, overlap, weighted overlap)
    let feats: Vec<(usize, bool, f64, f64, f64)> = ents
        .iter()
        .map(|(a, b)| {
            let s = shared(a, b);
            let both = !a.is_empty() && !b.is_empty();
            let ov = if both {
                s.len() as f64 / a.len().min(b.len()) as f64
            } else {
                0.0
            };
            let wa: f64 = a.iter().map(w).sum();
            let wb: f64 = b.iter().map(w).sum();
            let ws: f64 = s.iter().map(w).sum();
            let wov = if both { ws / wa.min(wb) } else { 0.0 };
            let wabs = wirewatch_dedup::entities::shared_weight(s.iter().map(w), n);
            (s.len(), both, ov, wov, wabs)
        })
        .collect();
    let (mut pos, mut neg) = ([0usize; 3], [0usize; 3]);
    for ((n, both, _, _, _), (_, _, g)) in feats.iter().zip(pairs) {
        let c = if label(*g) { &mut pos } else { &mut neg };
        c[if *n > 0 {
            0
        } else if *both {
            1
        } else {
            2
        }] += 1;
    }
    println!("{name} entities: positives share>=1 {} / both named, none shared {} / a side unnamed {}; negatives {} / {} / {}",
        pos[0], pos[1], pos[2], neg[0], neg[1], neg[2]);
    let (base, base_f) = op_point(text, 0.8);
    println!(
        "{name} text only: p>=0.8 at thr {:.2}: p {:.3} r {:.3} f1 {:.3} | best f1 {:.3} at {:.2}",
        base.0, base.1, base.2, base.3, base_f.1, base_f.0
    );
    // The configured combination (DedupConfig::default(), `sim::cluster_score`, age 0):
    // its curve next to the text-only one.
    let cfg = DedupConfig::default();
    let q = wirewatch_dedup::sim::ClusterQuery {
        title: &[],
        terms: &[],
        entities: &[],
        time: 0,
        window_secs: 1,
        threshold: cfg.cluster_threshold,
        max_df: 0,
        entity_bonus: cfg.cluster_entity_bonus,
        entity_penalty: cfg.cluster_entity_penalty,
        time_penalty: cfg.cluster_time_penalty,
    };
    let combined: Vec<(f64, bool)> = text
        .iter()
        .zip(&ents)
        .map(|((s, l), (a, b))| {
            let sh = shared(a, b);
            let ev = wirewatch_dedup::sim::EntityEvidence {
                shared: sh.len(),
                weight: wirewatch_dedup::entities::shared_weight(sh.iter().map(w), n),
                both_named: !a.is_empty() && !b.is_empty(),
            };
            (wirewatch_dedup::sim::cluster_score(*s, ev, 0.0, &q), *l)
        })
        .collect();
    println!(
        "{name} configured (bonus {} penalty {} threshold {}):",
        cfg.cluster_entity_bonus, cfg.cluster_entity_penalty, cfg.cluster_threshold
    );
    println!("  thr    text only p / r / f1     with entities p / r / f1");
    for i in 6..=12 {
        let t = i as f64 * 0.05;
        let (a, b) = (prf(text, t), prf(&combined, t));
        println!(
            "  {t:.2}   {:.3} / {:.3} / {:.3}    {:.3} / {:.3} / {:.3}",
            a.0, a.1, a.2, b.0, b.1, b.2
        );
    }
    let t = cfg.cluster_threshold;
    let (b, c) = (prf(text, 0.40), prf(&combined, t));
    println!(
        "{name} chosen: text only at 0.40 p {:.3} r {:.3} f1 {:.3} -> with entities at {t} p {:.3} r {:.3} f1 {:.3}",
        b.0, b.1, b.2, c.0, c.1, c.2
    );
    for (variant, scale) in [
        ("any shared", 0usize),
        ("overlap", 1),
        ("idf overlap", 2),
        ("idf absolute", 3),
    ] {
        for bonus in [0.05, 0.1, 0.15, 0.2, 0.3, 0.4] {
            for penalty in [0.0, 0.05, 0.1, 0.2] {
                let items: Vec<(f64, bool)> = text
                    .iter()
                    .zip(&feats)
                    .map(|((s, l), (n, both, ov, wov, wabs))| {
                        let f = [1.0, *ov, *wov, *wabs][scale];
                        (entity_score(*s, *n, *both, bonus * f, penalty), *l)
                    })
                    .collect();
                let (o, f) = op_point(&items, 0.8);
                println!(
                    "{name} {variant} bonus {bonus:.2} penalty {penalty:.2}: p>=0.8 at thr {:.2}: p {:.3} r {:.3} f1 {:.3} | best f1 {:.3} at {:.2}",
                    o.0, o.1, o.2, o.3, f.1, f.0
                );
            }
        }
    }
}

/// Sentence pairs with their gold score.
type Pairs = Vec<(String, String, f64)>;

fn load_sts() -> Pairs {
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
    sts
}

fn load_msrp() -> Pairs {
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
    msrp
}

fn pairs() {
    let sts = load_sts();
    let _ = scores(&sts, |g| g >= 3.0, "sts headlines (positive: score >= 3)");
    let _ = scores(&sts, |g| g >= 4.0, "sts headlines (positive: score >= 4)");
    let msrp = load_msrp();
    let _ = scores(&msrp, |g| g >= 1.0, "msrp (positive: paraphrase)");
}

/// A deterministic shuffle (xorshift), so every run sees the same stream.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

/// The pair sets as a stream through `Index::check`: every sentence a story of its own feed
/// (title only), in a shuffled order with each pair's first sentence before its second, all
/// within one cluster window. A join is correct when the story it joined is its partner in a
/// positive pair; a join to a labelled negative partner or to any other story of the stream
/// is counted false (some of the latter are the same event, unlabelled: precision here is a
/// lower bound). Recall: positive pairs whose two stories end in one cluster.
fn stream_run(
    pairs: &[(String, String, f64)],
    label: &impl Fn(f64) -> bool,
    order: &[(usize, bool)],
    cfg: &DedupConfig,
    spacing_secs: &[i64],
) -> (f64, f64, f64, usize) {
    let mut ix = Index::new();
    let mut cluster: HashMap<String, String> = HashMap::new();
    let (mut joins, mut correct) = (0usize, 0usize);
    for (pos, &(i, second)) in order.iter().enumerate() {
        let (a, b, _) = &pairs[i];
        let id = format!("{}{i}", if second { 'b' } else { 'a' });
        let s = synth::raw(
            &id,
            &id,
            None,
            &format!("https://s.example/{id}"),
            if second { b } else { a },
            "",
            spacing_secs[pos],
        );
        let v = ix.check(&s, cfg).verdict;
        let (cid, matched) = match &v {
            Verdict::Unique {
                cluster_id,
                cluster_match,
                ..
            } => (
                cluster_id.clone(),
                cluster_match.as_ref().map(|m| m.story_id.clone()),
            ),
            Verdict::Duplicate {
                cluster_id,
                duplicate_of,
                ..
            } => (cluster_id.clone(), Some(duplicate_of.clone())),
        };
        if let Some(m) = matched {
            joins += 1;
            let partner = format!("{}{i}", if second { 'a' } else { 'b' });
            if m == partner && label(pairs[i].2) {
                correct += 1;
            }
        }
        cluster.insert(id, cid);
    }
    let pos: Vec<usize> = (0..pairs.len()).filter(|i| label(pairs[*i].2)).collect();
    let together = pos
        .iter()
        .filter(|i| {
            let (a, b) = (format!("a{i}"), format!("b{i}"));
            cluster.contains_key(&a) && cluster.get(&a) == cluster.get(&b)
        })
        .count();
    let p = correct as f64 / joins.max(1) as f64;
    let r = together as f64 / pos.len().max(1) as f64;
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f, joins)
}

fn stream_order(n: usize, seed: u64) -> Vec<(usize, bool)> {
    let mut order: Vec<(usize, bool)> = (0..n).flat_map(|i| [(i, false), (i, true)]).collect();
    shuffle(&mut order, seed);
    // Each pair's first sentence comes first.
    let mut seen = vec![false; n];
    for o in order.iter_mut() {
        o.1 = seen[o.0];
        seen[o.0] = true;
    }
    order
}

fn stream() {
    let d = DedupConfig::default();
    let mut thresholds: Vec<f64> = (6..=12).map(|i| i as f64 * 0.05).collect();
    thresholds.push(d.cluster_threshold);
    // Positive: STS score >= 3, MSRP paraphrase (1).
    for (name, pairs, min_gold) in [("sts>=3", load_sts(), 3.0), ("msrp", load_msrp(), 1.0)] {
        let label = move |g: f64| g >= min_gold;
        let pairs = &pairs;
        let order = stream_order(pairs.len(), 0x5EED);
        // All in one second: time plays no part here.
        let same_time = vec![0i64; order.len()];
        println!(
            "stream {name}: {} stories, {} positive pairs",
            order.len(),
            pairs.iter().filter(|p| label(p.2)).count()
        );
        for (bonus, penalty) in [
            (0.0, 0.0),
            (d.cluster_entity_bonus, d.cluster_entity_penalty),
        ] {
            for t in &thresholds {
                let cfg = DedupConfig {
                    cluster_threshold: *t,
                    cluster_entity_bonus: bonus,
                    cluster_entity_penalty: penalty,
                    ..d.clone()
                };
                let (p, r, f, joins) = stream_run(pairs, &label, &order, &cfg, &same_time);
                println!("stream {name} bonus {bonus:.2} penalty {penalty:.2} thr {t:.2}: precision {p:.3} recall {r:.3} f1 {f:.3} joins {joins}");
            }
        }
        // Time: an assumed arrival pattern (the pair sets carry no times). Each pair's first
        // story at a random moment of 7 days, its second 0–6 hours later; the stream in time
        // order, `cluster_window_hours` as configured. Only the age penalty differs.
        let mut seed = 0x7135_u64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m) as i64
        };
        let mut timed: Vec<((usize, bool), i64)> = Vec::with_capacity(pairs.len() * 2);
        for i in 0..pairs.len() {
            let t0 = next(7 * 86_400);
            timed.push(((i, false), t0));
            timed.push(((i, true), t0 + next(6 * 3600)));
        }
        timed.sort_by_key(|x| x.1);
        let order: Vec<(usize, bool)> = timed.iter().map(|x| x.0).collect();
        let times: Vec<i64> = timed.iter().map(|x| x.1).collect();
        for time_penalty in [0.0, 0.05, d.cluster_time_penalty, 0.2] {
            let cfg = DedupConfig {
                cluster_time_penalty: time_penalty,
                ..d.clone()
            };
            let (p, r, f, joins) = stream_run(pairs, &label, &order, &cfg, &times);
            println!("stream {name} over 7 days, pairs 0-6 h apart, configured, time penalty {time_penalty:.2}: precision {p:.3} recall {r:.3} f1 {f:.3} joins {joins}");
        }
    }
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
                    entities: Box::new([]),
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
