"""Benchmark helpers: medians over runs, peak memory of a child process, JSON output."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def median_time(fn: Callable[[], Any], runs: int = 5) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``runs`` runs (seconds), and every run."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def report(name: str, **figures: Any) -> dict[str, Any]:
    """Print one JSON line of figures (what `make bench` collects) and return it."""
    row = {"bench": name, **figures}
    print(json.dumps(row), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **row}) + "\n")
    return row


def run_measured(
    cmd: list[str], stdin: Any = None, env: dict[str, str] | None = None
) -> tuple[float, int, str, float]:
    """Run a command; return (wall seconds, its peak RSS in MiB, stdout, its CPU seconds).

    ``os.wait4`` gives the resource usage of that one child (not the maximum over
    every child so far). CPU seconds (user + system) are what "per core" figures
    divide by: they hold on a shared, loaded machine where wall time does not.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, text)
    return elapsed, usage.ru_maxrss // 1024, text, usage.ru_utime + usage.ru_stime


def pin_one_core() -> None:
    """Run this process on one core, as the figures are stated per core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
