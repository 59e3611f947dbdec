"""`vigile demo`: wiring only (see story.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the demo writes its files.")
    ] = Path("build/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 7,
    preset: Annotated[str, typer.Option(help="World size: small or medium.")] = "small",
) -> None:
    """The whole story on the embedded default: a world under attack, watched, scoped."""
    from vigile.demo.story import run

    run(out, seed=seed, preset=preset)


def register(app: typer.Typer) -> None:
    """Add `vigile demo` to the main app."""
    app.command("demo")(demo)
