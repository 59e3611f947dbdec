"""Benchmark `vigile sim`: events generated per CPU-second on one core, and peak memory.

Each run is a fresh child process pinned to one CPU with Polars limited to one thread;
the child generates a world into a temporary directory.  Its CPU seconds (user + system)
and peak RSS come from `os.wait4` (`common.run_measured`), so they count the whole child
(imports, world, context files, events, truth) and hold on a loaded machine where wall
time does not.  The figures printed (one JSON line, also appended to bench/out) are
medians over the runs; the child also splits its own CPU time (`time.process_time`, at
generate()'s progress messages) into imports, world, context files and the day loop
(events, truth and statistics), and the day loop's events per CPU-second is given
beside the whole run's (the issue's figure is the whole run's).

    PYTHONPATH=src .venv/bin/python bench/bench_sim.py --preset medium --runs 3

`--compare OTHER_SRC` alternates runs of another source tree (say an older commit's
`src/`, from `git archive`) with runs of this one, so that both see the same load, and
prints both medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import report, run_measured

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
try:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
except (AttributeError, OSError):
    pass
marks = {"start": time.process_time()}
from vigile.sim.config import parse_assignment
from vigile.sim.generate import generate
from vigile.sim.presets import load_config
preset, out, sets = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
cfg = load_config(preset, assignments=[parse_assignment(s) for s in sets])
def say(m):
    key = {"building the world": "world", "writing events": "events", "done": "done"}.get(m)
    if key is None and m.endswith("writing context"):
        key = "context"
    if key:
        marks[key] = time.process_time()
doc = generate(cfg, out, say)
counts = doc["counts"]
phases = {}
if {"world", "context", "events", "done"} <= marks.keys():
    phases = {
        "cpu_imports_s": marks["world"] - marks["start"],
        "cpu_world_s": marks["context"] - marks["world"],
        "cpu_context_s": marks["events"] - marks["context"],
        "cpu_events_s": marks["done"] - marks["events"],
    }
print(json.dumps({"events": counts["events"], "patient_files": counts["patient_files"], **phases}))
"""


def run_once(preset: str, sets: list[str], src: Path) -> dict[str, float]:
    """One child run; returns its figures."""
    env = {"POLARS_MAX_THREADS": "1", "PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory(prefix="vigile-bench-") as tmp:
        wall, rss_mb, out, cpu = run_measured(
            [sys.executable, "-c", CHILD, preset, str(Path(tmp) / "world"), *sets], env=env
        )
    counts = json.loads(out.strip().splitlines()[-1])
    return {**counts, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": float(rss_mb)}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Medians over runs."""
    phases = {
        f"{k}_median": round(statistics.median(r[k] for r in runs), 2)
        for k in ("cpu_imports_s", "cpu_world_s", "cpu_context_s", "cpu_events_s")
        if all(k in r for r in runs)
    }
    if "cpu_events_s_median" in phases:
        # the day loop alone (traffic, rendering, truth): the part that scales with events
        phases["events_per_cpu_s_day_loop_median"] = round(
            statistics.median(r["events"] / r["cpu_events_s"] for r in runs)
        )
    return {
        **phases,
        "events": int(statistics.median(r["events"] for r in runs)),
        "patient_files": int(statistics.median(r["patient_files"] for r in runs)),
        "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "events_per_s_wall_median": round(
            statistics.median(r["events"] / r["wall_s"] for r in runs)
        ),
        "events_per_cpu_s_median": round(statistics.median(r["events"] / r["cpu_s"] for r in runs)),
        "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
    }


def main() -> None:
    """Run the benchmark and print one JSON line of figures."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="source tree to run")
    ap.add_argument("--compare", type=Path, help="another source tree, run alternately")
    args = ap.parse_args()
    runs: list[dict[str, float]] = []
    other: list[dict[str, float]] = []
    for _ in range(args.runs):
        if args.compare is not None:
            other.append(run_once(args.preset, args.set, args.compare))
            print(json.dumps({"src": str(args.compare), **other[-1]}), file=sys.stderr)
        runs.append(run_once(args.preset, args.set, args.src))
        print(json.dumps({"src": str(args.src), **runs[-1]}), file=sys.stderr)
    figures = summary(runs)
    extra: dict[str, object] = {"load_avg_1m": round(os.getloadavg()[0], 1)}
    if other:
        base = summary(other)
        extra["compare_src"] = str(args.compare)
        extra["compare_events_per_cpu_s_median"] = base["events_per_cpu_s_median"]
        extra["compare_cpu_s_median"] = base["cpu_s_median"]
        extra["speedup_cpu"] = round(base["cpu_s_median"] / figures["cpu_s_median"], 2)
    report("sim", preset=args.preset, sets=args.set, runs=args.runs, **figures, **extra)


if __name__ == "__main__":
    main()
