"""``vigile users add|list|disable``: the dashboard's local users (wiring only)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from vigile.errors import VigileError

__all__ = ["register"]

out = Console()
err = Console(stderr=True)

users_app = typer.Typer(
    help="Dashboard users (roles analyst, dpo, admin; passwords hashed with scrypt).",
    no_args_is_help=True,
)

StateOpt = Annotated[
    str,
    typer.Option(
        "--state",
        envvar="VIGILE_STATE",
        help="Decision state of `vigile serve`: sqlite:///path.db or postgresql://...",
    ),
]
_DEFAULT_STATE = "sqlite:///vigile-state.db"


def _store(state: str) -> object:
    from vigile.respond.state import open_state
    from vigile.web.users import UserStore

    return UserStore(open_state(state))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: Annotated[str, typer.Option(help="analyst, dpo or admin.")] = "analyst",
    state: StateOpt = _DEFAULT_STATE,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user; the password is asked twice (or read from stdin), never an argument.

    Example: `vigile users add dpo.durand --role dpo --state sqlite:///var/vigile.db`
    """
    from vigile.web.users import ROLES, UserStore

    if role not in ROLES:
        raise VigileError(f"--role must be one of {', '.join(ROLES)} (got {role!r})")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise VigileError("the two passwords differ")
    store = _store(state)
    assert isinstance(store, UserStore)
    user = store.add(name, role, password)
    out.print(f"user {user.name} ({user.role}) added")


@users_app.command("list")
def users_list(
    state: StateOpt = _DEFAULT_STATE,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users: name, role, created, last sign-in, disabled."""
    from vigile.respond.state import iso
    from vigile.web.users import UserStore

    store = _store(state)
    assert isinstance(store, UserStore)
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "created": iso(u.created),
            "last_login": iso(u.last_login),
            "disabled": iso(u.disabled),
        }
        for u in store.all()
    ]
    if json_out:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(title="dashboard users", title_justify="left")
    for col in ("name", "role", "created", "last_login", "disabled"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v or "") for v in r.values()))
    out.print(table)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable (its sessions end at once).")],
    state: StateOpt = _DEFAULT_STATE,
) -> None:
    """Disable a user: it can no longer sign in, and its open sessions end."""
    from vigile.web.users import UserStore

    store = _store(state)
    assert isinstance(store, UserStore)
    if not store.disable(name):
        raise VigileError(f"no enabled user {name!r}")
    out.print(f"user {name} disabled")


def register(app: typer.Typer) -> None:
    """Add `users` to the main CLI."""
    app.add_typer(users_app, name="users")
