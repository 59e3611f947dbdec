"""`vigile scope`: wiring only (selection.py, scoping.py, run.py do the work)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from vigile.errors import VigileError


def scope(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the breach file.")],
    events: Annotated[
        list[Path] | None,
        typer.Option("--events", "-e", help="Event files (plain or .gz); `-` reads stdin."),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", "-s", help="Event store made by `vigile ingest`.")
    ] = None,
    context: Annotated[
        Path | None,
        typer.Option("--context", "-c", help="Context directory (patients, annotations...)."),
    ] = None,
    alerts: Annotated[
        Path | None, typer.Option("--alerts", "-a", help="Alerts JSON Lines (`vigile detect`).")
    ] = None,
    incident: Annotated[
        str | None, typer.Option(help="Incident id of the alerts to scope (INTERFACE §3).")
    ] = None,
    actor: Annotated[
        list[str] | None,
        typer.Option("--actor", help="Account to scope: ACTOR or TENANT/ACTOR. Repeatable."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Window start (RFC 3339; default with --alerts: lookback).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Window end (RFC 3339; default: the end of the events).")
    ] = None,
    lookback: Annotated[
        str,
        typer.Option(
            help="With --alerts: open each account's window this long before its first alert."
        ),
    ] = "7d",
    match: Annotated[
        str,
        typer.Option(
            help="account: every request of the accounts in the window (default, cautious); "
            "source: only named sessions/addresses; session: only named sessions."
        ),
    ] = "account",
    session: Annotated[
        list[str] | None, typer.Option("--session", help="Session id to scope. Repeatable.")
    ] = None,
    src_ip: Annotated[
        list[str] | None, typer.Option("--src-ip", help="Source address to scope. Repeatable.")
    ] = None,
    backend: Annotated[str, typer.Option(help="SQL engine: duckdb (default) or spark.")] = "duckdb",
    spark_master: Annotated[str, typer.Option(help="Spark master URL.")] = "local[2]",
    memory: Annotated[
        str | None,
        typer.Option(
            help="Engine memory: DuckDB's limit (e.g. 6GB; default half the RAM, the rest "
            "spills to disk) or Spark's driver memory (e.g. 6g; default 4g)."
        ),
    ] = None,
    note_labels: Annotated[
        Path | None,
        typer.Option(help="Note labels from `vigile notes` (annotation_id,sensitive,categories)."),
    ] = None,
    link: Annotated[
        bool, typer.Option("--link/--no-link", help="Link files into persons (Splink).")
    ] = True,
    link_threshold: Annotated[
        float, typer.Option(help="Link probability at which two files are one person.")
    ] = 0.9,
    detected_at: Annotated[
        str | None,
        typer.Option(help="When the breach was detected (default: the first alert's time)."),
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="Organisation named in the report.")
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="Contact point (DPO) named in the report and letters.")
    ] = None,
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="Report languages (fr, en). Repeatable.")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Render PDFs.")] = True,
    pack_pdf: Annotated[
        str, typer.Option(help="PDFs in the practice packs: auto (≤ 12 practices), all, none.")
    ] = "auto",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Input format: jsonl, nginx, apache or fhir.")
    ] = "jsonl",
    quarantine: Annotated[
        Path | None, typer.Option(help="Where bad lines go (default: OUT/quarantine.jsonl).")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="nginx/Apache `log_format` string (with --events).")
    ] = None,
    route_map: Annotated[
        Path | None, typer.Option(help="Route map turning URLs into events (with --events).")
    ] = None,
    default_tenant: Annotated[
        str | None, typer.Option("--tenant", help="Practice when the input names none.")
    ] = None,
    parser_option: Annotated[
        list[str] | None, typer.Option("--parser-option", help="Parser option KEY=VALUE.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Scope a breach: every patient file and person exposed, the report, the letters.

    From an incident (`--alerts` of `vigile detect`, `--incident ID`) or from
    accounts and a window (`--actor A --since T1 --until T2`). Only served (2xx)
    responses expose data. Writes summary.json, exposed_patients.csv,
    persons.csv, notifications.csv, report.html/.pdf (French) and
    report.en.html/.pdf, and practices/TENANT/ packs into `--out`.

    Examples:

        vigile scope -s var/store -c context/ --alerts alerts.jsonl --incident inc-7f3a -o breach/

        vigile scope -e audit.jsonl.gz -c context/ --actor dr.martin.0042 \\
            --since 2026-03-02T00:00:00+01:00 --until 2026-03-06T00:00:00+01:00 -o breach/
    """
    from vigile.cli import _print_read_summary, err
    from vigile.cli import out as console
    from vigile.scope import selection as sel
    from vigile.scope.run import ScopeOptions, run_scope

    if (events is None) == (store is None):
        raise VigileError("give either --events PATH ... or --store DIR")
    if (alerts is None) == (not actor):
        raise VigileError("give either --alerts FILE (an incident) or --actor ACCOUNT ...")
    if pack_pdf not in ("auto", "all", "none"):
        raise VigileError(f"--pack-pdf {pack_pdf!r}: use auto, all or none")
    languages = tuple(lang or ("fr", "en"))
    for code in languages:
        if code not in ("fr", "en"):
            raise VigileError(f"--lang {code!r}: use fr or en")
    t_since = sel.parse_ts(since, "--since") if since else None
    t_until = sel.parse_ts(until, "--until") if until else None
    if match not in sel.MATCHES:
        raise VigileError(f"--match {match!r}: use one of {', '.join(sel.MATCHES)}")
    if alerts is not None:
        if session or src_ip:
            raise VigileError(
                "--session/--src-ip go with --actor; with --alerts they come from the alerts"
            )
        selection = sel.from_alerts(
            sel.read_alerts(alerts),
            incident=incident,
            since=t_since,
            until=t_until,
            lookback=sel.parse_duration(lookback),
            match=match,  # type: ignore[arg-type]
            source=str(alerts),
        )
    else:
        if incident is not None:
            raise VigileError("--incident goes with --alerts")
        selection = sel.from_actors(
            actor or [],
            since=t_since,
            until=t_until,
            sessions=session or [],
            sources=src_ip or [],
            match=match,  # type: ignore[arg-type]
        )
    parser_options = None
    if events is not None:
        from vigile.cli import _parser_options

        parser_options = _parser_options(log_format, route_map, default_tenant, parser_option)
    options = ScopeOptions(
        selection=selection,
        out=out,
        store=store,
        events=events or (),
        fmt=fmt,
        parser_options=parser_options,
        quarantine=quarantine,
        context=context,
        backend=backend,
        spark_master=spark_master,
        memory=memory,
        note_labels=note_labels,
        link=link,
        threshold=link_threshold,
        detected_at=sel.parse_ts(detected_at, "--detected-at") if detected_at else None,
        organisation=organisation,
        contact=contact,
        languages=languages,
        pdf=pdf,
        pack_pdf="none" if not pdf else pack_pdf,
    )
    quiet = json_out or not sys.stderr.isatty()
    try:
        run = run_scope(options, progress=None if quiet else (lambda m: err.print(f"[dim]{m}[/]")))
    except Exception as e:  # the SQL engine's own failures: one clear line, not a traceback
        from vigile.scope.engine import engine_failure  # pyarrow and jinja2: not at start-up

        failure = engine_failure(e)
        if failure is None:
            raise
        raise failure from None
    summary = run.summary
    if json_out:
        keys = {k: v for k, v in summary.items() if not isinstance(v, dict | list)}
        keys["out"] = str(out)
        sys.stdout.write(orjson.dumps(keys).decode() + "\n")
        return
    if run.read_stats is not None:
        _print_read_summary("scope: events read", run.read_stats, run.seconds, quarantine)
    _print_summary(console, summary, out)


def _print_summary(console: Console, summary: dict[str, object], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"scope → {out}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key in (
        "patients_exposed",
        "persons_exposed",
        "patients_extracted",
        "patients_consulted_only",
        "patients_with_annotations",
        "patients_with_sensitive_annotations",
        "tenants_affected",
        "actors_involved",
        "records_returned",
        "events_in_scope",
        "events_refused",
    ):
        value = summary.get(key)
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    table.add_row("time", f"{summary.get('seconds', 0):.1f} s")
    console.print(table)
    notes = summary.get("notes_classifier")
    if isinstance(notes, dict) and notes.get("placeholder"):
        console.print(
            "[yellow]note sensitivity came from the keyword placeholder (see the report)[/]"
        )
    console.print(f"report: {out / 'report.html'}")


def register(app: typer.Typer) -> None:
    """Add `vigile scope` to the main app."""
    app.command("scope")(scope)
