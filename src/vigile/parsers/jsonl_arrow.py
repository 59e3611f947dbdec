"""JSON Lines straight to Arrow columns: the bulk path of ``vigile ingest``.

:class:`~vigile.parsers.jsonl.JsonlParser` builds one Python object per line,
which then has to be taken apart again into columns for the store. This module
decodes a whole block of lines at once with Arrow's JSON reader (C++, no Python
object per event) and checks every rule of INTERFACE §1 with vectorised
kernels. It is an accelerator, never a second definition of the format:

- a row is accepted here only when it is in a *plain* form whose meaning is
  certain: an object alone on its line, no unknown field, ``ts`` as
  ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`` naming a real instant, an
  ``event_id``, a dotted IPv4 ``src_ip`` already canonical, and so on;
- every other line (bad lines, extras, IPv6, missing ids, odd spacing...) goes
  through ``JsonlParser.parse`` one by one, which accepts it, or quarantines it
  with the usual reason and line number.

So the events stored, the quarantine and the counts are exactly those of the
line-by-line path (``tests/unit/test_jsonl_arrow.py`` checks both paths agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from vigile.errors import ParseError
from vigile.events import ACTIONS, AccessEvent
from vigile.parsers.jsonl import JsonlParser
from vigile.store.arrays import EMPTY, ZERO, bools, int_scalar, mask, numbers, numpy_of, strings

#: The interface's fields as Arrow reads them (anything else: the line goes the slow way).
WIRE_SCHEMA: Final = pa.schema(
    [
        ("ts", pa.string()),
        ("tenant", pa.string()),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("resource", pa.string()),
        ("event_id", pa.string()),
        ("session", pa.string()),
        ("src_ip", pa.string()),
        ("user_agent", pa.string()),
        ("method", pa.string()),
        ("route", pa.string()),
        ("status", pa.int64()),
        ("patient_ids", pa.list_(pa.string())),
        ("records", pa.int64()),
        ("bytes", pa.int64()),
        ("query", pa.string()),
    ]
)
_PARSE: Final = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="error")
_SMALL: Final = 32  # a failing segment this small is read line by line
_ACTIONS: Final = strings(ACTIONS)
_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_US_PER_DAY: Final = 86_400_000_000
_S100, _S200, _S599 = int_scalar(100), int_scalar(200), int_scalar(599)
_DIGITS_TS: Final = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_NL, _CR, _OPEN, _CLOSE = 10, 13, ord("{"), ord("}")

BadLine = Callable[[int, str, bytes], None]  # (line number, reason, raw line)


@dataclass
class Block:
    """What one block of lines gave: columns, and the slow-path events in line order."""

    wire: pa.Table | None  # rows accepted in plain form (WIRE_SCHEMA + instants)
    wire_lines: np.ndarray  # their line indexes in the block
    instants: np.ndarray  # their UTC instants, µs
    offsets: np.ndarray  # their UTC offsets, minutes
    events: list[AccessEvent]  # lines that took the slow path and were accepted
    event_lines: list[int]
    read: int = 0
    quarantined: int = 0


def decode_block(block: bytes, first_line: int, parser: JsonlParser, bad: BadLine) -> Block:
    """Decode whole lines ``block`` (line numbers from ``first_line``); bad lines go to ``bad``."""
    buf = np.frombuffer(block, np.uint8)
    view = memoryview(block)
    ends = np.flatnonzero(buf == _NL)
    if not len(buf) or buf[-1] != _NL:
        ends = np.append(ends, len(buf))
    starts = np.empty_like(ends)
    starts[0:1] = 0
    starts[1:] = ends[:-1] + 1
    stops = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR))  # drop a CR
    blank = stops == starts
    plain = ~blank & (buf[np.minimum(starts, len(buf) - 1)] == _OPEN)
    plain &= buf[np.maximum(stops - 1, 0)] == _CLOSE
    out = Block(None, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int16), [], [])
    wires: list[pa.Table] = []
    wire_lines: list[np.ndarray] = []
    instant_parts: list[np.ndarray] = []
    offset_parts: list[np.ndarray] = []

    def slow(i: int) -> None:
        raw = block[starts[i] : stops[i]]
        if not raw.strip():
            return  # a blank line (spaces, tabs): passed over, as FileSource.lines does
        out.read += 1
        try:
            event = parser.parse(raw)
        except ParseError as exc:
            out.quarantined += 1
            bad(first_line + i, exc.reason, raw)
            return
        out.events.append(event)
        out.event_lines.append(i)

    def segment(lo: int, hi: int) -> None:
        """Lines lo..hi-1, all plain or blank; a range Arrow refuses is split in two."""
        todo = [(lo, hi)]  # a stack, not recursion: no closure cycle for the GC to find
        while todo:
            lo, hi = todo.pop()
            lines = np.flatnonzero(~blank[lo:hi]) + lo
            if not len(lines):
                continue
            table = _read(view[starts[lo] : ends[hi - 1]])  # a view: no copy of the lines
            if table is None or table.num_rows != len(lines):
                if len(lines) <= _SMALL:
                    for i in lines:
                        slow(int(i))
                else:
                    mid = int(lines[len(lines) // 2])
                    todo += [(mid, hi), (lo, mid)]  # the first half first
                continue
            ok, instants, offsets = _check(table, block, starts[lines], stops[lines])
            out.read += int(ok.sum())
            if not ok.all():
                for r in np.flatnonzero(~ok):
                    slow(int(lines[r]))
                table, lines = table.filter(bools(ok)), lines[ok]
                instants, offsets = instants[ok], offsets[ok]
            wires.append(table)
            wire_lines.append(lines)
            instant_parts.append(instants)
            offset_parts.append(offsets)

    # maximal runs of plain/blank lines go to Arrow; the others the slow way
    odd = np.flatnonzero(~(plain | blank))
    lo = 0
    for i in [*odd.tolist(), len(starts)]:
        if i > lo:
            segment(lo, i)
        if i < len(starts):
            slow(i)
        lo = i + 1
    if wires:
        out.wire = wires[0] if len(wires) == 1 else pa.concat_tables(wires)
        out.wire_lines = np.concatenate(wire_lines)
        out.instants = np.concatenate(instant_parts)
        out.offsets = np.concatenate(offset_parts)
    return out


def _read(data: bytes | memoryview) -> pa.Table | None:
    try:
        options = pj.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
        source = pa.BufferReader(pa.py_buffer(data))  # no copy
        return pj.read_json(source, read_options=options, parse_options=_PARSE)
    except Exception:  # any failure: these lines take the slow path
        return None


def _check(
    t: pa.Table, block: bytes, starts: np.ndarray, stops: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in plain, certain form (the rest: the slow path); their instants and offsets."""
    n = t.num_rows

    ok = np.ones(n, bool)
    for name in ("tenant", "actor", "resource", "event_id"):
        ok &= mask(pc.greater(pc.binary_length(t.column(name)), ZERO))  # present, not empty
    ok &= mask(pc.is_in(t.column("action"), value_set=_ACTIONS))
    ip = t.column("src_ip")
    if ip.null_count < n:
        ok &= mask(pc.or_kleene(pc.is_null(ip), pc.match_substring_regex(ip, _IPV4)))
    status, pids = t.column("status"), t.column("patient_ids").combine_chunks()
    if status.null_count < n:
        in_range = pc.and_(pc.greater_equal(status, _S100), pc.less_equal(status, _S599))
        ok &= mask(pc.or_kleene(pc.is_null(status), in_range))
    for name in ("records", "bytes"):
        col = t.column(name)
        if col.null_count < n:
            ok &= mask(pc.or_kleene(pc.is_null(col), pc.greater_equal(col, ZERO)))
    flat = pc.list_flatten(pids)
    if len(flat):
        empty = ~mask(pc.greater(pc.binary_length(flat), ZERO))
        if empty.any():  # null or "" patient id: the slow path says which
            ok[np.unique(numpy_of(pc.list_parent_indices(pids))[empty])] = False
    # a missing field and an explicit null read the same; null is valid only where
    # the interface allows it, which the slow path knows
    unset = mask(pc.is_null(status)) | mask(pc.is_null(pids))
    for r in np.flatnonzero(unset & ok):
        if b"null" in block[starts[r] : stops[r]]:
            ok[r] = False
    instants, offsets, ts_ok = parse_ts(t.column("ts"))
    ok &= ts_ok
    return ok, instants, offsets


def parse_ts(ts: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RFC 3339 in plain form → (UTC µs, offset minutes, ok); rows not ok: the slow path.

    Plain form: ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of 1 to 6 digits,
    ``Z`` or ``±HH:MM`` (not ``-00:00``), a real date, years 1000 to 9998.
    """
    arr = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
    n = len(arr)
    instants = np.zeros(n, np.int64)
    offsets = np.zeros(n, np.int16)
    ok = np.zeros(n, bool)
    if n == 0:
        return instants, offsets, ok
    arr = pc.fill_null(arr, EMPTY)
    lengths = numpy_of(pc.binary_length(arr))
    offs = np.frombuffer(arr.buffers()[1], np.int32, n + 1, arr.offset * 4)
    data = np.frombuffer(arr.buffers()[2], np.uint8) if arr.buffers()[2] else np.zeros(0, np.uint8)
    for length in np.unique(lengths):
        if length < 20 or length > 32:
            continue
        if len(lengths) and lengths[0] == length and (lengths == length).all():
            rows = np.arange(n)  # one length (nearly always): the bytes are a matrix already
            chars = data[offs[0] : offs[0] + n * length].reshape(n, length)
        else:
            rows = np.flatnonzero(lengths == length)
            chars = data[offs[rows][:, None] + np.arange(length)]
        zulu = chars[:, -1] == ord("Z")
        for is_z in (True, False):
            sub = rows[zulu == is_z]
            if not len(sub):
                continue
            c = chars[zulu == is_z]
            tz_len = 1 if is_z else 6
            frac = int(length) - 19 - tz_len  # "." + digits, or nothing
            if frac < 0 or frac == 1 or frac > 7:
                continue
            good, micros, minutes = _fields(c, frac, is_z)
            instants[sub] = micros
            offsets[sub] = minutes
            ok[sub] = good
    return instants, offsets, ok


def _fields(c: np.ndarray, frac: int, is_z: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    good = np.ones(len(c), bool)
    digits = {}
    for i in _DIGITS_TS:
        digits[i] = c[:, i].astype(np.int64) - ord("0")
        good &= (digits[i] >= 0) & (digits[i] <= 9)
    for i, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        good &= c[:, i] == ord(ch)
    d = digits
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month = d[5] * 10 + d[6]
    day = d[8] * 10 + d[9]
    hour = d[11] * 10 + d[12]
    minute = d[14] * 10 + d[15]
    second = d[17] * 10 + d[18]
    good &= (year >= 1000) & (year <= 9998) & (month >= 1) & (month <= 12) & (day >= 1)
    good &= (hour <= 23) & (minute <= 59) & (second <= 59)
    micros = np.zeros(len(c), np.int64)
    if frac:
        good &= c[:, 19] == ord(".")
        for k in range(frac - 1):
            digit = c[:, 20 + k].astype(np.int64) - ord("0")
            good &= (digit >= 0) & (digit <= 9)
            micros += digit * 10 ** (5 - k)
    minutes = np.zeros(len(c), np.int64)
    if not is_z:
        sign_at = 19 + frac
        sign = c[:, sign_at]
        good &= ((sign == ord("+")) | (sign == ord("-"))) & (c[:, sign_at + 3] == ord(":"))
        z = {i: c[:, sign_at + i].astype(np.int64) - ord("0") for i in (1, 2, 4, 5)}
        for i in (1, 2, 4, 5):
            good &= (z[i] >= 0) & (z[i] <= 9)
        hh = z[1] * 10 + z[2]
        mm = z[4] * 10 + z[5]
        good &= (hh <= 23) & (mm <= 59)
        minutes = np.where(sign == ord("-"), -1, 1) * (hh * 60 + mm)
        good &= ~((sign == ord("-")) & (minutes == 0))  # -00:00: let the slow path decide
    # days since the epoch, and the real length of each month
    year_c = np.where(good, year, 1970)
    month_c = np.where(good, month, 1)
    first = (year_c - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month_c - 1)
    length = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
    good &= day <= length
    days = first.astype("datetime64[D]").astype(np.int64) + np.where(good, day, 1) - 1
    local = days * _US_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros
    return good, local - minutes * 60_000_000, minutes.astype(np.int16)


def block_table(block: Block) -> pa.Table:
    """The events of a block as the store's columns, in line order."""
    from vigile.store.parquet import EVENT_SCHEMA, events_to_table

    tables = []
    if block.wire is not None and block.wire.num_rows:
        w = block.wire
        n = w.num_rows
        pids = w.column("patient_ids").combine_chunks()
        if pids.null_count:  # absent: no patient (the reader leaves null lists empty)
            pids = pa.ListArray.from_arrays(pids.offsets, pids.values)
        records = pc.coalesce(w.column("records"), pc.list_value_length(pids).cast(pa.int64()))
        columns = {
            "event_key": w.column("event_id"),
            "ts": numbers(block.instants, EVENT_SCHEMA.field("ts").type),
            "ts_offset": numbers(block.offsets, pa.int16()),
            **{name: w.column(name) for name in _PLAIN_STRINGS},
            "status": pc.fill_null(w.column("status"), _S200).cast(pa.int16()),
            "patient_ids": pids,
            "records": records,
            "bytes": w.column("bytes"),
            "query": w.column("query"),
            "extra": pa.nulls(n, pa.string()),
        }
        tables.append(pa.table(columns).cast(EVENT_SCHEMA))
    if block.events:
        tables.append(events_to_table(block.events))
    if not tables:
        return EVENT_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    lines = np.concatenate([block.wire_lines, np.asarray(block.event_lines, np.int64)])
    return pa.concat_tables(tables).take(numbers(np.argsort(lines, kind="stable")))


_PLAIN_STRINGS: Final = (
    *("tenant", "actor", "action", "resource", "event_id", "session"),
    *("src_ip", "user_agent", "method", "route"),
)
