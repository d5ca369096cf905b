#!/usr/bin/env python3
"""Python peers of wirewatch's parse benchmark: fastfeedparser (lxml) and feedparser.

Usage: peers.py SECONDS FILE...   (run by examples/parse_bench.rs, one file at a time, so that
both languages are measured in the same run under the same load)

Prints one JSON line per file: {"file", "bytes", "fastfeedparser": {"s", "items"} | {"error"},
"feedparser": {...}} with the mean seconds per parse over ~SECONDS of repetitions (after one
warm-up parse). Each parse starts from the bytes, as wirewatch's does, and builds the library's
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


def measure(budget, parse, data):
    try:
        items = len(parse(data).entries)
        return {"s": mean_seconds(budget, lambda: parse(data)), "items": items}
    except Exception as e:  # a peer failing on a feed is a result, not a crash
        return {"error": f"{type(e).__name__}: {e}"[:200]}


def main():
    budget = float(sys.argv[1])
    import fastfeedparser
    import feedparser

    # feedparser sanitises and resolves relative URIs by default, as wirewatch normalises;
    # both stay on (its defaults) so the comparison is like for like.
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        out = {
            "file": path,
            "bytes": len(data),
            "fastfeedparser": measure(budget, fastfeedparser.parse, data),
            "feedparser": measure(budget, feedparser.parse, data),
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
