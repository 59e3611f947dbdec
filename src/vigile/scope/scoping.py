"""Breach scoping: from a selection of accounts and windows to every exposed file and person.

:func:`compute_scope` runs the named SQL steps of ``steps/`` on a backend, in
this order (each step's result is a table the next ones read):

============================  ================================================
``scope_events``              the selected accounts' requests in their windows
``patient_home``              the practice holding each patient id (context)
``scope_exposures``           one row per (served request, file it carried)
``exposed_files``             one row per exposed file: when, how, what data
``notes_to_classify``         the exposed notes' text → sensitivity labels (read
                              in a thread while the engine links persons)
``exposed_identities``        the identity of each exposed file → linkage
(persons.py)                  Splink: files → persons
``file_notes``                notes and sensitive notes per exposed file
``exposed_patients``          exposed_patients.csv
``notifications``             notifications.csv (one row per person)
``by_tenant`` ``by_actor``    the report's tables and charts
``by_day`` ``by_category``
``summary``                   summary.json's figures
============================  ================================================

Only responses with a 2xx status expose data (INTERFACE §1: 401/403 refused,
404 not found).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa
import yaml

from vigile.context import SPECS, Rejected, empty_table, load_table
from vigile.errors import InputError, VigileError
from vigile.scope.engine import SqlBackend, run_step
from vigile.scope.persons import PERSONS_SCHEMA, LinkageStats, link_persons
from vigile.scope.selection import Selection
from vigile.scope.sensitivity import NOTE_CATEGORIES, NoteLabels, label_notes
from vigile.store.parquet import EVENT_SCHEMA

#: Identity columns of patients.csv carried into linkage and notifications.
IDENTITY_COLUMNS: Final[tuple[str, ...]] = (
    "last_name",
    "birth_name",
    "first_name",
    "sex",
    "birth_date",
    "phone",
    "email",
    "address",
    "postcode",
    "city",
    "vip",
)
#: Columns of ``exposed_patients`` the report's figures read (:meth:`ScopeResult.report_frame`).
REPORT_COLUMNS: Final[tuple[str, ...]] = (
    "tenant", "person_id", "exposure", "categories", "sensitive_categories", "first_exposed",
    "last_exposed", "notes", "notes_served", "sensitive_notes", "modifications", "attributed",
)  # fmt: skip
#: Optional extra identity columns used when patients.csv has them.
EXTRA_IDENTITY_COLUMNS: Final[tuple[str, ...]] = ("birth_place", "birth_first_names")


@dataclass(frozen=True)
class AccessMap:
    """How a served request exposes files: action → kind, resource → data category."""

    kinds: dict[str, str]
    categories: dict[str, str]
    clinical: tuple[str, ...]

    @property
    def category_names(self) -> list[str]:
        """Data categories in report order (from ``access.yaml``), without ``other``."""
        return list(dict.fromkeys(self.categories.values()))

    def tables(self) -> tuple[pa.Table, pa.Table]:
        kinds = pa.table(
            {"action": list(self.kinds), "kind": list(self.kinds.values())},
            schema=pa.schema([("action", pa.string()), ("kind", pa.string())]),
        )
        cats = pa.table(
            {"resource": list(self.categories), "category": list(self.categories.values())},
            schema=pa.schema([("resource", pa.string()), ("category", pa.string())]),
        )
        return kinds, cats


@cache
def access_map() -> AccessMap:
    """The shipped ``access.yaml``."""
    text = resources.files("vigile.scope").joinpath("access.yaml").read_text()
    raw = yaml.safe_load(text)
    return AccessMap(
        kinds=dict(raw["kinds"]),
        categories=dict(raw["categories"]),
        clinical=tuple(raw.get("clinical", ())),
    )


@dataclass
class ScopeResult:
    """Everything a scope found. The small tables are fetched (Arrow); the big ones —
    one row per exposed file or person, millions at seed scale — stay in the backend
    (tables ``exposed_patients``, ``notifications``, ``exposed_identities``) and are
    streamed or fetched while it is open."""

    backend: SqlBackend
    summary: dict[str, Any]
    by_tenant: pa.Table
    by_actor: pa.Table
    by_day: pa.Table
    by_category: pa.Table
    linkage: LinkageStats | None
    notes: NoteLabels | None
    identity_columns: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)

    def fetch(self, sql: str) -> pa.Table:
        """Run ``sql`` on the scope's backend (its step tables are there)."""
        return self.backend.fetch(sql)

    def _files_sql(self, order: str = "") -> str:
        ids = ", ".join(f"i.{c}" for c in self.identity_columns)
        return (
            f"SELECT p.*, {ids} FROM exposed_patients AS p "
            "LEFT JOIN exposed_identities AS i ON i.patient_id = p.patient_id "
            "AND i.tenant = p.tenant" + (f" ORDER BY {order}" if order else "")
        )

    def files_frame(self) -> pl.DataFrame:
        """Every exposed file with its identity (small scopes; at seed scale use
        :meth:`report_frame` and :meth:`tenant_frames`)."""
        frame = pl.from_arrow(self.fetch(self._files_sql()))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def report_frame(self) -> pl.DataFrame:
        """Every exposed file, only the columns the report's figures read: no names,
        no addresses (the seed case's 19 M files fit in a few GB this way)."""
        columns = ", ".join(f"p.{c}" for c in REPORT_COLUMNS)
        frame = pl.from_arrow(
            self.fetch(
                f"SELECT {columns}, i.vip FROM exposed_patients AS p "
                "LEFT JOIN exposed_identities AS i ON i.patient_id = p.patient_id "
                "AND i.tenant = p.tenant"
            )
        )
        assert isinstance(frame, pl.DataFrame)
        return frame

    def tenant_frames(self) -> Iterator[tuple[str, pl.DataFrame]]:
        """Every exposed file with its identity, one practice at a time (streamed from
        the engine in practice order: memory bounded by the largest practice)."""
        current: str | None = None
        pending: list[pl.DataFrame] = []
        for batch in self.backend.fetch_batches(self._files_sql("p.tenant, p.patient_id")):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            for (tenant,), part in frame.partition_by(
                "tenant", as_dict=True, maintain_order=True
            ).items():
                if current is not None and tenant != current:
                    yield current, pl.concat(pending)
                    pending = []
                current = str(tenant)
                pending.append(part)
        if current is not None:
            yield current, pl.concat(pending)


@dataclass(frozen=True)
class ScopeContext:
    """The context a scope reads (INTERFACE §2).

    ``patients.csv`` is read by the engine itself, never loaded into Python: at the
    seed case's scale it holds 19 M rows (the Polars context loader peaks at 18 GB
    on it). The notes are small and go through :func:`vigile.context.load_table`.
    """

    patients_csv: Path | None = None
    patient_columns: frozenset[str] = frozenset()
    annotations: pl.DataFrame = field(default_factory=lambda: empty_table("annotations"))
    present: frozenset[str] = frozenset()
    rejected: tuple[Rejected, ...] = ()


def scope_context(directory: str | Path | None) -> ScopeContext:
    """The context of ``directory`` (``None``: none) for :func:`compute_scope`."""
    if directory is None:
        return ScopeContext()
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{root}: context directory not found")
    present = {name for name, spec in SPECS.items() if (root / spec.file).is_file()}
    patients_csv, columns = None, frozenset[str]()
    if "patients" in present:
        patients_csv = root / SPECS["patients"].file
        with open(patients_csv, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        columns = frozenset(c.strip() for c in header)
        missing = {"patient_id", "tenant"} - columns
        if missing:
            raise InputError(
                f"{patients_csv}: missing required column(s) {', '.join(sorted(missing))} "
                f"(header is: {', '.join(header)})"
            )
    annotations, rejected = empty_table("annotations"), list[Rejected]()
    if "annotations" in present:
        annotations, rejected = load_table(root / SPECS["annotations"].file, "annotations")
    return ScopeContext(patients_csv, columns, annotations, frozenset(present), tuple(rejected))


def register_patients(backend: SqlBackend, context: ScopeContext) -> list[str]:
    """Read patients.csv into the engine as table ``patients`` (step ``patients``);
    return the identity columns it carries."""
    extra = [c for c in EXTRA_IDENTITY_COLUMNS if c in context.patient_columns]
    identity_columns = [*IDENTITY_COLUMNS, *extra]
    if context.patients_csv is not None:
        backend.register_csv("patients_raw", context.patients_csv)
    else:
        backend.register_arrow(
            "patients_raw",
            pa.table({c: pa.array([], pa.string()) for c in ("patient_id", "tenant")}),
        )
    run_step(
        backend,
        "patients",
        text_columns=[c for c in identity_columns if c not in ("birth_date", "vip")],
        present=context.patient_columns,
    )
    return identity_columns


def day_parts(root: Path, kind: str, since: datetime | None, until: datetime | None) -> list[Path]:
    """A store's Parquet parts of ``kind`` whose UTC day overlaps the window."""
    day = timedelta(days=1)  # a margin: the ts filter of scope_events does the rest
    lo = (since - day).astimezone(UTC).date() if since is not None else date.min
    hi = (until + day).astimezone(UTC).date() if until is not None else date.max
    parts = []
    for day_dir in sorted((root / kind).glob("day=*")):
        try:
            when = date.fromisoformat(day_dir.name[4:])
        except ValueError:
            continue
        if lo <= when <= hi:
            parts.extend(sorted(day_dir.glob("part-*.parquet")))
    return parts


def _timed(timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    timings[name] = round(time.perf_counter() - started, 3)
    return result


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def compute_scope(
    backend: SqlBackend,
    event_parts: Sequence[Path],
    context: ScopeContext,
    selection: Selection,
    *,
    note_labels: Path | None = None,
    link: bool = True,
    threshold: float = 0.9,
    progress: Callable[[str], None] | None = None,
) -> ScopeResult:
    """Run every scoping step on ``backend`` and fetch the small results (the big
    tables stay in the backend: close it once the outputs are written)."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    amap = access_map()
    categories = amap.category_names
    have_annotations = "annotations" in context.present
    params: dict[str, Any] = {
        "categories": categories,
        "clinical": [c for c in amap.clinical if c in categories] or ["other"],
        "note_categories": list(NOTE_CATEGORIES),
        "have_annotations": have_annotations,
    }

    # ---- inputs --------------------------------------------------------------------
    backend.register_parquet("events", list(event_parts), EVENT_SCHEMA)
    backend.register_arrow("selection", selection.table())
    backend.register_arrow(
        "sel_sessions", pa.table({"session": pa.array(sorted(selection.sessions), pa.string())})
    )
    backend.register_arrow(
        "sel_sources", pa.table({"src_ip": pa.array(sorted(selection.sources), pa.string())})
    )
    kinds, cats = amap.tables()
    backend.register_arrow("access_kinds", kinds)
    backend.register_arrow("data_categories", cats)
    say("reading the patients' identities")
    identity_columns = _timed(timings, "patients", lambda: register_patients(backend, context))
    have_patients = context.patients_csv is not None and _count(backend, "patients") > 0
    backend.register_arrow(
        "annotations",
        context.annotations.select(
            pl.col("annotation_id").cast(pl.String), "patient_id", "tenant", "text"
        ).to_arrow(),
    )

    # ---- the exposure --------------------------------------------------------------
    say("selecting the accounts' requests")
    actors = sorted({a.actor for a in selection.accounts})
    _timed(
        timings,
        "scope_events",
        lambda: run_step(
            backend,
            "scope_events",
            actors=_sql_list(actors),
            since=selection.since,
            until=selection.until,
            match=selection.match,
        ),
    )
    events_in_scope = _count(backend, "scope_events")
    if events_in_scope == 0:
        raise VigileError(
            "no request of the selected account(s) in the window: "
            + _describe_window(selection)
            + " (check the account names, --since/--until, or the store)"
        )
    say(f"{events_in_scope:,} requests in scope; listing exposed files")
    _timed(timings, "patient_home", lambda: run_step(backend, "patient_home"))
    _timed(timings, "scope_exposures", lambda: run_step(backend, "scope_exposures"))
    _timed(timings, "exposed_files", lambda: run_step(backend, "exposed_files", **params))

    # ---- notes (read in a thread while linkage runs in the engine) ---------------------
    notes = pl.from_arrow(
        _timed(
            timings, "notes_fetch", lambda: backend.fetch(_step_sql(backend, "notes_to_classify"))
        )
    )
    assert isinstance(notes, pl.DataFrame)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigile-notes")
    pending: Future[NoteLabels] | None = None
    if have_annotations:
        say(f"reading {notes.height:,} exposed notes")
        pending = reader.submit(
            _timed, timings, "notes_classify", lambda: label_notes(notes, note_labels)
        )

    # ---- persons -------------------------------------------------------------------
    _timed(
        timings,
        "exposed_identities",
        lambda: run_step(backend, "exposed_identities", identity_columns=identity_columns),
    )
    linkage: LinkageStats | None = None
    if link and have_patients:
        say("linking exposed files into persons")
        linkage = _timed(timings, "persons", lambda: link_persons(backend, threshold=threshold))
    else:
        backend.register_arrow("persons", PERSONS_SCHEMA.empty_table())

    labels: NoteLabels | None = None
    try:
        if pending is not None:
            labels = pending.result()
    finally:
        reader.shutdown()
    long = (
        labels.long()
        if labels is not None
        else pl.DataFrame(schema={"annotation_id": pl.String, "category": pl.String})
    )
    backend.register_arrow("note_labels", long.to_arrow())
    _timed(timings, "file_notes", lambda: run_step(backend, "file_notes", **params))

    # ---- outputs -------------------------------------------------------------------
    say("writing up")
    for step in (
        "exposed_patients",
        "notifications",
        "by_tenant",
        "by_actor",
        "by_day",
        "by_category",
    ):
        _timed(timings, step, lambda step=step: run_step(backend, step, **params))  # type: ignore[misc]
    summary_row = backend.fetch(_step_sql(backend, "summary", **params)).to_pylist()[0]
    summary = {k: (int(v) if isinstance(v, int) else v) for k, v in summary_row.items()}
    result = ScopeResult(
        backend=backend,
        summary=summary,
        by_tenant=backend.fetch("SELECT * FROM by_tenant ORDER BY patients_exposed DESC, tenant"),
        by_actor=backend.fetch("SELECT * FROM by_actor ORDER BY patients DESC, tenant, actor"),
        by_day=backend.fetch("SELECT * FROM by_day ORDER BY day"),
        by_category=_long_categories(backend.fetch("SELECT * FROM by_category")),
        linkage=linkage,
        identity_columns=identity_columns,
        notes=labels,
        timings=timings,
        categories=categories,
    )
    return result


def _long_categories(wide: pa.Table) -> pa.Table:
    """The one wide row of ``by_category`` as rows of (kind, category, patients)."""
    row = wide.to_pylist()[0] if wide.num_rows else {}
    kinds, names, counts = [], [], []
    for column, value in row.items():
        kind, _, category = column.partition("__")
        kinds.append(kind)
        names.append(category)
        counts.append(int(value or 0))
    return pa.table({"kind": kinds, "category": names, "patients": pa.array(counts, pa.int64())})


def _step_sql(backend: SqlBackend, name: str, **params: Any) -> str:
    from vigile.scope.engine import render_step

    return render_step(name, backend.dialect, **params)


def _count(backend: SqlBackend, table: str) -> int:
    return int(backend.fetch(f"SELECT count(*) AS n FROM {table}").column(0)[0].as_py())


def _describe_window(selection: Selection) -> str:
    accounts = ", ".join(
        (f"{a.tenant}/" if a.tenant else "") + a.actor for a in selection.accounts[:5]
    ) + (" ..." if len(selection.accounts) > 5 else "")
    since = selection.since.isoformat() if selection.since else "the beginning"
    until = selection.until.isoformat() if selection.until else "the end"
    return f"{accounts} from {since} to {until}"
