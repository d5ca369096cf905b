#!/usr/bin/env python3
"""Python baseline for docs/bench/dedup.md: datasketch MinHash + MinHashLSH on the texts the
Rust benchmark wrote (`dedup_eval speed` -> target/dedup_bench_texts.jsonl, target/dedup_synth.jsonl).

Same scheme as the Rust core: lowercase words, 3-word shingles, 128 permutations, LSH with the
same bands/rows as the Rust default (b=10, r=3; override with BANDS=.. ROWS=..), near-duplicate
when the estimated Jaccard >= 0.5.
Usage: python3 services/dedup/bench/datasketch_bench.py [target_dir] [reps]
"""
import json
import os
import re
import sys
import time

from datasketch import MinHash, MinHashLSH

TARGET = sys.argv[1] if len(sys.argv) > 1 else "target"
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BANDS = int(os.environ.get("BANDS", "10"))
ROWS = int(os.environ.get("ROWS", "3"))
THRESHOLD, K = 0.5, 3
WORD = re.compile(r"[a-z0-9\u0080-\uffff]+")


def shingles(text):
    w = WORD.findall(text.lower())
    if len(w) < K:
        return [" ".join(w).encode()] if w else []
    return [" ".join(w[i:i + K]).encode() for i in range(len(w) - K + 1)]


def sig(text):
    m = MinHash(num_perm=128)
    m.update_batch(shingles(text))
    return m


def main():
    texts = [json.loads(l)["text"] for l in open(f"{TARGET}/dedup_bench_texts.jsonl")]
    n = len(texts)
    t0 = time.perf_counter()
    for _ in range(REPS):
        for t in texts:
            sig(t)
    dt = time.perf_counter() - t0
    print(f"datasketch signature only: {REPS * n / dt:.0f} stories/s")
    t0 = time.perf_counter()
    found = 0
    for rep in range(REPS):
        lsh = MinHashLSH(num_perm=128, params=(BANDS, ROWS))
        for i, t in enumerate(texts):
            m = sig(t)
            if any(True for _ in lsh.query(m)):
                found += 1
            lsh.insert(f"{rep}:{i}", m)
    dt = time.perf_counter() - t0
    print(f"datasketch minhash+lsh query+insert: {REPS * n / dt:.0f} stories/s (found {found})")

    # Recall/precision on the syndication set, same protocol as the Rust run_synth.
    rows = [json.loads(l) for l in open(f"{TARGET}/dedup_synth.jsonl")]
    lsh = MinHashLSH(num_perm=128, params=(BANDS, ROWS))
    sigs, family = {}, {}
    tp = fp = copies = 0
    for r in rows:
        family[r["id"]] = r["original"] or r["id"]
        copies += r["original"] is not None
        m = sig(r["text"])
        best, score = None, -1.0
        for c in lsh.query(m):
            j = m.jaccard(sigs[c])
            if j >= THRESHOLD and j > score:
                best, score = c, j
        if best is not None:
            if r["original"] is not None and family[best] == family[r["id"]]:
                tp += 1
            else:
                fp += 1
        else:
            lsh.insert(r["id"], m)
            sigs[r["id"]] = m
    print(f"datasketch synth: precision {tp / max(tp + fp, 1):.4f} recall {tp / max(copies, 1):.4f}")


if __name__ == "__main__":
    main()
