"""Serialisation: events as JSON Lines (INTERFACE §1), truth as Parquet/CSV/JSON Lines.

Event lines are assembled column-wise with Polars string expressions from interned
tables, which keeps serialisation far above a million lines per second; every string
that goes into a line is checked once to need no JSON escaping.
"""

from __future__ import annotations

import gzip
import io
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
from vigile.sim.rng import hash_u64

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
_ACTION = pl.Series([ROUTES[k][2] for k in _KINDS])
_RESOURCE = pl.Series([ROUTES[k][3] for k in _KINDS])
_BASE = np.array([ROUTES[k][4] for k in _KINDS], dtype=np.int64)
_PER = np.array([ROUTES[k][5] for k in _KINDS], dtype=np.int64)


def event_bytes(seed: int, cols: Columns, first_no: int) -> I64:
    """Response sizes: a per-route base plus a per-record size, with deterministic jitter."""
    n = len(cols)
    h = hash_u64(seed, 91, np.arange(first_no, first_no + n, dtype=np.int64))
    jit = (h % np.uint64(1000)).astype(np.int64)
    base = _BASE[cols.kind]
    per = _PER[cols.kind]
    size = base + per * cols.records + (base + per) * jit // 4000
    refused = cols.status >= 400
    return np.where(refused, 60 + jit % 40, size)


def offset_text(off: I64) -> pl.Series:
    """`+01:00`-style offsets for offsets in minutes."""
    uniq, inv = np.unique(off, return_inverse=True)
    txt = [f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o in uniq.tolist()]
    return pl.Series(txt, dtype=pl.String).gather(inv.astype(np.int64))


def ts_expr(local_ms: str, off: str) -> pl.Expr:
    """RFC 3339 text from a local-time epoch-ms column and an offset-text column."""
    return pl.concat_str([
        pl.from_epoch(local_ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
        pl.col(off)])


def event_id_expr(no: str) -> pl.Expr:
    """`ev-000000000123` from an event-number column."""
    return pl.concat_str([pl.lit("ev-"), pl.col(no).cast(pl.String).str.zfill(12)])


class Renderer:
    """Turns sorted `Columns` into JSON lines, with string tables cached between calls."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self.tables = tables
        self.seed = seed
        self._cache: dict[str, tuple[int, pl.Series]] = {}

    def _series(self, name: str, values: list[str]) -> pl.Series:
        hit = self._cache.get(name)
        if hit is not None and hit[0] == len(values):
            return hit[1]
        if hit is not None and name != "query" and len(values) > hit[0]:
            extra = _safe(values[hit[0]:], name)
            ser = pl.concat([hit[1], extra])
        else:
            ser = _safe(values, name)
        self._cache[name] = (len(values), ser)
        return ser

    def frame(self, cols: Columns, offsets_min: I64, first_no: int) -> pl.DataFrame:
        """Columns as a frame of strings and numbers ready to be concatenated."""
        n = len(cols)
        t = self.tables
        starts = cols.starts()
        pid_first = (cols.values[np.minimum(starts, len(cols.values) - 1)]
                     if len(cols.values) else np.zeros(n, dtype=np.int64))
        multi_idx = np.flatnonzero(cols.counts > 1)
        multi_txt = pl.Series("m", [None] * n, dtype=pl.String)
        if len(multi_idx):
            offs = np.zeros(len(multi_idx) + 1, dtype=np.int64)
            np.cumsum(cols.counts[multi_idx], out=offs[1:])
            sel = np.repeat(starts[multi_idx] - offs[:-1], cols.counts[multi_idx]) + np.arange(
                int(offs[-1]))
            lst = pa.LargeListArray.from_arrays(pa.array(offs), pa.array(cols.values[sel]))
            joined = (pl.DataFrame({"l": pl.Series(lst)})
                      .select(pl.col("l").list.eval(pl.format('"P{}"', pl.element()))
                              .list.join(",")).to_series())
            multi_txt = multi_txt.scatter(multi_idx, joined)
        queries = self._series("query", t.queries) if t.queries else pl.Series([""])
        return pl.DataFrame({
            "no": np.arange(first_no, first_no + n, dtype=np.int64),
            "local": cols.ts + offsets_min * MS_MIN,
            "off": offset_text(offsets_min),
            "tenant": self._series("tenant", t.tenants).gather(cols.tenant),
            "actor": self._series("actor", t.actors).gather(cols.actor),
            "action": _ACTION.gather(cols.kind),
            "resource": _RESOURCE.gather(cols.kind),
            "method": _METHOD.gather(cols.kind),
            "route": _ROUTE.gather(cols.kind),
            "session": self._series("session", t.sessions).gather(np.maximum(cols.session, 0)),
            "has_session": cols.session >= 0,
            "ip": self._series("ip", t.ips).gather(cols.ip),
            "ua": self._series("ua", t.uas).gather(cols.ua),
            "status": cols.status,
            "count": cols.counts,
            "pid": np.where(cols.counts > 0, pid_first, 0),
            "multi": multi_txt,
            "records": cols.records,
            "bytes": event_bytes(self.seed, cols, first_no),
            "query": queries.gather(np.maximum(cols.query, 0)),
            "has_query": cols.query >= 0,
        })

    def render(self, cols: Columns, offsets_min: I64, first_no: int) -> bytes:
        """The JSON lines of a block of events (already in time order)."""
        if len(cols) == 0:
            return b""
        df = self.frame(cols, offsets_min, first_no)
        pids = (pl.when(pl.col("count") == 0).then(pl.lit("[]"))
                .when(pl.col("count") == 1).then(pl.format('["P{}"]', "pid"))
                .otherwise(pl.format("[{}]", "multi")))
        out = df.select(pl.concat_str([
            pl.lit('{"ts":"'), ts_expr("local", "off"),
            pl.lit('","event_id":"'), event_id_expr("no"),
            pl.lit('","tenant":"'), pl.col("tenant"),
            pl.lit('","actor":"'), pl.col("actor"),
            pl.lit('","action":"'), pl.col("action"),
            pl.lit('","resource":"'), pl.col("resource"),
            pl.when(pl.col("has_session")).then(pl.format('","session":"{}', "session"))
            .otherwise(pl.lit("")),
            pl.lit('","src_ip":"'), pl.col("ip"),
            pl.lit('","user_agent":"'), pl.col("ua"),
            pl.lit('","method":"'), pl.col("method"),
            pl.lit('","route":"'), pl.col("route"),
            pl.lit('","status":'), pl.col("status").cast(pl.String),
            pl.lit(',"patient_ids":'), pids,
            pl.lit(',"records":'), pl.col("records").cast(pl.String),
            pl.lit(',"bytes":'), pl.col("bytes").cast(pl.String),
            pl.when(pl.col("has_query")).then(pl.format(',"query":"{}"', "query"))
            .otherwise(pl.lit("")),
            pl.lit("}"),
        ]).alias("line"))
        buf = io.BytesIO()
        out.write_csv(buf, include_header=False, quote_style="never")
        return buf.getvalue()


class EventSink:
    """Writes event lines to DIR/events.jsonl (or .jsonl.gz)."""

    def __init__(self, path: Path, use_gzip: bool, level: int) -> None:
        self.path = path
        self._raw: IO[bytes] = open(path, "wb")  # noqa: SIM115
        self._out: IO[bytes] = (gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=level,
                                              mtime=0) if use_gzip else self._raw)
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
