"""Benchmark: FHIR R4 AuditEvent NDJSON → access events, on one core.

Generates ~300,000 BALP-shaped AuditEvents with :func:`render_fhir` (a practice
day's mix: reads, per-patient query results, writes, logins, a few failures and
exports; synthetic identities only) into a temporary file, then parses the file
five times exactly as ``vigile`` reads it (file source → parser) and prints one
JSON line with the median rate::

    {"bench": "fhir_parse", "events_per_s": ..., ...}

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_parsers_fhir.py [--events N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigile.events import AccessEvent
from vigile.parsers.fhir import FhirAuditParser, render_fhir
from vigile.sources import FileSource

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "LogicielCabinet/4.2 (Windows)",
)


def generate(n: int, seed: int = 7) -> list[AccessEvent]:
    """``n`` synthetic access events in time order, one AuditEvent each."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    events: list[AccessEvent] = []
    i = 0
    while len(events) < n:
        doctor = rng.randrange(3800)
        tenant = f"cab-{doctor // 3:04d}"
        actor = f"dr.martin.{doctor:04d}"
        session = f"jti-{doctor:04d}-{rng.randrange(1 << 32):08x}"
        ip = f"10.{doctor // 256 % 256}.{doctor % 256}.{rng.randrange(1, 255)}"
        ts = start + timedelta(seconds=i * 0.25)
        common = {
            "tenant": tenant,
            "actor": actor,
            "session": session,
            "src_ip": ip,
            "user_agent": rng.choice(_BROWSERS),
        }
        roll = rng.random()
        if roll < 0.08:
            failed = rng.random() < 0.2
            events.append(
                AccessEvent(
                    ts=ts,
                    action="login_failed" if failed else "login",
                    resource="session",
                    status=401 if failed else 200,
                    event_id=f"ae-{i}",
                    **common,
                )
            )
        elif roll < 0.28:  # a query: BALP writes one AuditEvent per patient returned
            request = f"req-{i:08x}"
            family = rng.choice(("DUPONT", "MARTIN", "BERNARD", "PETIT", "DURAND"))
            for k in range(rng.randrange(1, 8)):
                events.append(
                    AccessEvent(
                        ts=ts,
                        action="search",
                        resource="patient",
                        patient_ids=[f"P{rng.randrange(10_000_000):07d}"],
                        query=f"/fhir/Patient?family={family}&_count=20",
                        event_id=f"ae-{i}-{k}",
                        extra={"request_id": request},
                        **common,
                    )
                )
        else:
            action = rng.choices(
                ("read", "create", "update", "delete", "export"), (80, 6, 10, 1, 1)
            )[0]
            resource = rng.choices(
                ("patient", "document", "prescription", "appointment", "annotation"),
                (50, 25, 10, 10, 5),
            )[0]
            denied = rng.random() < 0.02
            events.append(
                AccessEvent(
                    ts=ts,
                    action=action,  # type: ignore[arg-type]
                    resource=resource,
                    patient_ids=[f"P{rng.randrange(10_000_000):07d}"],
                    status=403 if denied else 200,
                    event_id=f"ae-{i}",
                    **common,
                )
            )
        i += 1
    return events[:n]


def parse_file(path: Path, parser: FhirAuditParser) -> tuple[float, int, int]:
    """Seconds to parse the file the way the stream does; (seconds, accepted, skipped)."""
    parse = parser.parse
    accepted = skipped = 0
    t0 = time.perf_counter()
    for _, line in FileSource(path).lines():
        if parse(line) is None:
            skipped += 1
        else:
            accepted += 1
    return time.perf_counter() - t0, accepted, skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    events = generate(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.ndjson"
        t0 = time.perf_counter()
        with path.open("wb") as out:
            for event in events:
                out.write(render_fhir(event) + b"\n")
        render_s = time.perf_counter() - t0
        size = path.stat().st_size
        parser = FhirAuditParser()
        times = []
        accepted = skipped = 0
        for _ in range(args.runs):
            seconds, accepted, skipped = parse_file(path, parser)
            times.append(seconds)
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "bench": "fhir_parse",
                "events_per_s": round(len(events) / median),
                "events": len(events),
                "accepted": accepted,
                "skipped": skipped,
                "bytes_per_event": round(size / len(events)),
                "runs_s": [round(t, 3) for t in times],
                "render_per_s": round(len(events) / render_s),
            }
        )
    )


if __name__ == "__main__":
    main()
