"""`vigile detect`, `vigile rules list|check`, `vigile explain`: wiring only."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
import typer

RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", "-r", help="Rule files or directories (default: the shipped rules/)."),
]
ContextOpt = Annotated[
    Path | None, typer.Option("--context", "-c", help="Context directory (INTERFACE §2).")
]
StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", "-s", help="Read events from a store made by `vigile ingest`."),
]


def _cli() -> Any:
    import vigile.cli as main_cli

    return main_cli


def detect_command(
    alerts: Annotated[
        Path, typer.Option("--alerts", "-a", help="Alerts JSON Lines to write (`-`: stdout).")
    ],
    events: Annotated[
        list[Path] | None,
        typer.Option(
            "--events", "-e", help="Event files (plain or .gz); `-` reads standard input."
        ),
    ] = None,
    store: StoreOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="jsonl, nginx, apache or fhir.")
    ] = "jsonl",
    context: ContextOpt = None,
    note_labels: Annotated[
        Path | None,
        typer.Option(
            help="Note labels from `vigile notes` (annotation_id,sensitive,categories): "
            "patients with sensitive notes (default: note_labels.csv in the context, if any)."
        ),
    ] = None,
    rules: RulesOpt = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="State file: resumed from if it exists, written at the end (a long replay "
            "restarts without re-learning)."
        ),
    ] = None,
    append: Annotated[
        bool, typer.Option(help="Append to the alerts file instead of replacing it.")
    ] = False,
    incidents: Annotated[
        Path | None,
        typer.Option(help="Also write the incidents (campaigns) formed: id, time, accounts."),
    ] = None,
    quarantine: Annotated[Path | None, typer.Option(help="Where bad lines go.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    log_format: Annotated[str | None, typer.Option(help="nginx/Apache `log_format`.")] = None,
    route_map: Annotated[
        Path | None, typer.Option(help="Route map (YAML) for access logs.")
    ] = None,
    default_tenant: Annotated[
        str | None, typer.Option(help="Practice when the input names none.")
    ] = None,
    parser_option: Annotated[
        list[str] | None, typer.Option("--parser-option", help="Parser option KEY=VALUE.")
    ] = None,
    lateness: Annotated[
        float, typer.Option(help="Seconds of event time to wait for late lines.")
    ] = 30.0,
    dedup_window: Annotated[
        float, typer.Option(help="Seconds over which an event_id counts once (0: off).")
    ] = 3600.0,
) -> None:
    """Replay events in time order through the detectors and write alerts (INTERFACE §3).

    No look-ahead and no wall clock: the same input gives the same alerts as the live
    stream. Prints what was read and the alerts by severity and rule.
    """
    from vigile.detect.context_index import ContextIndex
    from vigile.detect.engine import Engine
    from vigile.detect.rules import load_rules
    from vigile.errors import VigileError
    from vigile.quarantine import Quarantine

    main = _cli()
    if (events is None) == (store is None):
        raise VigileError("give either --events PATH... or --store DIR")
    ruleset = load_rules(rules or None)
    started = time.perf_counter()
    index = ContextIndex.load(context, note_labels=note_labels)
    engine = Engine(ruleset, index)
    # the context and rules live as long as the process: keep them out of the collector's way
    gc.collect()
    gc.freeze()
    resumed = False
    same_rules = True
    if checkpoint is not None and checkpoint.exists():
        same_rules = engine.load(str(checkpoint))
        resumed = True
    counts: dict[str, Any]
    out_path = str(alerts)
    sink = sys.stdout.buffer if out_path == "-" else open(alerts, "ab" if append else "wb")  # noqa: SIM115
    encode = msgspec.json.Encoder().encode
    qpath: Path | None = None
    try:
        if store is not None:
            from vigile.store import open_store

            stream = open_store(store).scan()
            for alert in engine.run(stream):
                sink.write(encode(alert) + b"\n")
            n = engine.n_events + engine.stats.skipped_before_watermark
            counts = {
                "read": n,
                "accepted": n,
                "quarantined": 0,
                "skipped": 0,
                "duplicates": 0,
                "late": 0,
            }
        else:
            from vigile.detect.reader import ReplayReader

            assert events is not None
            main._check_inputs(events)
            options = main._parser_options(log_format, route_map, default_tenant, parser_option)
            qpath = quarantine or (
                Path("quarantine.jsonl")
                if out_path == "-"
                else alerts.with_suffix(".quarantine.jsonl")
            )
            with Quarantine(qpath) as q, main._bulk_allocation():
                reader = ReplayReader(
                    events,
                    fmt,
                    options=options,
                    quarantine=q,
                    lateness=lateness,
                    dedup_window=dedup_window,
                )
                for alert in engine.run(reader):
                    sink.write(encode(alert) + b"\n")
            counts = {
                k: v for k, v in reader.stats.as_dict().items() if k not in ("per_source", "bytes")
            }
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
        else:
            sink.flush()
    if checkpoint is not None:
        engine.save(str(checkpoint))
    if incidents is not None:
        _write_incidents(incidents, engine.incidents())
    elapsed = time.perf_counter() - started
    report = engine.report()
    summary: dict[str, Any] = {
        **counts,
        "events": report["events"],
        "alerts": report["alerts"],
        "by_severity": report["by_severity"],
        "by_detector": report["by_detector"],
        "by_rule": report["by_rule"],
        "incidents": len(engine.incidents()),
        "suppressed": engine.sink.suppressed,
        "context_rejected": len(index.rejected),
        "sensitive_note_patients": len(index.sensitive_notes),
        "state": engine.state_sizes(),
        "seconds": round(elapsed, 3),
        "alerts_file": out_path,
    }
    if qpath is not None:
        summary["quarantine"] = str(qpath)
    if checkpoint is not None:
        summary.update(
            checkpoint=str(checkpoint),
            resumed=resumed,
            skipped_before_checkpoint=report["skipped_before_watermark"],
        )
        if not same_rules:
            summary["checkpoint_note"] = "the checkpoint was made with other rules or settings"
    if json_out:
        stream_out = sys.stderr if out_path == "-" else sys.stdout
        stream_out.write(orjson.dumps(summary).decode() + "\n")
        return
    if out_path == "-":
        return
    _print_summary(summary, elapsed)


def _write_incidents(path: Path, found: dict[str, dict[str, Any]]) -> None:
    """One JSON line per incident: id, when it formed (UTC), its accounts."""
    from datetime import UTC, datetime

    with open(path, "wb") as fh:
        for ident, inc in sorted(found.items(), key=lambda kv: (kv[1]["formed"], kv[0])):
            formed = datetime.fromtimestamp(inc["formed"], UTC).isoformat(timespec="milliseconds")
            row = {
                "incident": ident,
                "formed": formed,
                "accounts": [{"tenant": t, "actor": a} for t, a in inc["members"]],
                "tenants": len({t for t, _ in inc["members"]}),
                "rule": inc.get("rule", "campaign"),
            }
            fh.write(orjson.dumps(row) + b"\n")


def _print_summary(summary: dict[str, Any], elapsed: float) -> None:
    from rich.table import Table

    main = _cli()
    q = summary.get("quarantine")
    main._print_read_summary(
        f"detect → {summary['alerts_file']}", summary, elapsed, Path(q) if q else None
    )
    table = Table(title=f"{summary['alerts']:,} alerts", title_justify="left")
    table.add_column("rule")
    levels = ("low", "medium", "high", "critical")
    for sev in levels:
        table.add_column(sev, justify="right")
    for rule, row in summary["by_rule"].items():
        table.add_row(rule, *(f"{row[s]:,}" if row.get(s) else "" for s in levels))
    main.out.print(table)
    sev = ", ".join(f"{k}: {v:,}" for k, v in summary["by_severity"].items()) or "none"
    main.out.print(f"by severity: {sev}; incidents: {summary['incidents']}")
    if summary.get("checkpoint_note"):
        main.out.print(f"[yellow]{summary['checkpoint_note']}[/]")


# ---- rules -------------------------------------------------------------------------------
rules_app = typer.Typer(help="List and check detection rules (YAML).", no_args_is_help=True)


@rules_app.command("list")
def rules_list(
    rules: Annotated[list[Path] | None, typer.Argument(help="Rule files or directories.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The rules, with their detector, severity, risk, window and tags."""
    from rich.table import Table

    from vigile.detect.rules import load_rules

    ruleset = load_rules(rules or None, include_disabled=True)
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "detector": r.detector + (f"/{r.mode}" if r.mode else ""),
            "severity": r.severity if not r.bands else {s: t for t, s in r.bands},
            "risk": r.risk,
            "window_s": r.window,
            "cooldown_s": r.cooldown,
            "simulation": r.simulation,
            "tags": {k: list(v) for k, v in r.tags.items()},
            "title": r.title,
        }
        for r in ruleset.rules.values()
    ]
    main = _cli()
    if json_out:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(title=f"{len(rows)} rules ({ruleset.directory or 'files'})", title_justify="left")
    for col in ("id", "detector", "severity", "risk", "window", "sim", "tags"):
        table.add_column(col)
    for row in rows:
        sev = row["severity"]
        table.add_row(
            row["id"],
            row["detector"],
            sev if isinstance(sev, str) else " ".join(f"{k}≥{v:g}" for k, v in sev.items()),
            f"{row['risk']:g}" if row["risk"] else "",
            _dur(row["window_s"]),
            "yes" if row["simulation"] else "",
            " ".join(t for v in row["tags"].values() for t in v),
        )
    main.out.print(table)


def _dur(s: float | None) -> str:
    if not s:
        return ""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n and s % n == 0:
            return f"{s / n:g}{unit}"
    return f"{s:g}s"


@rules_app.command("check")
def rules_check(
    rules: Annotated[list[Path] | None, typer.Argument(help="Rule files or directories.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate rules: every problem with its file:line; each rule needs its .md beside it."""
    from vigile.detect.rules import load_rules
    from vigile.errors import ConfigError

    problems: list[str] = []
    try:
        ruleset = load_rules(rules or None, include_disabled=True)
    except ConfigError as exc:
        problems = exc.problems
        ruleset = None
    if ruleset is not None:
        for r in ruleset.rules.values():
            if r.doc is None:
                problems.append(
                    f"{r.path}:1: no {Path(r.path).with_suffix('.md').name} beside the rule"
                )
    main = _cli()
    if json_out:
        n = len(ruleset) if ruleset is not None else 0
        sys.stdout.write(orjson.dumps({"rules": n, "problems": problems}).decode() + "\n")
    if problems:
        raise ConfigError(problems)
    if not json_out:
        assert ruleset is not None
        main.out.print(
            f"{len(ruleset)} rules OK ({ruleset.directory or 'files'}; "
            f"settings {ruleset.settings_path})"
        )


# ---- explain -----------------------------------------------------------------------------
def explain_command(
    alert_id: Annotated[str, typer.Argument(help="The alert_id to explain.")],
    alerts: Annotated[Path, typer.Option("--alerts", "-a", help="The alerts file.")],
    events: Annotated[
        list[Path] | None, typer.Option("--events", "-e", help="Event files.")
    ] = None,
    store: StoreOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="jsonl, nginx, apache or fhir.")
    ] = "jsonl",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="Events to show (all with --json).")] = 40,
    show_patients: Annotated[
        bool, typer.Option(help="Show patient ids (default: counts).")
    ] = False,
) -> None:
    """Show an alert's reasons and the events behind it (its samples and the account's window)."""
    from vigile.detect.explain import explain, print_explanation
    from vigile.errors import VigileError

    if (events is None) == (store is None):
        raise VigileError("give either --events PATH... or --store DIR")
    result = explain(alert_id, alerts, events=events, store=store, fmt=fmt)
    if not show_patients:
        for e in result["events"]:
            e["patients"] = len(e.pop("patient_ids", []) or [])
    if json_out:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    print_explanation(result, _cli().out, limit)


def register(app: typer.Typer) -> None:
    """Add `detect`, `rules` and `explain` to the main CLI."""
    app.command("detect")(detect_command)
    app.add_typer(rules_app, name="rules")
    app.command("explain")(explain_command)
