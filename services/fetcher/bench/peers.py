#!/usr/bin/env python3
"""Python peers of wirewatch's parse benchmark: fastfeedparser (lxml) and feedparser.

Run by examples/parse_bench.rs as a co-process, so that the Python parsers take their turns
in the same interleaved rounds as the Rust ones (on a shared machine, load that comes and
goes then hits every contender alike). One command per line on stdin, one JSON line back:

  load PATH             -> {"file", "bytes", "fastfeedparser": {"items"} | {"error"}, "feedparser": ...}
                           (each peer parses the file once; a peer that fails is left out)
  time PEER SECONDS     -> {"s": seconds per parse}: PEER parses the loaded file over and over
                           for about SECONDS (after one warm-up parse), mean time per parse
  quit

Each parse starts from the bytes, as wirewatch's does, and builds the library's full result
(entries with their fields), which is what a reader of the result pays for. feedparser
sanitises and resolves relative URIs by default, as wirewatch normalises; both stay on (its
defaults) so the comparison is like for like.
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


def main():
    import fastfeedparser
    import feedparser

    parsers = {"fastfeedparser": fastfeedparser.parse, "feedparser": feedparser.parse}
    data = b""
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "load":
            path = line[len("load ") :].strip()
            with open(path, "rb") as f:
                data = f.read()
            out = {"file": path, "bytes": len(data)}
            for name, parse in parsers.items():
                try:
                    out[name] = {"items": len(parse(data).entries)}
                except Exception as e:  # a peer failing on a feed is a result, not a crash
                    out[name] = {"error": f"{type(e).__name__}: {e}"[:200]}
        elif cmd[0] == "time":
            parse = parsers[cmd[1]]
            out = {"s": mean_seconds(float(cmd[2]), lambda: parse(data))}
        else:
            out = {"error": f"unknown command {cmd[0]!r}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
