"""Ingest into the event store, and memory flat in the size of the input.

Figures (issue 2): ingest >= 200,000 events/s; <= 500 MB resident however large
the input (streamed from a generator through stdin: nothing is held on disk).

    python bench/bench_ingest.py [--events 1000000] [--runs 3] [--stream-gb 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import OUT, ROOT, report, run_measured
from synth import fast_lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--stream-gb",
        type=float,
        default=1.0,
        help="size of the streamed input for the memory figure (10 for the full claim)",
    )
    ap.add_argument("--memory-only", action="store_true", help="only the streamed memory figure")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"events-{args.events}.jsonl"
    if not path.exists():
        with open(path, "wb") as f:
            for line in fast_lines(args.events):
                f.write(line + b"\n")
    vigile = [sys.executable, "-m", "vigile"]
    work = Path(tempfile.mkdtemp(prefix="vigile-bench-"))
    try:
        walls, cpus = [], []
        for _ in range(0 if args.memory_only else args.runs):
            shutil.rmtree(work / "store", ignore_errors=True)
            wall, _, _, cpu = run_measured(
                [*vigile, "ingest", "-e", str(path), "-s", str(work / "store"), "--json"]
            )
            walls.append(wall)
            cpus.append(cpu)
        if walls:
            again, _, _, _ = run_measured(
                [*vigile, "ingest", "-e", str(path), "-s", str(work / "store"), "--json"]
            )
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            report(
                "ingest",
                events=args.events,
                events_per_s=round(args.events / wall),
                events_per_cpu_s=round(args.events / cpu),
                runs_s=[round(r, 2) for r in walls],
                reingest_s=round(again, 2),
                target_events_per_s=200_000,
            )

        # memory: stream N GB of lines through stdin into a fresh store
        line_bytes = len(path.open("rb").readline())
        n = int(args.stream_gb * 1e9 / line_bytes)
        gen = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, 'bench'); from synth import fast_lines\n"
                f"w = sys.stdout.buffer.write\nfor l in fast_lines({n}, seed=11): w(l + b'\\n')",
            ],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        elapsed, peak_mb, _, cpu = run_measured(
            [*vigile, "ingest", "-e", "-", "-s", str(work / "big"), "--json"], stdin=gen.stdout
        )
        gen.wait()
        report(
            "ingest_memory",
            input_gb=round(n * line_bytes / 1e9, 2),
            events=n,
            peak_rss_mb=peak_mb,
            seconds=round(elapsed, 1),
            events_per_cpu_s=round(n / cpu),
            target_peak_rss_mb=500,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
