"""Benchmark `vigile sim`: events generated per second on one core, and peak memory.

Each run is a fresh child process pinned to one CPU with Polars limited to one thread;
the child generates a world into a temporary directory and reports wall time, CPU time
and its peak RSS.  The figures printed (one JSON line) are medians over the runs.

    PYTHONPATH=src .venv/bin/python bench/bench_sim.py --preset medium --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
try:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
except (AttributeError, OSError):
    pass
from vigile.sim.config import parse_assignment
from vigile.sim.generate import generate
from vigile.sim.presets import load_config
preset, out, sets = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
cfg = load_config(preset, assignments=[parse_assignment(s) for s in sets])
w0, c0 = time.perf_counter(), time.process_time()
doc = generate(cfg, out)
wall, cpu = time.perf_counter() - w0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
counts = doc["counts"]
print(json.dumps({"events": counts["events"], "patient_files": counts["patient_files"],
                  "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss}))
"""


def run_once(preset: str, sets: list[str]) -> dict[str, float]:
    """One child run; returns its figures."""
    env = dict(
        os.environ, POLARS_MAX_THREADS="1", PYTHONPATH=str(Path(__file__).parents[1] / "src")
    )
    with tempfile.TemporaryDirectory(prefix="vigile-bench-") as tmp:
        res = subprocess.run(
            [sys.executable, "-c", CHILD, preset, str(Path(tmp) / "world"), *sets],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Run the benchmark and print one JSON line of figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    args = ap.parse_args()
    runs = [run_once(args.preset, args.set) for _ in range(args.runs)]
    for r in runs:
        print(json.dumps(r), file=sys.stderr)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        json.dumps(
            {
                "bench": "sim",
                "preset": args.preset,
                "runs": args.runs,
                "events": int(med["events"]),
                "patient_files": int(med["patient_files"]),
                "wall_s_median": round(med["wall_s"], 2),
                "cpu_s_median": round(med["cpu_s"], 2),
                "events_per_s_wall_median": round(
                    statistics.median(r["events"] / r["wall_s"] for r in runs)
                ),
                "events_per_cpu_s_median": round(
                    statistics.median(r["events"] / r["cpu_s"] for r in runs)
                ),
                "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
