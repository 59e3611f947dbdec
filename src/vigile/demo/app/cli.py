"""``vigile app key|seed|serve``: run the reference practice application (wiring only)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["app_commands"]

out = Console()

DbOpt = Annotated[
    str,
    typer.Option(envvar="VIGILE_APP_DB", help="sqlite:///practice.db or postgresql://..."),
]


def key() -> None:
    """Print a new note-encryption key for $VIGILE_APP_NOTE_KEY."""
    from vigile.demo.app.security import new_note_key

    sys.stdout.write(new_note_key() + "\n")


def seed(
    context: Annotated[Path, typer.Option(help="A world's context directory (vigile sim).")],
    passwords: Annotated[
        Path, typer.Option(help="Where the generated account passwords go (0600 CSV).")
    ],
    db: DbOpt = "sqlite:///practice.db",
) -> None:
    """Create the database and fill it from a simulated world's context."""
    from vigile.demo.app.db import Database
    from vigile.demo.app.security import NoteCipher
    from vigile.demo.app.seed import seed as run_seed

    started = time.perf_counter()
    database = Database(db)
    counts = run_seed(database, context, passwords_out=passwords, cipher=NoteCipher())
    database.close()
    out.print(
        ", ".join(f"{v:,} {k}" for k, v in counts.items())
        + f" ({time.perf_counter() - started:.1f} s)"
    )


def serve(
    db: DbOpt = "sqlite:///practice.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    vigile_url: Annotated[
        str | None, typer.Option(envvar="VIGILE_URL", help="The vigile service to ask.")
    ] = None,
    vigile_token: Annotated[
        str | None,
        typer.Option(envvar="VIGILE_APP_TOKEN", help="Token with ingest+decide scopes."),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Trust X-Forwarded-For from these proxies (e.g. 127.0.0.1)."),
    ] = None,
    keep_vigile_headers: Annotated[
        bool, typer.Option(help="Leave X-Vigile-* headers in responses (for an nginx in front).")
    ] = False,
    fail_closed: Annotated[
        bool, typer.Option(help="Refuse (503) when vigile cannot be reached.")
    ] = False,
    timezone: Annotated[str, typer.Option(help="Time zone of the events.")] = "Europe/Paris",
    clock: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Serve the application, protected by vigile when --vigile-url is given."""
    import uvicorn

    from vigile.demo.app.main import AppConfig, create_app
    from vigile.errors import VigileError
    from vigile.respond.clock import parse_clock
    from vigile.respond.enforcer import RemoteEnforcer

    enforcer = None
    if vigile_url:
        if not vigile_token:
            raise VigileError(
                "--vigile-url needs a token ($VIGILE_APP_TOKEN, scopes ingest+decide)"
            )
        enforcer = RemoteEnforcer(vigile_url, vigile_token, fail_open=not fail_closed)
    config = AppConfig(db=db, timezone=timezone, clock=parse_clock(clock))
    application = create_app(config, enforcer=enforcer, strip_headers=not keep_vigile_headers)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # URLs name patients; the access events go to vigile instead
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
    )


def app_commands(group: typer.Typer) -> None:
    """Register the commands on the `vigile app` group."""
    group.command("key")(key)
    group.command("seed")(seed)
    group.command("serve")(serve)
