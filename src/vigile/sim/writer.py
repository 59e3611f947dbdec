"""Serialisation: events as JSON Lines (INTERFACE §1), truth as Parquet/CSV/JSON Lines.

Event lines are assembled column-wise with Polars string expressions from interned
tables, which keeps serialisation far above a million lines per second; every string
that goes into a line is checked once to need no JSON escaping.
"""

from __future__ import annotations

import gzip
import io
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
from vigile.sim.clock import MS_MIN
from vigile.sim.rng import mix

I64 = npt.NDArray[np.int64]
_UNSAFE = ('"', "\\", "\n", "\r", "\t")


def _safe(strings: list[str], what: str) -> pl.Series:
    for s in strings:
        if any(c in s for c in _UNSAFE) or any(ord(c) < 0x20 for c in s):
            raise ValueError(f"{what} value needs JSON escaping: {s!r}")
    return pl.Series(strings, dtype=pl.String)


_KINDS = sorted(ROUTES)
_METHOD = pl.Series([ROUTES[k][0] for k in _KINDS])
_ROUTE = pl.Series([ROUTES[k][1] for k in _KINDS])
ACTION_NAMES = _ACTION = pl.Series([ROUTES[k][2] for k in _KINDS])
_RESOURCE = pl.Series([ROUTES[k][3] for k in _KINDS])
_WHAT = pl.Series(
    [
        f',"action":"{ROUTES[k][2]}","resource":"{ROUTES[k][3]}","method":"{ROUTES[k][0]}"'
        f',"route":"{ROUTES[k][1]}","status":'
        for k in _KINDS
    ]
)
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


class Renderer:
    """Turns sorted `Columns` into JSON lines, with string tables cached between calls."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self.tables = tables
        self.seed = seed
        self._cache: dict[str, tuple[int, pl.Series]] = {}

    def strings(self, name: str) -> pl.Series:
        """The interned strings of a table (`tenant`, `actor`, ...) as a Series."""
        values: list[str] = getattr(self.tables, name + "s")
        return self._series(name, values)

    def _series(self, name: str, values: list[str]) -> pl.Series:
        hit = self._cache.get(name)
        if hit is not None and hit[0] == len(values):
            return hit[1]
        if hit is not None and name != "query" and len(values) > hit[0]:
            extra = _safe(values[hit[0] :], name)
            ser = pl.concat([hit[1], extra])
        else:
            ser = _safe(values, name)
        self._cache[name] = (len(values), ser)
        return ser

    def _pid_lists(self, cols: Columns, starts: I64) -> pl.Series:
        """The `patient_ids` JSON array of every event.  Lists of several ids are joined
        once per distinct list (the client polling an unchanged schedule repeats them)."""
        n = len(cols)
        out = pl.Series("p", ["[]"], dtype=pl.String).gather(np.zeros(n, dtype=np.int64))
        single = np.flatnonzero(cols.counts == 1)
        if len(single):
            txt = pl.select(
                pl.format('["P{}"]', pl.lit(pl.Series(cols.values[starts[single]])))
            ).to_series()
            out = out.scatter(single, txt)
        multi_idx = np.flatnonzero(cols.counts > 1)
        if len(multi_idx) == 0:
            return out
        cnt = cols.counts[multi_idx]
        offs = np.zeros(len(multi_idx) + 1, dtype=np.int64)
        np.cumsum(cnt, out=offs[1:])
        sel = np.repeat(starts[multi_idx] - offs[:-1], cnt) + np.arange(int(offs[-1]))
        vals = cols.values[sel]
        # a position-weighted sum identifies a list (weights are odd 64-bit mixes)
        pos = np.arange(len(vals)) - np.repeat(offs[:-1], cnt)
        with np.errstate(over="ignore"):
            weighted = vals.astype(np.uint64) * _position_weights(int(cnt.max()))[pos]
            key = np.add.reduceat(weighted, offs[:-1]) ^ mix(cnt.astype(np.uint64))
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        u_cnt = cnt[first]
        u_offs = np.zeros(len(first) + 1, dtype=np.int64)
        np.cumsum(u_cnt, out=u_offs[1:])
        u_sel = np.repeat(offs[first] - u_offs[:-1], u_cnt) + np.arange(int(u_offs[-1]))
        txt = pl.select(
            pl.concat_str(
                [pl.lit('"P'), pl.lit(pl.Series(vals[u_sel])).cast(pl.String), pl.lit('"')]
            )
        ).to_series()
        lst = pa.LargeListArray.from_arrays(
            pa.array(u_offs), txt.to_arrow().cast(pa.large_string())
        )
        joined = pl.select(
            pl.concat_str([pl.lit("["), pl.lit(pl.Series(lst)).list.join(","), pl.lit("]")])
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

    def frame(self, cols: Columns, offsets_min: I64, first_no: int) -> pl.DataFrame:
        """Columns as a frame of strings and numbers ready to be concatenated."""
        n = len(cols)
        t = self.tables
        pids = self._pid_lists(cols, cols.starts())
        queries = self._series("query", t.queries) if t.queries else pl.Series([""])
        return pl.DataFrame(
            {
                "no": np.arange(first_no, first_no + n, dtype=np.int64),
                "local": cols.ts + offsets_min * MS_MIN,
                "off": offset_text(offsets_min),
                "who": self._who(cols),
                "what": _WHAT.gather(cols.kind),
                "tenant": self._series("tenant", t.tenants).gather(cols.tenant),
                "actor": self._series("actor", t.actors).gather(cols.actor),
                "action": _ACTION.gather(cols.kind),
                "status": cols.status,
                "pids": pids,
                "records": cols.records,
                "bytes": event_bytes(self.seed, cols, first_no),
                "query": queries.gather(np.maximum(cols.query, 0)),
                "has_query": cols.query >= 0,
            }
        )

    def render(self, cols: Columns, offsets_min: I64, first_no: int) -> bytes:
        """The JSON lines of a block of events (already in time order)."""
        if len(cols) == 0:
            return b""
        df = self.frame(cols, offsets_min, first_no)
        out = df.select(
            pl.concat_str(
                [
                    pl.lit('{"ts":"'),
                    ts_expr("local", "off"),
                    pl.lit('","event_id":"'),
                    event_id_expr("no"),
                    pl.lit('",'),
                    pl.col("who"),
                    pl.col("what"),
                    pl.col("status").cast(pl.String),
                    pl.lit(',"patient_ids":'),
                    pl.col("pids"),
                    pl.lit(',"records":'),
                    pl.col("records").cast(pl.String),
                    pl.lit(',"bytes":'),
                    pl.col("bytes").cast(pl.String),
                    pl.when(pl.col("has_query"))
                    .then(pl.format(',"query":"{}"', "query"))
                    .otherwise(pl.lit("")),
                    pl.lit("}"),
                ]
            ).alias("line")
        )
        buf = io.BytesIO()
        out.write_csv(buf, include_header=False, quote_style="never")
        return buf.getvalue()


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

    def write(self, data: bytes, n: int) -> None:
        """Append n rendered lines."""
        self._out.write(data)
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

    def write(self, columns: dict[str, Any]) -> None:
        """Append one batch (column name -> array)."""
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
