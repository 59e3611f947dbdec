"""Benchmark `vigile detect`: events per second on one core including parsing, and memory.

A simulated world is generated once (cached under ``bench/out/``), then ``vigile
detect`` replays it ``--runs`` times, each run a fresh child process pinned to one
CPU with Polars on one thread. Reported (one JSON line, medians over the runs):

* ``events_per_s`` – events / wall seconds (the machine may be shared);
* ``events_per_cpu_s`` – events / CPU seconds of the child (user + system): the
  per-core figure that holds on a loaded machine;
* ``read_only_events_per_cpu_s`` – the same for reading alone (parse + time order,
  no detection: ``detect``'s own reader), to show what the detectors cost;
* ``peak_rss_mb`` – the child's peak resident memory (context, state, everything);
* ``compiled`` – whether detection ran compiled (mypyc, see ``setup.py``) or as pure
  Python (``--pure`` sets ``VIGILE_PURE=1`` in the children, to compare both).

    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --preset medium --runs 3
    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --seed-scale  # 3,800 doctors, a month
    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --seed-scale --days 4  # the first 4 days
    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --world DIR  # any world
    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --pure  # without the compiled modules
    PYTHONPATH=src .venv/bin/python bench/bench_detect.py --instructions 200000

``--instructions N`` counts, with valgrind's callgrind, the machine instructions spent
inside the replay loop (``Engine.run``: reading, parsing, detection; not the start-up
nor the context load) on the world's first N events. Unlike seconds, the count is the
same from run to run whatever else the machine is doing, so two versions of the code
can be compared on a shared, noisy machine (it takes ~2 min for 200,000 events).

``--seed-scale`` is issue 4's memory figure: the ``seed`` preset (1,628 practices,
3,805 doctors, 19 M patient files, 28 days, the 1,500-account campaign; ~50 M events,
25.6 GB of JSON Lines) replayed once with every detector, writing a checkpoint at the
end; the line reports the peak RSS against the 2 GB target. Generating the month takes
~10-25 min of one core and ~3.8 GB of memory; ``--days N`` generates (and replays) only
the first N days. ``--checkpoint`` adds the checkpoint to other runs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import OUT, ROOT, report, run_measured

READ_ONLY = r"""
import gc, os, sys, time
try:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
except (AttributeError, OSError):
    pass
from vigile.detect.reader import ReplayReader
gc.set_threshold(200_000, 50, 100)
n = sum(1 for _ in ReplayReader([sys.argv[1]]))
print(n)
"""


PURE = False

COMPILED = "from vigile.detect import compiled; print(compiled())"


def _env() -> dict[str, str]:
    env = dict(os.environ, POLARS_MAX_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    if PURE:
        env["VIGILE_PURE"] = "1"
    return env


def _pinned(cmd: list[str]) -> list[str]:
    """Run ``cmd`` pinned to one core (taskset when present, else the child pins itself)."""
    taskset = "/usr/bin/taskset"
    if os.path.exists(taskset):
        core = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        return [taskset, "-c", str(core), *cmd]
    return cmd


def world_for(preset: str, seed: int, days: int | None = None) -> Path:
    """A cached simulated world (generated on first use)."""
    suffix = f"-{days}d" if days else ""
    world = OUT / f"detect-world-{preset}-{seed}{suffix}"
    if not (world / "world.json").exists():
        print(f"generating the {preset} world (seed {seed}) into {world} ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "vigile", "sim", "--preset", preset, "--seed", str(seed)]
        if days:
            cmd += ["--set", f"days={days}"]
        subprocess.run([*cmd, "--out", str(world), "--quiet"], check=True, env=_env())
    return world


#: the replay loop, as mypyc names it (callgrind counts only inside it)
_LOOP = "CPyDef_engine___run_Engine_gen_____mypyc_generator_helper__"


def instructions(world: Path, events: Path, n: int) -> None:
    """Report the instructions of ``Engine.run`` over the first ``n`` events of a world."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="vigile-bench-instr-") as tmp:
        head = Path(tmp) / "events.jsonl"
        with gzip.open(events) if events.suffix == ".gz" else open(events, "rb") as src:
            head.write_bytes(b"".join(itertools.islice(src, n)))
        out = Path(tmp) / "callgrind.out"
        cmd = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--collect-atstart=no",
            f"--toggle-collect={_LOOP}",
            sys.executable,
            "-m",
            "vigile",
            "detect",
            "--events",
            str(head),
            "--context",
            str(world / "context"),
            "--alerts",
            str(Path(tmp) / "alerts.jsonl"),
            "--json",
        ]
        done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        totals = [ln for ln in out.read_text().splitlines() if ln.startswith("totals:")]
        ir = int(totals[-1].split()[1]) if totals else 0
        if ir == 0:
            sys.exit("callgrind counted nothing: the replay loop is not compiled (--pure?)")
        digest = hashlib.sha256((Path(tmp) / "alerts.jsonl").read_bytes()).hexdigest()
    compiled = subprocess.run(
        [sys.executable, "-c", COMPILED], env=_env(), capture_output=True, text=True, check=True
    ).stdout.strip()
    report(
        "detect-instructions",
        world=str(world),
        compiled=compiled == "True",
        events=summary["events"],
        alerts=summary["alerts"],
        alerts_sha256=digest,
        instructions=ir,
        instructions_per_event=round(ir / max(summary["events"], 1)),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="medium", help="small | medium | seed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--world", type=Path, help="use this world instead of generating one")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-read-only", action="store_true", help="skip the reading-only baseline")
    ap.add_argument(
        "--seed-scale",
        action="store_true",
        help="the seed case's scale (preset seed, one run, no reading baseline): memory figure",
    )
    ap.add_argument("--days", type=int, help="generate only the first N days of the world")
    ap.add_argument("--pure", action="store_true", help="pure Python (VIGILE_PURE=1)")
    ap.add_argument(
        "--instructions",
        type=int,
        metavar="N",
        help="count the instructions of the replay loop on the first N events (callgrind)",
    )
    ap.add_argument(
        "--checkpoint",
        action="store_true",
        help="write a checkpoint at the end of each run (always with --seed-scale)",
    )
    args = ap.parse_args()
    global PURE  # noqa: PLW0603 (one switch for every child)
    PURE = args.pure
    if args.seed_scale:
        args.preset, args.runs, args.no_read_only, args.checkpoint = "seed", 1, True, True
        if args.seed == 7:
            args.seed = 42
    world = args.world or world_for(args.preset, args.seed, args.days)
    events = world / "events.jsonl"
    if not events.exists():
        events = world / "events.jsonl.gz"
    if args.instructions:
        instructions(world, events, args.instructions)
        return
    walls, cpus, rss, n_events, n_alerts = [], [], [], 0, 0
    summary: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="vigile-bench-detect-") as tmp:
        for _ in range(args.runs):
            cmd = _pinned(
                [
                    sys.executable,
                    "-m",
                    "vigile",
                    "detect",
                    "--events",
                    str(events),
                    "--context",
                    str(world / "context"),
                    "--alerts",
                    str(Path(tmp) / "alerts.jsonl"),
                    "--json",
                    # the state written at the end, as a long-running replay would: part
                    # of the memory figure (fresh each run: a resumed run skips everything)
                    *(["--checkpoint", str(Path(tmp) / "state.ckpt")] if args.checkpoint else []),
                ]
            )
            (Path(tmp) / "state.ckpt").unlink(missing_ok=True)
            wall, peak, out, cpu = run_measured(cmd, env=_env())
            summary = json.loads(out.strip().splitlines()[-1])
            n_events, n_alerts = summary["events"], summary["alerts"]
            walls.append(wall)
            cpus.append(cpu)
            rss.append(peak)
        read_cpu = None
        if not args.no_read_only:
            _, _, _, read_cpu = run_measured(
                _pinned([sys.executable, "-c", READ_ONLY, str(events)]), env=_env()
            )
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    compiled = subprocess.run(
        [sys.executable, "-c", COMPILED], env=_env(), capture_output=True, text=True, check=True
    ).stdout.strip()
    figures = {
        "world": str(world),
        "compiled": compiled == "True",
        "events": n_events,
        "alerts": n_alerts,
        "runs": args.runs,
        "checkpoint": args.checkpoint,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s": round(n_events / wall),
        "events_per_cpu_s": round(n_events / cpu),
        "peak_rss_mb": max(rss),
        "target_events_per_s": 150_000,
        "target_peak_rss_mb": 2048,
        "within_memory_target": max(rss) <= 2048,
        "incidents": summary.get("incidents"),
        "state": summary.get("state"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    info = world / "world.json"
    if info.exists():
        meta = json.loads(info.read_text())
        figures["world_preset"] = meta.get("preset")
        figures["world_days"] = (meta.get("config") or {}).get("days")
    if read_cpu:
        figures["read_only_events_per_cpu_s"] = round(n_events / read_cpu)
        figures["detection_us_per_event"] = round((cpu - read_cpu) / n_events * 1e6, 2)
    report("detect", **figures)


if __name__ == "__main__":
    main()
