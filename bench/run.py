"""`make bench`: every benchmark under bench/, each printing one JSON line of medians.

Heavy figures have a quick default here so `make bench` finishes in minutes;
the full-scale runs (50 M stored events, a 10 GB stream, the seed preset) are
the same scripts with bigger arguments, documented in each script and in the
closing notes of the issues.

    python bench/run.py            # quick defaults
    python bench/run.py --full     # the issue's full scale (long)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

QUICK: list[list[str]] = [
    ["bench_jsonl.py", "--events", "1000000", "--runs", "5"],
    ["bench_parsers_weblog.py"],
    ["bench_parsers_fhir.py"],
    ["bench_ingest.py", "--events", "1000000", "--runs", "3", "--stream-gb", "1"],
    ["bench_store.py", "--events", "10000000"],
    ["bench_sim.py"],
    ["bench_detect.py"],
    ["eval_worlds.py", "--preset", "small", "--seeds", "1-2"],
    ["bench_notes.py", "--volume", "0"],
    ["bench_scope.py"],
    ["bench_decide.py"],
    ["bench_http_ingest.py"],
    ["bench_dashboard.py", "--runs", "5", "--latency-runs", "5"],
]
FULL: list[list[str]] = [
    ["bench_jsonl.py", "--events", "2000000", "--runs", "5"],
    ["bench_parsers_weblog.py"],
    ["bench_parsers_fhir.py"],
    ["bench_ingest.py", "--events", "2000000", "--runs", "3", "--stream-gb", "10"],
    ["bench_store.py", "--events", "50000000"],
    ["bench_sim.py"],
    ["bench_detect.py"],
    ["eval_worlds.py", "--preset", "small", "--seeds", "1-8"],
    ["eval_worlds.py", "--preset", "medium", "--seeds", "1-4"],
    ["bench_notes.py"],
    ["bench_scope.py"],
    ["bench_decide.py"],
    ["bench_http_ingest.py"],
    ["bench_live.py"],
    ["bench_dashboard.py"],
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--only", help="run only scripts whose name contains this")
    args = ap.parse_args()
    failed = 0
    for cmd in FULL if args.full else QUICK:
        script = HERE / cmd[0]
        if args.only and args.only not in cmd[0]:
            continue
        if not script.exists():
            print(f'{{"bench": "{cmd[0]}", "skipped": "not present yet"}}', flush=True)
            continue
        done = subprocess.run([sys.executable, str(script), *cmd[1:]], check=False)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
