"""The context (INTERFACE §2) turned into what the hot loop can ask in O(1).

Built once with Polars (vectorised), then queried per event:

* accounts: role and creation date, and each practice's number of doctors (the
  peer group is *same role, practice of similar size*);
* ``vip`` files and canary (decoy) files: small sets;
* note authors: a practice whose staff wrote a note about a patient has a care
  relationship with them;
* appointments, fed to the explainer as a *sliding window* over event time
  (``[t - before, t + after]``), so memory follows the schedule of a few weeks,
  not the whole history;
* which practice holds each patient file (for cross-practice reads): a sorted
  array of 64-bit hashes of the patient ids and the practice of each, so 19
  million files cost ~230 MB instead of a Python dict of strings. The hash is
  Python's own ``hash(str)``: the index lives only in the process that built it,
  and the string of an event's patient id already carries its hash (it was a key
  of the relationship tables), so a lookup computes nothing. Two different ids
  with the same hash would make one look held where the other is: at 19 M files,
  a chance of about 1 in 10^12 per lookup.

Every part is optional: without a file the corresponding explanation or check is
simply not available, and detectors say so in their evidence.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from vigile.context import FLAG_TRUE, SPECS, Context, Rejected, empty_table, load_table
from vigile.errors import InputError

__all__ = ["ContextIndex", "size_bucket"]

_EPOCH_DAY: Final = date(1970, 1, 1)
_APPT_CHUNK: Final = 65_536
#: patient-id hashes are bucketed by their top bits: a lookup bisects one bucket
_BUCKET_BITS: Final = 16
_BUCKET_SHIFT: Final = 64 - _BUCKET_BITS
#: signed hashes: the lowest bucket is that of -2**63
_BUCKET_BIAS: Final = 1 << (_BUCKET_BITS - 1)


def _scan_patients(path: Path) -> pl.DataFrame:
    """``patient_id``, ``tenant``, ``vip`` of patients.csv, read lazily (rows without an id
    or a practice are left out; a ``vip`` that is not 1/true/yes/oui counts as no)."""
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise InputError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("patient_id", "tenant") if c not in header]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}")
    cols = ["patient_id", "tenant"] + (["vip"] if "vip" in header else [])
    frame = (
        pl.scan_csv(path, infer_schema=False)
        .select(cols)
        .with_columns(pl.col("patient_id").str.strip_chars(), pl.col("tenant").str.strip_chars())
        .filter(
            pl.col("patient_id").is_not_null()
            & (pl.col("patient_id") != "")
            & pl.col("tenant").is_not_null()
            & (pl.col("tenant") != "")
        )
    )
    if "vip" in header:
        vip = pl.col("vip").str.strip_chars().is_in(FLAG_TRUE)
        frame = frame.with_columns(vip.fill_null(False).alias("vip"))
    else:
        frame = frame.with_columns(pl.lit(False).alias("vip"))
    return frame.collect()


def size_bucket(doctors: int) -> str:
    """Practice size classes for peer groups: solo, small group, large group."""
    if doctors <= 1:
        return "solo"
    if doctors <= 3:
        return "group"
    return "large"


@dataclass
class ContextIndex:
    """Lookups built from the context tables (all optional)."""

    present: frozenset[str] = frozenset()
    roles: dict[tuple[str, str], str] = field(default_factory=dict)
    created_s: dict[tuple[str, str], float] = field(default_factory=dict)
    doctors: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    vip: frozenset[str] = frozenset()
    # vip files per practice (with ``files``: the practice's share of protected files)
    vip_files: dict[str, int] = field(default_factory=dict)
    canaries: frozenset[str] = frozenset()
    #: patient -> its notes' (tenant, author, created in epoch seconds or -1.0 if unknown)
    note_authors: dict[str, tuple[tuple[str, str, float], ...]] = field(default_factory=dict)
    # appointments sorted by start: (start seconds, tenant code, patient id)
    appt_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    appt_frame: pl.DataFrame | None = None
    # patient -> practice: hash(patient id), sorted, and the practice of each
    _pt_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _pt_tenant: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # the same two arrays seen as sequences of Python ints (no numpy call per lookup),
    # and where each bucket of hashes (their top _BUCKET_BITS bits) starts in them
    _pt_hashes: memoryview | None = None
    _pt_codes: memoryview | None = None
    _pt_start: list[int] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    rejected: list[Any] = field(default_factory=list)
    # patients with sensitive notes (from `vigile notes` labels; empty without them):
    # patient id -> (sensitive notes, categories), and such patients per practice
    sensitive_notes: dict[str, tuple[int, str]] = field(default_factory=dict)
    sensitive_files: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        directory: str | Path | None,
        default_tz: str = "Europe/Paris",
        note_labels: str | Path | None = None,
    ) -> ContextIndex:
        """Load a context directory (``None``: an empty index).

        ``note_labels`` (``vigile notes`` output; else ``note_labels.csv`` in the
        directory, if there) names the patients with sensitive notes
        (:mod:`vigile.detect.note_labels`).

        Every table goes through :func:`vigile.context.load_table` (typed, bad rows
        reported) except ``patients.csv``, of which detection needs three columns:
        it is scanned lazily (``patient_id``, ``tenant``, ``vip``) so that 19 million
        files do not have to fit in memory with their names and addresses.
        """
        if directory is None:
            idx = cls()
            if note_labels is not None:
                idx.add_note_labels(note_labels, None)
            return idx
        root = Path(directory)
        if not root.is_dir():
            raise InputError(f"{root}: context directory not found")
        tables: dict[str, pl.DataFrame] = {}
        rejected: list[Rejected] = []
        present: set[str] = set()
        for name, spec in SPECS.items():
            path = root / spec.file
            if not path.exists():
                tables[name] = empty_table(name)
                continue
            present.add(name)
            if name == "patients":
                tables[name] = _scan_patients(path)
            else:
                tables[name], bad = load_table(path, name, default_tz)
                rejected.extend(bad)
        ctx = Context(**tables, rejected=rejected, present=frozenset(present))
        idx = cls.build(ctx)
        from vigile.detect.note_labels import LABELS_FILE

        if note_labels is None and (root / LABELS_FILE).is_file():
            note_labels = root / LABELS_FILE
        if note_labels is not None:
            idx.add_note_labels(note_labels, ctx.annotations)
        return idx

    def add_note_labels(self, path: str | Path, annotations: pl.DataFrame | None) -> None:
        """Patients with sensitive notes, from a labels file and the notes' patients."""
        from vigile.detect.note_labels import load_sensitive_notes

        found = load_sensitive_notes(path, annotations)
        self.sensitive_notes = found.patients
        self.sensitive_files = found.per_tenant

    @classmethod
    def build(cls, ctx: Context) -> ContextIndex:
        """Index already-loaded context tables."""
        idx = cls(present=ctx.present, rejected=list(ctx.rejected))
        actors = ctx.actors
        if actors.height:
            rows = actors.select(
                "tenant",
                "actor",
                pl.col("role").fill_null("").str.to_lowercase(),
                (pl.col("created").cast(pl.Int64) * 86400).alias("created_s"),
            )
            for tenant, actor, role, created in rows.iter_rows():
                idx.roles[(tenant, actor)] = role or ""
                if created is not None:
                    idx.created_s[(tenant, actor)] = float(created)
            counts = (
                actors.filter(pl.col("role").str.to_lowercase() == "doctor")
                .group_by("tenant")
                .len()
            )
            idx.doctors = {str(k): int(v) for k, v in counts.iter_rows()}
        patients = ctx.patients
        if patients.height:
            idx.vip = frozenset(
                patients.filter(pl.col("vip").fill_null(False)).get_column("patient_id").to_list()
            )
            idx._index_patients(patients)
        if ctx.canaries.height:
            idx.canaries = frozenset(ctx.canaries.get_column("patient_id").to_list())
        notes = ctx.annotations
        if notes.height:
            created = (
                pl.col("created").dt.epoch("s").cast(pl.Float64).fill_null(-1.0)
                if "created" in notes.columns
                else pl.lit(-1.0)
            )
            grouped = (
                notes.select(
                    "patient_id",
                    pl.col("tenant").fill_null(""),
                    pl.col("author").fill_null(""),
                    created.alias("created"),
                )
                .group_by("patient_id", "tenant", "author")
                .agg(pl.col("created").max())
                .sort("patient_id", "tenant", "author")
                .group_by("patient_id", maintain_order=True)
                .agg(pl.struct("tenant", "author", "created"))
            )
            for pid, rows in grouped.iter_rows():
                idx.note_authors[pid] = tuple(
                    (r["tenant"], r["author"], float(r["created"])) for r in rows
                )
        appts = ctx.appointments
        if appts.height:
            frame = (
                appts.select((pl.col("start").dt.epoch("s")).alias("start"), "tenant", "patient_id")
                .drop_nulls()
                .sort("start")
            )
            idx.appt_frame = frame
            idx.appt_start = frame.get_column("start").to_numpy()
        return idx

    # ---- patients -> practice --------------------------------------------------------
    def _index_patients(self, frame: pl.DataFrame) -> None:
        tenant = frame.get_column("tenant")
        tenants = tenant.unique().sort().to_list()
        self.tenants = tenants
        n = frame.height
        # each file's practice as its rank among the sorted practice names (vectorised)
        codes = (tenant.rank("dense") - 1).cast(pl.Int32).to_numpy()
        hashes = np.empty(n, np.int64)
        for start in range(0, n, 1_000_000):
            ids = frame.slice(start, 1_000_000).get_column("patient_id").to_list()
            hashes[start : start + len(ids)] = np.fromiter(map(hash, ids), np.int64, len(ids))
        # files (and protected files) per practice from the codes: a polars group-by
        # of 19 M rows by practice name held ~900 MB at the context's peak
        vip = None
        if "vip" in frame.columns:
            vip = frame.get_column("vip").fill_null(False).to_numpy()
        files = np.bincount(codes, minlength=len(tenants))
        self.files = {t: int(files[i]) for i, t in enumerate(tenants)}
        if vip is not None and vip.any():
            vips = np.bincount(codes[vip], minlength=len(tenants))
            self.vip_files = {t: int(vips[i]) for i, t in enumerate(tenants) if vips[i]}
        # sorted by hash, equal hashes (one id in several practices) in file order: what a
        # stable sort gives, from an unstable one (several times faster on 19 M hashes)
        # with only the runs of equal hashes put back in file order
        order = np.argsort(hashes)
        hashes.sort()  # in place: no second copy of 19 M hashes at the context's peak
        tied = np.flatnonzero(hashes[1:] == hashes[:-1])
        if tied.size:
            at = np.unique(np.concatenate((tied, tied + 1)))
            rows = order[at]
            order[at] = rows[np.lexsort((rows, hashes[at]))]
        codes = codes[order]
        del order
        self._pt_hash = hashes
        self._pt_tenant = codes
        self._pt_hashes = hashes.data
        self._pt_codes = codes.data
        tops = (np.arange(1 << _BUCKET_BITS, dtype=np.int64) - _BUCKET_BIAS) << _BUCKET_SHIFT
        self._pt_start = [*np.searchsorted(hashes, tops).tolist(), n]

    @property
    def knows_patients(self) -> bool:
        return len(self._pt_hash) > 0

    def patient_tenants(self, patient_id: str) -> list[str]:
        """The practices holding a file with this id (usually one; ``[]`` if unknown)."""
        hashes, codes = self._pt_hashes, self._pt_codes
        if hashes is None or codes is None:
            return []
        h = hash(patient_id)
        bucket = (h >> _BUCKET_SHIFT) + _BUCKET_BIAS
        hi = self._pt_start[bucket + 1]
        i = bisect_left(hashes, h, self._pt_start[bucket], hi)
        out = []
        while i < hi and hashes[i] == h:
            out.append(self.tenants[codes[i]])
            i += 1
        return out

    # ---- appointments ------------------------------------------------------------------
    def appointments_between(self, lo_s: float, hi_s: float) -> Iterator[tuple[int, str, str]]:
        """Appointments (start, tenant, patient id) with ``lo_s <= start < hi_s``, in order."""
        if self.appt_frame is None:
            return
        a = int(self.appt_start.searchsorted(lo_s, "left"))
        b = int(self.appt_start.searchsorted(hi_s, "left"))
        for s in range(a, b, _APPT_CHUNK):
            part = self.appt_frame.slice(s, min(_APPT_CHUNK, b - s))
            yield from zip(
                part.get_column("start").to_list(),
                part.get_column("tenant").to_list(),
                part.get_column("patient_id").to_list(),
                strict=True,
            )

    def role(self, tenant: str, actor: str) -> str:
        return self.roles.get((tenant, actor), "")
