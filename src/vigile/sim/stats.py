"""World statistics, collected while the world is generated (exact, streaming).

`StatsCollector` sees every practice-day batch and every written day; `summary()` gives
the figures printed by `vigile sim --stats` and stored in world.json.  The figures are
about genuine traffic (attacks and benign hard cases excluded) unless said otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from vigile.sim.batch import Columns, Kind
from vigile.sim.world import PID_BASE, World

if TYPE_CHECKING:
    from rich.console import Console

I64 = npt.NDArray[np.int64]
READ_KINDS = np.array(
    [
        Kind.READ_PATIENT,
        Kind.READ_ANNOTATION,
        Kind.READ_DOCUMENT,
        Kind.READ_PRESCRIPTION,
        Kind.PRINT_PATIENT,
    ],
    dtype=np.int64,
)
_IS_READ = np.zeros(len(Kind), dtype=bool)
_IS_READ[READ_KINDS] = True


def _pct(a: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(a), q)) if a else 0.0


class StatsCollector:
    """Accumulates the figures of a world as it is written."""

    def __init__(self, world: World) -> None:
        self.world = world
        roles = [a.role for a in world.actors]
        self.role = np.asarray(
            [{"doctor": 0, "locum": 0, "secretary": 1}.get(r, 2) for r in roles], dtype=np.int64
        )
        self.reads = 0
        self.reads_explained = 0
        self.reads_explained_14 = 0
        self.doc_events: list[int] = []
        self.doc_patients: list[int] = []
        self.sec_events: list[int] = []
        self.sec_patients: list[int] = []
        self.active_account_days = 0
        self.events = 0
        self.genuine = 0
        self.by_action: dict[str, int] = {}
        self.night_genuine = 0
        self.cases: dict[str, dict[str, Any]] = {}

    def practice_day(self, cols: Columns, near: I64, recent: I64) -> None:
        """Reads explained by an appointment of the same practice within a day (`near`), or
        from the last fortnight to the next day (`recent`)."""
        m = (cols.tag == 0) & _IS_READ[cols.kind] & (cols.counts == 1)
        if not m.any():
            return
        pids = cols.values[cols.starts()[m]]
        self.reads += int(m.sum())
        self.reads_explained += int(np.isin(pids, near).sum())
        self.reads_explained_14 += int(np.isin(pids, recent).sum())

    def written_day(self, day: Columns) -> None:
        """Per account-day figures of one local day."""
        if len(day) == 0:
            return
        self.events += len(day)
        self.active_account_days += len(np.unique(day.actor))
        g = day.tag == 0
        self.genuine += int(g.sum())
        kinds, n = np.unique(day.kind[g], return_counts=True)
        for k, c in zip(kinds.tolist(), n.tolist(), strict=True):
            name = Kind(k).name.lower()
            self.by_action[name] = self.by_action.get(name, 0) + c
        actors = day.actor[g]
        ev = np.bincount(actors, minlength=len(self.role))
        # distinct patients per account: schedule lists only grow during a day, so the
        # last schedule list of each account stands for all of them
        sync = g & (day.kind == Kind.LIST_APPOINTMENT)
        sync_idx = np.flatnonzero(sync)
        rev = sync_idx[::-1]
        _, last = np.unique(day.actor[rev], return_index=True)
        keep = g & ~sync
        keep[rev[last]] = True
        idx = np.flatnonzero(keep & (self.role[day.actor] < 2))
        cnt = day.counts[idx]
        starts = day.starts()[idx]
        offs = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(cnt, out=offs[1:])
        vidx = np.repeat(starts - offs[:-1], cnt) + np.arange(int(offs[-1]))
        pids = day.values[vidx] - PID_BASE
        key = np.unique(np.repeat(day.actor[idx].astype(np.int64), cnt) * (1 << 32) + pids)
        dp = np.bincount(key >> 32, minlength=len(self.role))
        for a in np.flatnonzero(ev).tolist():
            r = int(self.role[a])
            if r == 0:
                self.doc_events.append(int(ev[a]))
                self.doc_patients.append(int(dp[a]))
            elif r == 1:
                self.sec_events.append(int(ev[a]))
                self.sec_patients.append(int(dp[a]))
        hours = ((day.ts[g] // 1000 + 3600) // 3600) % 24  # approximate local hour (CET)
        self.night_genuine += int(((hours >= 0) & (hours < 6)).sum())

    def cases_day(self, df: pl.DataFrame) -> None:
        """Start, end, events and records of each attack or benign case (columns case, ts,
        t (epoch ms), records)."""
        agg = df.group_by("case").agg(
            pl.col("t").min().alias("t0"),
            pl.col("t").max().alias("t1"),
            pl.col("ts").sort_by("t").first().alias("start"),
            pl.col("ts").sort_by("t").last().alias("end"),
            pl.len().alias("events"),
            pl.col("records").sum().alias("records"),
        )
        for r in agg.iter_rows(named=True):
            d = self.cases.get(r["case"])
            if d is None:
                self.cases[r["case"]] = {
                    k: r[k] for k in ("t0", "t1", "start", "end", "events", "records")
                }
                continue
            if r["t0"] < d["t0"]:
                d["t0"], d["start"] = r["t0"], r["start"]
            if r["t1"] >= d["t1"]:
                d["t1"], d["end"] = r["t1"], r["end"]
            d["events"] += r["events"]
            d["records"] += r["records"]

    def summary(self) -> dict[str, Any]:
        """The figures (rounded) for world.json and `--stats`."""
        return {
            "events": self.events,
            "genuine_events": self.genuine,
            "events_per_doctor_day_mean": round(float(np.mean(self.doc_events or [0])), 1),
            "events_per_doctor_day_median": _pct(self.doc_events, 50),
            "events_per_doctor_day_p90": _pct(self.doc_events, 90),
            "distinct_patients_per_doctor_day_mean": round(
                float(np.mean(self.doc_patients or [0])), 1
            ),
            "distinct_patients_per_doctor_day_median": _pct(self.doc_patients, 50),
            "distinct_patients_per_doctor_day_p90": _pct(self.doc_patients, 90),
            "events_per_secretary_day_mean": round(float(np.mean(self.sec_events or [0])), 1),
            "distinct_patients_per_secretary_day_mean": round(
                float(np.mean(self.sec_patients or [0])), 1
            ),
            "doctor_days": len(self.doc_events),
            "secretary_days": len(self.sec_events),
            "active_account_days": self.active_account_days,
            "reads": self.reads,
            "reads_explained_by_appointment_share": round(
                self.reads_explained / max(1, self.reads), 4
            ),
            "reads_explained_by_appointment_14d_share": round(
                self.reads_explained_14 / max(1, self.reads), 4
            ),
            "night_share_of_genuine_events": round(self.night_genuine / max(1, self.genuine), 5),
            "genuine_events_by_kind": dict(sorted(self.by_action.items())),
        }


LABELS = {
    "events_per_doctor_day_mean": "events per doctor-day (mean)",
    "events_per_doctor_day_median": "events per doctor-day (median)",
    "events_per_doctor_day_p90": "events per doctor-day (p90)",
    "distinct_patients_per_doctor_day_mean": "distinct patients per doctor-day (mean)",
    "distinct_patients_per_doctor_day_median": "distinct patients per doctor-day (median)",
    "distinct_patients_per_doctor_day_p90": "distinct patients per doctor-day (p90)",
    "events_per_secretary_day_mean": "events per secretary-day (mean)",
    "distinct_patients_per_secretary_day_mean": "distinct patients per secretary-day (mean)",
    "reads_explained_by_appointment_share": "reads explained by an appointment (±1 day)",
    "reads_explained_by_appointment_14d_share": "reads explained by an appointment (-14 d..+1 d)",
    "night_share_of_genuine_events": "genuine events 00:00-06:00 (share)",
    "duplicate_person_ratio": "patient files per person",
    "files_with_notes_share": "files with notes (share)",
    "persons_with_notes_share": "persons with notes (share)",
    "sensitive_note_share": "sensitive notes (share of notes)",
    "active_account_days": "active account-days",
    "doctor_days": "doctor-days",
}


def print_stats(doc: dict[str, Any], console: Console | None = None) -> None:
    """Render a world.json's statistics as a Rich table."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(
        title=f"world {doc.get('preset')} seed={doc.get('seed')} "
        f"{doc.get('start')}..{doc.get('end')}"
    )
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for k, v in doc.get("counts", {}).items():
        t.add_row(k.replace("_", " "), f"{v:,}" if isinstance(v, int) else str(v))
    stats = doc.get("stats", {})
    for k, label in LABELS.items():
        if k in stats:
            v = stats[k]
            t.add_row(label, f"{v:,}" if isinstance(v, int) else f"{v:g}")
    console.print(t)
