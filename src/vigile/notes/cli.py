"""`vigile notes`: wiring only (reading in api.py, rules in classify.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer


def notes_command(
    annotations: Annotated[
        Path,
        typer.Option(
            "--annotations",
            "-a",
            help="annotations.csv (annotation_id,patient_id,tenant,author,created,text).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Labels CSV: annotation_id,sensitive,categories,identifiers..."
        ),
    ],
    evidence: Annotated[
        bool,
        typer.Option("--evidence", help="Add the matched spans and their qualifiers (JSON)."),
    ] = False,
    names: Annotated[
        bool,
        typer.Option(
            "--names/--no-names",
            help="Find third parties' names with spaCy's French NER (slower to start).",
        ),
    ] = True,
    model: Annotated[
        bool,
        typer.Option(
            "--model/--no-model",
            help="When the rules find nothing, ask the statistical back-off (recall).",
        ),
    ] = True,
    language: Annotated[str, typer.Option(help="Language of the notes.")] = "fr",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Find the sensitive notes: health, politics, private life... (INTERFACE §4, §5).

    Each note gets `sensitive` (0/1), its categories (`;`-separated), the kinds
    of identifiers written in it (nir, phone, email, address, person) and, with
    `--evidence`, the words that decided and their qualifiers (negated,
    hypothetical, family, historical). Rows that cannot be read are reported
    with their line and reason, never dropped silently.

    Examples:

        vigile notes --annotations context/annotations.csv --out labels.csv

        vigile notes -a annotations.csv -o labels.csv --evidence --json
    """
    import polars as pl
    from rich.console import Console

    from vigile.context import load_table
    from vigile.errors import InputError
    from vigile.notes.api import classify_notes
    from vigile.notes.terms import CATEGORIES

    console = Console(stderr=True)
    if not annotations.is_file():
        raise InputError(f"{annotations}: annotations file not found")
    table, problems = load_table(annotations, "annotations")
    rejected = [p for p in problems if not p.reason.endswith("(row kept, value left empty)")]
    warnings = [p for p in problems if p not in rejected]
    from vigile.notes.pipeline import get_pipeline

    built = time.perf_counter()
    get_pipeline(language, names)  # built once, timed apart from the reading itself
    build_seconds = time.perf_counter() - built
    started = time.perf_counter()
    cpu_started = time.process_time()
    notes = table.select(pl.col("annotation_id").cast(pl.String), pl.col("text").cast(pl.String))
    if json_out or not sys.stderr.isatty():
        result = classify_notes(notes, names=names, language=language, model=model)
    else:
        result = _with_progress(notes, names, language, console, model)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    columns: list[Any] = [
        pl.col("annotation_id"),
        pl.col("sensitive").cast(pl.Int8),
        pl.col("categories"),
        pl.col("identifiers"),
    ]
    if evidence:
        columns.append(pl.col("evidence"))
    labelled = result.select(columns)
    extra = [c for c in ("patient_id", "tenant") if c in table.columns]
    if extra:  # same rows, same order: who each note is about, for scoping
        labelled = pl.concat([labelled, table.select(extra)], how="horizontal")
    out.parent.mkdir(parents=True, exist_ok=True)
    labelled.write_csv(out)

    per_category = {c: 0 for c in CATEGORIES}
    for cats in result.get_column("categories").to_list():
        for c in cats.split(";") if cats else ():
            per_category[c] += 1
    kinds: dict[str, int] = {}
    for found in result.get_column("identifiers").to_list():
        for k in found.split(";") if found else ():
            kinds[k] = kinds.get(k, 0) + 1
    n = result.height
    summary: dict[str, Any] = {
        "notes": n,
        "sensitive": int(result.get_column("sensitive").sum()),
        "categories": per_category,
        "identifiers": kinds,
        "rejected": len(rejected),
        "warnings": len(warnings),
        "build_seconds": round(build_seconds, 3),
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "notes_per_second": round(n / elapsed, 1) if elapsed > 0 else None,
        "out": str(out),
    }
    if json_out:
        summary["rejected_rows"] = [{"line": r.line, "reason": r.reason} for r in problems[:100]]
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
        return
    _print_summary(summary, problems)


def _with_progress(notes: Any, names: bool, language: str, console: Any, model: bool = True) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vigile.notes.api import classify_notes

    with Progress(
        TextColumn("reading notes"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("notes", total=notes.height)
        return classify_notes(
            notes,
            names=names,
            language=language,
            model=model,
            progress=lambda done: progress.update(task, completed=done),
        )


def _print_summary(summary: dict[str, Any], problems: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    n = summary["notes"]
    table = Table(title="notes", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("read", f"{n:,}")
    share = summary["sensitive"] / n if n else 0.0
    table.add_row("sensitive", f"{summary['sensitive']:,} ({share:.1%})")
    table.add_row("rejected rows", f"{summary['rejected']:,}")
    if summary["warnings"]:
        table.add_row("rows kept with a bad value", f"{summary['warnings']:,}")
    rate = summary["notes_per_second"] or 0
    table.add_row("time", f"{summary['seconds']:.1f} s ({rate:,.0f} notes/s)")
    table.add_row("pipeline start", f"{summary['build_seconds']:.1f} s")
    console.print(table)
    cats = Table(title="notes per category", show_header=False, title_justify="left")
    cats.add_column(style="bold")
    cats.add_column(justify="right")
    for name, count in summary["categories"].items():
        if count:
            cats.add_row(name, f"{count:,}")
    console.print(cats)
    if summary["identifiers"]:
        idt = Table(title="notes with identifiers", show_header=False, title_justify="left")
        idt.add_column(style="bold")
        idt.add_column(justify="right")
        for kind, count in summary["identifiers"].items():
            idt.add_row(kind, f"{count:,}")
        console.print(idt)
    for p in problems[:20]:
        console.print(f"{escape(p.source)}:{p.line}: {escape(p.reason)}", highlight=False)
    if len(problems) > 20:
        console.print(f"... and {len(problems) - 20:,} more rows with a problem")
    console.print(f"labels: {escape(summary['out'])}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `notes` command to the main CLI."""
    app.command("notes")(notes_command)
