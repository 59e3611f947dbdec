"""The replay reader of ``vigile detect``: :class:`~vigile.stream.EventReader`, fused.

For the common replay — one JSON Lines file (plain or gzip, or standard input) — the
reader's stages (lines → parse → time order → de-duplication) run as one loop instead
of three stacked generators, and per-event costs are cut:

* the event time in microseconds is the start of its clock hour (computed once per
  hour and UTC offset) plus the minutes, seconds and microseconds: the same integer
  as ``round(ts.timestamp() * 1e6)``, without a ``timestamp()`` call per event;
* an address already seen in canonical form is not validated again;
* the file's lines are read in the loop itself, not through a generator, and are
  decoded with their line ending (JSON allows it): no copy per line;
* :meth:`ReplayReader.timed` hands each event's time to the engine as the engine
  counts it (seconds, local day and hour), and its fields as read once here
  (``msgspec.structs.astuple``), so the engine reads neither again.

Everything else is :class:`EventReader`'s, unchanged: the strict decode, the lenient
path for unknown fields, the quarantine with line numbers, the reorder buffer of
``lateness`` seconds (late events counted and passed on), the de-duplication of event
ids over two generations of ``dedup_window``, and the statistics. Any other input
(several sources, another format) goes through :class:`EventReader` itself. The
tests check both give the same events in the same order with the same counts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any, Final, cast

import msgspec
from msgspec.structs import astuple

from vigile.detect import _lines
from vigile.detect._lines import raw_ids, schedule_poll
from vigile.errors import ParseError
from vigile.events import AccessEvent, ScheduleLine, normalise_ip
from vigile.parsers.jsonl import JsonlParser
from vigile.sources import FileSource
from vigile.sources.files import READ_ERRORS
from vigile.stream import EventReader

__all__ = ["EventTime", "ReplayReader"]

_MAX: Final = 1 << 62
_HOUR: Final = timedelta(hours=1)
#: no event's ``tzinfo``: the clock's first event always starts an hour
_NO_TZ: Final = object()
_STRICT: Final = msgspec.json.Decoder(AccessEvent)
#: a schedule poll, its ids left as JSON (:class:`ScheduleLine`), for the engine; only
#: where the checks are the C module's (Python cannot tell where a Raw lies in its line)
_SCHEDULE: Final = msgspec.json.Decoder(ScheduleLine)
_RAW_POLLS: Final = not (_lines.__file__ or "").endswith(".py")
#: where the fields the reader reads are in ``msgspec.structs.astuple(event)``
_FIELDS: Final = AccessEvent.__struct_fields__
_TS: Final = _FIELDS.index("ts")
_EVENT_ID: Final = _FIELDS.index("event_id")
_SRC_IP: Final = _FIELDS.index("src_ip")
_PATIENT_IDS: Final = _FIELDS.index("patient_ids")
#: the builtin ``next``, held here: compiled, a call of ``next`` looks it up on the
#: builtins module first, on every line
_NEXT: Final = next
#: canonical addresses remembered (cleared beyond this many)
_IPS_MAX: Final = 200_000


class EventTime:
    """The time of the event a reader last handed out, as the engine counts it.

    ``t``: seconds since the Unix epoch, the same float as
    :meth:`vigile.detect.facts.EventClock.seconds` gives for the event (same operations
    in the same order); ``day`` and ``hour``: its local date (``toordinal()``) and
    hour; ``fields``: the event's fields, ``msgspec.structs.astuple(event)`` (read once
    by the reader, where every attribute read of a msgspec struct from compiled code is
    a generic lookup). Set before each event is yielded (:meth:`ReplayReader.timed`),
    so that the engine reads neither the event's ``datetime`` nor its fields again.
    """

    __slots__ = ("day", "fields", "hour", "t")

    def __init__(self) -> None:
        self.t = 0.0
        self.day = 0
        self.hour = 0
        self.fields: tuple[Any, ...] = ()


class _Hour:
    """One clock hour of one UTC offset: its start, and its local date and hour."""

    __slots__ = ("base_s", "base_us", "day", "hour")

    def __init__(self, base_s: float = 0.0, base_us: int = 0, day: int = 0, hour: int = 0) -> None:
        self.base_s = base_s
        self.base_us = base_us
        self.day = day
        self.hour = hour


def _stamp(now: EventTime, us: int, hour: _Hour, fields: tuple[Any, ...]) -> None:
    """Set ``now`` for an event at ``us`` microseconds, within ``hour``, of ``fields``."""
    off = us - hour.base_us
    sec = off // 1_000_000
    # EventClock.seconds: base + minute * 60 + second + microsecond * 1e-6, in that order
    now.t = hour.base_s + (sec // 60) * 60 + sec % 60 + (off % 1_000_000) * 1e-6
    now.day = hour.day
    now.hour = hour.hour
    now.fields = fields


class _HourClock:
    """``round(ts.timestamp() * 1_000_000)``, computed once per clock hour and offset.

    The hour of the last event is kept as its bounds ``[lo, hi)`` in its own
    ``tzinfo``: for two datetimes of the same ``tzinfo`` Python compares the wall
    clocks, so ``lo <= ts < hi`` is "same year, month, day and hour" in two
    comparisons instead of four attribute reads."""

    __slots__ = ("cur", "hi", "lo", "tz")

    def __init__(self) -> None:
        self.tz: Any = _NO_TZ
        self.lo = self.hi = datetime.min
        #: the hour of the last event timed
        self.cur = _Hour()

    def us(self, ts: datetime) -> int:
        if ts.tzinfo is not self.tz or not (self.lo <= ts < self.hi):
            top = ts.replace(minute=0, second=0, microsecond=0)
            base_s = top.timestamp()
            self.cur = _Hour(base_s, round(base_s * 1_000_000), ts.toordinal(), ts.hour)
            self.tz, self.lo = ts.tzinfo, top
            try:
                self.hi = top + _HOUR
            except OverflowError:  # the last hour of year 9999: no end to compare with
                self.hi = top
        return self.cur.base_us + (ts.minute * 60 + ts.second) * 1_000_000 + ts.microsecond


class _Ids:
    """The event ids of the de-duplication window, in two generations of ``window``
    microseconds of event time (as :class:`EventReader` keeps them); a window of 0: no
    de-duplication, as there."""

    __slots__ = ("duplicates", "end", "off", "old", "seen", "window")

    def __init__(self, window: int = 1) -> None:
        self.off = window <= 0
        self.window = max(window, 1)
        self.seen: set[str] = set()
        self.old: set[str] = set()
        self.end = -_MAX
        self.duplicates = 0

    def fresh(self, eid: str, t: int) -> bool:
        """True for an id not seen within the window (now remembered); False for a
        replayed one (counted)."""
        if self.off:
            return True
        if t >= self.end:
            self.old, self.seen = self.seen, set()
            self.end = t + self.window
        if eid in self.old:
            self.duplicates += 1
            return False
        seen = self.seen
        size = len(seen)
        seen.add(eid)  # one lookup: already there if the size stays
        if len(seen) == size:
            self.duplicates += 1
            return False
        return True


class ReplayReader(EventReader):
    """:class:`EventReader` with a fused loop for one JSON Lines source (same results)."""

    def __iter__(self) -> Iterator[AccessEvent]:
        if not self._fusable():
            return super().__iter__()
        # without an EventTime, every event is read whole
        return cast("Iterator[AccessEvent]", self._fused(None))

    def timed(self) -> tuple[Iterator[AccessEvent | ScheduleLine], EventTime] | None:
        """The events, and an :class:`EventTime` set to the time of each one as it is
        handed out; ``None`` when the input does not take the fused loop (then iterate
        the reader itself).

        A schedule poll comes as a :class:`ScheduleLine` (its ids checked, not made
        into strings: the engine passes most polls over), every other event as an
        :class:`AccessEvent`; ``ScheduleLine.whole()`` is the event the line holds."""
        if not self._fusable():
            return None
        now = EventTime()
        return self._fused(now), now

    def _fusable(self) -> bool:
        return (
            len(self.sources) == 1
            and type(self.parser) is JsonlParser
            and isinstance(self.sources[0], FileSource)
        )

    def _fused(self, now: EventTime | None) -> Iterator[AccessEvent | ScheduleLine]:
        source, parser = self.sources[0], self.parser
        assert isinstance(source, FileSource) and isinstance(parser, JsonlParser)
        stats = self.stats
        counts = {"read": 0, "accepted": 0, "quarantined": 0, "skipped": 0}
        stats.per_source[source.name] = counts
        quarantine = self.quarantine
        decode = _STRICT.decode
        # schedule polls as ScheduleLine: only for the engine (timed), which makes the
        # few it looks at whole
        polls = now is not None and _RAW_POLLS
        parse = parser.parse
        clock = _HourClock()
        canonical: set[str] = set()
        lateness = max(self.lateness_us, 0)
        ids = _Ids(self.dedup_window_us)
        # waiting events (time, line, event, its hour, its fields), in order; one source:
        # lines only increase
        pending: deque[tuple[int, int, AccessEvent | ScheduleLine, _Hour, tuple[Any, ...]]] = (
            deque()
        )
        append, popleft = pending.append, pending.popleft
        released = newest = -_MAX
        read = accepted = quarantined = late = 0
        lineno = nbytes = 0
        stack = ExitStack()
        try:
            # the file's lines, read here rather than through FileSource.lines(): the
            # same lines, blank ones passed over, the same errors, without a generator
            # and two copies per line (a JSON document may end with its line ending)
            lines = iter(source.open(stack))
            while True:
                try:
                    line = _NEXT(lines)
                except StopIteration:
                    break
                except READ_ERRORS as exc:
                    raise source.read_error(exc, lineno) from None
                lineno += 1
                nbytes += len(line)
                event: AccessEvent | ScheduleLine
                try:
                    if polls and schedule_poll(line):
                        event = _SCHEDULE.decode(line)
                        fields = astuple(event)
                        if raw_ids(line, fields[_PATIENT_IDS]) < 0:
                            # ids written otherwise (escapes, not strings, their key given
                            # twice...): the whole decode, with its checks and its error
                            event = decode(line)
                            fields = astuple(event)
                    else:
                        event = decode(line)
                        fields = astuple(event)
                except (
                    msgspec.ValidationError,
                    msgspec.DecodeError,
                    UnicodeDecodeError,  # bad UTF-8 inside a string
                    RecursionError,  # JSON nested a thousand deep
                ):
                    # the parser's own path gives the event or the reason, as in EventReader
                    raw = line.rstrip(b"\r\n")
                    if not raw.strip():
                        continue  # a blank line: no event, not counted as read
                    read += 1
                    try:
                        event = parse(raw)  # the parser's own path: lenient, or the reason
                    except ParseError as exc:
                        quarantine.add(source.name, lineno, exc.reason, raw)
                        quarantined += 1
                        continue
                    fields = astuple(event)
                else:
                    read += 1
                    ip = fields[_SRC_IP]
                    if ip is not None and ip not in canonical:
                        try:
                            norm = normalise_ip(ip)
                        except ValueError:
                            reason = f"src_ip {ip!r} is not an IPv4/IPv6 address"
                            quarantine.add(source.name, lineno, reason, line.rstrip(b"\r\n"))
                            quarantined += 1
                            continue
                        if norm != ip:
                            event.src_ip = norm
                            fields = astuple(event)
                        else:
                            if len(canonical) >= _IPS_MAX:
                                canonical.clear()
                            canonical.add(ip)
                accepted += 1
                ts = clock.us(fields[_TS])  # a native call (a bound method in a local is not)
                if ts < released:
                    # late: older than what already went out; passed on at once
                    late += 1
                    eid = fields[_EVENT_ID]
                    if eid is not None and not ids.fresh(eid, ts):
                        continue
                    if now is not None:
                        _stamp(now, ts, clock.cur, fields)
                    yield event
                    continue
                item = (ts, lineno, event, clock.cur, fields)
                if not pending or ts >= pending[-1][0]:
                    append(item)
                else:
                    i = len(pending) - 1
                    while i > 0 and pending[i - 1][0] > ts:
                        i -= 1
                    pending.insert(i, item)
                if ts > newest:  # noqa: PLR1730 (a comparison is cheaper than max() here)
                    newest = ts
                horizon = newest - lateness
                while pending and pending[0][0] <= horizon:
                    t, _, ev, hour, evf = popleft()
                    released = t
                    eid = evf[_EVENT_ID]
                    if eid is not None and not ids.fresh(eid, t):
                        continue
                    if now is not None:
                        _stamp(now, t, hour, evf)
                    yield ev
            while pending:  # end of input: release everything
                t, _, ev, hour, evf = popleft()
                eid = evf[_EVENT_ID]
                if eid is not None and not ids.fresh(eid, t):
                    continue
                if now is not None:
                    _stamp(now, t, hour, evf)
                yield ev
        finally:
            stack.close()
            source.bytes_read += nbytes
            counts["read"], counts["accepted"], counts["quarantined"] = read, accepted, quarantined
            stats.late += late
            stats.duplicates += ids.duplicates
            stats.bytes += source.bytes_read
            self._total()
