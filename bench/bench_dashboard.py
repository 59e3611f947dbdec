"""The dashboard with a month of the `medium` world loaded: time per page, alert latency.

A real `vigile serve` (uvicorn, its own process) with the world's event store,
its context and a fresh state into which every alert `vigile detect` made on
the month is pushed through `POST /v1/alerts` (the policy decides on each).
Then, over real HTTP with httpx, signed in as an analyst (the DPO for the
breach and audit pages):

* once the store's roll-up is built and the open incidents' figures are computed
  (the server idle for 2 s), each page is fetched ``--runs`` times; reported per
  page: the median of the
  server's own time (``Server-Timing: app``: session, queries, rendering), the
  median wall time seen by the client, the first request, and the server
  process's CPU seconds per request (all its threads);
* alert latency: an overview live stream (server-sent events) is open; a new
  alert is pushed through the service API; the time until the stream carries
  it, ``--latency-runs`` times.

The world, store and alerts are made once and reused (``--world``, ``--store``,
``--alerts``): generating, ingesting and detecting the medium month takes
minutes.

    PYTHONPATH=src .venv/bin/python bench/bench_dashboard.py \\
        --world build/dash/world-medium --store build/dash/store-medium \\
        --alerts build/dash/alerts-medium.jsonl
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from common import OUT, ROOT, report

PASSWORD = "bench-password-not-secret"
PAGES = ("overview", "incident", "account", "alert", "decisions", "breach", "audit")


def _prepare(world: Path, store: Path, alerts: Path) -> None:
    vigile = [sys.executable, "-m", "vigile"]
    if not (world / "world.json").exists():
        print(f"generating the medium world into {world}", file=sys.stderr)
        subprocess.run([*vigile, "sim", "--preset", "medium", "--seed", "1", "--out", str(world)],
                       check=True)  # fmt: skip
    if not (store / "store.json").exists():
        print(f"ingesting into {store}", file=sys.stderr)
        subprocess.run([*vigile, "ingest", "--events", str(world / "events.jsonl"),
                        "--store", str(store)], check=True)  # fmt: skip
    if not alerts.exists():
        print(f"detecting into {alerts}", file=sys.stderr)
        subprocess.run([*vigile, "detect", "--events", str(world / "events.jsonl"), "--context",
                        str(world / "context"), "--alerts", str(alerts)], check=True)  # fmt: skip


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Signed:
    """httpx with the session cookie sent by hand (it is ``Secure``; we talk plain HTTP)."""

    def __init__(self, url: str, name: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120)
        page = self.client.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        login = page.cookies.get("__Host-vigile-login")
        r = self.client.post(
            "/ui/login",
            data={"csrf": token.group(1), "name": name, "password": PASSWORD},
            headers={"cookie": f"__Host-vigile-login={login}"},
        )
        assert r.status_code == 303, r.text[:300]
        found = re.search(r"__Host-vigile=([^;]+)", r.headers["set-cookie"])
        assert found is not None
        self.headers = {"cookie": f"__Host-vigile={found.group(1)}"}

    def get(self, path: str) -> tuple[httpx.Response, float]:
        t0 = time.perf_counter()
        r = self.client.get(path, headers=self.headers)
        return r, time.perf_counter() - t0


def _server_ms(r: httpx.Response) -> float:
    found = re.search(r"app;dur=([\d.]+)", r.headers.get("server-timing", ""))
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", type=Path, default=OUT / "dash-world-medium")
    ap.add_argument("--store", type=Path, default=OUT / "dash-store-medium")
    ap.add_argument("--alerts", type=Path, default=OUT / "dash-alerts-medium.jsonl")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--latency-runs", type=int, default=10)
    args = ap.parse_args()
    _prepare(args.world, args.store, args.alerts)

    tmp = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    state = f"sqlite:///{tmp / 'state.db'}"
    pepper = secrets.token_urlsafe(16)
    env = {**os.environ, "VIGILE_TOKEN_PEPPER": pepper, "PYTHONPATH": str(ROOT / "src"),
           "VIGILE_DASHBOARD_SCOPES": str(tmp / "scopes")}  # fmt: skip
    os.environ["VIGILE_TOKEN_PEPPER"] = pepper
    from vigile.respond.state import open_state
    from vigile.web.auth import create_token
    from vigile.web.server import free_port
    from vigile.web.users import UserStore

    st = open_state(state)
    token, _ = create_token(st, "bench", ["ingest", "read"], now=time.time())
    users = UserStore(st)
    users.add("analyst", "analyst", PASSWORD)
    users.add("dpo", "dpo", PASSWORD)
    st.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed at the end
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigile", "serve", "--port", str(port), "--state", state,
         "--store", str(args.store), "--context", str(args.world / "context"), "--no-detect",
         "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "serve.log").read_text()[-3000:])
            time.sleep(0.2)
        auth = {"authorization": f"Bearer {token}"}
        lines = args.alerts.read_bytes().splitlines()
        t0 = time.perf_counter()
        for i in range(0, len(lines), 2000):
            r = httpx.post(url + "/v1/alerts", content=b"\n".join(lines[i : i + 2000]),
                           headers=auth, timeout=300)  # fmt: skip
            r.raise_for_status()
        push_s = time.perf_counter() - t0
        analyst = _Signed(url, "analyst")
        dpo = _Signed(url, "dpo")

        # the daily roll-up of the store is built in a thread after the first page
        t0 = time.perf_counter()
        analyst.get("/ui/")
        while "Requests per hour" not in analyst.get("/ui/")[0].text:
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("the roll-up did not finish in 10 minutes")
            time.sleep(0.5)
        rollup_s = time.perf_counter() - t0
        # then the open incidents' figures are computed in the background: let them finish
        # (the server idle for 2 s) so that the pages are measured, not the warm-up
        settle = time.perf_counter()
        while time.perf_counter() - settle < 300:
            cpu0 = _cpu(proc.pid)
            time.sleep(2)
            if _cpu(proc.pid) - cpu0 < 0.1:
                break
        settle_s = time.perf_counter() - settle

        incidents = httpx.get(url + "/v1/incidents", headers=auth).json()["incidents"]
        incident = max(incidents, key=lambda i: len(i["accounts"]))
        query = {"incident": incident["incident"], "limit": 10_000}
        items = httpx.get(url + "/v1/alerts", params=query, headers=auth).json()
        alert = next(a for a in items["alerts"] if a["severity"] in ("high", "critical"))
        tenant, actor = alert["tenant"], alert["actor"]
        paths = {
            "overview": (analyst, "/ui/"),
            "incident": (analyst, f"/ui/incidents/{incident['incident']}"),
            "account": (analyst, f"/ui/accounts/{tenant}/{actor}"),
            "alert": (analyst, f"/ui/alerts/{alert['alert_id']}"),
            "decisions": (analyst, "/ui/decisions"),
            "breach": (dpo, f"/ui/breach/{incident['incident']}"),
            "audit": (dpo, "/ui/audit"),
        }
        pages: dict[str, Any] = {}
        for name in PAGES:
            who, path = paths[name]
            cpu0 = _cpu(proc.pid)
            first, first_wall = who.get(path)
            assert first.status_code == 200, (name, first.status_code, first.text[:300])
            server, wall = [], []
            for _ in range(args.runs):
                r, w = who.get(path)
                server.append(_server_ms(r))
                wall.append(w * 1000)
            cpu = (_cpu(proc.pid) - cpu0) / (args.runs + 1)
            pages[name] = {
                "server_ms_median": round(statistics.median(server), 1),
                "server_ms_max": round(max(server), 1),
                "wall_ms_median": round(statistics.median(wall), 1),
                "first_ms": round(first_wall * 1000, 1),
                "cpu_ms_per_request": round(cpu * 1000, 1),
                "bytes": len(first.content),
            }
            print(name, pages[name], file=sys.stderr)

        latencies = []
        for n in range(args.latency_runs):
            alert_id = f"al-bench-{time.time_ns()}-{n}"
            seen: dict[str, float] = {}
            ready = threading.Event()

            def listen(alert_id: str = alert_id, seen: dict[str, float] = seen,
                       ready: threading.Event = ready) -> None:  # fmt: skip
                with (
                    httpx.Client(base_url=url, timeout=30) as c,
                    c.stream("GET", "/ui/live/stream", headers=analyst.headers) as r,
                ):
                    for line in r.iter_lines():
                        ready.set()
                        if line.startswith("data: ") and alert_id in line:
                            seen["at"] = time.perf_counter()
                            return

            t = threading.Thread(target=listen, daemon=True)
            t.start()
            ready.wait(30)
            time.sleep(0.3)
            body = orjson.dumps({
                "alert_id": alert_id, "ts": alert["ts"], "tenant": "cab-bench",
                "actor": f"dr.bench.{n}", "session": None, "src_ip": None, "severity": "high",
                "score": 1.0, "detector": "bulk-paging", "reasons": ["bench"], "evidence": {},
                "incident": None,
            })  # fmt: skip
            pushed = time.perf_counter()
            httpx.post(url + "/v1/alerts", content=body, headers=auth).raise_for_status()
            t.join(timeout=10)
            latencies.append((seen["at"] - pushed) * 1000 if "at" in seen else float("inf"))
        report(
            "dashboard",
            world=str(args.world),
            events=_count_lines(args.world / "events.jsonl"),
            alerts=len(lines),
            incidents=len(incidents),
            incident_accounts=len(incident["accounts"]),
            alerts_push_s=round(push_s, 1),
            rollup_s=round(rollup_s, 1),
            warm_s=round(settle_s, 1),
            pages=pages,
            runs=args.runs,
            alert_latency_ms_median=round(statistics.median(latencies), 1),
            alert_latency_ms_max=round(max(latencies), 1),
            server_peak_rss_mib=round(_peak_rss_mib(proc.pid)),
            loadavg=os.getloadavg()[0],
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
