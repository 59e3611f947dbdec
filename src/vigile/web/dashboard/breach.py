"""Breach scoping from the dashboard: ``vigile scope`` for one incident, in a thread.

One scope runs at a time (it takes the machine's memory and cores for a while);
asking again while it runs changes nothing. The output directory is the same as
the command's (``summary.json``, ``report.pdf``, ``notifications.csv``,
``practices/<tenant>/``...), one per incident under the dashboard's scope
directory, so a scope run from the command line with ``--out`` there shows up too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["BreachJobs", "Job"]

log = logging.getLogger("vigile.web")

#: an incident or practice id used as a folder name: never "." or ".." (a scope's folder is
#: replaced whole, so ".." would delete the folder above the scopes)
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


@dataclass
class Job:
    """One scope run: its state, what it says it is doing, its error if any."""

    incident: str
    status: str = "queued"  # queued, running, done, failed
    step: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None


class BreachJobs:
    """Runs and finds the scopes of incidents (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        store: Path | None,
        context: Path | None,
        *,
        organisation: str | None = None,
        contact: str | None = None,
        pack_pdf: str = "auto",
    ) -> None:
        self.root = root
        self.store = store
        self.context = context
        self.organisation = organisation
        self.contact = contact
        self.pack_pdf = pack_pdf
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None

    def folder(self, incident: str) -> Path:
        if not _SAFE.match(incident):
            raise ValueError("not an incident id")
        return self.root / incident

    def start(self, incident: str, alerts: list[dict[str, Any]]) -> Job:
        """Start the scope of ``incident`` from its alerts (or return the one running)."""
        with self._lock:
            job = self.jobs.get(incident)
            if job is not None and job.status in ("queued", "running"):
                return job
            if self._running is not None and self._running.is_alive():
                busy = Job(incident, status="failed", error="another scope is running; retry")
                busy.finished = time.time()
                return busy
            job = self.jobs[incident] = Job(incident)
            self._running = threading.Thread(
                target=self._run, args=(job, alerts), name="vigile-scope", daemon=True
            )
            self._running.start()
            return job

    def _run(self, job: Job, alerts: list[dict[str, Any]]) -> None:
        from vigile.errors import VigileError
        from vigile.scope.run import ScopeOptions, run_scope
        from vigile.scope.selection import AlertRef, from_alerts, parse_ts

        job.status = "running"
        try:
            if self.store is None:
                raise VigileError(
                    "the service keeps no event store (start `vigile serve` with --store)"
                )
            refs = [
                AlertRef(
                    alert_id=a["alert_id"],
                    ts=parse_ts(a["ts"], "ts"),
                    tenant=a["tenant"],
                    actor=a["actor"],
                    session=a.get("session"),
                    src_ip=a.get("src_ip"),
                    severity=a["severity"],
                    detector=a["detector"],
                    incident=a.get("incident"),
                    reasons=tuple(a.get("reasons") or ()),
                )
                for a in alerts
            ]
            selection = from_alerts(refs, incident=job.incident, source="the incident")
            out = self.folder(job.incident)
            tmp = out.with_name(out.name + ".running")
            shutil.rmtree(tmp, ignore_errors=True)

            def progress(message: str) -> None:
                job.step = message

            run_scope(
                ScopeOptions(
                    selection=selection,
                    out=tmp,
                    store=self.store,
                    context=self.context,
                    organisation=self.organisation,
                    contact=self.contact,
                    pack_pdf=self.pack_pdf,
                ),
                progress,
            )
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            job.status = "done"
        except Exception as exc:  # a failed scope is shown on the page, never raised
            log.warning("breach scope of %s failed: %s", job.incident, type(exc).__name__)
            job.status = "failed"
            # vigile's own errors say what to do; any other's text may quote a data value
            # (a patient's name in a parse error): only its kind is shown
            job.error = (
                str(exc).splitlines()[0][:300]
                if isinstance(exc, VigileError) and str(exc)
                else f"the scope failed ({type(exc).__name__})"
            )
        finally:
            job.finished = time.time()

    def status(self, incident: str) -> dict[str, Any]:
        """What the page shows: the job's state, and the scope's figures when done."""
        job = self.jobs.get(incident)
        summary = self.summary(incident)
        state = job.status if job is not None else ("done" if summary else "none")
        if job is not None and job.status == "failed" and summary:
            state = "failed"
        return {
            "status": state,
            "step": job.step if job is not None else "",
            "error": job.error if job is not None else None,
            "seconds": (
                round((job.finished or time.time()) - job.started, 1) if job is not None else None
            ),
            "done": summary is not None,
        }

    def summary(self, incident: str) -> dict[str, Any] | None:
        path = self.folder(incident) / "summary.json"
        if not path.is_file():
            return None
        data: dict[str, Any] = orjson.loads(path.read_bytes())
        return data

    def file(self, incident: str, name: str) -> Path | None:
        path = self.folder(incident) / name
        return path if path.is_file() else None

    def categories(self, incident: str) -> list[tuple[str, int]]:
        """Patient files per category of data exposed (``tables/by_category.csv``: kind,
        category, patients), largest first."""
        path = self.folder(incident) / "tables" / "by_category.csv"
        if not path.is_file():
            return []
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        out = []
        for r in rows:
            kind, category = r.get("kind", ""), r.get("category", "")
            try:
                n = int(float(r.get("patients") or 0))
            except ValueError:
                continue
            if category and n:
                if kind == "note":
                    label = "sensitive notes (any)" if category == "any" else f"notes: {category}"
                else:
                    label = "any data (every file)" if category == "any" else category
                out.append((label, n))
        return sorted(out, key=lambda x: -x[1])

    def practices(self, incident: str) -> list[str]:
        root = self.folder(incident) / "practices"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir())

    def pack(self, incident: str, practice: str) -> bytes | None:
        """One practice's pack as a zip (in memory: a pack is a few files)."""
        if not _SAFE.match(practice):
            return None
        folder = self.folder(incident) / "practices" / practice
        if not folder.is_dir():
            return None
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zf.write(path, f"{practice}/{path.relative_to(folder)}")
        return buf.getvalue()

    def persons(self, incident: str, limit: int = 200) -> tuple[list[str], list[list[str]], int]:
        """The notification list (names, contacts, categories): for the DPO, audited."""
        path = self.folder(incident) / "notifications.csv"
        if not path.is_file():
            return [], [], 0
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            rows: list[list[str]] = []
            total = 0
            for row in reader:
                total += 1
                if len(rows) < limit:
                    rows.append(row)
        return header, rows, total

    def generated(self, incident: str) -> datetime | None:
        path = self.folder(incident) / "summary.json"
        return datetime.fromtimestamp(path.stat().st_mtime) if path.is_file() else None
