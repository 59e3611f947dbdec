"""Which patients have sensitive notes, for detection: ``vigile notes`` labels joined to patients.

Detection never reads a note's text. It takes the labels written once by
``vigile notes --annotations annotations.csv --out LABELS.csv``
(``annotation_id,sensitive,categories``, INTERFACE §4) and the context's
``annotations.csv`` (``annotation_id`` → ``patient_id``, ``tenant``) and keeps, per
patient, how many of their notes are sensitive and the union of the categories
(INTERFACE §5). The labels file comes from ``vigile detect --note-labels FILE``, or
from ``note_labels.csv`` in the context directory (a vigile extension of INTERFACE
§2, like ``canaries.csv``); without either, nothing is loaded and detection is
unchanged.

A label whose note is not in ``annotations.csv`` is placed by its own ``patient_id``
and ``tenant`` columns when it has them (``vigile notes`` writes them), else ignored
(counted in ``unplaced``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from vigile.context import FLAG_TRUE
from vigile.errors import InputError

__all__ = ["LABELS_FILE", "SensitiveNotes", "load_sensitive_notes"]

#: the labels file's name when it is placed in the context directory
LABELS_FILE: Final = "note_labels.csv"


@dataclass
class SensitiveNotes:
    """Patients with sensitive notes: categories and counts only, never text."""

    #: patient id -> (sensitive notes, categories ``;``-joined and sorted)
    patients: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: practice -> patients of that practice with at least one sensitive note
    per_tenant: dict[str, int] = field(default_factory=dict)
    #: labels read, sensitive labels, sensitive labels placed on no patient
    labels: int = 0
    sensitive: int = 0
    unplaced: int = 0


def _read(path: Path) -> pl.DataFrame:
    from vigile.scope.sensitivity import open_labels

    frame = open_labels(path)
    cols = [pl.col("annotation_id").str.strip_chars()]
    cols.append(pl.col("sensitive").str.strip_chars().is_in(FLAG_TRUE).alias("sensitive"))
    if "categories" in frame.columns:
        cols.append(pl.col("categories").fill_null("").str.strip_chars())
    else:
        cols.append(pl.lit("").alias("categories"))
    for c in ("patient_id", "tenant"):
        if c in frame.columns:
            cols.append(pl.col(c).str.strip_chars().alias(f"_label_{c}"))
        else:
            cols.append(pl.lit(None, pl.String).alias(f"_label_{c}"))
    return frame.select(cols)


def load_sensitive_notes(path: str | Path, annotations: pl.DataFrame | None) -> SensitiveNotes:
    """Read a labels file and place its sensitive notes on their patients.

    ``annotations`` is the context's ``annotations.csv`` (at least ``annotation_id``,
    ``patient_id``, ``tenant``), or ``None``/empty when the context has none: the labels
    must then carry ``patient_id`` and ``tenant`` themselves.
    """
    labels = _read(Path(path))
    out = SensitiveNotes(labels=labels.height)
    sens = labels.filter(pl.col("sensitive"))
    out.sensitive = sens.height
    if not sens.height:
        return out
    if annotations is not None and annotations.height:
        where = annotations.select(
            pl.col("annotation_id").cast(pl.String),
            pl.col("patient_id").cast(pl.String),
            pl.col("tenant").cast(pl.String).fill_null(""),
        ).unique("annotation_id", keep="first")
        sens = sens.join(where, on="annotation_id", how="left").with_columns(
            pl.coalesce("patient_id", "_label_patient_id").alias("patient_id"),
            pl.coalesce("tenant", "_label_tenant").fill_null("").alias("tenant"),
        )
    else:
        if sens.get_column("_label_patient_id").null_count() == sens.height:
            raise InputError(
                f"{path}: the labels name no patient: give the context with its "
                "annotations.csv (--context DIR), or labels written by `vigile notes` "
                "(with patient_id,tenant)"
            )
        sens = sens.with_columns(
            pl.col("_label_patient_id").alias("patient_id"),
            pl.col("_label_tenant").fill_null("").alias("tenant"),
        )
    placed = sens.filter(pl.col("patient_id").is_not_null() & (pl.col("patient_id") != ""))
    out.unplaced = sens.height - placed.height
    counts = placed.group_by("patient_id").agg(pl.len().alias("n"))
    cats = (
        placed.select("patient_id", pl.col("categories").str.split(";").alias("c"))
        .explode("c")
        .with_columns(pl.col("c").str.strip_chars())
        .filter(pl.col("c").is_not_null() & (pl.col("c") != ""))
        .unique()
        .sort("patient_id", "c")
        .group_by("patient_id", maintain_order=True)
        .agg(pl.col("c").str.join(";").alias("c"))
    )
    joined = counts.join(cats, on="patient_id", how="left").sort("patient_id")
    for pid, n, c in joined.iter_rows():
        out.patients[str(pid)] = (int(n), c or "")
    tenants = placed.select("tenant", "patient_id").unique().group_by("tenant").len()
    out.per_tenant = {str(t): int(k) for t, k in tenants.iter_rows() if t}
    return out
