"""The embedded event store: append-only Parquet partitioned by day, read through DuckDB.

Layout of a store directory::

    STORE/store.json                              format marker and version
    STORE/events/day=2026-03-02/part-<id>.parquet    events, sorted by time
    STORE/exposures/day=2026-03-02/part-<id>.parquet one row per (event, patient),
                                                  sorted by patient_id
    STORE/quarantine.jsonl                        bad lines of every ingest

Parts are written once and never modified (append-only, tamper-evident by
their content-derived names). Each events part has an exposures twin with the
same id, written first; a store opened after a crash rebuilds a missing twin.
Re-ingesting events the store already holds adds nothing: keys
(:func:`vigile.events.event_key`) are checked against the days they fall on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from vigile.errors import InputError, VigileError
from vigile.events import AccessEvent, event_key
from vigile.store import arrays
from vigile.store.arrays import bools, numbers, numpy_of
from vigile.store.base import AppendResult, EventFilter, StoreInfo
from vigile.store.keyindex import KeyIndex, Run, key_hashes

if TYPE_CHECKING:
    import duckdb

FORMAT: Final = "vigile-event-store"
VERSION: Final = 1
DEFAULT_BATCH: Final = 131_072
#: Events in a part made by compaction, at most (about): each merge sorts within
#: DuckDB's 128 MB memory limit (a 28 M-event day merged whole ran out of it).
COMPACT_ROWS: Final = 4_000_000
_CHUNK: Final = 16_384  # events turned into Arrow columns at a time
#: DuckDB's memory limits tried in turn while compaction sorts parts into one (see
#: _merge_parts): most days fit the first; the seed world's densest (1.8 M events, list
#: pages of up to 500 patients) needs 256 MB
COMPACTION_MEMORY: Final = ("128MB", "256MB", "512MB")
_EXPOSURE_ROW_GROUP: Final = 32_768
_EVENT_ROW_GROUP: Final = 131_072

_DICTIONARY: Final = [
    *("tenant", "actor", "action", "resource", "session", "src_ip", "user_agent"),
    *("method", "route", "query", "extra", "status", "ts_offset", "records"),
]
# columns whose row-group min/max readers prune on (time windows, patients, keys)
_STATISTICS: Final = ["ts", "event_key", "patient_id", "tenant", "actor"]
_TS = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA: Final = pa.schema(
    [
        ("event_key", pa.string()),
        ("ts", _TS),
        ("ts_offset", pa.int16()),
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
        ("status", pa.int16()),
        ("patient_ids", pa.list_(pa.string())),
        ("records", pa.int64()),
        ("bytes", pa.int64()),
        ("query", pa.string()),
        ("extra", pa.string()),
    ]
)
EXPOSURE_SCHEMA: Final = pa.schema(
    [
        ("patient_id", pa.string()),
        ("ts", _TS),
        ("tenant", pa.string()),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("resource", pa.string()),
        ("status", pa.int16()),
        ("event_key", pa.string()),
    ]
)
# AccessEvent field order, as msgspec.structs.astuple returns it
_FIELDS: Final = [f.name for f in msgspec.structs.fields(AccessEvent)]
_timestamp: Final = methodcaller("timestamp")
_tzinfo: Final = attrgetter("tzinfo")
_JSON: Final = msgspec.json.Encoder()  # unlike orjson, keeps integers beyond 64 bits
_JSON_DECODE: Final = msgspec.json.Decoder()


@cache
def _sql(name: str) -> str:
    return resources.files("vigile.store").joinpath("sql", f"{name}.sql").read_text()


@cache
def _tz(offset_minutes: int) -> timezone:
    return UTC if offset_minutes == 0 else timezone(timedelta(minutes=offset_minutes))


def _offset_minutes(ts: datetime) -> int:
    off = ts.utcoffset()
    return 0 if off is None else int(off.total_seconds()) // 60


def _sql_str(text: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _parts_sql(paths: list[Path]) -> str:
    return "[" + ", ".join(_sql_str(p) for p in paths) + "]"


class ParquetStore:
    """Event store in a directory of day-partitioned Parquet files."""

    def __init__(self, root: str | Path, *, create: bool = False, threads: int = 2) -> None:
        self.root = Path(root)
        marker = self.root / "store.json"
        if marker.exists():
            meta = orjson.loads(marker.read_bytes())
            if meta.get("format") != FORMAT:
                raise InputError(f"{self.root}: not a vigile event store")
            if meta.get("version", 0) > VERSION:
                raise InputError(
                    f"{self.root}: store version {meta['version']} is newer than this vigile"
                )
        elif create:
            if self.root.exists() and any(self.root.iterdir()):
                raise InputError(f"{self.root}: exists and is not a vigile event store")
            (self.root / "events").mkdir(parents=True, exist_ok=True)
            (self.root / "exposures").mkdir(parents=True, exist_ok=True)
            marker.write_bytes(orjson.dumps({"format": FORMAT, "version": VERSION}))
        else:
            raise InputError(f"{self.root}: no event store here (create one with `vigile ingest`)")
        self._threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_lock = threading.Lock()
        self.keys = KeyIndex(self.root)
        self._recover()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection, opened at first use (an ingest into new days
        never needs one: importing and opening DuckDB is 2 % of that ingest's CPU)."""
        with self._con_lock:
            if self._con is None:
                import duckdb

                # a modest cap: the store's queries stream, and DuckDB spills past it
                # (into the store's own directory, never the working directory)
                self._con = duckdb.connect(
                    config={
                        "threads": self._threads,
                        "memory_limit": "128MB",
                        "temp_directory": str(self.root / ".spill"),
                    }
                )
            return self._con

    # ---- layout -----------------------------------------------------------------
    def days(self) -> list[str]:
        """Days holding events, in order (``YYYY-MM-DD``, UTC)."""
        return sorted(p.name[4:] for p in (self.root / "events").glob("day=*") if any(p.iterdir()))

    def _parts(self, kind: str, day: str | None = None) -> list[Path]:
        pattern = f"day={day}/part-*.parquet" if day else "day=*/part-*.parquet"
        return sorted((self.root / kind).glob(pattern))

    def _recover(self) -> None:
        """Finish an interrupted compaction; rebuild any exposures twin a crash left out."""
        for journal in sorted((self.root / "events").glob("day=*/.compacting")):
            merged, *replaced = journal.read_text().split()
            day = journal.parent.name
            if (self.root / "events" / day / merged).exists() and (
                self.root / "exposures" / day / merged
            ).exists():
                for name in replaced:
                    (self.root / "events" / day / name).unlink(missing_ok=True)
                    (self.root / "exposures" / day / name).unlink(missing_ok=True)
            journal.unlink()
        for part in self._parts("events"):
            twin = self.root / "exposures" / part.parent.name / part.name
            if not twin.exists():
                _write_atomic(_exposures(pq.read_table(part, schema=EVENT_SCHEMA)), twin, True)
        for tmp in self.root.glob("*/day=*/.tmp-*"):
            tmp.unlink()

    # ---- writing ----------------------------------------------------------------
    def append(
        self, events: Iterable[AccessEvent], batch_size: int = DEFAULT_BATCH
    ) -> AppendResult:
        """Append events; events whose key the store holds are counted, not added.

        Events are turned into Arrow columns a small chunk at a time (so few
        Python objects are alive at once), then written as :meth:`append_tables`.
        """
        return self.append_tables(_chunks(events, min(_CHUNK, batch_size)), batch_size)

    def append_tables(
        self, tables: Iterable[pa.Table], batch_size: int = DEFAULT_BATCH
    ) -> AppendResult:
        """Append tables of :data:`EVENT_SCHEMA` rows, in batches of ``batch_size`` rows.

        Batches are written by a writer thread while this thread goes on reading
        (Arrow, DuckDB and Parquet work without holding the GIL); one batch is
        written while the next fills, so memory is bounded by two batches.
        """
        added = dupes = 0
        pending: Future[AppendResult] | None = None
        batch: list[pa.Table] = []
        rows = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigile-store") as writer:

            def submit(tables: list[pa.Table]) -> None:
                nonlocal pending, added, dupes
                if pending is not None:
                    done = pending.result()
                    added, dupes = added + done.added, dupes + done.duplicates
                pending = writer.submit(self.append_table, pa.concat_tables(tables))

            for table in tables:
                if not table.num_rows:
                    continue
                batch.append(table)
                rows += table.num_rows
                if rows >= batch_size:
                    submit(batch)
                    batch, rows = [], 0
            if batch:
                submit(batch)
            if pending is not None:
                done = pending.result()
                added, dupes = added + done.added, dupes + done.duplicates
        return AppendResult(added=added, duplicates=dupes)

    def append_table(self, table: pa.Table) -> AppendResult:
        """Append events already in columnar form (:data:`EVENT_SCHEMA`): bulk loads.

        The same de-duplication as :meth:`append`; the table is trusted to hold
        valid events (build it from parsed events, or validate it first).
        """
        table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        n = table.num_rows
        keys = table.column("event_key")
        hashes = key_hashes(keys)
        # de-duplicate inside the batch (first occurrence wins); distinct hashes prove
        # distinct keys, so the exact check on the strings runs only when some repeat
        ordered = np.sort(hashes)
        if n > 1 and (ordered[1:] == ordered[:-1]).any():
            uniq = pc.unique(keys)
            if len(uniq) != n:
                first = pc.index_in(uniq, value_set=keys)  # position of each key's first row
                keep = pc.take(first, pc.sort_indices(first))
                table = table.take(keep)
                hashes = hashes[numpy_of(keep)]
                ordered = np.sort(hashes)
        days = pc.cast(table.column("ts"), pa.date32())  # UTC days: the partitions
        bounds = pc.min_max(days)
        one_day = bounds["min"] == bounds["max"]
        added = 0
        for date in [bounds["min"]] if one_day else pc.unique(days).sort():
            if not date.is_valid:
                continue
            day = date.as_py().isoformat()
            if one_day:
                part, part_hashes = table, hashes
            else:
                mask = pc.equal(days, date)
                part, part_hashes = table.filter(mask), hashes[arrays.mask(mask)]
            whole = part_hashes is hashes
            part, part_hashes, runs = self._without_stored(part, day, part_hashes)
            if part.num_rows == 0:
                continue
            # the batch's sorted hashes serve the key index when no row was dropped
            presorted = ordered if whole and part_hashes is hashes else None
            part = _by_time(part)
            name = f"part-{_content_id(part.column('event_key'))}.parquet"
            _write_atomic(_exposures(part), self.root / "exposures" / f"day={day}" / name, True)
            _write_atomic(part, self.root / "events" / f"day={day}" / name, False)
            # the run is written after its part: a crash in between leaves the part
            # uncovered, and the next append rebuilds its run from it
            self.keys.add(day, name, part_hashes, runs, presorted)
            added += part.num_rows
        del table, part
        # hand the batch's buffers back to the system: the allocator would otherwise keep
        # them per thread, and resident memory would creep up over a long stream
        pa.default_memory_pool().release_unused()
        return AppendResult(added=added, duplicates=n - added)

    def _without_stored(
        self, part: pa.Table, day: str, hashes: np.ndarray
    ) -> tuple[pa.Table, np.ndarray, list[Run]]:
        """Drop the rows whose key the day already holds; their hashes and the day's runs.

        The key index answers for nearly every key; only keys whose 64-bit hash
        is stored are compared by value against the day's parts (exact).
        """
        stored = self._parts("events", day)
        day_dir = self.root / "events" / f"day={day}"

        def read_keys(name: str) -> pa.ChunkedArray:
            return pq.read_table(day_dir / name, columns=["event_key"]).column("event_key")

        runs = self.keys.sync(day, [p.name for p in stored], read_keys)
        hit = self.keys.stored(day, runs, hashes)
        if not hit.any():
            return part, hashes, runs
        con = self.con.cursor()
        try:
            con.register("batch_keys", part.filter(bools(hit)).select(["event_key"]))
            sql = _sql("existing_keys").format(parts=_parts_sql(stored))
            existing = con.sql(sql).to_arrow_table().column("event_key")
        finally:
            con.close()
        if len(existing) == 0:
            return part, hashes, runs
        new = pc.invert(pc.is_in(part.column("event_key"), value_set=existing))
        return part.filter(new), hashes[arrays.mask(new)], runs

    # ---- reading ----------------------------------------------------------------
    def scan_batches(
        self, where: EventFilter | None = None, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Matching events in time order, as Arrow batches (one day at a time)."""
        where = where or EventFilter()
        clauses, params = _where(where)
        for day in self.days():
            if where.since is not None and day < where.since.astimezone(UTC).strftime("%Y-%m-%d"):
                continue
            if where.until is not None and day > where.until.astimezone(UTC).strftime("%Y-%m-%d"):
                continue
            sql = _sql("scan_day").format(
                parts=_parts_sql(self._parts("events", day)), where=" AND ".join(clauses)
            )
            con = self.con.cursor()
            try:
                yield from con.sql(sql, params=params).to_arrow_reader(batch_rows)
            finally:
                con.close()

    def scan(self, where: EventFilter | None = None) -> Iterator[AccessEvent]:
        """Matching events in time order, as :class:`AccessEvent`."""
        for batch in self.scan_batches(where):
            yield from events_from_batch(batch)

    def patient_accesses(self, patient_id: str) -> pa.Table:
        """Every stored access that carried ``patient_id``, in time order."""
        parts = self._parts("exposures")
        if not parts:
            return EXPOSURE_SCHEMA.empty_table()
        sql = _sql("patient_accesses").format(parts=_parts_sql(parts))
        con = self.con.cursor()
        try:
            return con.sql(sql, params={"patient_id": patient_id}).to_arrow_table()
        finally:
            con.close()

    def compact(self, max_parts: int = 1, max_rows: int = COMPACT_ROWS) -> list[str]:
        """Merge the parts of each day holding more than ``max_parts``, into parts of
        at most about ``max_rows`` events (in the order they were written).

        Rows are unchanged (same keys, same values), only regrouped: fewer files
        make look-ups faster. The cap keeps each merge's sort within DuckDB's
        memory limit, however big the day (a part already near the cap is left as
        it is). A journal makes each swap safe against a crash. Returns the days
        compacted.
        """
        import duckdb

        done = []
        for day in self.days():
            parts = self._parts("events", day)
            if len(parts) <= max_parts:
                continue
            sized = sorted(
                (p.stat().st_mtime_ns, p.name, pq.ParquetFile(p).metadata.num_rows) for p in parts
            )
            groups: list[list[str]] = [[]]
            rows = 0
            for _, name, n in sized:
                if groups[-1] and rows + n > max_rows:
                    groups.append([])
                    rows = 0
                groups[-1].append(name)
                rows += n
            merged_any = False
            for names in groups:
                if len(names) > 1:
                    try:
                        self._merge_fitting(day, names)
                    except duckdb.Error as e:
                        self._drop_partial(day)  # the parts are untouched
                        raise VigileError(
                            f"{self.root}: compaction of {day} failed ({str(e).splitlines()[0]}); "
                            "every event is stored, only not regrouped: run `vigile store "
                            "compact` again with more memory free"
                        ) from None
                    merged_any = True
            if merged_any:
                done.append(day)
        return done

    def _drop_partial(self, day: str) -> None:
        """Remove what a failed merge of ``day`` half wrote (the swap comes after the writes,
        so the day's parts are untouched)."""
        for d in ("events", "exposures"):
            for tmp in (self.root / d / f"day={day}").glob(".tmp-*"):
                tmp.unlink(missing_ok=True)

    def _merge_fitting(self, day: str, names: list[str]) -> None:
        """Merge at the smallest memory limit that holds the sort (out of memory: the next)."""
        import duckdb

        for i, limit in enumerate(COMPACTION_MEMORY):
            try:
                self._merge_parts(day, names, limit)
                return
            except duckdb.OutOfMemoryException:
                self._drop_partial(day)
                if i == len(COMPACTION_MEMORY) - 1:
                    raise

    def _merge_parts(self, day: str, names: list[str], memory: str = "128MB") -> None:
        merged = f"part-{xxhash.xxh3_64_hexdigest(' '.join(names).encode())}.parquet"
        ev_dir = self.root / "events" / f"day={day}"
        ex_dir = self.root / "exposures" / f"day={day}"
        import duckdb

        # a connection of its own (one thread: half what a sort holds at once; the rest
        # spills to the store), with the limit the caller chose
        con = duckdb.connect(
            config={
                "threads": 1,
                "memory_limit": memory,
                "temp_directory": str(self.root / ".spill"),
            }
        )
        try:
            for src_dir, order, group in (
                (ex_dir, "patient_id, ts, event_key", _EXPOSURE_ROW_GROUP),
                (ev_dir, "ts, event_key", _EVENT_ROW_GROUP),
            ):
                tmp = src_dir / f".tmp-{merged}"
                sources = _parts_sql([src_dir / n for n in names])
                con.execute(
                    f"COPY (SELECT * FROM read_parquet({sources}) ORDER BY {order}) "
                    f"TO {_sql_str(tmp)} "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {group})"
                )
        finally:
            con.close()
        (ev_dir / ".compacting").write_text(" ".join([merged, *names]))
        os.replace(ex_dir / f".tmp-{merged}", ex_dir / merged)
        os.replace(ev_dir / f".tmp-{merged}", ev_dir / merged)
        self._recover()  # deletes the replaced parts and the journal
        self.keys.replace(day, names, merged)

    def info(self) -> StoreInfo:
        events = self._parts("events")
        exposures = self._parts("exposures")
        days = self.days()
        return StoreInfo(
            events=sum(pq.ParquetFile(p).metadata.num_rows for p in events),
            exposures=sum(pq.ParquetFile(p).metadata.num_rows for p in exposures),
            days=len(days),
            first_day=days[0] if days else None,
            last_day=days[-1] if days else None,
            parts=len(events),
            size_bytes=sum(p.stat().st_size for p in events + exposures),
        )

    def close(self) -> None:
        with self._con_lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def open_store(root: str | Path, *, create: bool = False) -> ParquetStore:
    """Open (or with ``create``, create) the event store at ``root``."""
    return ParquetStore(root, create=create)


def _where(where: EventFilter) -> tuple[list[str], dict[str, Any]]:
    clauses = ["TRUE"]
    params: dict[str, Any] = {}
    if where.since is not None:
        clauses.append("ts >= $since")
        params["since"] = where.since
    if where.until is not None:
        clauses.append("ts <= $until")
        params["until"] = where.until
    if where.actors is not None:
        clauses.append("list_contains($actors, actor)")
        params["actors"] = sorted(where.actors)
    if where.tenants is not None:
        clauses.append("list_contains($tenants, tenant)")
        params["tenants"] = sorted(where.tenants)
    return clauses, params


def events_to_table(events: list[AccessEvent]) -> pa.Table:
    """Events → an Arrow table of :data:`EVENT_SCHEMA` (columns built in one pass each)."""
    # one comprehension per field: transposing with zip(*rows) costs several times more
    cols: dict[str, Any] = {name: list(map(attrgetter(name), events)) for name in _FIELDS}
    ts = cols["ts"]
    # instants: POSIX seconds (a C method) → microseconds, rounded: exact while the
    # seconds stay below 2**32 (year 2106), where a double still resolves 0.5 µs
    seconds = np.fromiter(map(_timestamp, ts), np.float64, len(ts))
    if len(ts) and np.abs(seconds).max() < 2**32:
        instants = pa.array(np.rint(seconds * 1e6).astype(np.int64)).cast(_TS)
    else:
        instants = pa.array(ts, _TS)
    zones = set(map(_tzinfo, ts))
    if len(zones) == 1:  # nearly always: one offset for the whole chunk
        offsets = np.full(len(ts), _offset_minutes(ts[0]), np.int16)
    else:
        offsets = np.fromiter((_offset_minutes(t) for t in ts), np.int16, len(ts))
    extras = [None if x is None else _JSON.encode(x).decode() for x in cols["extra"]]
    keys = [e.event_id or event_key(e) for e in events]
    arrays = [
        pa.array(keys, pa.string()),
        instants,
        pa.array(offsets, pa.int16()),
        *(pa.array(cols[name], pa.string()) for name in _FIELDS[1:11]),
        pa.array(cols["status"], pa.int16()),
        pa.array(cols["patient_ids"], pa.list_(pa.string())),
        pa.array(cols["records"], pa.int64()),
        pa.array(cols["bytes"], pa.int64()),
        pa.array(cols["query"], pa.string()),
        pa.array(extras, pa.string()),
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


_to_table = events_to_table  # the former name


def _chunks(events: Iterable[AccessEvent], size: int) -> Iterator[pa.Table]:
    chunk: list[AccessEvent] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield events_to_table(chunk)
            chunk = []
    if chunk:
        yield events_to_table(chunk)


def _by_time(events: pa.Table) -> pa.Table:
    """Events in time order (stable: events of the same instant keep their order).

    Logs come nearly in order, so this is usually a check and nothing more.
    """
    ts = numpy_of(events.column("ts"))
    if len(ts) < 2 or (ts[1:] >= ts[:-1]).all():
        return events
    return events.take(numbers(np.argsort(ts, kind="stable")))  # merge sort: near-linear


def _exposures(events: pa.Table) -> pa.Table:
    """One row per (event, patient carried), sorted by patient for row-group pruning."""
    ids = events.column("patient_ids").combine_chunks()
    picked = events.select(["ts", "tenant", "actor", "action", "resource", "status", "event_key"])
    bounds = pc.min_max(pc.list_value_length(ids)).as_py()
    if (bounds["min"], bounds["max"]) != (1, 1):  # else one patient each: rows as they are
        picked = picked.take(pc.list_parent_indices(ids))
    table = pa.Table.from_arrays([pc.list_flatten(ids), *picked.columns], schema=EXPOSURE_SCHEMA)
    # events come sorted by time and the sort is stable: sorting by patient
    # alone gives (patient_id, ts), at a fraction of the cost
    return table.take(numbers(string_order(pc.list_flatten(ids))))


def string_order(values: pa.Array) -> np.ndarray:
    """Stable ascending order of strings by their UTF-8 bytes (``pc.sort_indices``'s order).

    Strings of at most 16 bytes (patient ids nearly always) are sorted as two
    big-endian 64-bit integers and their length, with numpy's radix sort: twice as
    fast as comparing strings. Longer strings, or nulls, use Arrow's sort.
    """
    n = len(values)
    lengths = None if not n or values.null_count else numpy_of(pc.binary_length(values))
    if lengths is None or values.type != pa.string() or lengths.max() > 16:
        return numpy_of(pc.sort_indices(values)).astype(np.int64)
    offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1, values.offset * 4)
    data = np.frombuffer(values.buffers()[2], np.uint8)
    width = int(lengths.max())
    matrix = np.zeros((n, 16), np.uint8)  # zero padding sorts before any byte
    if int(lengths.min()) == width:
        matrix[:, :width] = data[offsets[0] : offsets[0] + n * width].reshape(n, width)
    else:
        columns = np.arange(width)
        inside = columns < lengths[:, None]
        matrix[:, :width][inside] = data[(offsets[:-1, None] + columns)[inside]]
    words = matrix.view(">u8").astype(np.uint64)  # (n, 2), in native order
    keys = [words[:, 0]]  # np.lexsort: the last key is the primary one
    if width > 8:
        keys.insert(0, words[:, 1])
    if int(lengths.min()) != width:
        keys.insert(0, lengths)  # a shorter string first when the padded bytes tie
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys)


def _content_id(keys: pa.ChunkedArray) -> str:
    """A name derived from the keys a part holds (hashing Arrow buffers, no Python strings)."""
    digest = xxhash.xxh3_64()
    for chunk in keys.chunks:
        for buffer in chunk.buffers():
            if buffer is not None:
                digest.update(memoryview(buffer))
    return digest.hexdigest()


def _write_atomic(table: pa.Table, path: Path, exposures: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}"
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=_EXPOSURE_ROW_GROUP if exposures else _EVENT_ROW_GROUP,
        # dictionaries only where values repeat (keys and patient ids never do:
        # trying costs a third of the write), statistics where readers prune
        use_dictionary=_DICTIONARY,
        write_statistics=_STATISTICS,
        # events are sorted by time: their instants as deltas (a quarter of the size, and
        # faster to write than plain values)
        column_encoding=None if exposures else {"ts": "DELTA_BINARY_PACKED"},
    )
    os.replace(tmp, path)


def events_from_batch(batch: pa.RecordBatch) -> Iterator[AccessEvent]:
    """Rebuild :class:`AccessEvent` objects from a stored batch (original offsets kept)."""
    cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    for i, ts in enumerate(cols["ts"]):
        extra = cols["extra"][i]
        yield AccessEvent(
            ts=ts.astimezone(_tz(cols["ts_offset"][i])),
            tenant=cols["tenant"][i],
            actor=cols["actor"][i],
            action=cols["action"][i],
            resource=cols["resource"][i],
            event_id=cols["event_id"][i],
            session=cols["session"][i],
            src_ip=cols["src_ip"][i],
            user_agent=cols["user_agent"][i],
            method=cols["method"][i],
            route=cols["route"][i],
            status=cols["status"][i],
            patient_ids=cols["patient_ids"][i],
            records=cols["records"][i],
            bytes=cols["bytes"][i],
            query=cols["query"][i],
            extra=None if extra is None else _JSON_DECODE.decode(extra),
        )
