"""The store's key index: what it says is stored is exactly what was added."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigile.store.keyindex import KeyIndex, Run, _merged, _write_run


def test_when_runs_are_merged_in_chunks_then_the_result_is_the_sorted_union(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    arrays = [np.sort(rng.integers(0, 2**64 - 1, n, dtype=np.uint64)) for n in (1, 50, 333, 0)]
    runs = [_write_run(tmp_path, frozenset([f"p{i}"]), a) for i, a in enumerate(arrays)]
    for chunk in (1, 7, 64, 10_000):
        merged = np.concatenate(list(_merged(runs, chunk)))
        assert np.array_equal(merged, np.sort(np.concatenate(arrays)))


def test_when_many_parts_are_added_then_lookups_are_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    index = KeyIndex(tmp_path)
    runs: list[Run] = []
    added = []
    for i in range(40):
        h = rng.integers(0, 2**64 - 1, int(rng.integers(1, 3000)), dtype=np.uint64)
        runs = index.add("2026-03-02", f"part-{i}", h, runs)
        added.append(h)
    every = np.concatenate(added)
    assert len(runs) <= 12 and sum(r.count for r in runs) == len(every)
    absent = rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64)
    probe = np.concatenate([rng.choice(every, 5000), absent])
    hit = index.stored("2026-03-02", runs, probe)
    assert np.array_equal(hit, np.isin(probe, every))
    # a fresh index (no filter, no fences in memory) reads the same from disk
    again = KeyIndex(tmp_path)
    on_disk = again.sync("2026-03-02", [f"part-{i}" for i in range(40)], lambda name: [])
    assert np.array_equal(again.stored("2026-03-02", on_disk, probe), hit)
