"""Decision latency: in-process ``Guard.decide`` and ``GET /v1/decide`` over HTTP.

Issue 5's figures: p99 ≤ 2 ms in-process, ≤ 10 ms over HTTP at 1,000 requests/s
with the load coming from a separate process.

* **in-process** — a guard holding ``--decisions`` decisions in force (sessions,
  accounts, addresses, a few networks, throttles) and 100,000 known sessions
  answers ``--calls`` decisions of a realistic mix (most allowed); each call is
  timed on its own.
* **HTTP** — ``vigile serve`` runs as its own process (``--pin``: on CPU 0;
  ``--nice -10``: at a higher priority); a load generator, another process
  (pinned to CPU 1 on a machine with two), sends
  ``--rate`` requests per second *open loop* (each request has a scheduled send
  time and its latency is measured from that time, so a stall is not hidden by
  the client waiting: no coordinated omission) over keep-alive connections, with
  the headers nginx's ``auth_request`` sends. The first 2 s are a warm-up.
* with ``wrk`` installed, a closed-loop ``wrk`` run gives the maximum throughput
  as a side figure.

    PYTHONPATH=src .venv/bin/python bench/bench_decide.py                 # quick
    PYTHONPATH=src .venv/bin/python bench/bench_decide.py --seconds 60    # longer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import report  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]


def _quantiles(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        return {}

    def q(p: float) -> float:
        return v[min(len(v) - 1, int(p * len(v)))]

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": v[-1]}


def _populate(state_url: str, n: int, seed: int = 5) -> dict[str, list[str]]:
    """Decisions in force and the identities the load asks about."""
    from vigile.respond.guard import Guard
    from vigile.respond.policy import load_policy
    from vigile.respond.state import open_state

    rng = random.Random(seed)
    state = open_state(state_url)
    guard = Guard(state, load_policy()).start()
    blocked_sessions, blocked_accounts, throttled = [], [], []
    for i in range(n):
        kind = i % 10
        if kind < 5:
            s = f"s-b{i:07d}"
            guard.block("session", s, reason="bench", by="bench", duration=86400)
            blocked_sessions.append(s)
        elif kind < 8:
            t, a = f"cab-{i % 997:04d}", f"dr.b{i:07d}"
            guard.block("account", f"{t}/{a}", reason="bench", by="bench", duration=86400)
            blocked_accounts.append(f"{t}/{a}")
        elif kind < 9:
            s = f"s-t{i:07d}"
            guard.block("session", s, reason="bench", by="bench", duration=86400,
                        decision="throttle", rate=(1_000_000, 1.0))  # fmt: skip
            throttled.append(s)
        else:
            ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{i % 250}"
            guard.block("ip", ip, reason="bench", by="bench", duration=86400)
    for k in range(5):
        guard.block("ip", f"203.0.{k}.0/24", reason="bench", by="bench", duration=86400)
    state.close()
    return {"sessions": blocked_sessions, "accounts": blocked_accounts, "throttled": throttled}


def _mix(ids: dict[str, list[str]], n: int, seed: int = 9) -> list[dict[str, str]]:
    """``n`` requests: 85 % allowed (unknown session), 7 % blocked session, 5 % blocked
    account, 3 % throttled session."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = rng.random()
        ip = f"82.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if r < 0.85:
            out.append({"session": f"s-ok{i % 50_000:06d}", "src_ip": ip})
        elif r < 0.92:
            out.append({"session": rng.choice(ids["sessions"]), "src_ip": ip})
        elif r < 0.97:
            tenant, actor = rng.choice(ids["accounts"]).split("/", 1)
            out.append({"tenant": tenant, "actor": actor, "session": f"s-x{i}", "src_ip": ip})
        else:
            out.append({"session": rng.choice(ids["throttled"]), "src_ip": ip})
    return out


def in_process(decisions: int, calls: int) -> dict[str, Any]:
    from vigile.respond.guard import Guard
    from vigile.respond.policy import load_policy
    from vigile.respond.state import open_state

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/state.db"
        ids = _populate(url, decisions)
        state = open_state(url)
        guard = Guard(state, load_policy()).start()
        for i in range(100_000):
            guard.sessions.remember(f"s-known{i:06d}", f"cab-{i % 997:04d}", f"dr.k{i:06d}")
        requests = _mix(ids, calls)
        decide = guard.decide
        perf = time.perf_counter_ns
        for r in requests[:20_000]:  # warm-up
            decide(**r)
        lat = []
        refused = 0
        for r in requests:
            t0 = perf()
            v = decide(**r)
            lat.append((perf() - t0) / 1000.0)
            refused += v.status >= 400
        state.close()
    q = _quantiles(lat)
    return {
        "calls": calls,
        "decisions_in_force": decisions + 5,
        "refused_share": round(refused / calls, 3),
        "latency_us": {k: round(v, 2) for k, v in q.items()},
        "mean_us": round(statistics.fmean(lat), 2),
    }


# ---- the load generator (a separate process) ----------------------------------------
async def _load(url: str, token: str, rate: float, seconds: float, conns: int,
                requests: list[dict[str, str]]) -> dict[str, Any]:  # fmt: skip
    host, port = url.removeprefix("http://").split(":")
    templates = []
    for r in requests:
        lines = ["GET /v1/decide HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {token}",
                 "X-Vigile-Enforcer: nginx", "X-Original-Method: GET",
                 "X-Original-URI: /api/v1/patients/P10000123"]  # fmt: skip
        if "session" in r:
            lines.append(f"X-Vigile-Session: {r['session']}")
        if "tenant" in r:
            lines.append(f"X-Vigile-Tenant: {r['tenant']}")
            lines.append(f"X-Vigile-Actor: {r['actor']}")
        lines.append(f"X-Real-IP: {r['src_ip']}")
        templates.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[tuple[float, float]] = []  # (scheduled, latency)
    statuses: dict[int, int] = {}
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while True:
            item = await queue.get()
            if item is None:
                writer.close()
                return
            scheduled, payload = item
            try:
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                reader, writer = await asyncio.open_connection(host, int(port))
                continue
            done = time.perf_counter()
            latencies.append((scheduled, done - scheduled))
            statuses[status] = statuses.get(status, 0) + 1

    workers = [asyncio.create_task(worker()) for _ in range(conns)]
    await asyncio.sleep(0.2)
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for i in range(total):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((at, templates[i % len(templates)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    end = max((s + lat for s, lat in latencies), default=start)
    measured = [lat * 1000 for s, lat in latencies if s >= start + 2.0]
    q = _quantiles(measured)
    return {
        "sent": total,
        "answered": len(latencies),
        "errors": errors,
        "achieved_rate": round(len(latencies) / (end - start), 1),
        "statuses": statuses,
        "latency_ms": {k: round(v, 3) for k, v in q.items()},
    }


def _client_main(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    requests = json.loads(Path(args.requests).read_text())
    result = asyncio.run(
        _load(args.url, args.token, args.rate, args.seconds, args.connections, requests)
    )
    print(json.dumps(result))


def over_http(
    decisions: int, rate: float, seconds: float, conns: int, *, pin: bool, nice: int
) -> dict[str, Any]:
    from vigile.respond.state import open_state
    from vigile.web.auth import create_token
    from vigile.web.server import free_port

    env = {**os.environ, "VIGILE_TOKEN_PEPPER": "bench-pepper", "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        url_state = f"sqlite:///{tmp}/state.db"
        ids = _populate(url_state, decisions)
        os.environ["VIGILE_TOKEN_PEPPER"] = "bench-pepper"
        st = open_state(url_state)
        token, _ = create_token(st, "bench", ["decide"], now=time.time())
        st.close()
        port = free_port()
        server_cmd = [sys.executable, "-m", "vigile", "serve", "--port", str(port), "--state",
                      url_state, "--no-detect", "--log-level", "warning"]  # fmt: skip
        two = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
        prefix = ["taskset", "-c", "0"] if pin and two else []
        if nice:
            prefix = ["nice", "-n", str(nice), *prefix]
        server = subprocess.Popen(prefix + server_cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            import httpx

            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("vigile serve did not start")
                time.sleep(0.1)
            reqs = Path(tmp) / "requests.json"
            reqs.write_text(json.dumps(_mix(ids, 20_000)))
            client = subprocess.run(
                [sys.executable, __file__, "--client", "--url", f"http://127.0.0.1:{port}",
                 "--token", token, "--rate", str(rate), "--seconds", str(seconds),
                 "--connections", str(conns), "--requests", str(reqs)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            result: dict[str, Any] = json.loads(client.stdout.strip().splitlines()[-1])
            wrk = shutil.which("wrk")
            if wrk:
                script = Path(tmp) / "decide.lua"
                script.write_text(
                    'wrk.headers["Authorization"] = "Bearer ' + token + '"\n'
                    'wrk.headers["X-Vigile-Session"] = "s-ok000001"\n'
                    'wrk.headers["X-Real-IP"] = "82.64.12.7"\n'
                )
                wpin = ["taskset", "-c", "1"] if pin and two else []
                run = subprocess.run(
                    [*wpin, wrk, "-t1", "-c8", "-d5s", "--latency", "-s", str(script),
                     f"http://127.0.0.1:{port}/v1/decide"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                for line in run.stdout.splitlines():
                    if line.startswith("Requests/sec:"):
                        result["wrk_closed_loop_req_per_s"] = float(line.split()[1])
                    if line.strip().startswith("99%"):
                        result["wrk_closed_loop_p99"] = line.split()[1]
        finally:
            server.terminate()
            server.wait(timeout=10)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--pin", action="store_true", help="pin the server to CPU 0")
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="the server's niceness (-10: what a systemd unit "
        "with Nice=-10 gives a latency-sensitive service on a shared host)",
    )
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    ap.add_argument("--requests", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        _client_main(args)
        return
    load = os.getloadavg()
    local = in_process(args.decisions, args.calls)
    http = over_http(
        args.decisions, args.rate, args.seconds, args.connections, pin=args.pin, nice=args.nice
    )
    report(
        "decide",
        in_process=local,
        http=http,
        targets={"in_process_p99_ms": 2.0, "http_p99_ms_at_1000_rps": 10.0},
        in_process_p99_ms=round(local["latency_us"]["p99"] / 1000, 4),
        http_p99_ms=http["latency_ms"].get("p99"),
        rate=args.rate,
        load_average=[round(x, 2) for x in load],
        cpus=os.cpu_count(),
        server_nice=args.nice,
        server_pinned=args.pin,
    )


if __name__ == "__main__":
    main()
