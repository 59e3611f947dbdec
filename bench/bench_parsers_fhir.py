"""Benchmark: FHIR R4 AuditEvent NDJSON → access events, on one core.

Generates ~300,000 BALP-shaped AuditEvents with :func:`render_fhir` (a practice
day's mix: reads, per-patient query results, writes, logins, a few failures and
exports; synthetic identities only) into a temporary file, then times, median of
five runs: the parser over the file's lines (``events_per_s``); median of three:
the same through the file source as ``vigile ingest`` reads it
(``file_events_per_s``) and the bare typed JSON decode for reference. Prints one
JSON line::

    {"bench": "fhir_parse", "events_per_s": ..., ...}

``cpu_events_per_s`` uses process CPU time: on a shared machine it shows what one
core does even when other work steals wall time.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_parsers_fhir.py [--events N]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import median_time, pin_one_core, report
from vigile.events import AccessEvent
from vigile.parsers.fhir import _DECODER, FhirAuditParser, render_fhir
from vigile.sources import FileSource

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4",
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    pin_one_core()

    events = generate(args.events)
    parser = FhirAuditParser()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.ndjson"
        t0 = time.perf_counter()
        with path.open("wb") as out:
            for event in events:
                out.write(render_fhir(event) + b"\n")
        render_s = time.perf_counter() - t0
        size = path.stat().st_size
        lines = path.read_bytes().splitlines()
        outcome: dict[str, int] = {}

        def parse() -> None:
            p = parser.parse
            accepted = 0
            for line in lines:
                if p(line) is not None:
                    accepted += 1
            outcome["accepted"] = accepted

        def parse_file() -> None:
            p = parser.parse
            for _, line in FileSource(path).lines():
                p(line)

        def decode() -> None:
            d = _DECODER.decode
            for line in lines:
                d(line)

        cpu0 = time.process_time()
        t_parse, runs = median_time(parse, args.runs)
        cpu_parse = (time.process_time() - cpu0) / args.runs
        t_file, _ = median_time(parse_file, min(3, args.runs))  # secondary figures:
        t_decode, _ = median_time(decode, min(3, args.runs))  # fewer runs keep it < 1 min
    n = len(lines)
    report(
        "fhir_parse",
        events=n,
        events_per_s=round(n / t_parse),
        cpu_events_per_s=round(n / cpu_parse),
        file_events_per_s=round(n / t_file),
        decode_only_per_s=round(n / t_decode),
        accepted=outcome["accepted"],
        bytes_per_event=round(size / n),
        runs_s=[round(r, 3) for r in runs],
        render_per_s=round(n / render_s),
        target_events_per_s=100_000,
    )


if __name__ == "__main__":
    main()
