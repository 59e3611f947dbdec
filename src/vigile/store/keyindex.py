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

Probing a batch of keys: an in-memory bit filter per day (four bits per key, built
from the runs) rules out nearly every new key at once; the few that pass are
looked up exactly (on the 64-bit hash) in the runs with a binary search, touching
a handful of pages; only keys whose hash is stored are then compared, by value,
against the parts themselves (see ``ParquetStore._without_stored``). A collision
of hashes can therefore cost a look-up, never an event.
"""

from __future__ import annotations

import mmap
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import orjson
import pyarrow as pa
import xxhash

_MAGIC: Final = b"VGKEYS01"
_FILTER_MIN_LOG2: Final = 20  # 128 KiB
_FILTER_MAX_LOG2: Final = 28  # 32 MiB: 1.7 % false positives at 28 M keys in one day
_FILTER_DAYS: Final = 2  # filters kept in memory (a stream rarely spans more days at once)
_READ_CHUNK: Final = 1 << 20  # hashes read at a time (8 MiB): memory never holds a whole run
_FILL_CHUNK: Final = 1 << 18  # hashes set in a filter at a time (temporaries of a few MB)
_MAX_RUNS: Final = 12
_PROBES: Final = 4  # bits per key, in one word: 1.7 % false positives at 10 bits a key
_FENCE: Final = 256  # one hash in so many kept in memory: a look-up reads one 2 KiB block
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
        """The hashes, mapped: pages are read only where looked at."""
        if self.count == 0:
            return np.empty(0, _U64)
        array = np.memmap(self.path, _U64, "r", offset=self.offset, shape=(self.count,))
        handle = getattr(array, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_RANDOM"):
            # no read-ahead: each look-up faults in its own page, not the 32 around it
            handle.madvise(mmap.MADV_RANDOM)
        return array


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


def _run_header(parts: frozenset[str], count: int) -> tuple[str, bytes]:
    names = sorted(parts)
    run_id = xxhash.xxh3_64_hexdigest(" ".join(names).encode())
    meta = orjson.dumps({"parts": names, "count": count, "hash": "xxh3_64"})
    meta += b" " * (-len(meta) % 8)  # hashes start 8-byte aligned
    return f"run-{run_id}.u64", _MAGIC + len(meta).to_bytes(8, "little") + meta


def _write_run(directory: Path, parts: frozenset[str], hashes: np.ndarray) -> Run:
    """Write sorted ``hashes`` covering ``parts`` (atomically: temporary name, then rename)."""
    return _write_run_from(directory, parts, len(hashes), iter([hashes]))


def _write_run_from(
    directory: Path, parts: frozenset[str], count: int, pieces: Iterator[np.ndarray]
) -> Run:
    """Write a run from ``pieces`` (consecutive sorted slices), without holding it whole."""
    directory.mkdir(parents=True, exist_ok=True)
    name, header = _run_header(parts, count)
    path = directory / name
    tmp = directory / f".tmp-{name}"
    written = 0
    with open(tmp, "wb") as f:
        f.write(header)
        for piece in pieces:
            np.ascontiguousarray(piece, _U64).tofile(f)
            written += len(piece)
    if written != count:
        tmp.unlink()
        raise ValueError(f"key run {name}: {written} hashes written, {count} expected")
    os.replace(tmp, path)
    return Run(path, frozenset(parts), count, len(header))


def _merged(runs: list[Run], chunk: int = _READ_CHUNK) -> Iterator[np.ndarray]:
    """The hashes of sorted ``runs`` in one sorted sequence, ``chunk`` per run read at a time."""
    buffers = [np.empty(0, _U64) for _ in runs]
    read = [0] * len(runs)
    while True:
        for i, run in enumerate(runs):
            if not len(buffers[i]) and read[i] < run.count:
                stop = min(read[i] + chunk, run.count)
                buffers[i], read[i] = run.hashes(read[i], stop), stop
        live = [i for i in range(len(runs)) if len(buffers[i])]
        if not live:
            return
        # everything up to the smallest last-buffered hash of a run not yet read to its
        # end is final: nothing still on disk can come before it
        pending = [buffers[i][-1] for i in live if read[i] < runs[i].count]
        limit = min(pending) if pending else None
        out = []
        for i in live:
            cut = (
                len(buffers[i])
                if limit is None
                else int(np.searchsorted(buffers[i], limit, "right"))
            )
            out.append(buffers[i][:cut])
            buffers[i] = buffers[i][cut:]
        yield np.sort(np.concatenate(out), kind="stable")


class _Filter:
    """Four bits per key in a bitmap sized to the day: a false answer is certain.

    Blocked: a key's four bits all fall in one 64-bit word (the word from bits
    40 and up of its hash, the bits from its lowest 24 bits), so adding a key
    is one ``|=`` and probing one load. That costs a little accuracy (1.7 %
    false positives instead of 1.3 % at 28 M keys in the biggest bitmap) for a
    fifth of the time of four separate bits.
    """

    def __init__(self, log2: int, covered: frozenset[str]) -> None:
        self.log2 = log2
        self.words = np.zeros(1 << (log2 - 6), _U64)
        self.covered = covered
        self.count = 0

    def _word_and_mask(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        word = (h >> _U64(40)) & _U64((1 << (self.log2 - 6)) - 1)
        mask = np.zeros(len(h), _U64)
        for i in range(_PROBES):
            mask |= _U64(1) << ((h >> _U64(6 * i)) & _U64(63))
        return word, mask

    def add(self, h: np.ndarray) -> None:
        word, mask = self._word_and_mask(h)
        np.bitwise_or.at(self.words, word, mask)
        self.count += len(h)

    def maybe(self, h: np.ndarray) -> np.ndarray:
        word, mask = self._word_and_mask(h)
        result: np.ndarray = (self.words[word] & mask) == mask
        return result


def _filter_log2(count: int) -> int:
    need = max(int(count), 1) * 16
    return min(max(need.bit_length(), _FILTER_MIN_LOG2), _FILTER_MAX_LOG2)


class KeyIndex:
    """The hashes of the keys of every part, per day, with an in-memory filter."""

    def __init__(self, root: Path) -> None:
        self.root = root / "keys"
        self._filters: OrderedDict[str, _Filter] = OrderedDict()
        self._fences: dict[Path, np.ndarray] = {}

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
        for start in range(0, run.count, _FILL_CHUNK):
            flt.add(run.hashes(start, min(start + _FILL_CHUNK, run.count)))

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
            fence = self._fence(run)
            stored = run.mapped()
            step = np.arange(_FENCE)
            for start in range(0, len(probe), 4096):  # bounded temporaries
                some = probe[start : start + 4096]
                block = np.maximum(np.searchsorted(fence, some, "right") - 1, 0)
                rows = np.minimum(block[:, None] * _FENCE + step, run.count - 1)
                found[start : start + 4096] |= (stored[rows] == some[:, None]).any(axis=1)
            del stored  # unmapped: the pages read leave resident memory
        hit[maybe] = found
        return hit

    def _fence(self, run: Run) -> np.ndarray:
        """Every ``_FENCE``-th hash of a run (read once, in chunks; runs never change)."""
        fence = self._fences.get(run.path)
        if fence is None:
            pieces = []
            for start in range(0, run.count, _READ_CHUNK):  # _READ_CHUNK is a multiple
                chunk = run.hashes(start, min(start + _READ_CHUNK, run.count))
                pieces.append(chunk[::_FENCE].copy())  # a copy: a view would keep the chunk
            fence = np.concatenate(pieces) if pieces else np.empty(0, _U64)
            if len(self._fences) > 256:
                self._fences = {p: f for p, f in self._fences.items() if p.exists()}
            self._fences[run.path] = fence
        return fence

    def add(
        self, day: str, part: str, h: np.ndarray, runs: list[Run], ordered: np.ndarray | None = None
    ) -> list[Run]:
        """Record a new part's hashes; merge runs of comparable size. Returns the runs.

        ``ordered``: the same hashes already sorted, if the caller has them.
        """
        h = np.sort(h) if ordered is None else ordered
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
        parts = frozenset().union(*(r.parts for r in runs))
        out = _write_run_from(self._dir(day), parts, sum(r.count for r in runs), _merged(runs))
        for r in runs:
            if r.path != out.path:
                r.path.unlink(missing_ok=True)
        return out

    def replace(self, day: str, replaced: list[str], merged_part: str) -> None:
        """After a compaction: one run for the merged part, from the runs it replaces."""
        runs = [r for r in self.runs(day) if r.parts <= set(replaced)]
        if frozenset().union(*(r.parts for r in runs)) != frozenset(replaced):
            return  # incomplete: the next sync rebuilds from the merged part
        count = sum(r.count for r in runs)
        _write_run_from(self._dir(day), frozenset([merged_part]), count, _merged(runs))
        for r in runs:
            r.path.unlink(missing_ok=True)
        flt = self._filters.get(day)
        if flt is not None:
            flt.covered = (flt.covered - set(replaced)) | {merged_part}
