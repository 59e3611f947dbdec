"""Benchmark: nginx access log (reference ``log_format vigile``) → access events, one core.

Generates ~1,000,000 realistic lines of the reference practice API
(``docs/reference-api.md``) into a temporary file: a practice network's busy
morning at ~200 requests/s (reads, annotation and prescription reads, searches,
lists, agenda, writes, logins with a few failures, exports, and about one line
in ten a static asset or health check that the route map skips), with synthetic
French identities only. It then parses the file five times exactly as
``vigile`` reads it (file source → :class:`~vigile.parsers.weblog.NginxParser`
with the default route map) and prints one JSON line with the median rate::

    {"bench": "nginx_parse", "lines_per_s": ..., "wall_lines_per_s": ..., ...}

``lines_per_s`` counts lines per CPU-second of the one thread that reads and
parses (file source included), so that other work on the machine does not
skew it; ``wall_lines_per_s`` is the same over elapsed time.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_parsers_weblog.py [--lines N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from vigile.parsers import ParserOptions, make_parser
from vigile.sources import FileSource

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "LogicielCabinet/4.2 (Windows NT 10.0)",
)
_NAMES = ("martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand")
_SEARCHES = ("dupont", "martin+jean", "lefebvre", "moreau+c", "garcia", "roux+marie")
_STATIC = (
    "/static/app.3f9a1c.js",
    "/static/app.3f9a1c.css",
    "/favicon.ico",
    "/api/v1/health",
    "/static/img/logo.svg",
)
_PARIS = timezone(timedelta(hours=1))


def _fmt_time(ts: datetime) -> str:
    return ts.strftime("%d/%b/%Y:%H:%M:%S %z")


def generate(path: Path, n: int, seed: int = 7) -> int:
    """Write ``n`` nginx lines in the reference format to ``path``; return the bytes written."""
    rng = random.Random(seed)
    t = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).astimezone(_PARIS)
    size = 0
    stamp_s, stamp = -1, ""
    with open(path, "w", encoding="utf-8") as out:
        buf: list[str] = []
        for _ in range(n):
            t += timedelta(microseconds=rng.randrange(1, 10_000))
            second = int(t.timestamp())
            if second != stamp_s:
                stamp_s, stamp = second, _fmt_time(t)
            practice = rng.randrange(1300)
            doctor = rng.random() < 0.7
            name = _NAMES[practice % len(_NAMES)]
            actor = f"{'dr' if doctor else 'sec'}.{name}.{practice:04d}"
            tenant = f"cab-{practice:04d}"
            session = f"s-{practice:04d}{rng.randrange(1 << 24):06x}"
            ip = f"10.{practice // 256}.{practice % 256}.{rng.randrange(2, 250)}"
            ua = _BROWSERS[practice % 3]
            pid = f"P{rng.randrange(10_000_000):07d}"
            roll = rng.random()
            status, method, records, patients = 200, "GET", "1", pid
            if roll < 0.10:
                target = rng.choice(_STATIC)
                actor = tenant = session = records = patients = "-"
            elif roll < 0.13:
                method, target, records, patients = "POST", "/api/v1/auth/login", "-", "-"
                if rng.random() < 0.15:
                    status, actor, tenant, session = 401, "-", "-", "-"
            elif roll < 0.50:
                target = f"/api/v1/patients/{pid}"
            elif roll < 0.58:
                target = f"/api/v1/patients/{pid}/annotations"
            elif roll < 0.63:
                target = f"/api/v1/patients/{pid}/prescriptions"
            elif roll < 0.73:
                target = f"/api/v1/patients/search?q={rng.choice(_SEARCHES)}"
                ids = [f"P{rng.randrange(10_000_000):07d}" for _ in range(rng.randrange(0, 12))]
                records, patients = str(len(ids)), ",".join(ids) or "-"
            elif roll < 0.80:
                target = f"/api/v1/patients?page={rng.randrange(1, 9)}&size=20"
                ids = [f"P{rng.randrange(10_000_000):07d}" for _ in range(20)]
                records, patients = "20", ",".join(ids)
            elif roll < 0.90:
                target = "/api/v1/appointments?date=2026-03-02"
                ids = [f"P{rng.randrange(10_000_000):07d}" for _ in range(rng.randrange(4, 25))]
                records, patients = str(len(ids)), ",".join(ids)
            elif roll < 0.95:
                method, target = "PUT", f"/api/v1/patients/{pid}"
            elif roll < 0.99:
                method, target = "POST", f"/api/v1/patients/{pid}/annotations"
                status = 201
            else:
                target = "/api/v1/exports/patients?page=1&size=200"
                ids = [f"P{rng.randrange(10_000_000):07d}" for _ in range(200)]
                records, patients = "200", ",".join(ids)
            if status == 200 and rng.random() < 0.01:
                status = 404
            body = 180 + len(patients) * 9
            rt = rng.randrange(2, 400) / 1000
            buf.append(
                f'{ip} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {body} '
                f'"https://{tenant}.cabinet.example.fr/" "{ua}" "{actor}" "{tenant}" '
                f'"{session}" "{records}" "{patients}" {rt:.3f}\n'
            )
            if len(buf) >= 10_000:
                chunk = "".join(buf)
                size += len(chunk)
                out.write(chunk)
                buf.clear()
        chunk = "".join(buf)
        size += len(chunk)
        out.write(chunk)
    return size


def run(path: Path) -> tuple[float, float, int, int, int]:
    """Parse ``path`` once; return (CPU seconds, wall seconds, lines, events, skipped)."""
    parser = make_parser("nginx", ParserOptions())
    parse = parser.parse
    events = skipped = lines = 0
    wall, cpu = time.perf_counter(), time.thread_time()
    for _, raw in FileSource(path).lines():
        lines += 1
        if parse(raw) is None:
            skipped += 1
        else:
            events += 1
    return time.thread_time() - cpu, time.perf_counter() - wall, lines, events, skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        size = generate(path, args.lines)
        rates, wall_rates = [], []
        lines = events = skipped = 0
        for _ in range(args.runs):
            cpu, wall, lines, events, skipped = run(path)
            rates.append(lines / cpu)
            wall_rates.append(lines / wall)
    print(
        json.dumps(
            {
                "bench": "nginx_parse",
                "lines_per_s": round(statistics.median(rates)),
                "wall_lines_per_s": round(statistics.median(wall_rates)),
                "runs": [round(r) for r in rates],
                "lines": lines,
                "events": events,
                "skipped": skipped,
                "mb": round(size / 1e6, 1),
                "format": "nginx log_format vigile + reference route map",
            }
        )
    )


if __name__ == "__main__":
    main()
