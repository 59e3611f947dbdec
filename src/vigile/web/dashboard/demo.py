"""The last chapter of ``vigile demo``: the same story, in the dashboard.

Builds a state from the demo's alerts (each through the shipped policy, as
``vigile serve`` would have), adds two users with random passwords, makes the
breach already scoped by the demo visible to the dashboard, and says how to
start ``vigile serve`` on it. Nothing is started here: the demo stays a
command that ends.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

import msgspec

from vigile.events import Alert

__all__ = ["DashboardDemo", "prepare_demo"]


@dataclass
class DashboardDemo:
    """What the demo prints: the command, the users and their passwords."""

    command: str
    url: str
    users: dict[str, tuple[str, str]]
    alerts: int


def prepare_demo(
    out: Path, world: Path, store: Path, alerts: Path, breach: Path | None = None
) -> DashboardDemo:
    """A dashboard state for the demo's world under ``out/dashboard`` (remade each time)."""
    from vigile.respond.guard import Guard
    from vigile.respond.policy import load_policy
    from vigile.respond.state import open_state
    from vigile.web.users import UserStore

    root = out / "dashboard"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("state.db*"):
        stale.unlink()
    state = open_state(f"sqlite:///{root / 'state.db'}")
    guard = Guard(state, load_policy())
    decoder = msgspec.json.Decoder(Alert)
    n = 0
    for line in alerts.read_bytes().splitlines():
        if line.strip():
            guard.handle_alert(decoder.decode(line))
            n += 1
    users = UserStore(state)
    made: dict[str, tuple[str, str]] = {}
    for name, role in (("demo.analyst", "analyst"), ("demo.dpo", "dpo")):
        password = secrets.token_urlsafe(12)
        users.add(name, role, password)
        made[name] = (role, password)
    incidents = sorted({i["incident"] for i in state.incidents(limit=50)})
    guard.close()
    state.close()
    scopes = root / "scopes"
    scopes.mkdir(exist_ok=True)
    if breach is not None and (breach / "summary.json").exists() and incidents:
        link = scopes / incidents[0]
        if not link.exists():
            link.symlink_to(breach.resolve(), target_is_directory=True)
    q = shlex.quote
    command = (
        f"VIGILE_DASHBOARD_SCOPES={q(str(scopes))} vigile serve "
        f"--state sqlite:///{q(str(root / 'state.db'))} --store {q(str(store))} "
        f"--context {q(str(world / 'context'))} --no-detect"
    )
    return DashboardDemo(command, "http://127.0.0.1:8740/ui/", made, n)
