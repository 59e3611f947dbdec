"""HTTP ingest: ``POST /v1/events`` batches into a live ``vigile serve`` running detection.

Issue 5's figure: ≥ 20,000 events/s sustained over HTTP.

``vigile serve`` runs as its own process with the detection engine and the
world's context (pinned to CPU 0 on a two-core machine); a sender — another
process, pinned to CPU 1 — posts a simulated world's events (``medium`` preset by
default: 80 practices, 2.1 M events; made once under ``bench/out``) in NDJSON
batches of ``--batch`` lines, one batch at a time (so the engine sees them in
time order, as a log shipper would send them), for ``--events`` events. The
figure is events accepted per second of wall time, from the first byte sent to
the last answer; every batch's answer is checked (read = accepted).

    PYTHONPATH=src .venv/bin/python bench/bench_http_ingest.py
    PYTHONPATH=src .venv/bin/python bench/bench_http_ingest.py --events 2000000 --preset medium
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
import time
from pathlib import Path
from typing import Any

from common import OUT, report  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]


def _world(preset: str, seed: int) -> Path:
    world = OUT / f"world-{preset}-{seed}"
    if not (world / "world.json").exists():
        subprocess.run(
            [sys.executable, "-m", "vigile", "sim", "--preset", preset, "--seed", str(seed),
             "--out", str(world)],
            check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return world


def _sender(args: argparse.Namespace) -> None:
    import httpx

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    batches: list[bytes] = []
    current: list[bytes] = []
    n = 0
    with open(args.file, "rb") as f:
        for line in f:
            current.append(line)
            n += 1
            if len(current) >= args.batch:
                batches.append(b"".join(current))
                current = []
            if n >= args.events:
                break
    if current:
        batches.append(b"".join(current))
    headers = {"authorization": f"Bearer {args.token}", "content-type": "application/x-ndjson"}
    seconds: list[float] = []
    totals = {"read": 0, "accepted": 0, "quarantined": 0, "alerts": 0, "decisions": 0}
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as client:
        started = time.perf_counter()
        for body in batches:
            t0 = time.perf_counter()
            r = client.post("/v1/events", content=body)
            r.raise_for_status()
            seconds.append(time.perf_counter() - t0)
            answer = r.json()
            for key in totals:
                totals[key] += answer[key]
        elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "batch_seconds": seconds, **totals}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--store", action="store_true", help="also append to an event store")
    ap.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sender:
        _sender(args)
        return

    from vigile.respond.state import open_state
    from vigile.web.auth import create_token
    from vigile.web.server import free_port

    world = _world(args.preset, args.seed)
    env = {**os.environ, "VIGILE_TOKEN_PEPPER": "bench-pepper", "PYTHONPATH": str(ROOT / "src")}
    os.environ["VIGILE_TOKEN_PEPPER"] = "bench-pepper"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        state_url = f"sqlite:///{tmp}/state.db"
        st = open_state(state_url)
        token, _ = create_token(st, "bench", ["ingest"], now=time.time())
        st.close()
        port = free_port()
        cmd = [sys.executable, "-m", "vigile", "serve", "--port", str(port), "--state", state_url,
               "--context", str(world / "context"), "--log-level", "warning"]  # fmt: skip
        if args.store:
            cmd += ["--store", f"{tmp}/store"]
        pin = (
            ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []
        )
        server = subprocess.Popen(pin + cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            import httpx

            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("vigile serve did not start")
                time.sleep(0.2)
            done = subprocess.run(
                [sys.executable, __file__, "--sender", "--file", str(world / "events.jsonl"),
                 "--url", f"http://127.0.0.1:{port}", "--token", token,
                 "--events", str(args.events), "--batch", str(args.batch)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)
    batch = result.pop("batch_seconds")
    report(
        "http_ingest",
        world=f"{args.preset}/{args.seed}",
        events=result["accepted"],
        read=result["read"],
        quarantined=result["quarantined"],
        alerts=result["alerts"],
        decisions=result["decisions"],
        seconds=round(result["seconds"], 2),
        events_per_s=round(result["accepted"] / result["seconds"]),
        batch=args.batch,
        batch_ms={
            "median": round(statistics.median(batch) * 1000, 1),
            "max": round(max(batch) * 1000, 1),
        },
        detection=True,
        store=args.store,
        target_events_per_s=20_000,
        load_average=[round(x, 2) for x in load_before],
    )


if __name__ == "__main__":
    main()
