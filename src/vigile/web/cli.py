"""``vigile serve``, ``vigile token ...``, ``vigile policy check`` and ``vigile app ...``.

Wiring only: each command builds the objects of :mod:`vigile.respond`,
:mod:`vigile.web` or :mod:`vigile.demo.app` and runs them.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from vigile.errors import VigileError

__all__ = ["register"]

out = Console()
err = Console(stderr=True)

StateOpt = Annotated[
    str,
    typer.Option(
        "--state",
        envvar="VIGILE_STATE",
        help="Decision state: sqlite:///path.db (default) or postgresql://user@host/db.",
    ),
]
_DEFAULT_STATE = "sqlite:///vigile-state.db"

token_app = typer.Typer(
    help="API tokens of `vigile serve` (scoped, stored hashed).", no_args_is_help=True
)
policy_app = typer.Typer(help="Response policies (alerts → decisions).", no_args_is_help=True)
app_app = typer.Typer(
    help="The reference practice application vigile protects.", no_args_is_help=True
)


def _logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("vigile")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8740,
    state: StateOpt = _DEFAULT_STATE,
    policy: Annotated[
        Path | None, typer.Option(help="Response policy (default: policies/default.yaml).")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="Detection rules directory.")] = None,
    context: Annotated[
        Path | None, typer.Option(help="Context directory (actors, patients, appointments...).")
    ] = None,
    detect: Annotated[
        bool, typer.Option(help="Run the detection engine on ingested events.")
    ] = True,
    store: Annotated[
        Path | None, typer.Option(help="Also append ingested events to this event store.")
    ] = None,
    redis: Annotated[
        str | None,
        typer.Option(envvar="VIGILE_REDIS", help="Redis URL: share decisions between servers."),
    ] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Where bad lines go (JSON Lines, appended).")
    ] = None,
    tail: Annotated[
        list[str] | None,
        typer.Option(
            help="Follow a log file: PATH or FORMAT:PATH (nginx:/var/log/...). Repeatable."
        ),
    ] = None,
    route_map: Annotated[
        Path | None, typer.Option(help="Route map for nginx/Apache lines (default: reference).")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Detection checkpoint: restored at start, saved regularly.")
    ] = None,
    history: Annotated[
        list[Path] | None,
        typer.Option(help="Events replayed through detection before serving (baselines only)."),
    ] = None,
    clock: Annotated[
        str | None, typer.Option(hidden=True, help="Demo clock VIRTUAL@WALLxSPEED.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Run the service: ingest API, live detection, decisions for enforcers (nginx, middleware).

    `GET /health` answers without credentials; every other endpoint needs a token
    made with `vigile token create` (same `--state`). See docs/serve.md.

    Examples:

        vigile token create --name edge --scope decide --scope ingest

        vigile serve --context world/context --tail nginx:/var/log/nginx/vigile.log
    """
    import uvicorn

    from vigile.web.api import create_app
    from vigile.web.service import ServeConfig, Service

    _logging(log_level)
    tails: list[tuple[Path, str]] = []
    for item in tail or []:
        fmt, sep, path = item.partition(":")
        if not sep or fmt not in ("jsonl", "nginx", "apache", "fhir"):
            fmt, path = "jsonl", item
        tails.append((Path(path), fmt))
    config = ServeConfig(
        state=state,
        policy=policy,
        rules=rules,
        context=context,
        detect=detect,
        store=store,
        redis=redis,
        quarantine=quarantine,
        tail=tails,
        route_map=route_map,
        checkpoint=checkpoint,
        history=list(history or []),
        clock=clock,
    )
    service = Service(config)
    extend = []
    try:  # the dashboard (issue 8) mounts itself when it is installed
        from vigile.web.dashboard import mount  # type: ignore[import-not-found, unused-ignore]

        extend.append(mount)
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("vigile.web.dashboard"):
            raise
    uvicorn.run(
        create_app(service, extend=extend),
        host=host,
        port=port,
        log_level=log_level if log_level != "info" else "warning",
        access_log=False,  # URIs carry patient ids: vigile's own logs never do
        lifespan="on",
        server_header=False,
    )


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who uses it (nginx-edge, app-server-1...).")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="ingest, decide, read or admin. Repeatable.")
    ],
    state: StateOpt = _DEFAULT_STATE,
    expires: Annotated[
        str | None, typer.Option(help="Expiry: a date or RFC 3339 time (default: never).")
    ] = None,
) -> None:
    """Create a token and print it once (only its keyed hash is stored).

    Set VIGILE_TOKEN_PEPPER to the same secret for this command and for `vigile serve`.
    """
    from vigile.respond.policy import parse_until
    from vigile.respond.state import open_state
    from vigile.web.auth import PEPPER_ENV, create_token, pepper_from_env

    until = None
    if expires:
        try:
            until = parse_until(expires)
        except ValueError as exc:
            raise VigileError(f"--expires: {exc}") from None
    if not pepper_from_env():
        err.print(
            f"[yellow]warning:[/] {PEPPER_ENV} is not set; tokens are hashed without "
            "a secret pepper"
        )
    token, rec = create_token(open_state(state), name, scope, now=time.time(), expires=until)
    err.print(f"token {rec.id} ({rec.name}: {', '.join(rec.scopes)}) — shown once:")
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list(
    state: StateOpt = _DEFAULT_STATE, json_out: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """List tokens (never the tokens themselves)."""
    from vigile.respond.state import iso, open_state

    rows = [
        {
            "id": t.id,
            "name": t.name,
            "scopes": t.scopes,
            "created": iso(t.created),
            "expires": iso(t.expires),
            "revoked": iso(t.revoked),
            "last_used": iso(t.last_used),
        }
        for t in open_state(state).tokens()
    ]
    if json_out:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(title="tokens", title_justify="left")
    for col in ("id", "name", "scopes", "created", "expires", "revoked", "last_used"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(", ".join(v) if isinstance(v, list) else str(v or "") for v in r.values()))
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id or name.")],
    state: StateOpt = _DEFAULT_STATE,
) -> None:
    """Revoke a token (the service refuses it within seconds)."""
    from vigile.respond.state import open_state

    st = open_state(state)
    if not st.revoke_token(token_id, time.time()):
        raise VigileError(f"no live token {token_id!r}")
    st.audit("cli", "token-revoke", {"token": token_id}, time.time())
    out.print(f"revoked {token_id}")


@policy_app.command("check")
def policy_check(
    paths: Annotated[list[Path], typer.Argument(help="Policy files.")],
) -> None:
    """Validate policy files; every problem is listed with its file:line."""
    from vigile.errors import ConfigError
    from vigile.respond.policy import load_policy

    problems: list[str] = []
    for path in paths:
        try:
            policy = load_policy(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        out.print(
            f"{path}: {len(policy.rules)} rules, {len(policy.allowlist)} allowlist entries"
            + (" (simulation mode)" if policy.simulation else "")
        )
    if problems:
        raise ConfigError(problems)


@policy_app.command("show")
def policy_show(
    path: Annotated[Path | None, typer.Argument(help="Policy file (default: shipped).")] = None,
) -> None:
    """Show a policy as a table: match → decision, scope, duration, escalation."""
    from vigile.respond.policy import load_policy

    policy = load_policy(path)
    table = Table(
        title=f"{policy.file}" + (" — SIMULATION" if policy.simulation else ""),
        title_justify="left",
    )
    for col in ("rule", "match", "decision", "scope", "duration", "escalation"):
        table.add_column(col)
    for r in policy.rules:
        match = []
        if r.severities:
            match.append("severity " + "|".join(sorted(r.severities)))
        if r.detectors:
            match.append("detector " + "|".join(r.detectors))
        if r.incident is not None:
            match.append("incident" if r.incident else "no incident")
        if r.tags:
            match.append("tags " + "|".join(sorted(r.tags)))
        esc = "; ".join(
            f"≥{e.after}: {e.decision} {e.scope}{' (not known places)' if e.except_places else ''}"
            f" {e.duration / 3600:g}h"
            for e in r.escalation
        )
        table.add_row(
            r.id + (" (sim)" if r.simulation else ""),
            ", ".join(match) or "every alert",
            r.decision + (f" {r.rate}" if r.rate else ""),
            r.scope + (" (not known places)" if r.except_places else ""),
            f"{r.duration / 3600:g}h" if r.duration else "",
            esc,
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `serve`, `token`, `policy` and `app` to the main CLI."""
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    app.add_typer(policy_app, name="policy")
    try:
        from vigile.demo.app.cli import app_commands
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("vigile.demo.app"):
            raise
        return
    app_commands(app_app)
    app.add_typer(app_app, name="app")
