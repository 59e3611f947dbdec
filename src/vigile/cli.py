"""vigile's command line: each subcommand only wires the stages together.

Every command that reads events takes the same options (``--events``,
``--format``, ``--quarantine``, ``--json``...), prints what it read, accepted
and quarantined, and ends with status 2 and one clear line on a user error.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigile import __version__
from vigile.errors import VigileError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="vigile",
    help=(
        "A guard for patient-record software: watch every request that touches patient "
        "data, detect abnormal extraction, stop it, scope a breach.\n\n"
        "Start with `vigile demo`, or `vigile ingest --events audit.jsonl --store store/`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
store_app = typer.Typer(
    help="Inspect an event store made by `vigile ingest`.", no_args_is_help=True
)
context_app = typer.Typer(
    help="Check context files (actors, patients, appointments...).", no_args_is_help=True
)
app.add_typer(store_app, name="store")
app.add_typer(context_app, name="context")

err = Console(stderr=True)
out = Console()

# ---- shared options -----------------------------------------------------------------
EventsOpt = Annotated[
    list[Path],
    typer.Option(
        "--events", "-e", help="Event files (plain or .gz); `-` reads standard input. Repeatable."
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Input format: jsonl, nginx, apache or fhir.")
]
QuarantineOpt = Annotated[
    Path | None,
    typer.Option(help="Where bad lines go (JSON Lines: source, line, reason, raw)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(help="nginx/Apache `log_format` string, as pasted from the server config."),
]
RouteMapOpt = Annotated[
    Path | None,
    typer.Option(help="Route map (YAML) turning URLs into action, resource, patient ids."),
]
TenantOpt = Annotated[
    str | None, typer.Option(help="Practice to use when the input does not name one.")
]
ParserOpt = Annotated[
    list[str] | None,
    typer.Option("--parser-option", help="Extra parser option KEY=VALUE. Repeatable."),
]
LatenessOpt = Annotated[
    float,
    typer.Option(help="Seconds of event time to wait for out-of-order lines before releasing."),
]
DedupOpt = Annotated[
    float, typer.Option(help="Seconds of event time over which a repeated event_id counts once.")
]


def _fail(message: str) -> None:
    err.print(f"[bold red]vigile: error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry point: run the app, turning user errors into one line and status 2."""
    try:
        app()
    except VigileError as exc:
        _fail(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        if not _engine_interrupted(exc):
            raise
        # DuckDB answers Ctrl-C inside a query with its own exception, not KeyboardInterrupt
        _fail("interrupted")
        sys.exit(130)


def _engine_interrupted(exc: BaseException) -> bool:
    """A query stopped by Ctrl-C (DuckDB raises InterruptException, or a RuntimeError
    "Query interrupted" from a statement run on a connection of its own)."""
    if type(exc).__name__ == "InterruptException":
        return True
    return isinstance(exc, RuntimeError) and str(exc).strip() == "Query interrupted"


def _version(value: bool) -> None:
    if value:
        out.print(f"vigile {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """vigile: watch, detect, stop, scope."""


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Raise the GC threshold while millions of events are built: they form no cycles."""
    old = gc.get_threshold()
    gc.set_threshold(200_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _parser_options(
    log_format: str | None,
    route_map: Path | None,
    default_tenant: str | None,
    extra: list[str] | None,
) -> Any:
    from vigile.parsers import ParserOptions

    pairs: dict[str, str] = {}
    for item in extra or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise VigileError(f"--parser-option expects KEY=VALUE, got {item!r}")
        pairs[key.strip()] = value.strip()
    if route_map is not None:
        from vigile.parsers.routemap import resolve_route_map

        route_map = resolve_route_map(route_map)  # a file, or a shipped map's name
    return ParserOptions(
        log_format=log_format, route_map=route_map, default_tenant=default_tenant, extra=pairs
    )


def _check_inputs(paths: list[Path]) -> None:
    """Fail before any work (and before creating outputs) when an input cannot be read."""
    from vigile.sources import open_source

    for path in paths:
        if str(path) != "-":
            open_source(path).check()


def _warn_unreadable_sources(stats: Any, fmt: str) -> None:
    """Say so when every line of a source was bad: most likely the wrong --format."""
    for name, counts in stats.per_source.items():
        if counts["read"] and counts["quarantined"] == counts["read"]:
            err.print(
                f"[yellow]vigile: warning:[/] none of the {counts['read']:,} lines of "
                f"{escape(name)} could be read as --format {fmt}; is that the right format?",
                highlight=False,
                soft_wrap=True,
            )


def _print_read_summary(
    title: str, counts: dict[str, Any], elapsed: float, quarantine: Path | None
) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key in ("read", "accepted", "quarantined", "skipped", "duplicates", "late", "added"):
        if key in counts:
            table.add_row(key, f"{counts[key]:,}")
    rate = counts.get("read", 0) / elapsed if elapsed > 0 else 0.0
    table.add_row("time", f"{elapsed:.2f} s ({rate:,.0f} lines/s)")
    out.print(table)
    if counts.get("quarantined") and quarantine is not None:
        out.print(f"bad lines and their reasons: {quarantine}")


# ---- ingest ---------------------------------------------------------------------------
@app.command()
def ingest(
    events: EventsOpt,
    store: Annotated[
        Path, typer.Option("--store", "-s", help="Event store directory (created if new).")
    ],
    fmt: FormatOpt = "jsonl",
    quarantine: QuarantineOpt = None,
    json_out: JsonOpt = False,
    log_format: LogFormatOpt = None,
    route_map: RouteMapOpt = None,
    default_tenant: TenantOpt = None,
    parser_option: ParserOpt = None,
    lateness: LatenessOpt = 0.0,  # the store sorts each part: no need to wait
    dedup_window: DedupOpt = 0.0,  # the store removes repeats exactly, in bounded memory
    compact_above: Annotated[
        int,
        typer.Option(help="Afterwards, merge the parts of any day that has more than this many."),
    ] = 16,
) -> None:
    """Append events to the embedded event store (Parquet by day, queried with DuckDB).

    Ingesting the same events twice adds nothing. Bad lines go to the quarantine
    (default: `STORE/quarantine.jsonl`, appended) with their line and reason.

    Examples:

        vigile ingest -e audit-2026-03-02.jsonl.gz -s var/store

        zcat audit-*.jsonl.gz | vigile ingest -e - -s var/store --json

        vigile ingest -f nginx --route-map reference -e /var/log/nginx/access.log -s var/store
    """
    from vigile.quarantine import Quarantine
    from vigile.store import open_store
    from vigile.stream import EventReader

    options = _parser_options(log_format, route_map, default_tenant, parser_option)
    _check_inputs(events)
    target = open_store(store, create=True)
    qpath = quarantine or store / "quarantine.jsonl"
    started = time.perf_counter()
    with Quarantine(qpath, mode="a") as q, _bulk_allocation():
        reader = EventReader(
            events,
            fmt,
            options=options,
            quarantine=q,
            lateness=lateness,
            dedup_window=dedup_window,
        )
        result = target.append_tables(_progress_tables(reader, events, json_out))
    try:
        compacted = target.compact(max_parts=compact_above) if compact_above > 0 else []
    except VigileError as e:
        # the events are stored: regrouping them is maintenance, not the ingest
        err.print(f"[yellow]warning:[/] {escape(str(e))}")
        compacted = []
    elapsed = time.perf_counter() - started
    _warn_unreadable_sources(reader.stats, fmt)
    counts: dict[str, Any] = {
        k: v for k, v in reader.stats.as_dict().items() if k not in ("per_source", "bytes")
    }
    counts["duplicates"] += result.duplicates
    counts["added"] = result.added
    counts["days_compacted"] = len(compacted)
    if json_out:
        counts.update(store=str(store), quarantine=str(qpath), seconds=round(elapsed, 3))
        sys.stdout.write(orjson.dumps(counts).decode() + "\n")
    else:
        _print_read_summary(f"ingest → {store}", counts, elapsed, qpath)


def _progress_tables(reader: Any, paths: list[Path], quiet: bool) -> Iterator[Any]:
    """The reader's event tables, with a progress bar over input bytes on a terminal."""
    total = sum(p.stat().st_size for p in paths if str(p) != "-" and p.is_file())
    if quiet or not err.is_terminal or total == 0:
        yield from reader.tables()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("reading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[lines]:,} events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("read", total=total, lines=0)
        n = 0
        for table in reader.tables():
            n += table.num_rows
            done = sum(getattr(s, "bytes_read", 0) for s in reader.sources)
            bar.update(task, completed=done, lines=n)
            yield table


# ---- convert --------------------------------------------------------------------------
@app.command()
def convert(
    events: EventsOpt,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Interface JSON Lines output (`-`: stdout).")
    ],
    fmt: FormatOpt = "jsonl",
    quarantine: QuarantineOpt = None,
    json_out: JsonOpt = False,
    log_format: LogFormatOpt = None,
    route_map: RouteMapOpt = None,
    default_tenant: TenantOpt = None,
    parser_option: ParserOpt = None,
    lateness: LatenessOpt = 30.0,
    dedup_window: DedupOpt = 3600.0,
) -> None:
    """Turn any supported log (nginx, Apache, FHIR...) into interface JSON Lines events."""
    from vigile.parsers.jsonl import render_jsonl
    from vigile.quarantine import Quarantine
    from vigile.stream import EventReader

    options = _parser_options(log_format, route_map, default_tenant, parser_option)
    qpath = quarantine or (
        Path("quarantine.jsonl")
        if str(out_path) == "-"
        else out_path.with_suffix(".quarantine.jsonl")
    )
    started = time.perf_counter()
    sink = sys.stdout.buffer if str(out_path) == "-" else open(out_path, "wb")  # noqa: SIM115
    try:
        with Quarantine(qpath) as q:
            reader = EventReader(
                events,
                fmt,
                options=options,
                quarantine=q,
                lateness=lateness,
                dedup_window=dedup_window,
            )
            for event in reader:
                sink.write(render_jsonl(event) + b"\n")
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
    elapsed = time.perf_counter() - started
    _warn_unreadable_sources(reader.stats, fmt)
    counts = {k: v for k, v in reader.stats.as_dict().items() if k not in ("per_source", "bytes")}
    if json_out:
        counts.update(out=str(out_path), quarantine=str(qpath), seconds=round(elapsed, 3))
        # with --out -, stdout carries the events: the summary goes to stderr
        stream = sys.stderr if str(out_path) == "-" else sys.stdout
        stream.write(orjson.dumps(counts).decode() + "\n")
    elif str(out_path) != "-":
        _print_read_summary(f"convert → {out_path}", counts, elapsed, qpath)


# ---- schema, formats -------------------------------------------------------------------
@app.command()
def schema(
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of an access event (INTERFACE §1)."""
    from vigile.schema import access_event_schema

    text = orjson.dumps(access_event_schema(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if out_path is None:
        sys.stdout.write(text)
    else:
        out_path.write_text(text)


@app.command()
def formats() -> None:
    """List the input formats `--format` accepts."""
    from vigile.parsers import PARSERS

    for name, target in PARSERS.items():
        out.print(f"{name:8} {target}")


# ---- store -----------------------------------------------------------------------------
StoreArg = Annotated[Path, typer.Option("--store", "-s", help="Event store directory.")]


@store_app.command("info")
def store_info(store: StoreArg, json_out: JsonOpt = False) -> None:
    """Events, days and size of a store."""
    from dataclasses import asdict

    from vigile.store import open_store

    info = asdict(open_store(store).info())
    if json_out:
        sys.stdout.write(orjson.dumps(info).decode() + "\n")
        return
    table = Table(title=f"store {store}", show_header=False, title_justify="left")
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    out.print(table)


@store_app.command("compact")
def store_compact(
    store: StoreArg,
    max_parts: Annotated[int, typer.Option(help="Merge days holding more parts than this.")] = 1,
) -> None:
    """Merge each day's parts into one file: same rows, faster look-ups."""
    from vigile.store import open_store

    days = open_store(store).compact(max_parts=max_parts)
    out.print(f"compacted {len(days)} day(s)" + (f": {', '.join(days)}" if days else ""))


@store_app.command("patient")
def store_patient(
    patient_id: Annotated[str, typer.Argument(help="The patient id to look up.")],
    store: StoreArg,
    json_out: JsonOpt = False,
    limit: Annotated[int, typer.Option(help="Rows to show (all with --json).")] = 50,
) -> None:
    """Every stored access that carried one patient's data, in time order."""
    from vigile.store import open_store

    started = time.perf_counter()
    rows = open_store(store).patient_accesses(patient_id).to_pylist()
    elapsed = time.perf_counter() - started
    if json_out:
        sys.stdout.write(orjson.dumps({"patient_id": patient_id, "accesses": rows}).decode() + "\n")
        return
    table = Table(
        title=f"{len(rows):,} accesses to {patient_id} ({elapsed * 1000:.0f} ms)",
        title_justify="left",
    )
    for col in ("ts", "tenant", "actor", "action", "resource", "status"):
        table.add_column(col)
    for row in rows[:limit]:
        table.add_row(
            *(str(row[c]) for c in ("ts", "tenant", "actor", "action", "resource", "status"))
        )
    out.print(table)


# ---- context ---------------------------------------------------------------------------
@context_app.command("check")
def context_check(
    directory: Annotated[Path, typer.Argument(help="The context directory.")],
    json_out: JsonOpt = False,
) -> None:
    """Load every context file, print row counts, and list rows that could not be read."""
    from vigile.context import SPECS, load_context

    ctx = load_context(directory)
    counts = {name: ctx.table(name).height for name in SPECS if name in ctx.present}
    problems = [{"source": r.source, "line": r.line, "reason": r.reason} for r in ctx.rejected]
    if json_out:
        sys.stdout.write(orjson.dumps({"rows": counts, "problems": problems}).decode() + "\n")
        return
    table = Table(title=f"context {directory}", title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(SPECS[name].file, f"{n:,}")
    out.print(table)
    for p in problems[:50]:
        out.print(f"{p['source']}:{p['line']}: {p['reason']}", highlight=False)
    if len(problems) > 50:
        out.print(f"... and {len(problems) - 50:,} more")


#: Modules that add their own subcommands through ``register(app)``.
_COMMAND_MODULES = (
    "vigile.sim.cli",
    "vigile.detect.cli",
    "vigile.scope.cli",
    "vigile.notes.cli",
    "vigile.web.cli",
    "vigile.web.dashboard.cli",
    "vigile.demo.cli",
)


def _register_commands() -> None:
    """Wire the subcommands whose modules live with their stage (sim, detect, ...)."""
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # the stage is not there (yet): fine; a missing import inside it is a bug
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
            continue
        module.register(app)


_register_commands()
