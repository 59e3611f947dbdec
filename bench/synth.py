"""Synthetic interface events for benchmarks: fast, deterministic, shaped like a practice day.

Not the simulator (``vigile sim`` builds a world with truth); this only makes
realistic-looking lines in volume so the parsers and the store can be timed.
"""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

_ACTIONS = [
    ("read", "patient", "GET", "/api/v1/patients/{patient_id}", 55),
    ("read", "annotation", "GET", "/api/v1/patients/{patient_id}/annotations", 10),
    ("list", "appointment", "GET", "/api/v1/appointments", 15),
    ("search", "patient", "GET", "/api/v1/patients/search", 10),
    ("update", "patient", "PUT", "/api/v1/patients/{patient_id}", 5),
    ("list", "patient", "GET", "/api/v1/patients", 5),
]


def write_events(
    path: Path, n: int, seed: int = 7, start: str = "2026-03-02T07:00:00+00:00"
) -> Path:
    """Write ``n`` time-ordered events (gzip if ``path`` ends in .gz)."""
    rng = random.Random(seed)
    t = datetime.fromisoformat(start)
    weights = [a[4] for a in _ACTIONS]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:  # type: ignore[operator]
        buf = []
        for i in range(n):
            t += timedelta(microseconds=rng.randrange(1, 40_000))
            action, resource, method, route, _ = rng.choices(_ACTIONS, weights)[0]
            practice = rng.randrange(400)
            who = (
                f"dr.martin.{practice:04d}" if rng.random() < 0.7 else f"sec.durand.{practice:04d}"
            )
            if action in ("list", "search"):
                pids = [f"P{rng.randrange(10_000_000):08d}" for _ in range(rng.randrange(0, 20))]
            else:
                pids = [f"P{rng.randrange(10_000_000):08d}"]
            ev = {
                "ts": t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "tenant": f"cab-{practice:04d}",
                "actor": who,
                "action": action,
                "resource": resource,
                "event_id": f"ev-{seed}-{i:010d}",
                "session": f"s-{practice:04d}-{rng.randrange(4)}",
                "src_ip": f"82.{practice % 250}.{rng.randrange(250)}.{rng.randrange(1, 250)}",
                "user_agent": "MedPratic/7.4.2 (Windows NT 10.0; Win64)",
                "method": method,
                "route": route,
                "status": 200 if rng.random() < 0.98 else 404,
                "patient_ids": pids,
                "bytes": rng.randrange(800, 40_000),
            }
            if action == "search":
                ev["query"] = "nom:" + rng.choice(["MAR", "DUR", "BER", "LEF", "MOR"])
            buf.append(orjson.dumps(ev))
            if len(buf) >= 10_000:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    return path
