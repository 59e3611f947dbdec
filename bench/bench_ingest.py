"""Ingest into the event store, and memory flat in the size of the input.

Figures (issue 2): ingest >= 200,000 events/s; <= 500 MB resident however large
the input (streamed from a generator through stdin: nothing is held on disk).

    python bench/bench_ingest.py [--events 1000000] [--runs 5] [--stream-gb 10]
    python bench/bench_ingest.py --memory-only --stream-gb 10

Speeds are events per CPU-second of the ingest process (user + system, every
thread: the figure for one core) and per wall second. On a shared machine CPU
time inflates too, so each report carries the load average and a yardstick: the
line-by-line JSON Lines parser timed in this process over the same lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import OUT, ROOT, report, run_measured
from synth import fast_lines


def yardstick(path: Path, n: int = 200_000) -> int:
    """Events per CPU-second of ``JsonlParser.parse`` over the file's first lines, now."""
    import time

    from vigile.parsers.jsonl import JsonlParser

    with open(path, "rb") as f:
        lines = [f.readline() for _ in range(n)]
    parse = JsonlParser().parse
    t0 = time.process_time()
    for line in lines:
        parse(line)
    return round(n / (time.process_time() - t0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--stream-gb",
        type=float,
        default=1.0,
        help="size of the streamed input for the memory figure (10 for the full claim, 0: none)",
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
        walls, cpus, peaks = [], [], []
        for _ in range(0 if args.memory_only else args.runs):
            shutil.rmtree(work / "store", ignore_errors=True)
            wall, peak, _, cpu = run_measured(
                [*vigile, "ingest", "-e", str(path), "-s", str(work / "store"), "--json"]
            )
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        if walls:
            again, _, out, again_cpu = run_measured(
                [*vigile, "ingest", "-e", str(path), "-s", str(work / "store"), "--json"]
            )
            assert '"added":0' in out, out  # re-ingesting adds nothing
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            report(
                "ingest",
                events=args.events,
                events_per_s=round(args.events / wall),
                events_per_cpu_s=round(args.events / cpu),
                runs_cpu_s=[round(c, 2) for c in cpus],
                runs_s=[round(r, 2) for r in walls],
                peak_rss_mb=max(peaks),
                reingest_s=round(again, 2),
                reingest_cpu_s=round(again_cpu, 2),
                parser_yardstick_events_per_cpu_s=yardstick(path),
                load_average=[round(x, 1) for x in os.getloadavg()],
                target_events_per_s=200_000,
            )

        if args.stream_gb <= 0:
            return
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
        elapsed, peak_mb, out, cpu = run_measured(
            [*vigile, "ingest", "-e", "-", "-s", str(work / "big"), "--json"], stdin=gen.stdout
        )
        gen.wait()
        report(
            "ingest_memory",
            input_gb=round(n * line_bytes / 1e9, 2),
            events=n,
            added=json.loads(out)["added"],
            peak_rss_mb=peak_mb,
            seconds=round(elapsed, 1),
            events_per_cpu_s=round(n / cpu),
            load_average=[round(x, 1) for x in os.getloadavg()],
            target_peak_rss_mb=500,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
