"""`vigile sim` and `vigile eval`: wiring only (see generate.py and eval.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

Severity = ("low", "medium", "high", "critical")


def sim_command(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory to write the world into.")
    ] = None,
    preset: Annotated[str, typer.Option(help="small | medium | seed")] = "small",
    seed: Annotated[
        int | None, typer.Option(help="Random seed (default: the preset's, 42).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of overrides.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override, e.g. attacks.campaign.accounts=20 (repeatable)."),
    ] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write events.jsonl.gz.")] = False,
    stats: Annotated[bool, typer.Option("--stats", help="Print the world's statistics.")] = False,
    world: Annotated[
        Path | None, typer.Option("--world", help="With --stats: an existing world to describe.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Generate a simulated world: events, context CSVs and the truth."""
    from vigile.sim.config import parse_assignment
    from vigile.sim.presets import load_config
    from vigile.sim.stats import print_stats

    console = Console(stderr=True)
    if world is not None:
        doc = json.loads((world / "world.json").read_text(encoding="utf-8"))
        print_stats(doc, Console())
        return
    if out is None:
        raise typer.BadParameter("--out is required (or --world with --stats)")
    try:
        cfg = load_config(preset, seed, config, [parse_assignment(s) for s in set_ or []])
    except (ValueError, OSError) as e:
        raise typer.BadParameter(str(e)) from e
    if gzip:
        cfg.gzip = True
    from vigile.sim.generate import generate

    t0 = time.perf_counter()
    doc = generate(cfg, out, progress=None if quiet else (lambda m: console.print(f"[dim]{m}[/]")))
    took = time.perf_counter() - t0
    n = doc["counts"]["events"]
    if not quiet:
        console.print(
            f"wrote {n:,} events, {doc['counts']['patient_files']:,} patient files, "
            f"{doc['counts']['attacks']} attacks, {doc['counts']['benign_cases']} benign "
            f"cases to {out} in {took:.1f} s ({n / max(took, 1e-9):,.0f} events/s)"
        )
    if stats:
        print_stats(doc, Console())


def eval_command(
    world: Annotated[Path, typer.Option("--world", help="A world written by `vigile sim`.")],
    alerts: Annotated[Path, typer.Option("--alerts", help="Alerts JSON Lines (INTERFACE §3).")],
    min_severity: Annotated[
        str, typer.Option(help="Lowest severity that counts as detection.")
    ] = "medium",
    blocking_severity: Annotated[
        str, typer.Option(help="Severity at which access would be blocked.")
    ] = "high",
    grace_hours: Annotated[
        float, typer.Option(help="Alerts up to this long after an attack's end still count.")
    ] = 24.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here.")
    ] = None,
) -> None:
    """Score an alert file against a world's truth."""
    from vigile.sim.eval import evaluate, print_report

    for name, v in (("--min-severity", min_severity), ("--blocking-severity", blocking_severity)):
        if v not in Severity:
            raise typer.BadParameter(f"{name} must be one of {', '.join(Severity)}")
    if not (world / "world.json").exists():
        raise typer.BadParameter(f"{world} has no world.json (not a simulated world)")
    if not alerts.exists():
        raise typer.BadParameter(f"{alerts} does not exist")
    report = evaluate(world, alerts, min_severity, blocking_severity, grace_hours)
    print_report(report, Console())
    if json_out is not None:
        json_out.write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def register(app: typer.Typer) -> None:
    """Add the `sim` and `eval` commands to the main CLI."""
    app.command("sim")(sim_command)
    app.command("eval")(eval_command)


def main() -> None:
    """`python -m vigile.sim` entry point."""
    app = typer.Typer(
        add_completion=False, no_args_is_help=True, help="vigile simulated world and evaluation"
    )
    register(app)
    app()
