"""`vigile scope` end to end: events in, the breach file out.

:func:`run_scope` reads the events (a store, or event files ingested into a
temporary store), runs :func:`vigile.scope.scoping.compute_scope` on the chosen
backend, and writes into the output directory::

    summary.json                 the figures (INTERFACE §4 keys and more), inputs, timings
    exposed_patients.csv         one row per exposed file
    persons.csv                  one row per exposed file: its person, match confidence
    notifications.csv            one row per person: contact, practices, categories
    tables/by_tenant.csv ...     per practice, per account, per day, per category
    report.html  report.pdf      the regulatory report, in French
    report.en.html report.en.pdf the same in English
    practices/<tenant>/          one breach pack per data controller (report,
                                 patient list, notifications, the art. 34 letter)
    quarantine.jsonl             bad input lines (with --events)

Nothing about patients goes to vigile's own log: progress lines carry counts only.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

from vigile.errors import InputError, VigileError
from vigile.scope.engine import make_backend
from vigile.scope.scoping import ScopeResult, compute_scope, day_parts, scope_context
from vigile.scope.selection import Selection

#: Timestamps in the CSV files: UTC, milliseconds, RFC 3339.
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"


@dataclass
class ScopeOptions:
    """Everything `vigile scope` was asked, after the command line was read."""

    selection: Selection
    out: Path
    store: Path | None = None
    events: Sequence[Path] = ()
    fmt: str = "jsonl"
    parser_options: Any = None
    quarantine: Path | None = None
    context: Path | None = None
    backend: str = "duckdb"
    spark_master: str = "local[2]"
    memory: str | None = None
    note_labels: Path | None = None
    link: bool = True
    threshold: float = 0.9
    detected_at: datetime | None = None
    organisation: str | None = None
    contact: str | None = None
    languages: tuple[str, ...] = ("fr", "en")
    pdf: bool = True
    pack_pdf: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScopeRun:
    """What a run wrote and measured."""

    result: ScopeResult
    summary: dict[str, Any]
    files: list[Path]
    read_stats: dict[str, Any] | None
    seconds: float


def run_scope(options: ScopeOptions, progress: Callable[[str], None] | None = None) -> ScopeRun:
    """Scope the breach and write every output file; see the module docstring."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    out = options.out
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    context = scope_context(options.context)
    tmp: Path | None = None
    read_stats: dict[str, Any] | None = None
    try:
        if options.store is not None:
            store_root = options.store
            if not (store_root / "store.json").is_file():
                raise InputError(
                    f"{store_root}: no event store here (create one with `vigile ingest`)"
                )
        else:
            if not options.events:
                raise VigileError("give --events PATH ... or --store DIR")
            out.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".scope-store-", dir=out))
            say("reading events into a temporary store")
            store_root, read_stats = _ingest(options, tmp / "store")
        parts = day_parts(store_root, "events", options.selection.since, options.selection.until)
        backend_options: dict[str, Any] = {}
        if options.backend == "spark":
            backend_options["master"] = options.spark_master
            if options.memory:
                backend_options["conf"] = {"spark.driver.memory": options.memory}
        else:
            if tmp is not None:
                backend_options["temp_dir"] = tmp / "duckdb"
            if options.memory:
                backend_options["memory_limit"] = options.memory
        backend = make_backend(options.backend, **backend_options)
        try:
            result = compute_scope(
                backend,
                parts,
                context,
                options.selection,
                note_labels=options.note_labels,
                link=options.link,
                threshold=options.threshold,
                progress=say,
            )
            out.mkdir(parents=True, exist_ok=True)
            summary = build_summary(options, result, read_stats, context.present)
            say("writing the lists")
            files = _timed_into(result.timings, "write_tables", lambda: write_tables(out, result))
            say("writing the report")
            from vigile.report.build import write_reports

            files += _timed_into(
                result.timings,
                "write_reports",
                lambda: write_reports(out, result, summary, options, progress=say),
            )
        finally:
            backend.close()
        summary["seconds"] = round(time.perf_counter() - started, 3)
        summary["timings"] = result.timings
        (out / "summary.json").write_bytes(
            orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        )
        files.insert(0, out / "summary.json")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return ScopeRun(result, summary, files, read_stats, time.perf_counter() - started)


def _ingest(options: ScopeOptions, root: Path) -> tuple[Path, dict[str, Any]]:
    """``--events``: the same reader as every command, into a throwaway store."""
    from vigile.quarantine import Quarantine
    from vigile.sources import open_source
    from vigile.store import open_store
    from vigile.stream import EventReader

    for path in options.events:
        if str(path) != "-":
            open_source(path).check()
    store = open_store(root, create=True)
    qpath = options.quarantine or options.out / "quarantine.jsonl"
    with Quarantine(qpath) as q:
        reader = EventReader(
            list(options.events), options.fmt, options=options.parser_options, quarantine=q
        )
        appended = store.append(reader)
    store.close()
    stats = {k: v for k, v in reader.stats.as_dict().items() if k not in ("per_source", "bytes")}
    stats["duplicates"] = int(stats["duplicates"]) + appended.duplicates  # type: ignore[call-overload]
    stats["quarantine"] = str(qpath)
    return root, stats


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def build_summary(
    options: ScopeOptions,
    result: ScopeResult,
    read_stats: dict[str, Any] | None,
    present: frozenset[str],
) -> dict[str, Any]:
    """summary.json: INTERFACE §4's integer keys first, then what explains them."""
    s = {k: _iso(v) for k, v in result.summary.items()}
    selection = options.selection
    detected = options.detected_at or selection.detected_at
    summary: dict[str, Any] = {
        **s,
        "generated_at": _iso(datetime.now(UTC)),
        "detected_at": _iso(detected),
        "selection": selection.describe(),
        "backend": options.backend,
        "context": sorted(present),
        "linkage": result.linkage.as_dict() if result.linkage else None,
        "notes_classifier": (
            None
            if result.notes is None
            else {
                "source": result.notes.source,
                "detail": result.notes.detail,
                "placeholder": result.notes.placeholder,
            }
        ),
        "definitions": {
            "exposed": "a served (2xx) response carried the file",
            "consulted": "the file appeared in search or list results only",
            "extracted": "the file itself was read, exported or printed",
            "patients_with_annotations": "exposed files whose notes were served (and exist)",
        },
    }
    if read_stats is not None:
        summary.update(
            {k: read_stats[k] for k in ("read", "accepted", "quarantined", "duplicates")}
        )
        summary["quarantine"] = read_stats["quarantine"]
    return summary


def _csv_frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def write_csv(table: pa.Table | pl.DataFrame, path: Path) -> Path:
    """Write a table as UTF-8 CSV (timestamps RFC 3339 UTC)."""
    frame = table if isinstance(table, pl.DataFrame) else _csv_frame(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    _formatted(frame).write_csv(path)
    return path


def _formatted(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as RFC 3339 UTC text, booleans as 0/1."""
    return frame.with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC").dt.strftime(TS_FORMAT),
        pl.col(pl.Boolean).cast(pl.Int8),
    )


#: Column order of the main CSV files (INTERFACE §4 first).
EXPOSED_COLUMNS = [
    "patient_id", "tenant", "person_id", "first_exposed", "last_exposed", "accesses",
    "exposure", "categories", "extractions", "consultations", "modifications", "actors",
    "notes", "sensitive_notes", "sensitive_categories", "notes_served", "attributed",
    "match_probability", "cluster_size",
]  # fmt: skip
PERSONS_COLUMNS = ["person_id", "patient_id", "tenant", "match_probability", "cluster_size"]


def write_tables(out: Path, result: ScopeResult) -> list[Path]:
    """The CSV files of the breach file, streamed from the backend (bounded memory)."""
    notification_columns = result.fetch("SELECT * FROM notifications LIMIT 0").column_names
    big = [
        ("exposed_patients.csv", EXPOSED_COLUMNS, "exposed_patients", "tenant, patient_id"),
        ("persons.csv", PERSONS_COLUMNS, "exposed_patients", "person_id, tenant, patient_id"),
        ("notifications.csv", notification_columns, "notifications", "person_id"),
    ]
    files = []
    for name, columns, table, order in big:
        sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
        files.append(stream_csv(result.backend.fetch_batches(sql), out / name, columns))
    for name in ("by_tenant", "by_actor", "by_day", "by_category"):
        files.append(write_csv(getattr(result, name), out / "tables" / f"{name}.csv"))
    return files


def stream_csv(batches: Iterator[pa.RecordBatch], path: Path, columns: Sequence[str]) -> Path:
    """Write record batches as one CSV file (header once), formatted as :func:`write_csv`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        header = True
        for batch in batches:
            _formatted(_csv_frame(pa.Table.from_batches([batch]))).write_csv(
                sink, include_header=header
            )
            header = False
        if header:  # no rows: the header alone, so readers still know the columns
            sink.write((",".join(columns) + "\n").encode())
    return path


def _timed_into(timings: dict[str, float], name: str, fn: Callable[[], list[Path]]) -> list[Path]:
    started = time.perf_counter()
    done = fn()
    timings[name] = round(time.perf_counter() - started, 3)
    return done
