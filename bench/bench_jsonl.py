"""JSON Lines: parse + validate + normalise, per core, against the plain json.loads loop.

Figures (issue 2): >= 300,000 events/s per core; the ratio to `json.loads` reported.
Also the full reader (merge + reorder + de-duplicate) for honesty.

    python bench/bench_jsonl.py [--events 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json

from common import OUT, median_time, pin_one_core, report
from synth import fast_lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    pin_one_core()
    from vigile.parsers.jsonl import JsonlParser
    from vigile.stream import EventReader

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"events-{args.events}.jsonl"
    if not path.exists():
        with open(path, "wb") as f:
            for line in fast_lines(args.events):
                f.write(line + b"\n")
    lines = path.read_bytes().splitlines()
    parser = JsonlParser()

    def loads() -> None:
        for line in lines:
            json.loads(line)

    def parse() -> None:
        p = parser.parse
        for line in lines:
            p(line)

    def reader() -> None:
        for _ in EventReader([path]):
            pass

    t_json, _ = median_time(loads, args.runs)
    t_parse, runs = median_time(parse, args.runs)
    t_reader, _ = median_time(reader, max(3, args.runs // 2))
    n = len(lines)
    report(
        "jsonl_parse",
        events=n,
        events_per_s=round(n / t_parse),
        json_loads_per_s=round(n / t_json),
        ratio_to_json_loads=round(t_json / t_parse, 2),
        reader_events_per_s=round(n / t_reader),
        runs_s=[round(r, 3) for r in runs],
        target_events_per_s=300_000,
    )


if __name__ == "__main__":
    main()
