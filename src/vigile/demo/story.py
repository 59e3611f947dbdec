"""`vigile demo`: the whole story so far, on the embedded default, in about a minute.

Each chapter is a function over the previous one's output, so the story grows
with the product: a world (simulated practices under attack) → watch (ingest
into the event store, bad lines quarantined) → who touched a file (the store's
per-patient look-up) → detect and score, when detection is installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import polars as pl
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from vigile.quarantine import Quarantine
from vigile.store import open_store
from vigile.stream import EventReader

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Demo:
    out: Path
    console: Console
    seed: int = 7
    preset: str = "small"

    @property
    def world(self) -> Path:
        return self.out / "world"

    @property
    def store(self) -> Path:
        return self.out / "store"

    def chapter(self, title: str, text: str) -> None:
        self.console.print()
        self.console.print(Panel(text, title=f"[bold]{title}", title_align="left", width=88))


def build_world(demo: Demo) -> dict[str, object]:
    """Chapter 1: French practices, everyday care, and labelled attacks."""
    from vigile.sim.generate import generate
    from vigile.sim.presets import load_config

    demo.chapter(
        "1. A world to protect",
        "Simulated practices (doctors, secretaries, locums), a fortnight of care, and the "
        "attacks of the 2025 case hidden in it: a campaign over several doctors' accounts, "
        "night-time paging, low-and-slow theft, enumeration, scraping, a stolen token...",
    )
    cfg = load_config(demo.preset, demo.seed, None, [])
    started = time.perf_counter()
    doc = generate(cfg, demo.world, progress=None)
    counts = doc["counts"]
    assert isinstance(counts, dict)
    demo.console.print(
        f"{counts['events']:,} access events, {counts['patient_files']:,} patient files, "
        f"{counts['attacks']} attacks, {counts['benign_cases']} benign hard cases "
        f"({time.perf_counter() - started:.1f} s) → {demo.world}"
    )
    return doc


def watch(demo: Demo) -> None:
    """Chapter 2: every request into the event store; bad lines quarantined, nothing lost."""
    demo.chapter(
        "2. Watch every request",
        "The application's audit events go into vigile's event store (Parquet by day, "
        "queried with DuckDB). A line that is not a valid event is quarantined with its "
        "reason; ingesting the same events again adds nothing.",
    )
    events = demo.world / "events.jsonl"
    # the real world is messy: add a few damaged lines to a copy of the log
    damaged = demo.out / "events-with-damage.jsonl"
    with open(events, "rb") as src, open(damaged, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.write(b'{"ts": "2025-11-10T09:00:00", "tenant": "cab-0001", "actor": "x"}\n')
        dst.write(b"GET /api/v1/patients/P1 HTTP/1.1\n")
        dst.write(
            b'{"ts":"2025-11-10T09:00:01+01:00","tenant":"cab-0001","actor":"dr.x",'
            b'"action":"read","resource":"patient","status":999}\n'
        )
    shutil.rmtree(demo.store, ignore_errors=True)
    store = open_store(demo.store, create=True)
    table = Table(show_header=True, header_style="bold")
    for col in ("run", "read", "accepted", "quarantined", "duplicates", "added", "events/s"):
        table.add_column(col, justify="right" if col != "run" else "left")
    qpath = demo.store / "quarantine.jsonl"
    for run in ("first ingest", "same file again"):
        started = time.perf_counter()
        with Quarantine(qpath, mode="a") as q:
            reader = EventReader([damaged], "jsonl", quarantine=q)
            result = store.append(reader)
        s = reader.stats
        rate = s.read / max(time.perf_counter() - started, 1e-9)
        table.add_row(
            run,
            f"{s.read:,}",
            f"{s.accepted:,}",
            f"{s.quarantined:,}",
            f"{s.duplicates + result.duplicates:,}",
            f"{result.added:,}",
            f"{rate:,.0f}",
        )
    demo.console.print(table)
    first = orjson.loads(qpath.read_bytes().splitlines()[0])
    demo.console.print(f"quarantined, with its reason: line {first['line']}: {first['reason']}")


def who_touched(demo: Demo) -> None:
    """Chapter 3: which accounts touched one patient's file (per-patient look-up)."""
    exposures = pl.read_parquet(demo.world / "truth" / "attack_exposures.parquet")
    campaign = exposures.filter(pl.col("case") == "A001")
    if campaign.is_empty():
        return
    patient = campaign["patient_id"][0]
    demo.chapter(
        "3. Who touched this file?",
        f"Patient {patient} was taken by the campaign. The store answers, from every "
        "stored request, who read their file and when.",
    )
    store = open_store(demo.store)
    started = time.perf_counter()
    rows = store.patient_accesses(patient).to_pylist()
    took = (time.perf_counter() - started) * 1000
    table = Table(title=f"{len(rows)} accesses in {took:.0f} ms", title_justify="left")
    for col in ("ts", "tenant", "actor", "action", "resource", "status"):
        table.add_column(col)
    for row in rows[:12]:
        table.add_row(
            *(str(row[c]) for c in ("ts", "tenant", "actor", "action", "resource", "status"))
        )
    demo.console.print(table)


def detect_and_score(demo: Demo) -> None:
    """Chapter 4: detection on the same stream, scored against the world's truth."""
    if importlib.util.find_spec("vigile.detect.cli") is None:
        demo.chapter("4. Detect", "Detection is not installed in this build yet (issue 4).")
        return
    from typer.testing import CliRunner

    from vigile.cli import app

    demo.chapter(
        "4. Detect abnormal extraction, and say why",
        "The detectors replay the stream exactly as live, with the practices' context "
        "(appointments, panels, VIP files, canaries); the alerts are scored against the truth.",
    )
    alerts = demo.out / "alerts.jsonl"
    runner = CliRunner()
    for args in (
        [
            "detect",
            "--events",
            str(demo.world / "events.jsonl"),
            "--context",
            str(demo.world / "context"),
            "--alerts",
            str(alerts),
        ],
        ["eval", "--world", str(demo.world), "--alerts", str(alerts)],
    ):
        result = runner.invoke(app, args)
        demo.console.print(result.output, markup=False, highlight=False, end="")
        if result.exit_code != 0:
            demo.console.print(f"[red]`vigile {args[0]}` failed ({result.exit_code})")
            return


def stop_it_live(demo: Demo) -> None:
    """Chapter 5: the reference application, protected inline, under real attack over HTTP."""
    if importlib.util.find_spec("vigile.demo.live") is None:
        return
    from vigile.demo.live import run_live

    run_live(demo.out / "live", demo.console, demo.seed, world=demo.world)


def scope_the_breach(demo: Demo) -> None:
    """Chapter 6: the campaign's incident scoped to persons, with the notifications."""
    alerts = demo.out / "alerts.jsonl"
    if importlib.util.find_spec("vigile.scope.cli") is None or not alerts.exists():
        return
    incidents = sorted(
        {
            a["incident"]
            for a in map(orjson.loads, alerts.read_bytes().splitlines())
            if a.get("incident")
        }
    )
    if not incidents:
        return
    from typer.testing import CliRunner

    from vigile.cli import app

    demo.chapter(
        "6. Scope the breach",
        "From the campaign's incident: every record exposed, linked into distinct persons, "
        "which notes were sensitive, and the GDPR art. 33/34 report and letters.",
    )
    result = CliRunner().invoke(
        app,
        [
            "scope",
            "--store",
            str(demo.store),
            "--context",
            str(demo.world / "context"),
            "--alerts",
            str(alerts),
            "--incident",
            incidents[0],
            "--out",
            str(demo.out / "breach"),
        ],
    )
    demo.console.print(result.output, markup=False, highlight=False, end="")
    if result.exit_code != 0:
        demo.console.print(f"[red]`vigile scope` failed ({result.exit_code})")


def show_dashboard(demo: Demo) -> None:
    """Chapter 7: the same story in the analysts' and DPO's dashboard (how to open it)."""
    alerts = demo.out / "alerts.jsonl"
    if importlib.util.find_spec("vigile.web.dashboard") is None or not alerts.exists():
        return
    from vigile.web.dashboard.demo import prepare_demo

    made = prepare_demo(demo.out, demo.world, demo.store, alerts, demo.out / "breach")
    users = "\n".join(f"  {name} ({role}): {pw}" for name, (role, pw) in made.users.items())
    demo.chapter(
        "7. See it in the dashboard",
        f"The {made.alerts:,} alerts went through the shipped policy into a state of their own. "
        f"Start the service with\n\n  {made.command}\n\nthen open {made.url} and sign in "
        f"(passwords shown once):\n{users}",
    )


def run(out: Path, seed: int = 7, preset: str = "small", console: Console | None = None) -> None:
    """Tell the whole story into ``out``."""
    demo = Demo(out=out, console=console or Console(), seed=seed, preset=preset)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_world(demo)
    watch(demo)
    who_touched(demo)
    detect_and_score(demo)
    stop_it_live(demo)
    scope_the_breach(demo)
    show_dashboard(demo)
    demo.console.print(
        f"\n[bold green]done[/] in {time.perf_counter() - started:.0f} s; everything is in {out}"
    )
