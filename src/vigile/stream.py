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
from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from vigile.errors import ParseError
from vigile.events import AccessEvent
from vigile.parsers import Parser, ParserOptions, make_parser
from vigile.quarantine import Quarantine
from vigile.sources import FileSource, Source

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
        chunk: int | None = None,
    ) -> None:
        self.sources: list[Source] = [
            s if not isinstance(s, str | Path) else FileSource(s) for s in sources
        ]
        self.parser = make_parser(parser, options) if isinstance(parser, str) else parser
        self.quarantine = quarantine if quarantine is not None else Quarantine(None)
        self.lateness_us = int(lateness * 1_000_000)
        self.dedup_window_us = int(dedup_window * 1_000_000)
        self.stats = ReadStats()
        # events are ordered a chunk at a time; a live stream (stdin) gets no batching
        live = any(getattr(src, "path", None) == "-" for src in self.sources)
        self.chunk = chunk or (1 if live else 4096)

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

    def _total(self) -> None:
        s = self.stats
        s.read = sum(c["read"] for c in s.per_source.values())
        s.accepted = sum(c["accepted"] for c in s.per_source.values())
        s.skipped = sum(c["skipped"] for c in s.per_source.values())
        s.quarantined = sum(c["quarantined"] for c in s.per_source.values())

    def _ordered_unique(self, items: Iterable[_Item]) -> Iterator[AccessEvent]:
        """Reorder within ``lateness`` of event time, then drop replayed event ids.

        The semantics are those of the simple per-event algorithm: on each
        arrival, release (in time order) every waiting event older than
        ``newest - lateness``; an arrival older than what was already released
        is *late* and goes out at once. This is the hot path of every command,
        so events are handled a chunk at a time: when no event of the chunk is
        late or reordered past the lateness (nearly always), sorting the chunk
        into the buffer and releasing one slice gives exactly the per-event
        result; otherwise that chunk takes the per-event path. The output never
        depends on the chunk size.

        Event ids are remembered in two generations of ``dedup_window`` each,
        so a duplicate is caught when it comes within one window of the first.
        """
        lateness = max(self.lateness_us, 0)
        window = max(self.dedup_window_us, 1)
        stats = self.stats
        pending: list[_Item] = []
        released = newest = -_MAX
        seen: set[str] = set()
        seen_old: set[str] = set()
        generation_end = -_MAX
        chunk = self.chunk
        it = iter(items)
        while True:
            batch = list(islice(it, chunk))
            if not batch:
                out, pending = pending, []
            elif _in_order(batch, newest, lateness):
                pending += batch
                pending.sort()
                newest = max(newest, batch[-1][0], pending[-1][0])
                cut = bisect_right(pending, (newest - lateness, _MAX, _MAX))
                out, pending = pending[:cut], pending[cut:]
            else:
                out = []
                for item in batch:
                    ts = item[0]
                    if ts < released:
                        stats.late += 1
                    insort(pending, item)
                    newest = max(newest, ts)
                    cut = bisect_right(pending, (newest - lateness, _MAX, _MAX))
                    if cut:
                        out += pending[:cut]
                        del pending[:cut]
                        released = max(released, out[-1][0])
            if out:
                released = max(released, out[-1][0])
            for ts, _, _, event in out:
                eid = event.event_id
                if eid is not None:
                    if ts >= generation_end:
                        seen_old, seen = seen, set()
                        generation_end = ts + window
                    if eid in seen or eid in seen_old:
                        stats.duplicates += 1
                        continue
                    seen.add(eid)
                yield event
            if not batch:
                return


def _in_order(batch: list[_Item], newest: int, lateness: int) -> bool:
    """True when every item is no older than ``lateness`` before all that came earlier."""
    ts = np.fromiter((item[0] for item in batch), dtype=np.int64, count=len(batch))
    before = np.maximum.accumulate(np.concatenate(([newest], ts[:-1])))
    return bool((ts >= before - lateness).all())


def read_events(
    paths: Sequence[str | Path],
    fmt: str = "jsonl",
    *,
    options: ParserOptions | None = None,
    quarantine: Quarantine | None = None,
) -> EventReader:
    """Shorthand: an :class:`EventReader` over file paths (``-`` for stdin)."""
    return EventReader(list(paths), fmt, options=options, quarantine=quarantine)
