"""Synthetic interface events for benchmarks: fast, deterministic, shaped like a practice day.

Not the simulator (``vigile sim`` builds a world with truth); this only makes
realistic-looking lines in volume so the parsers and the store can be timed.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
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


def _columns(n: int, seed: int, start_us: int, patients: int) -> dict[str, object]:
    """Vectorised columns of ``n`` plausible events (numpy), time-ordered from ``start_us``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, 2_000, n)  # ~1 ms mean: a busy vendor's whole fleet
    ts = start_us + np.cumsum(gaps)
    practice = rng.integers(0, 3_000, n)
    doctor = rng.random(n) < 0.7
    kind = rng.choice(len(_ACTIONS), n, p=np.array([a[4] for a in _ACTIONS]) / 100)
    pid = rng.integers(0, patients, n)
    status = np.where(rng.random(n) < 0.98, 200, 404)
    return {
        "ts": ts,
        "practice": practice,
        "doctor": doctor,
        "kind": kind,
        "pid": pid,
        "status": status,
    }


def fast_lines(
    n: int, seed: int = 7, start: str = "2026-03-02T07:00:00+00:00", patients: int = 15_000_000
) -> Iterator[bytes]:
    """Interface JSON lines, about a million a second: for parser and memory benchmarks."""
    from datetime import datetime as dt

    start_us = int(dt.fromisoformat(start).timestamp() * 1_000_000)
    chunk = 200_000
    for base in range(0, n, chunk):
        m = min(chunk, n - base)
        c = {k: v.tolist() for k, v in _columns(m, seed + base, start_us, patients).items()}  # type: ignore[attr-defined]
        start_us = int(c["ts"][-1])
        for i in range(m):
            t = int(c["ts"][i])  # type: ignore[index]
            secs, us = divmod(t, 1_000_000)
            stamp = _iso(secs) + f".{us // 1000:03d}Z"
            p = int(c["practice"][i])  # type: ignore[index]
            action, resource, method, route, _ = _ACTIONS[int(c["kind"][i])]  # type: ignore[index]
            who = "dr.martin" if c["doctor"][i] else "sec.durand"  # type: ignore[index]
            yield (
                f'{{"ts":"{stamp}","tenant":"cab-{p:04d}","actor":"{who}.{p:04d}",'
                f'"action":"{action}","resource":"{resource}",'
                f'"event_id":"ev-{seed}-{base + i:010d}",'
                f'"session":"s-{p:04d}","src_ip":"82.{p % 250}.{p // 250}.{i % 200 + 1}",'
                f'"user_agent":"MedPratic/7.4.2 (Windows NT 10.0; Win64)","method":"{method}",'
                f'"route":"{route}","status":{c["status"][i]},'  # type: ignore[index]
                f'"patient_ids":["P{int(c["pid"][i]):08d}"],"bytes":2310}}'  # type: ignore[index]
            ).encode()


_ISO_CACHE: dict[int, str] = {}


def _iso(secs: int) -> str:
    day, rest = divmod(secs, 86_400)
    prefix = _ISO_CACHE.get(day)
    if prefix is None:
        prefix = _ISO_CACHE[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
    h, rem = divmod(rest, 3600)
    return f"{prefix}{h:02d}:{rem // 60:02d}:{rem % 60:02d}"


def event_table(n: int, seed: int, start_us: int, patients: int = 15_000_000):  # type: ignore[no-untyped-def]
    """An Arrow table of ``n`` events in the store's schema, built without Python loops."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from vigile.store.parquet import EVENT_SCHEMA

    c = _columns(n, seed, start_us, patients)
    idx = np.arange(n)
    practice = pa.array(c["practice"])
    tenant = pc.binary_join_element_wise(
        "cab-", pc.utf8_lpad(pc.cast(practice, pa.string()), 4, "0"), ""
    )
    who = pa.array(np.where(c["doctor"], "dr.martin.", "sec.durand."))
    actor = pc.binary_join_element_wise(
        who, pc.utf8_lpad(pc.cast(practice, pa.string()), 4, "0"), ""
    )
    key = pc.binary_join_element_wise(f"ev-{seed}-", pc.cast(pa.array(idx), pa.string()), "")
    pid = pc.binary_join_element_wise(
        "P", pc.utf8_lpad(pc.cast(pa.array(c["pid"]), pa.string()), 8, "0"), ""
    )
    kinds = np.asarray(c["kind"])
    pick = lambda j: pa.array(np.array([a[j] for a in _ACTIONS])[kinds])  # noqa: E731
    patient_ids = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), pid)
    cols = {
        "event_key": key,
        "ts": pa.array(c["ts"], pa.timestamp("us", tz="UTC")),
        "ts_offset": pa.array(np.zeros(n, np.int16)),
        "tenant": tenant,
        "actor": actor,
        "action": pick(0),
        "resource": pick(1),
        "event_id": key,
        "session": tenant,
        "src_ip": pa.nulls(n, pa.string()),
        "user_agent": pa.array(np.full(n, "MedPratic/7.4.2 (Windows NT 10.0; Win64)")),
        "method": pick(2),
        "route": pick(3),
        "status": pa.array(np.asarray(c["status"]).astype(np.int16)),
        "patient_ids": patient_ids,
        "records": pa.array(np.ones(n, np.int64)),
        "bytes": pa.array(np.full(n, 2310, np.int64)),
        "query": pa.nulls(n, pa.string()),
        "extra": pa.nulls(n, pa.string()),
    }
    return pa.table(cols).cast(EVENT_SCHEMA)
