"""Small synthetic worlds for detection tests: a few practices, a few normal days, then one scene.

Identities are synthetic (French-looking names, made-up ids). Times are Europe/Paris
in March 2026 (UTC+01:00, before the daylight-saving change). Everything is
deterministic: the same calls give the same files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

PARIS = timezone(timedelta(hours=1))
#: patient files per practice (ids 1 .. PATIENTS - 1)
PATIENTS = 800
UA = "MedPratic/7.4.2 (Windows NT 10.0; Win64)"
ROUTES = {
    "patient": "/api/v1/patients/{patient_id}",
    "annotation": "/api/v1/patients/{patient_id}/annotations",
    "document": "/api/v1/patients/{patient_id}/documents/{document_id}",
    "prescription": "/api/v1/patients/{patient_id}/prescriptions",
}
#: practices: tenant -> (office IP, doctors, secretaries, first patient number)
PRACTICES: dict[str, tuple[str, list[str], list[str], int]] = {
    "cab-0001": ("82.64.12.7", ["dr.martin.0001", "dr.lefevre.0001"], ["sec.durand.0001"], 100_000),
    "cab-0002": ("78.120.44.9", ["dr.bernard.0002"], ["sec.moreau.0002"], 200_000),
    "cab-0003": ("91.160.3.21", ["dr.petit.0003"], [], 300_000),
}
HOME = {
    "dr.martin.0001": "90.12.77.14",
    "dr.lefevre.0001": "86.200.5.61",
    "dr.bernard.0002": "2.14.90.33",
    "dr.petit.0003": "109.8.71.5",
}


def pid(tenant: str, n: int) -> str:
    """The n-th patient id of a practice (ids are per practice ranges)."""
    return f"P{PRACTICES[tenant][3] + n:07d}"


@dataclass
class World:
    """Events and context being built, in time order when written."""

    start: datetime = datetime(2026, 3, 2, tzinfo=PARIS)  # a Monday
    events: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[tuple[str, str, str, str]] = field(default_factory=list)
    vip: set[str] = field(default_factory=set)
    canaries: list[tuple[str, str]] = field(default_factory=list)
    extra_actors: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: notes (annotation_id, patient_id, tenant, author, created, text): annotations.csv
    notes: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    #: their labels (annotation_id, sensitive 0/1, categories): context/note_labels.csv
    note_labels: list[tuple[str, int, str]] = field(default_factory=list)
    #: write every patient file to patients.csv (else only the vip ones)
    full_patients: bool = False
    #: events before this index are the shared normal days (written once, elsewhere)
    base: int = 0
    _sessions: int = 0

    # ---- primitives ----------------------------------------------------------------------
    def at(self, day: int, hour: float) -> datetime:
        """Local time ``hour`` (e.g. 9.5) of day ``day`` (0 = the first Monday)."""
        return self.start + timedelta(days=day, seconds=round(hour * 3600))

    def session(self) -> str:
        self._sessions += 1
        return f"s-{self._sessions:06d}"

    def ev(
        self, ts: datetime, tenant: str, actor: str, action: str, resource: str, **kw: Any
    ) -> dict[str, Any]:
        """Append one event (interface fields; ``patient_ids`` and the rest as keywords)."""
        row: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds"),
            "tenant": tenant,
            "actor": actor,
            "action": action,
            "resource": resource,
            "user_agent": UA,
            "method": "GET" if action in ("read", "list", "search", "export", "print") else "POST",
            "status": 200,
        }
        row.update(kw)
        if resource in ROUTES and "route" not in row:
            row["route"] = ROUTES[resource]
        self.events.append(row)
        return row

    def login(self, ts: datetime, tenant: str, actor: str, ip: str, ua: str = UA) -> str:
        sid = self.session()
        self.ev(
            ts,
            tenant,
            actor,
            "login",
            "session",
            session=sid,
            src_ip=ip,
            user_agent=ua,
            route="/api/v1/auth/login",
        )
        return sid

    def read(
        self,
        ts: datetime,
        tenant: str,
        actor: str,
        patient: str,
        sid: str,
        ip: str,
        resource: str = "patient",
        status: int = 200,
        ua: str = UA,
    ) -> None:
        self.ev(
            ts,
            tenant,
            actor,
            "read",
            resource,
            session=sid,
            src_ip=ip,
            user_agent=ua,
            status=status,
            patient_ids=[patient],
            records=1 if status < 400 else 0,
        )

    def appointment(self, tenant: str, actor: str, patient: str, start: datetime) -> None:
        self.appointments.append((tenant, actor, patient, start.isoformat(timespec="milliseconds")))

    # ---- normal work ---------------------------------------------------------------------
    def normal_days(self, days: int = 4, per_day: int = 12) -> None:
        """Genuine days: each doctor sees scheduled patients from the office (file, then notes);
        secretaries open the files of the day. Every read is explained by an appointment."""
        for day in range(days):
            for tenant, (office, doctors, secretaries, _) in PRACTICES.items():
                for d_i, doctor in enumerate(doctors):
                    sid = self.login(self.at(day, 8.0 + 0.1 * d_i), tenant, doctor, office)
                    for k in range(per_day):
                        n = 1 + (day * 37 + d_i * 11 + k * 157) % 400
                        t = self.at(day, 8.5 + 0.4 * k + 0.05 * d_i)
                        p = pid(tenant, n)
                        self.appointment(tenant, doctor, p, t)
                        self.read(t, tenant, doctor, p, sid, office)
                        self.read(
                            t + timedelta(seconds=20), tenant, doctor, p, sid, office, "annotation"
                        )
                for s_i, sec in enumerate(secretaries):
                    sid = self.login(self.at(day, 7.8 + 0.1 * s_i), tenant, sec, office)
                    for k in range(per_day):
                        n = 1 + (day * 37 + k * 157) % 400
                        self.read(
                            self.at(day, 7.9 + 0.01 * k), tenant, sec, pid(tenant, n), sid, office
                        )

    # ---- output --------------------------------------------------------------------------
    def mark_base(self) -> None:
        """What was built so far is the shared normal traffic; the scene starts here."""
        self.base = len(self.events)
        self._sessions = 100_000

    def write_events(self, path: Path, rows: list[dict[str, Any]], prefix: str) -> None:
        ordered = sorted(rows, key=lambda r: r["ts"])
        lines = [
            orjson.dumps({"event_id": f"{prefix}-{i:06d}", **r}) for i, r in enumerate(ordered, 1)
        ]
        path.write_bytes(b"\n".join(lines) + b"\n")

    def write(self, out: Path, normal: Path | None = None) -> Path:
        """events.jsonl (the scene's events, or all of them when ``normal`` is None) and
        context/ (actors, patients, appointments, canaries); ``normal`` receives the shared
        normal days."""
        out.mkdir(parents=True, exist_ok=True)
        if normal is None:
            self.write_events(out / "events.jsonl", self.events, "ev")
        else:
            normal.mkdir(parents=True, exist_ok=True)
            self.write_events(normal / "events.jsonl", self.events[: self.base], "ev")
            self.write_events(out / "events.jsonl", self.events[self.base :], "scene")
        ctx = out / "context"
        ctx.mkdir(exist_ok=True)
        with open(ctx / "actors.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["actor", "tenant", "role", "created"])
            for tenant, (_, doctors, secretaries, _) in PRACTICES.items():
                for doc in doctors:
                    w.writerow([doc, tenant, "doctor", "2019-05-13"])
                for sec in secretaries:
                    w.writerow([sec, tenant, "secretary", "2021-09-01"])
                w.writerow([f"svc.agenda.{tenant[-4:]}", tenant, "service", "2018-01-10"])
            for actor, tenant, role, created in self.extra_actors:
                w.writerow([actor, tenant, role, created])
        with open(ctx / "patients.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["patient_id", "tenant", "vip"])
            for tenant in PRACTICES:
                for n in range(1, PATIENTS):
                    p = pid(tenant, n)
                    if self.full_patients or p in self.vip:
                        w.writerow([p, tenant, "1" if p in self.vip else "0"])
        with open(ctx / "appointments.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["tenant", "actor", "patient_id", "start"])
            w.writerows(sorted(self.appointments, key=lambda r: r[3]))
        if self.canaries:
            with open(ctx / "canaries.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["patient_id", "tenant"])
                w.writerows(self.canaries)
        if self.notes:
            with open(ctx / "annotations.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["annotation_id", "patient_id", "tenant", "author", "created", "text"])
                w.writerows(self.notes)
        if self.note_labels:
            with open(ctx / "note_labels.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["annotation_id", "sensitive", "categories"])
                w.writerows(self.note_labels)
        return out
