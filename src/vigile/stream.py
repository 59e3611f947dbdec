"""From sources to one time-ordered, de-duplicated stream of access events.

This is what every command that reads events uses, so that ``ingest``,
``detect`` and ``scope`` see exactly the same stream:

1. each source's lines go through the format's parser; bad lines go to the
   quarantine with their reason, lines that are not patient-data accesses are
   counted as *skipped*;
2. several sources are merged in event-time order (each is assumed mostly
   sorted, as logs are);
3. a reorder buffer of ``lateness`` seconds of event time absorbs small
   disorder (web servers log at completion, not arrival); an event older than
   what was already released is still passed on, and counted as *late*;
4. an event whose ``event_id`` was already seen within ``dedup_window`` seconds
   of event time counts once (a replayed duplicate has the same time, so this is
   exact for replays; the store de-duplicates exactly across all history).

Memory is bounded by the two windows, never by the input's size.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vigile.errors import ParseError
from vigile.events import AccessEvent
from vigile.parsers import Parser, ParserOptions, make_parser
from vigile.quarantine import Quarantine
from vigile.sources import FileSource, Source

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_LATENESS_S = 30.0
DEFAULT_DEDUP_WINDOW_S = 3600.0


@dataclass
class ReadStats:
    """Counts of what a read did; ``read == accepted + quarantined + skipped``."""

    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    skipped: int = 0
    duplicates: int = 0
    late: int = 0
    bytes: int = 0
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "late": self.late,
            "bytes": self.bytes,
            "per_source": self.per_source,
        }


# (ts_us, source index, line number, event): unique per event, so heaps never compare events
_Item = tuple[int, int, int, AccessEvent]
_MAX = 1 << 62


class EventReader:
    """Iterate the events of several sources in time order, with stats and quarantine."""

    def __init__(
        self,
        sources: Sequence[Source | str | Path],
        parser: Parser | str = "jsonl",
        *,
        options: ParserOptions | None = None,
        quarantine: Quarantine | None = None,
        lateness: float = DEFAULT_LATENESS_S,
        dedup_window: float = DEFAULT_DEDUP_WINDOW_S,
    ) -> None:
        self.sources: list[Source] = [
            s if not isinstance(s, str | Path) else FileSource(s) for s in sources
        ]
        self.parser = make_parser(parser, options) if isinstance(parser, str) else parser
        self.quarantine = quarantine if quarantine is not None else Quarantine(None)
        self.lateness_us = int(lateness * 1_000_000)
        self.dedup_window_us = int(dedup_window * 1_000_000)
        self.stats = ReadStats()

    def _parsed(self, index: int, source: Source) -> Iterator[_Item]:
        parse = self.parser.parse
        quarantine = self.quarantine
        counts = {"read": 0, "accepted": 0, "quarantined": 0, "skipped": 0}
        self.stats.per_source[source.name] = counts
        read = accepted = skipped = 0
        try:
            for lineno, raw in source.lines():
                read += 1
                try:
                    event = parse(raw)
                except ParseError as exc:
                    quarantine.add(source.name, lineno, exc.reason, raw)
                    counts["quarantined"] += 1
                    continue
                if event is None:
                    skipped += 1
                    continue
                accepted += 1
                yield event.ts_us, index, lineno, event
        finally:
            counts["read"], counts["accepted"], counts["skipped"] = read, accepted, skipped
            self.stats.bytes += getattr(source, "bytes_read", 0)

    def __iter__(self) -> Iterator[AccessEvent]:
        streams = [self._parsed(i, s) for i, s in enumerate(self.sources)]
        merged: Iterable[_Item] = streams[0] if len(streams) == 1 else heapq.merge(*streams)
        try:
            yield from self._ordered_unique(merged)
        finally:
            self._total()

    def tables(self, rows: int = 131_072) -> Iterator[pa.Table]:
        """The same events as iterating, as Arrow tables of the store's columns.

        For one JSON Lines source with no reordering and no de-duplication window
        (what ``vigile ingest`` uses), lines are decoded a block at a time into
        columns (:mod:`vigile.parsers.jsonl_arrow`), with no Python object per
        event; otherwise the events of :meth:`__iter__` are converted in chunks.
        Order, counts and quarantine are the same either way.
        """
        from vigile.parsers.jsonl import JsonlParser
        from vigile.store.parquet import events_to_table

        bulk = (
            len(self.sources) == 1
            and type(self.parser) is JsonlParser
            and hasattr(self.sources[0], "blocks")
            and self.lateness_us <= 0
            and self.dedup_window_us <= 0
        )
        if bulk:
            yield from self._bulk_tables(rows)
            return
        chunk: list[AccessEvent] = []
        for event in self:
            chunk.append(event)
            if len(chunk) >= 16_384:
                yield events_to_table(chunk)
                chunk = []
        if chunk:
            yield events_to_table(chunk)

    def _bulk_tables(self, rows: int) -> Iterator[pa.Table]:
        from vigile.parsers.jsonl import JsonlParser
        from vigile.parsers.jsonl_arrow import block_table, decode_block
        from vigile.store.arrays import numpy_of

        source = self.sources[0]
        assert isinstance(self.parser, JsonlParser)
        parser, quarantine, name = self.parser, self.quarantine, source.name
        counts = {"read": 0, "accepted": 0, "quarantined": 0, "skipped": 0}
        self.stats.per_source[name] = counts
        newest = np.iinfo(np.int64).min  # latest instant released: older ones are late

        def bad(line: int, reason: str, raw: bytes) -> None:
            quarantine.add(name, line, reason, raw)

        try:
            for first, data in source.blocks():  # type: ignore[attr-defined]
                block = decode_block(data, first, parser, bad)
                counts["read"] += block.read
                counts["quarantined"] += block.quarantined
                counts["accepted"] += block.read - block.quarantined
                table = block_table(block)
                if not table.num_rows:
                    continue
                instants = numpy_of(table.column("ts"))
                before = np.maximum.accumulate(np.concatenate([[newest], instants[:-1]]))
                self.stats.late += int((instants < before).sum())
                newest = max(newest, int(instants.max()))
                for start in range(0, table.num_rows, rows):
                    yield table.slice(start, rows)
        finally:
            self.stats.bytes += getattr(source, "bytes_read", 0)
            self._total()

    def _total(self) -> None:
        s = self.stats
        s.read = sum(c["read"] for c in s.per_source.values())
        s.accepted = sum(c["accepted"] for c in s.per_source.values())
        s.skipped = sum(c["skipped"] for c in s.per_source.values())
        s.quarantined = sum(c["quarantined"] for c in s.per_source.values())

    def _ordered_unique(self, items: Iterable[_Item]) -> Iterator[AccessEvent]:
        """Reorder within ``lateness`` of event time, then drop replayed event ids.

        On each arrival, every waiting event older than ``newest - lateness`` is
        released in time order; an arrival older than what was already released
        is *late* and goes out at once. Waiting events sit in a deque kept in
        order: an arrival in order (nearly all) is appended, one slightly out of
        order is inserted a few places from the end, releases pop from the left;
        so each event costs O(1), live (one at a time) or in replay alike.

        Event ids are remembered in two generations of ``dedup_window`` each,
        so a duplicate is caught when it comes within one window of the first.
        """
        lateness = max(self.lateness_us, 0)
        dedup = self.dedup_window_us > 0  # a window of 0: no de-duplication here
        window = max(self.dedup_window_us, 1)
        stats = self.stats
        pending: deque[_Item] = deque()
        released = newest = -_MAX
        seen: set[str] = set()
        seen_old: set[str] = set()
        generation_end = -_MAX
        out: list[_Item] = []
        for item in chain(items, (None,)):
            if item is None:  # end of input: release everything
                out.extend(pending)
                pending.clear()
            else:
                ts = item[0]
                if ts < released:
                    stats.late += 1
                    out.append(item)
                else:
                    if not pending or item > pending[-1]:
                        pending.append(item)
                    else:
                        i = len(pending) - 1
                        while i > 0 and pending[i - 1] > item:
                            i -= 1
                        pending.insert(i, item)
                    newest = max(newest, ts)
                    horizon = newest - lateness
                    while pending and pending[0][0] <= horizon:
                        out.append(pending.popleft())
                if not out:
                    continue
                released = max(released, out[-1][0])
            for ts, _, _, event in out:
                eid = event.event_id
                if eid is not None and dedup:
                    if ts >= generation_end:
                        seen_old, seen = seen, set()
                        generation_end = ts + window
                    if eid in seen or eid in seen_old:
                        stats.duplicates += 1
                        continue
                    seen.add(eid)
                yield event
            out.clear()
