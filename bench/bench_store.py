"""Per-patient look-up over a large store: < 1 s over 50 M stored events (issue 2).

Builds (once, cached under bench/out/) a store of N events spread over 30 days
with `ParquetStore.append_table` (vectorised synthetic events: the query
figure is about the store, not the parser), then times `patient_accesses` for
patients known to be in it, cold (new process-level connection) and warm.

    python bench/bench_store.py [--events 50000000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time

from common import OUT, report
from synth import event_table


def build(path, n: int) -> float:  # type: ignore[no-untyped-def]
    from vigile.store import open_store

    shutil.rmtree(path, ignore_errors=True)
    store = open_store(path, create=True)
    t0 = time.perf_counter()
    day_us = 86_400 * 1_000_000
    start = 1_772_409_600_000_000  # 2026-03-02T00:00Z
    per_day = max(1, n // 30)
    chunk = min(2_000_000, per_day)
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        day = i // per_day
        table = event_table(m, seed=i, start_us=start + day * day_us + (i % per_day) * 2_000)
        store.append_table(table)
    (path / "built").write_text(str(n))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000_000)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    from vigile.store import open_store

    path = OUT / f"store-{args.events}"
    built_s = None
    if not (path / "built").exists():
        built_s = build(path, args.events)
    info = open_store(path).info()
    rng = random.Random(3)
    # half the look-ups for patients the store holds, half for random ids (mostly absent)
    import duckdb

    sample = duckdb.sql(
        f"SELECT patient_id FROM read_parquet('{path}/exposures/*/*.parquet') USING SAMPLE 1000"
    ).fetchall()
    patients = [rng.choice(sample)[0] for _ in range(args.queries // 2)]
    patients += [f"P{rng.randrange(15_000_000):08d}" for _ in range(args.queries - len(patients))]
    cold, warm, found = [], [], []
    for pid in patients:
        store = open_store(path)  # a fresh DuckDB connection each time: nothing cached in it
        t0 = time.perf_counter()
        rows = store.patient_accesses(pid).num_rows
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.patient_accesses(pid)
        warm.append(time.perf_counter() - t0)
        found.append(rows)
        store.close()
    report(
        "store_patient_query",
        stored_events=info.events,
        parts=info.parts,
        size_gb=round(info.size_bytes / 1e9, 2),
        build_s=None if built_s is None else round(built_s, 1),
        median_s=round(statistics.median(cold), 3),
        p90_s=round(sorted(cold)[int(len(cold) * 0.9) - 1], 3),
        warm_median_s=round(statistics.median(warm), 3),
        mean_rows=round(statistics.mean(found), 1),
        target_s=1.0,
    )


if __name__ == "__main__":
    main()
