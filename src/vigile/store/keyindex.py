"""Per-day index of the event keys a store holds: exact de-duplication that never
re-reads the day's parts for new events.

Layout: ``STORE/keys/day=D/run-<id>.u64``, each a small JSON header (the event
parts it covers) followed by the sorted 64-bit hashes (xxh3-64 of the UTF-8
key) of every event in those parts. A run is written after its part; runs are
merged two by two as they pile up (a log-structured merge, so a day's index
costs O(n log n) to build however it was appended), and a compacted day gets one
run for its one part.

The index is a cache derived from the parts: a run naming a part that is gone is
deleted, a part no run covers gets its run rebuilt from its ``event_key`` column
(stores written before the index existed, a crash between a part and its run).
So deleting ``keys/`` is always safe.

Probing a batch of keys: an in-memory bit filter per day (two bits per key, built
from the runs) rules out nearly every new key at once; the few that pass are
looked up exactly (on the 64-bit hash) in the runs with a binary search, touching
a handful of pages; only keys whose hash is stored are then compared, by value,
against the parts themselves (see ``ParquetStore._without_stored``). A collision
of hashes can therefore cost a look-up, never an event.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import orjson
import pyarrow as pa
import xxhash

_MAGIC: Final = b"VGKEYS01"
_FILTER_MIN_LOG2: Final = 20  # 128 KiB
_FILTER_MAX_LOG2: Final = 28  # 32 MiB: 3.5 % false positives at 28 M keys in one day
_FILTER_DAYS: Final = 2  # filters kept in memory (a stream rarely spans more days at once)
_READ_CHUNK: Final = 1 << 22  # hashes read at a time when building a filter (32 MiB)
_MAX_RUNS: Final = 12
_U64 = np.uint64


def key_hashes(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """xxh3-64 of each key's UTF-8 bytes, as ``uint64`` (stable across versions)."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    raw = keys.cast(pa.binary()).to_pylist()
    return np.fromiter(map(xxhash.xxh3_64_intdigest, raw), _U64, len(raw))


@dataclass(frozen=True)
class Run:
    """One sorted run of hashes on disk and the parts whose keys it holds."""

    path: Path
    parts: frozenset[str]
    count: int
    offset: int  # byte offset of the hashes

    def hashes(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.count if stop is None else stop
        return np.fromfile(self.path, _U64, stop - start, offset=self.offset + 8 * start)

    def mapped(self) -> np.ndarray:
        if self.count == 0:
            return np.empty(0, _U64)
        return np.memmap(self.path, _U64, "r", offset=self.offset, shape=(self.count,))


def _read_run(path: Path) -> Run | None:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if len(head) < 16 or head[:8] != _MAGIC:
                return None
            size = int.from_bytes(head[8:], "little")
            meta = orjson.loads(f.read(size))
        offset = 16 + size
        count = int(meta["count"])
        if path.stat().st_size != offset + 8 * count:
            return None
        return Run(path, frozenset(meta["parts"]), count, offset)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_run(directory: Path, parts: frozenset[str], hashes: np.ndarray) -> Run:
    """Write sorted ``hashes`` covering ``parts`` (atomically: temporary name, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted(parts)
    run_id = xxhash.xxh3_64_hexdigest(" ".join(names).encode())
    path = directory / f"run-{run_id}.u64"
    meta = orjson.dumps({"parts": names, "count": len(hashes), "hash": "xxh3_64"})
    meta += b" " * (-len(meta) % 8)  # hashes start 8-byte aligned
    tmp = directory / f".tmp-{path.name}"
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(meta).to_bytes(8, "little") + meta)
        np.ascontiguousarray(hashes, _U64).tofile(f)
    os.replace(tmp, path)
    return Run(path, frozenset(names), len(hashes), 16 + len(meta))


class _Filter:
    """Two bits per key in a bitmap sized to the day: a false answer is certain."""

    def __init__(self, log2: int, covered: frozenset[str]) -> None:
        self.log2 = log2
        self.words = np.zeros(1 << (log2 - 6), _U64)
        self.covered = covered
        self.count = 0

    def _positions(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = _U64((1 << self.log2) - 1)
        return h >> _U64(64 - self.log2), (h >> _U64(8)) & mask

    def add(self, h: np.ndarray) -> None:
        for pos in self._positions(h):
            np.bitwise_or.at(self.words, pos >> _U64(6), _U64(1) << (pos & _U64(63)))
        self.count += len(h)

    def maybe(self, h: np.ndarray) -> np.ndarray:
        hit = np.ones(len(h), bool)
        for pos in self._positions(h):
            hit &= ((self.words[pos >> _U64(6)] >> (pos & _U64(63))) & _U64(1)).astype(bool)
        return hit


def _filter_log2(count: int) -> int:
    need = max(int(count), 1) * 16
    return min(max(need.bit_length(), _FILTER_MIN_LOG2), _FILTER_MAX_LOG2)


class KeyIndex:
    """The hashes of the keys of every part, per day, with an in-memory filter."""

    def __init__(self, root: Path) -> None:
        self.root = root / "keys"
        self._filters: OrderedDict[str, _Filter] = OrderedDict()

    def _dir(self, day: str) -> Path:
        return self.root / f"day={day}"

    def runs(self, day: str) -> list[Run]:
        """The day's valid runs, oldest first."""
        found = [_read_run(p) for p in sorted(self._dir(day).glob("run-*.u64"))]
        return [r for r in found if r is not None]

    def sync(self, day: str, parts: list[str], read_keys: Callable[[str], pa.Array]) -> list[Run]:
        """Make the day's runs cover exactly ``parts``: drop stale runs, build missing ones."""
        current = set(parts)
        kept: list[Run] = []
        covered: set[str] = set()
        # biggest first: after a crash between a merge and its clean-up, the merged run wins
        for run in sorted(self.runs(day), key=lambda r: -len(r.parts)):
            if run.parts <= current and not (run.parts & covered):
                kept.append(run)
                covered |= run.parts
            else:
                run.path.unlink(missing_ok=True)
        for name in sorted(current - covered):
            kept.append(
                _write_run(self._dir(day), frozenset([name]), np.sort(key_hashes(read_keys(name))))
            )
        return kept

    def _filter(self, day: str, runs: list[Run]) -> _Filter:
        covered = frozenset().union(*(r.parts for r in runs))
        flt = self._filters.get(day)
        total = sum(r.count for r in runs)
        if flt is not None and flt.covered == covered:
            self._filters.move_to_end(day)
            return flt
        if flt is not None and flt.covered <= covered and _filter_log2(total) <= flt.log2:
            # the day grew (another writer, or parts this filter has not seen): add the new runs
            for run in runs:
                if not run.parts <= flt.covered:
                    self._fill(flt, run)
            flt.covered = covered
            self._filters.move_to_end(day)
            return flt
        flt = _Filter(_filter_log2(total * 2), covered)  # room for the day to double
        for run in runs:
            self._fill(flt, run)
        self._filters[day] = flt
        self._filters.move_to_end(day)
        while len(self._filters) > _FILTER_DAYS:
            self._filters.popitem(last=False)
        return flt

    @staticmethod
    def _fill(flt: _Filter, run: Run) -> None:
        for start in range(0, run.count, _READ_CHUNK):
            flt.add(run.hashes(start, min(start + _READ_CHUNK, run.count)))

    def stored(self, day: str, runs: list[Run], h: np.ndarray) -> np.ndarray:
        """Which of ``h`` (hashes of new keys) some run of the day holds (exact on the hash)."""
        hit = np.zeros(len(h), bool)
        if not runs or not len(h):
            return hit
        maybe = np.flatnonzero(self._filter(day, runs).maybe(h))
        if not len(maybe):
            return hit
        probe = h[maybe]
        found = np.zeros(len(probe), bool)
        for run in runs:
            if run.count == 0:
                continue
            stored = run.mapped()
            pos = np.minimum(np.searchsorted(stored, probe), run.count - 1)
            found |= stored[pos] == probe
            del stored
        hit[maybe] = found
        return hit

    def add(self, day: str, part: str, h: np.ndarray, runs: list[Run]) -> list[Run]:
        """Record a new part's hashes; merge runs of comparable size. Returns the runs."""
        h = np.sort(h)
        runs = [*runs, _write_run(self._dir(day), frozenset([part]), h)]
        flt = self._filters.get(day)
        if flt is not None and flt.covered == frozenset().union(*(r.parts for r in runs[:-1])):
            if _filter_log2(flt.count + len(h)) <= flt.log2:
                flt.add(h)
                flt.covered = flt.covered | {part}
            else:
                del self._filters[day]  # outgrown: rebuilt, bigger, at the next probe
        runs.sort(key=lambda r: -r.count)
        # a binary counter: runs of about the same size are merged, so a day of n keys
        # appended in batches keeps O(log n) runs and each hash is rewritten O(log n) times
        while len(runs) >= 2 and (
            runs[-2].count * 2 <= runs[-1].count * 3 or len(runs) > _MAX_RUNS
        ):
            small, smaller = runs.pop(), runs.pop()
            runs.append(self._merge(day, [smaller, small]))
            runs.sort(key=lambda r: -r.count)
        return runs

    def _merge(self, day: str, runs: list[Run]) -> Run:
        merged = np.sort(np.concatenate([r.hashes() for r in runs]), kind="stable")
        out = _write_run(self._dir(day), frozenset().union(*(r.parts for r in runs)), merged)
        for r in runs:
            if r.path != out.path:
                r.path.unlink(missing_ok=True)
        return out

    def replace(self, day: str, replaced: list[str], merged_part: str) -> None:
        """After a compaction: one run for the merged part, from the runs it replaces."""
        runs = [r for r in self.runs(day) if r.parts <= set(replaced)]
        if frozenset().union(*(r.parts for r in runs)) != frozenset(replaced):
            return  # incomplete: the next sync rebuilds from the merged part
        hashes = (
            np.sort(np.concatenate([r.hashes() for r in runs]), kind="stable")
            if runs
            else np.empty(0, _U64)
        )
        _write_run(self._dir(day), frozenset([merged_part]), hashes)
        for r in runs:
            r.path.unlink(missing_ok=True)
        flt = self._filters.get(day)
        if flt is not None:
            flt.covered = (flt.covered - set(replaced)) | {merged_part}
