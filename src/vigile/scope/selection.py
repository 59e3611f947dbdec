"""What a scope covers: which accounts, over which time windows, through which sessions.

A scope starts either from an **incident** (the alerts that detection grouped
under one ``incident`` id, INTERFACE §3) or from **accounts and a window** given
by hand (``--actor A --since T1 --until T2``). Both become a :class:`Selection`:
one :class:`AccountWindow` per account, plus the sessions and source addresses
the alerts (or the user) named.

``match`` says how far the scope reaches inside an account's window:

* ``account`` (the default, the conservative reading GDPR expects when in
  doubt): every request of the account in its window;
* ``source``: only requests made in a named session or from a named address;
* ``session``: only requests made in a named session.

In every mode, each exposure also records whether it came through a named
session or address (``attributed``), so a report can tell what is certain
from what is possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import pyarrow as pa

from vigile import durations
from vigile.errors import InputError, VigileError

Match = Literal["account", "source", "session"]
MATCHES: Final[tuple[str, ...]] = ("account", "source", "session")

#: How far before an account's first alert its window opens by default: an
#: extraction runs for a while before anything fires.
DEFAULT_LOOKBACK: Final = timedelta(days=7)

SELECTION_SCHEMA: Final = pa.schema(
    [
        ("tenant", pa.string()),
        ("actor", pa.string()),
        ("since", pa.timestamp("us", tz="UTC")),
        ("until", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class AccountWindow:
    """One account in scope: ``tenant`` ``None`` means the actor id in any practice."""

    actor: str
    tenant: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AlertRef:
    """The fields of an alert that scoping uses (the rest stays in the alert file)."""

    alert_id: str
    ts: datetime
    tenant: str
    actor: str
    session: str | None
    src_ip: str | None
    severity: str
    detector: str
    incident: str | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """The accounts, windows, sessions and addresses a scope covers."""

    accounts: tuple[AccountWindow, ...]
    sessions: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    match: Match = "account"
    incident: str | None = None
    alerts: tuple[AlertRef, ...] = field(default=())

    @property
    def since(self) -> datetime | None:
        """The earliest instant any account's window reaches (``None``: unbounded)."""
        starts = [a.since for a in self.accounts]
        return None if any(s is None for s in starts) else min(s for s in starts if s)

    @property
    def until(self) -> datetime | None:
        """The latest instant any account's window reaches (``None``: unbounded)."""
        ends = [a.until for a in self.accounts]
        return None if any(e is None for e in ends) else max(e for e in ends if e)

    @property
    def detected_at(self) -> datetime | None:
        """When the breach was detected: the first alert, if scoping from alerts."""
        return min((a.ts for a in self.alerts), default=None)

    def table(self) -> pa.Table:
        """The account windows as an Arrow table (the ``selection`` step input)."""
        return pa.Table.from_pylist(
            [
                {"tenant": a.tenant, "actor": a.actor, "since": a.since, "until": a.until}
                for a in self.accounts
            ],
            schema=SELECTION_SCHEMA,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (for summary.json and the report)."""
        return {
            "incident": self.incident,
            "match": self.match,
            "accounts": [
                {
                    "tenant": a.tenant,
                    "actor": a.actor,
                    "since": _iso(a.since),
                    "until": _iso(a.until),
                }
                for a in self.accounts
            ],
            "sessions": len(self.sessions),
            "sources": len(self.sources),
            "alerts": len(self.alerts),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(text: str, what: str) -> datetime:
    """An RFC 3339 timestamp (or a bare date, taken as midnight UTC) from the command line."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{what}: cannot read {text!r} as a time (use 2026-03-02T09:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` or a number of seconds (:func:`vigile.durations.parse_duration`)."""
    try:
        return timedelta(seconds=durations.parse_duration(text.strip().lower()))
    except ValueError:
        raise InputError(f"cannot read {text!r} as a duration (use 90m, 24h, 7d)") from None


def from_actors(
    actors: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sessions: Iterable[str] = (),
    sources: Iterable[str] = (),
    match: Match = "account",
) -> Selection:
    """A selection of accounts named by hand: ``ACTOR`` or ``TENANT/ACTOR``."""
    if not actors:
        raise VigileError("name at least one account with --actor (or give --alerts)")
    if since is not None and until is not None and until < since:
        raise VigileError(f"empty window: --until {_iso(until)} is before --since {_iso(since)}")
    windows = []
    for item in dict.fromkeys(actors):
        tenant, sep, actor = item.partition("/")
        if not sep:
            tenant, actor = "", item
        if not actor.strip():
            raise VigileError(f"--actor {item!r}: empty account name")
        windows.append(
            AccountWindow(
                actor=actor.strip(), tenant=tenant.strip() or None, since=since, until=until
            )
        )
    sessions, sources = frozenset(sessions), frozenset(sources)
    _check_match(match, sessions, sources)
    return Selection(tuple(windows), sessions=sessions, sources=sources, match=match)


def _check_match(match: str, sessions: frozenset[str], sources: frozenset[str]) -> None:
    if match not in MATCHES:
        raise VigileError(f"--match {match!r}: use one of {', '.join(MATCHES)}")
    if match == "session" and not sessions:
        raise VigileError(
            "--match session needs at least one session (--session, or alerts naming one)"
        )
    if match == "source" and not (sessions or sources):
        raise VigileError(
            "--match source needs sessions or addresses (--session/--src-ip, or alerts)"
        )


def read_alerts(path: Path) -> list[AlertRef]:
    """Alerts of a JSON Lines file (INTERFACE §3); a line that cannot be read is an error."""
    if not path.is_file():
        raise InputError(f"{path}: alert file not found")
    alerts = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            for key in ("ts", "tenant", "actor"):
                if not isinstance(raw.get(key), str) or not raw[key]:
                    raise ValueError(f"{key}: missing or not a string")
            incident = raw.get("incident")
            alerts.append(
                AlertRef(
                    alert_id=str(raw.get("alert_id") or f"line-{n}"),
                    ts=parse_ts(raw["ts"], "ts"),
                    tenant=raw["tenant"],
                    actor=raw["actor"],
                    session=raw.get("session") or None,
                    src_ip=raw.get("src_ip") or None,
                    severity=str(raw.get("severity") or ""),
                    detector=str(raw.get("detector") or ""),
                    incident=None if incident is None else str(incident),
                    reasons=tuple(str(r) for r in raw.get("reasons") or ()),
                )
            )
        except (ValueError, VigileError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise InputError(f"{path}:{n}: not an alert ({exc})") from None
    return alerts


def from_alerts(
    alerts: Sequence[AlertRef],
    *,
    incident: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    match: Match = "account",
    source: str = "the alert file",
) -> Selection:
    """The selection of one incident: its accounts, from ``lookback`` before each one's
    first alert (or ``since``) to ``until`` (default: open, everything stored after)."""
    if not alerts:
        raise VigileError(f"{source} holds no alerts: nothing to scope")
    incidents = sorted({a.incident for a in alerts if a.incident is not None})
    if incident is not None:
        picked = [a for a in alerts if a.incident == incident]
        if not picked:
            known = ", ".join(incidents[:20]) + (" ..." if len(incidents) > 20 else "")
            raise VigileError(
                f"unknown incident {incident!r}: {source} has "
                + (f"{len(incidents)} incident(s): {known}" if incidents else "no incident ids")
            )
    elif len(incidents) > 1:
        known = ", ".join(incidents[:20]) + (" ..." if len(incidents) > 20 else "")
        raise VigileError(
            f"{source} holds {len(incidents)} incidents ({known}); choose one with --incident"
        )
    else:
        picked = list(alerts)
        incident = incidents[0] if incidents else None
    if since is not None and until is not None and until < since:
        raise VigileError(f"empty window: --until {_iso(until)} is before --since {_iso(since)}")
    first: dict[tuple[str, str], datetime] = {}
    for a in picked:
        key = (a.tenant, a.actor)
        first[key] = min(first.get(key, a.ts), a.ts)
    windows = tuple(
        AccountWindow(
            actor=actor,
            tenant=tenant,
            since=since if since is not None else ts - lookback,
            until=until,
        )
        for (tenant, actor), ts in sorted(first.items())
    )
    sessions = frozenset(a.session for a in picked if a.session)
    sources = frozenset(a.src_ip for a in picked if a.src_ip)
    _check_match(match, sessions, sources)
    return Selection(
        windows,
        sessions=sessions,
        sources=sources,
        match=match,
        incident=incident,
        alerts=tuple(sorted(picked, key=lambda a: a.ts)),
    )
