#!/usr/bin/env bash
# Reproduces docs/bench/dedup.md: the Rust measurements and the datasketch baseline on the
# same texts, in the same run. Needs `pip install datasketch`. Run from the workspace root.
set -euo pipefail
cargo build --release -p wirewatch-dedup --example dedup_eval
EVAL=target/release/examples/dedup_eval
uptime
$EVAL bbc
$EVAL pairs
$EVAL stream
$EVAL synth
$EVAL speed            # writes target/dedup_bench_texts.jsonl and target/dedup_synth.jsonl
python3 services/dedup/bench/datasketch_bench.py target "${REPS:-3}"
$EVAL speed | grep -E 'signature only:|query\+insert'   # again, after Python, to bracket load changes
uptime
$EVAL restore "${RESTORE_N:-1000000}"   # 1M stories: ~1 GB of temporary database, a few minutes
uptime
