"""Serialisation: events as JSON Lines (INTERFACE §1), truth as Parquet/CSV/JSON Lines.

Event lines are assembled column-wise: the fixed-width head of each line (timestamp and
event id) is written digit by digit into a numpy byte matrix, the rest is gathered from
interned string tables and joined with Polars string expressions, and the joined column's
Arrow buffer is the file's bytes (no CSV writer in between).  Every string that goes into a
line is checked once to need no JSON escaping.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from vigile.sim.batch import ROUTES, Columns, Kind, Tables
from vigile.sim.clock import MS_DAY, MS_MIN
from vigile.sim.rng import mix

I64 = npt.NDArray[np.int64]
_UNSAFE = ('"', "\\", "\n", "\r", "\t")


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')  # as _UNSAFE or a control character


def _safe(strings: list[str], what: str) -> pl.Series:
    if _NEEDS_ESCAPE.search("".join(strings)):  # one scan; the culprit looked up after
        for s in strings:
            if any(c in s for c in _UNSAFE) or any(ord(c) < 0x20 for c in s):
                raise ValueError(f"{what} value needs JSON escaping: {s!r}")
    return pl.Series(strings, dtype=pl.String)


_KINDS = sorted(ROUTES)
_METHOD = pl.Series([ROUTES[k][0] for k in _KINDS])
_ROUTE = pl.Series([ROUTES[k][1] for k in _KINDS])
ACTION_NAMES = _ACTION = pl.Series([ROUTES[k][2] for k in _KINDS])
_RESOURCE = pl.Series([ROUTES[k][3] for k in _KINDS])
_WHAT = [
    f',"action":"{ROUTES[k][2]}","resource":"{ROUTES[k][3]}","method":"{ROUTES[k][0]}"'
    f',"route":"{ROUTES[k][1]}","status":'
    for k in _KINDS
]
_PIDS_OPEN = ',"patient_ids":'
_PIDS_CLOSE = ',"records":'
_BASE = np.array([ROUTES[k][4] for k in _KINDS], dtype=np.int64)
_PER = np.array([ROUTES[k][5] for k in _KINDS], dtype=np.int64)


def event_bytes(seed: int, cols: Columns, first_no: int) -> I64:
    """Response sizes: a per-route base plus a per-record size, with deterministic jitter."""
    n = len(cols)
    no = np.arange(first_no, first_no + n, dtype=np.int64)
    jit = ((no * 2_654_435_761 + seed * 97) >> 7) % 1000
    base = _BASE[cols.kind]
    per = _PER[cols.kind]
    size = base + per * cols.records + (base + per) * jit // 4000
    refused = cols.status >= 400
    return np.where(refused, 60 + jit % 40, size)


@lru_cache(maxsize=8)
def _position_weights(n: int) -> npt.NDArray[np.uint64]:
    size = 1 << max(6, (n - 1).bit_length())
    return mix(np.arange(size, dtype=np.uint64)) | np.uint64(1)


def offset_text(off: I64) -> pl.Series:
    """`+01:00`-style offsets for offsets in minutes."""
    uniq, inv = np.unique(off, return_inverse=True)
    txt = [f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o in uniq.tolist()]
    return pl.Series(txt, dtype=pl.String).gather(inv.astype(np.int64))


def ts_expr(local_ms: str, off: str) -> pl.Expr:
    """RFC 3339 text from a local-time epoch-ms column and an offset-text column."""
    return pl.concat_str(
        [pl.from_epoch(local_ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"), pl.col(off)]
    )


def event_id_expr(no: str) -> pl.Expr:
    """`ev-000000000123` from an event-number column."""
    return pl.concat_str([pl.lit("ev-"), pl.col(no).cast(pl.String).str.zfill(12)])


# ------------------------------------------------- fixed-width text written digit by digit
#
# A text column of fixed width is built as a (width, n) byte matrix, one row per character
# position, filled from a template and then digit by digit with whole-column integer
# arithmetic; the transposed matrix is the column's Arrow data buffer.

U8 = npt.NDArray[np.uint8]
_TS_TEMPLATE = b"0000-00-00T00:00:00.000+00:00"
_TS_WIDTH = len(_TS_TEMPLATE)
_HEAD_TEMPLATE = b'{"ts":"' + _TS_TEMPLATE + b'","event_id":"ev-000000000000",'
_HEAD_TS = len(b'{"ts":"')
_HEAD_ID = _HEAD_TEMPLATE.index(b"ev-") + 3
_MAX_DAYS_SPAN = 400_000


def template_matrix(text: bytes, n: int) -> U8:
    tpl = np.frombuffer(text, dtype=np.uint8)
    mat = np.empty((len(tpl), n), dtype=np.uint8)
    mat[:] = tpl[:, None]
    return mat


def put_digits(mat: U8, row: int, width: int, values: npt.NDArray[np.integer[Any]]) -> None:
    """Write values (0 <= v < 10**width, width <= 9) zero-padded into rows row..row+width-1."""
    y = values.astype(np.int32)
    for r in range(row + width - 1, row - 1, -1):
        q = y // 10
        mat[r] = y - q * 10
        y = q
    mat[row : row + width] += 48


def put_dates(mat: U8, row: int, day: I64) -> bool:
    """Write `YYYY-MM-DD` of days since 1970-01-01 at `row`; False (nothing written) when a
    year falls outside 1000-9999."""
    if len(day) == 0:
        return True
    d0, d1 = int(day.min()), int(day.max())
    if d1 - d0 > _MAX_DAYS_SPAN:
        return False
    epoch = dt.date(1970, 1, 1)
    try:
        first, last = epoch + dt.timedelta(days=d0), epoch + dt.timedelta(days=d1)
    except OverflowError:
        return False
    if first.year < 1000 or last.year > 9999:
        return False
    table = _date_table(d0, d1 - d0 + 1)
    mat[row : row + 10] = table[:, day - d0]
    return True


def _date_table(d0: int, n: int) -> U8:
    """`YYYY-MM-DD` of days d0..d0+n-1 since 1970-01-01 as a (10, n) byte matrix (years
    1000-9999): the proleptic Gregorian calendar computed whole-array (H. Hinnant's
    `civil_from_days`), the same text as `date.isoformat()` (tests/sim/test_fast_paths.py)."""
    z = np.arange(d0, d0 + n, dtype=np.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    table = template_matrix(b"0000-00-00", n)
    put_digits(table, 0, 4, year)
    put_digits(table, 5, 2, month)
    put_digits(table, 8, 2, day)
    return table


def _put_ts(mat: U8, row: int, local_ms: I64, off_min: I64) -> bool:
    """Write `YYYY-MM-DDTHH:MM:SS.mmm+HH:MM` at `row`; False (nothing written) when a year
    falls outside 1000-9999 or an offset reaches 100 hours (the caller formats those)."""
    if len(local_ms) == 0:
        return True
    day = local_ms // MS_DAY
    if int(np.abs(off_min).max()) >= 100 * 60 or not put_dates(mat, row, day):
        return False
    rem = local_ms - day * MS_DAY
    hour = rem // 3_600_000
    rem = rem - hour * 3_600_000
    minute = rem // 60_000
    rem = rem - minute * 60_000
    sec = rem // 1000
    put_digits(mat, row + 11, 2, hour)
    put_digits(mat, row + 14, 2, minute)
    put_digits(mat, row + 17, 2, sec)
    put_digits(mat, row + 20, 3, rem - sec * 1000)
    mat[row + 23] = np.where(off_min < 0, ord("-"), ord("+"))
    a = np.abs(off_min)
    put_digits(mat, row + 24, 2, a // 60)
    put_digits(mat, row + 27, 2, a % 60)
    return True


def _int64_array(values: I64) -> pa.Array:
    """`pa.array(values)` of an int64 array, without `pa.array`'s check for pandas (which
    imports pandas, ~0.3 CPU-s)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def text_series(mat: U8) -> pl.Series:
    """The strings of a (width, n) byte matrix as a String Series."""
    width, n = mat.shape
    data = np.ascontiguousarray(mat.T)
    offs = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    arr = pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offs), pa.py_buffer(data)]
    )
    return pl.Series(arr)


def ts_text(local_ms: I64, off_min: I64) -> pl.Series:
    """RFC 3339 text (as `ts_expr`) of local-time epoch ms and offsets in minutes."""
    mat = template_matrix(_TS_TEMPLATE, len(local_ms))
    if _put_ts(mat, 0, local_ms, off_min):
        return text_series(mat)
    return (
        pl.DataFrame({"local": local_ms, "off": offset_text(off_min)})
        .select(ts_expr("local", "off"))
        .to_series()
    )


def head_text(local_ms: I64, off_min: I64, first_no: int) -> pl.Series:
    """`{"ts":"...","event_id":"ev-...",` of events numbered from first_no."""
    n = len(local_ms)
    nos = np.arange(first_no, first_no + n, dtype=np.int64)
    if n and first_no >= 0 and first_no + n <= 10**12:
        mat = template_matrix(_HEAD_TEMPLATE, n)
        if _put_ts(mat, _HEAD_TS, local_ms, off_min):
            put_digits(mat, _HEAD_ID, 6, nos // 1_000_000)
            put_digits(mat, _HEAD_ID + 6, 6, nos % 1_000_000)
            return text_series(mat)
    df = pl.DataFrame({"local": local_ms, "off": offset_text(off_min), "no": nos})
    return df.select(
        pl.concat_str(
            [
                pl.lit('{"ts":"'),
                ts_expr("local", "off"),
                pl.lit('","event_id":"'),
                event_id_expr("no"),
                pl.lit('",'),
            ]
        )
    ).to_series()


def text_parts(lines: pl.Series) -> list[memoryview]:
    """The concatenated text of a String Series as a few views of its own buffers.

    Polars stores strings as Arrow string views whose bytes are appended, in order, to a
    few data buffers; when every view is long and follows the previous one, those buffer
    ranges are the text and nothing is copied.  Otherwise the text is gathered once."""
    arr = lines.to_arrow(compat_level=pl.CompatLevel.newest())
    if len(arr) and arr.type == pa.string_view() and arr.offset == 0 and arr.null_count == 0:
        bufs = arr.buffers()
        views = np.frombuffer(bufs[1], dtype=np.int32, count=4 * len(arr)).reshape(-1, 4)
        length, bidx, off = views[:, 0], views[:, 2], views[:, 3]
        if int(length.min()) > 12:
            brk = np.flatnonzero(bidx[1:] != bidx[:-1]) + 1
            cont = np.ones(len(arr), dtype=bool)
            cont[1:] = off[1:] == off[:-1] + length[:-1]
            cont[brk] = True
            if cont.all():
                firsts = np.concatenate([[0], brk])
                lasts = np.concatenate([brk - 1, [len(arr) - 1]])
                return [
                    memoryview(bufs[2 + int(bidx[f])])[int(off[f]) : int(off[e]) + int(length[e])]
                    for f, e in zip(firsts.tolist(), lasts.tolist(), strict=True)
                ]
    large = lines.to_arrow().cast(pa.large_string())
    if large.null_count:
        raise ValueError("a rendered line is null")
    offs = np.frombuffer(
        large.buffers()[1], dtype=np.int64, count=len(large) + 1, offset=large.offset * 8
    )
    data = large.buffers()[2]
    if data is None or len(large) == 0:
        return []
    return [memoryview(data)[int(offs[0]) : int(offs[-1])]]


class Renderer:
    """Turns sorted `Columns` into JSON lines, with string tables cached between calls."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self.tables = tables
        self.seed = seed
        # name -> (table epoch, entries rendered, Series); only the query table has epochs
        self._cache: dict[str, tuple[int, int, pl.Series]] = {}

    def strings(self, name: str) -> pl.Series:
        """The interned strings of a table (`tenant`, `actor`, ...) as a Series."""
        values: list[str] = getattr(self.tables, name + "s")
        return self._series(name, values)

    def _series(self, name: str, values: list[str], epoch: int = 0) -> pl.Series:
        """Tables only grow within an epoch, so entries already rendered are kept.  (The
        query table is replaced every day: a cache checked by length alone served one
        day's queries to the next day when both had as many.)"""
        hit = self._cache.get(name)
        if hit is not None and hit[0] == epoch and hit[1] == len(values):
            return hit[2]
        if hit is not None and hit[0] == epoch and len(values) > hit[1]:
            extra = _safe(values[hit[1] :], name)
            ser = pl.concat([hit[2], extra])
        else:
            ser = _safe(values, name)
        self._cache[name] = (epoch, len(values), ser)
        return ser

    @staticmethod
    def _distinct_lists(cols: Columns, starts: I64, idx: I64) -> tuple[I64, I64]:
        """For events idx (several ids each): the position in idx of the first event of each
        distinct list, and each event's list number."""
        if len(idx) == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z
        cnt = cols.counts[idx].astype(np.int64)
        offs = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(cnt, out=offs[1:])
        sel = np.repeat(starts[idx] - offs[:-1], cnt) + np.arange(int(offs[-1]))
        # a position-weighted sum identifies a list (weights are odd 64-bit mixes)
        pos = np.arange(len(sel)) - np.repeat(offs[:-1], cnt)
        with np.errstate(over="ignore"):
            weighted = cols.values[sel].astype(np.uint64) * _position_weights(int(cnt.max()))[pos]
            key = np.add.reduceat(weighted, offs[:-1]) ^ mix(cnt.astype(np.uint64))
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return first.astype(np.int64), inv.ravel().astype(np.int64)

    def _pid_lists(self, cols: Columns, starts: I64) -> pl.Series:
        """`,"patient_ids":[...],"records":` for every event.  Lists of several ids are
        joined once per distinct list (the client polling an unchanged schedule repeats
        them)."""
        n = len(cols)
        out = pl.Series("p", [_PIDS_OPEN + "[]" + _PIDS_CLOSE], dtype=pl.String).gather(
            np.zeros(n, dtype=np.int64)
        )
        single = np.flatnonzero(cols.counts == 1)
        if len(single):
            txt = pl.select(
                pl.format(
                    _PIDS_OPEN + '["P{}"]' + _PIDS_CLOSE,
                    pl.lit(pl.Series(cols.values[starts[single]])),
                )
            ).to_series()
            out = out.scatter(single, txt)
        multi_idx = np.flatnonzero(cols.counts > 1)
        if len(multi_idx) == 0:
            return out
        # one representative event per distinct list: events keyed by the generator are
        # grouped by key, the others by a hash of their ids
        lkeys = cols.lkey[multi_idx]
        keyed, free = multi_idx[lkeys >= 0], multi_idx[lkeys < 0]
        _, k_first, k_inv = np.unique(cols.lkey[keyed], return_index=True, return_inverse=True)
        f_first, f_inv = self._distinct_lists(cols, starts, free)
        reps = np.concatenate([keyed[k_first], free[f_first]])
        multi_idx = np.concatenate([keyed, free])
        inv = np.concatenate([k_inv.ravel(), f_inv + len(k_first)])
        u_cnt = cols.counts[reps].astype(np.int64)
        lo = starts[reps]
        u_offs = np.zeros(len(reps) + 1, dtype=np.int64)
        np.cumsum(u_cnt, out=u_offs[1:])
        u_sel = np.repeat(lo - u_offs[:-1], u_cnt) + np.arange(int(u_offs[-1]))
        txt = pl.select(
            pl.concat_str(
                [
                    pl.lit('"P'),
                    pl.lit(pl.Series(cols.values[u_sel])).cast(pl.String),
                    pl.lit('"'),
                ]
            )
        ).to_series()
        lst = pa.LargeListArray.from_arrays(
            _int64_array(u_offs), txt.to_arrow().cast(pa.large_string())
        )
        joined = pl.select(
            pl.concat_str(
                [
                    pl.lit(_PIDS_OPEN + "["),
                    pl.lit(pl.Series(lst)).list.join(","),
                    pl.lit("]" + _PIDS_CLOSE),
                ]
            )
        ).to_series()
        return out.scatter(multi_idx, joined.gather(inv.astype(np.int64)))

    def _who(self, cols: Columns) -> pl.Series:
        """Pre-rendered `"tenant":..,"actor":..,"session":..,"src_ip":..,"user_agent":..`
        for each event (rendered once per distinct combination)."""
        t = self.tables
        for name in ("tenant", "actor", "session", "ip", "ua"):
            self.strings(name)  # checks new table entries need no JSON escaping
        keys = (cols.ua, cols.ip, cols.session, cols.actor)
        order = np.lexsort(keys)
        new = np.ones(len(order), dtype=bool)
        if len(order) > 1:
            new[1:] = np.any([k[order[1:]] != k[order[:-1]] for k in keys], axis=0)
        group = np.cumsum(new) - 1
        inv = np.empty(len(order), dtype=np.int64)
        inv[order] = group
        out = []
        for i in order[new].tolist():
            s_ = int(cols.session[i])
            sess_txt = f',"session":"{t.sessions[s_]}"' if s_ >= 0 else ""
            out.append(
                f'"tenant":"{t.tenants[int(cols.tenant[i])]}",'
                f'"actor":"{t.actors[int(cols.actor[i])]}"'
                f'{sess_txt},"src_ip":"{t.ips[int(cols.ip[i])]}",'
                f'"user_agent":"{t.uas[int(cols.ua[i])]}"'
            )
        return pl.Series(out, dtype=pl.String).gather(inv)

    def _what(self, cols: Columns) -> pl.Series:
        """`,"action":..,"resource":..,"method":..,"route":..,"status":NNN` of each event
        (rendered once per distinct kind and status)."""
        kind = cols.kind.astype(np.int64)
        status = cols.status.astype(np.int64)
        s_lo = int(status.min())
        span = int(status.max()) - s_lo + 1
        code = kind * span + (status - s_lo)
        used = np.flatnonzero(np.bincount(code))
        lut = np.zeros(len(_KINDS) * span, dtype=np.int64)
        lut[used] = np.arange(len(used))
        txt = [f"{_WHAT[int(c) // span]}{int(c) % span + s_lo}" for c in used.tolist()]
        return pl.Series(txt, dtype=pl.String).gather(lut[code])

    def _queries(self, cols: Columns) -> pl.Series:
        """`,"query":"..."` of each event with a query, "" for the others."""
        t = self.tables
        queries = self._series("query", t.queries, t.query_epoch) if t.queries else None
        if queries is None:
            queries = pl.Series([""], dtype=pl.String)
        table = pl.concat(
            [
                pl.Series([""], dtype=pl.String),
                pl.select(
                    pl.concat_str([pl.lit(',"query":"'), pl.lit(queries), pl.lit('"')])
                ).to_series(),
            ]
        )
        return table.gather(cols.query.astype(np.int64) + 1)

    def lines(self, cols: Columns, offsets_min: I64, first_no: int) -> pl.Series:
        """The JSON lines (each ending in a newline) of a block of events."""
        df = pl.DataFrame(
            {
                "head": head_text(cols.ts + offsets_min * MS_MIN, offsets_min, first_no),
                "who": self._who(cols),
                "what": self._what(cols),
                "pids": self._pid_lists(cols, cols.starts()),
                "records": cols.records,
                "bytes": event_bytes(self.seed, cols, first_no),
                "query": self._queries(cols),
            }
        )
        return df.select(
            pl.concat_str(
                [
                    pl.col("head"),
                    pl.col("who"),
                    pl.col("what"),
                    pl.col("pids"),
                    pl.col("records").cast(pl.String),
                    pl.lit(',"bytes":'),
                    pl.col("bytes").cast(pl.String),
                    pl.col("query"),
                    pl.lit("}\n"),
                ]
            )
        ).to_series()

    def render(self, cols: Columns, offsets_min: I64, first_no: int) -> bytes:
        """The JSON lines of a block of events (already in time order)."""
        if len(cols) == 0:
            return b""
        return b"".join(text_parts(self.lines(cols, offsets_min, first_no)))


class EventSink:
    """Writes event lines to DIR/events.jsonl (or .jsonl.gz)."""

    def __init__(self, path: Path, use_gzip: bool, level: int) -> None:
        self.path = path
        self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115
        self._out: IO[bytes] = self._raw
        if use_gzip:
            self._out = gzip.GzipFile(  # type: ignore[assignment]
                fileobj=self._raw, mode="wb", compresslevel=level, mtime=0
            )
        self.count = 0

    def write(self, data: bytes | list[memoryview], n: int) -> None:
        """Append n rendered lines (bytes, or the pieces of `text_parts`)."""
        for part in [data] if isinstance(data, bytes) else data:
            self._out.write(part)
        self.count += n

    def close(self) -> None:
        """Flush and close."""
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


class ParquetSink:
    """Appends record batches of a fixed schema to a Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._w = pq.ParquetWriter(str(path), schema, compression="zstd")
        self.rows = 0

    def write(self, columns: pa.Table | dict[str, Any]) -> None:
        """Append one batch (a Table, or column name -> array)."""
        if isinstance(columns, pa.Table):
            # what `pa.table` does with a Table, without its check for a pandas frame
            # first (which imports pandas, ~0.3 CPU-s)
            t = pa.RecordBatchReader.from_stream(columns, schema=self.schema).read_all()
            if t.schema != self.schema:
                t = t.cast(self.schema)
        else:
            t = pa.table(columns, schema=self.schema)
        if t.num_rows:
            self._w.write_table(t)
            self.rows += t.num_rows

    def close(self) -> None:
        """Finish the file."""
        self._w.close()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write dicts as JSON Lines (sorted keys, stable output)."""
    with open(path, "wb") as f:
        for r in rows:
            f.write(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n")


def csv_text(df: pl.DataFrame, header: bool = True) -> bytes:
    """A frame as CSV bytes."""
    buf = io.BytesIO()
    df.write_csv(buf, include_header=header)
    return buf.getvalue()


__all__ = ["EventSink", "Kind", "ParquetSink", "Renderer", "csv_text", "write_jsonl"]
