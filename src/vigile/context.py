"""Context files (INTERFACE §2) loaded into typed Polars tables.

A context directory may hold ``actors.csv``, ``patients.csv``,
``appointments.csv``, ``annotations.csv`` and (a vigile extension)
``canaries.csv`` (``patient_id,tenant``: decoy files no genuine workflow
touches). All are optional; columns beyond the key ones may be missing.

A row whose value cannot be read (a date that is not a date, ``vip`` not 0/1)
is rejected with its file and line and the reason, like a bad event line; the
rest of the file loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from vigile.errors import InputError

#: how a yes/no column (a flag: ``vip``, ``canary``, a label's ``sensitive``) says yes and
#: no, in every file vigile reads; anything else is rejected or read as no, per file
FLAG_TRUE: Final = ("1", "true", "True", "TRUE", "yes", "oui")
FLAG_FALSE: Final = ("0", "false", "False", "FALSE", "no", "non")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "str"  # str | date | datetime | flag
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    file: str
    columns: tuple[Column, ...]


SPECS: Final[dict[str, TableSpec]] = {
    "actors": TableSpec(
        "actors.csv",
        (
            Column("actor", required=True),
            Column("tenant", required=True),
            Column("role"),
            Column("created", "date"),
        ),
    ),
    "patients": TableSpec(
        "patients.csv",
        (
            Column("patient_id", required=True),
            Column("tenant", required=True),
            Column("last_name"),
            Column("birth_name"),
            Column("first_name"),
            Column("sex"),
            Column("birth_date", "date"),
            Column("phone"),
            Column("email"),
            Column("address"),
            Column("postcode"),
            Column("city"),
            Column("vip", "flag"),
        ),
    ),
    "appointments": TableSpec(
        "appointments.csv",
        (
            Column("tenant", required=True),
            Column("actor", required=True),
            Column("patient_id", required=True),
            Column("start", "datetime", required=True),
        ),
    ),
    "annotations": TableSpec(
        "annotations.csv",
        (
            Column("annotation_id", required=True),
            Column("patient_id", required=True),
            Column("tenant"),
            Column("author"),
            Column("created", "datetime"),
            Column("text", required=True),
        ),
    ),
    "canaries": TableSpec(
        "canaries.csv",
        (Column("patient_id", required=True), Column("tenant")),
    ),
}


@dataclass(frozen=True)
class Rejected:
    """A context row, or a value in it, that could not be read."""

    source: str
    line: int
    reason: str
    raw: str


@dataclass
class Context:
    """The typed context tables; an absent file gives an empty table."""

    actors: pl.DataFrame
    patients: pl.DataFrame
    appointments: pl.DataFrame
    annotations: pl.DataFrame
    canaries: pl.DataFrame
    rejected: list[Rejected] = field(default_factory=list)
    present: frozenset[str] = frozenset()

    def table(self, name: str) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(self, name)
        return frame


_DTYPES: Final[dict[str, pl.DataType]] = {
    "str": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
    "flag": pl.Boolean(),
}


def empty_table(name: str) -> pl.DataFrame:
    """An empty table with the typed columns of ``name``."""
    return pl.DataFrame(schema={c.name: _DTYPES[c.kind] for c in SPECS[name].columns})


def _raw(col: Column) -> pl.Expr:
    raw = pl.col(col.name).str.strip_chars()
    return pl.when(raw == "").then(None).otherwise(raw)


def _with_offset(raw: pl.Expr) -> pl.Expr:
    """RFC 3339 with an offset ("Z", UTC, read as "+00:00": %z does not read "Z")."""
    zulu = raw.str.replace(r"[Zz]$", "+00:00")
    return zulu.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")


def _cast(col: Column, default_tz: str, offsets_only: bool = False) -> pl.Expr:
    raw = _raw(col)
    if col.kind == "date":
        return raw.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if col.kind == "datetime":
        with_offset = _with_offset(raw)
        if offsets_only:
            return with_offset.dt.convert_time_zone("UTC")
        naive = (
            raw.str.replace(" ", "T")
            .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
            .dt.replace_time_zone(default_tz, ambiguous="earliest", non_existent="null")
        )
        day_only = (
            raw.str.to_date("%Y-%m-%d", strict=False)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone(default_tz, ambiguous="earliest", non_existent="null")
        )
        minutes = (
            raw.str.replace(" ", "T")
            .str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us")
            .dt.replace_time_zone(default_tz, ambiguous="earliest", non_existent="null")
        )
        return pl.coalesce(
            with_offset.dt.convert_time_zone("UTC"),
            naive.dt.convert_time_zone("UTC"),
            minutes.dt.convert_time_zone("UTC"),
            day_only.dt.convert_time_zone("UTC"),
        )
    if col.kind == "flag":
        return (
            pl.when(raw.is_in(FLAG_TRUE))
            .then(True)
            .when(raw.is_in(FLAG_FALSE) | raw.is_null())
            .then(False)
            .otherwise(None)
        )
    return raw


def load_table(
    path: Path, name: str, default_tz: str = "Europe/Paris"
) -> tuple[pl.DataFrame, list[Rejected]]:
    """Read one context CSV into its typed table, rejecting unreadable rows."""
    spec = SPECS[name]
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8", row_index_name="_row")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        if isinstance(exc, pl.exceptions.NoDataError):
            return empty_table(name), []
        raise InputError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    original_columns = [c for c in frame.columns if c != "_row"]
    missing = [c.name for c in spec.columns if c.required and c.name not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(header is: {', '.join(original_columns)})"
        )
    for col in spec.columns:
        if col.name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col.name))
    # datetimes read with their offset first (the usual case); a column with a value that
    # does not read so is read again, every reading tried (naive, to the minute, a day)
    typed = frame.with_columns(
        [_cast(c, default_tz, offsets_only=True).alias(f"_t_{c.name}") for c in spec.columns]
    )
    for c in spec.columns:
        if c.kind == "datetime":
            missed = _raw(c).is_not_null() & pl.col(f"_t_{c.name}").is_null()
            if typed.select(missed.any()).item():
                typed = typed.with_columns(_cast(c, default_tz).alias(f"_t_{c.name}"))
    # A required value that is missing or unreadable rejects the row; an optional
    # one that is unreadable is reported and the row kept with that value empty.
    fatal: list[pl.Expr] = []
    notes: list[pl.Expr] = []
    for c in spec.columns:
        original = pl.col(c.name).str.strip_chars()
        present = original.is_not_null() & (original != "")
        failed = present & pl.col(f"_t_{c.name}").is_null()
        why = (
            pl.lit(f"{c.name}: cannot read ") + original.str.slice(0, 40) + pl.lit(f" as {c.kind}")
        )
        if c.required:
            fatal.append(pl.when(~present).then(pl.lit(f"{c.name}: required value is empty")))
            fatal.append(pl.when(failed).then(why))
        else:
            notes.append(pl.when(failed).then(why + pl.lit(" (row kept, value left empty)")))
    none = pl.lit(None, pl.String)
    typed = typed.with_columns(
        pl.coalesce([*fatal, none]).alias("_fatal"), pl.coalesce([*notes, none]).alias("_note")
    )
    reported = typed.filter(pl.col("_fatal").is_not_null() | pl.col("_note").is_not_null())
    rejected = [
        Rejected(
            source=str(path),
            line=int(row["_row"]) + 2,  # the header is line 1
            reason=str(row["_fatal"] or row["_note"]),
            raw=",".join("" if row[c] is None else str(row[c]) for c in original_columns),
        )
        for row in reported.iter_rows(named=True)
    ]
    known = {c.name for c in spec.columns}
    good = typed.filter(pl.col("_fatal").is_null()).select(
        [pl.col(f"_t_{c.name}").alias(c.name) for c in spec.columns]
        + [pl.col(c) for c in original_columns if c not in known]
    )
    return good, rejected


def load_context(directory: str | Path | None, default_tz: str = "Europe/Paris") -> Context:
    """Load every context file present in ``directory`` (``None``: an empty context)."""
    tables: dict[str, pl.DataFrame] = {}
    rejected: list[Rejected] = []
    present: set[str] = set()
    root = Path(directory) if directory is not None else None
    if root is not None and not root.is_dir():
        raise InputError(f"{root}: context directory not found")
    for name, spec in SPECS.items():
        path = root / spec.file if root is not None else None
        if path is not None and path.exists():
            tables[name], bad = load_table(path, name, default_tz)
            rejected.extend(bad)
            present.add(name)
        else:
            tables[name] = empty_table(name)
    return Context(**tables, rejected=rejected, present=frozenset(present))
