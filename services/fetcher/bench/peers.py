#!/usr/bin/env python3
"""Python peers of wirewatch's parse benchmark: fastfeedparser (lxml) and feedparser.

Usage: peers.py SECONDS FILE...   (run by examples/parse_bench.rs, one file at a time, so that
both languages are measured in the same run under the same load)

Prints one JSON line per file: {"file", "bytes", "fastfeedparser": {"s", "items"} | {"error"},
"feedparser": {...}} with the seconds per parse: the two peers take turns (a tenth of SECONDS
each, ten times over, after one warm-up parse) and each keeps its best turn's mean, as the Rust
side does. Each parse starts from the bytes, as wirewatch's does, and builds the library's
full result (entries with their fields), which is what a reader of the result pays for.
"""

import json
import sys
import time


def mean_seconds(budget, fn):
    fn()  # warm up
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / n


SLICES = 10


def measure(budget, parsers, data):
    """Best turn's seconds per parse of each parser, interleaved."""
    out = {}
    live = {}
    for name, parse in parsers.items():
        try:
            out[name] = {"items": len(parse(data).entries), "s": float("inf")}
            live[name] = parse
        except Exception as e:  # a peer failing on a feed is a result, not a crash
            out[name] = {"error": f"{type(e).__name__}: {e}"[:200]}
    for _ in range(SLICES):
        for name, parse in live.items():
            s = mean_seconds(budget / SLICES, lambda: parse(data))
            out[name]["s"] = min(out[name]["s"], s)
    return out


def main():
    budget = float(sys.argv[1])
    import fastfeedparser
    import feedparser

    # feedparser sanitises and resolves relative URIs by default, as wirewatch normalises;
    # both stay on (its defaults) so the comparison is like for like.
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        out = {"file": path, "bytes": len(data)}
        out.update(
            measure(
                budget,
                {"fastfeedparser": fastfeedparser.parse, "feedparser": feedparser.parse},
                data,
            )
        )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
