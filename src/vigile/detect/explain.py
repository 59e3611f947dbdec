"""`vigile explain`: the events behind an alert.

An alert names its sample events (``evidence.event_ids``) and its window
(``evidence.window_s``); the explanation shows those events, and every event of
the same account within the window before the alert, in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from vigile.errors import InputError
from vigile.events import AccessEvent, event_key

__all__ = ["explain", "find_alert", "print_explanation"]

DEFAULT_WINDOW_S = 3600.0
MAX_EVENTS = 5000


def find_alert(alert_id: str, alerts: Path) -> dict[str, Any]:
    """The alert with this id in an alerts file (raises InputError when absent)."""
    try:
        with open(alerts, "rb") as f:
            for line in f:
                if alert_id.encode() not in line:
                    continue
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(doc, dict) and doc.get("alert_id") == alert_id:
                    return doc
    except OSError as exc:
        raise InputError(f"{alerts}: cannot read ({exc.strerror})") from None
    raise InputError(f"{alerts}: no alert {alert_id!r}")


def explain(
    alert_id: str,
    alerts: Path,
    *,
    events: Sequence[Path] | None = None,
    store: Path | None = None,
    fmt: str = "jsonl",
) -> dict[str, Any]:
    """The alert and the events behind it (as interface dicts, with ``sample`` flags)."""
    alert = find_alert(alert_id, alerts)
    evidence = alert.get("evidence") or {}
    samples = set(evidence.get("event_ids") or [])
    window = float(evidence.get("window_s") or DEFAULT_WINDOW_S)
    ts = datetime.fromisoformat(alert["ts"])
    since = ts - timedelta(seconds=window)
    tenant, actor = alert.get("tenant"), alert.get("actor")
    stream: Iterable[AccessEvent]
    if store is not None:
        from vigile.store import EventFilter, open_store

        stream = open_store(store).scan(
            EventFilter(
                since=since - timedelta(seconds=1),
                until=ts + timedelta(seconds=1),
                actors=frozenset([actor]) if actor else None,
                tenants=frozenset([tenant]) if tenant else None,
            )
        )
    else:
        from vigile.stream import EventReader

        stream = EventReader(list(events or []), fmt)
    found: list[dict[str, Any]] = []
    for ev in stream:
        key = event_key(ev)
        is_sample = key in samples
        in_window = ev.tenant == tenant and ev.actor == actor and since <= ev.ts <= ts
        if is_sample or in_window:
            row = ev.to_dict()
            row["ts"] = ev.ts.isoformat(timespec="milliseconds")
            row["sample"] = is_sample
            found.append(row)
            if len(found) >= MAX_EVENTS:
                break
        elif ev.ts > ts and not samples - {r.get("event_id") for r in found}:
            break
    return {
        "alert": alert,
        "window": {"since": since.isoformat(timespec="milliseconds"), "until": alert["ts"]},
        "events": found,
    }


def print_explanation(result: dict[str, Any], console: Any, limit: int = 40) -> None:
    """Rich rendering: the alert, its reasons, then the events."""
    from rich.table import Table

    a = result["alert"]
    console.print(
        f"[bold]{a['alert_id']}[/] {a['severity']} {a['detector']} — {a['tenant']}/{a['actor']} "
        f"at {a['ts']}" + (f" (incident {a['incident']})" if a.get("incident") else "")
    )
    for r in a.get("reasons") or []:
        console.print(f"  • {r}", highlight=False)
    events = result["events"]
    table = Table(
        title=f"{len(events)} events from {result['window']['since']} to "
        f"{result['window']['until']}" + (f" (first {limit})" if len(events) > limit else ""),
        title_justify="left",
    )
    for col in ("", "ts", "action", "resource", "status", "records", "src_ip", "session"):
        table.add_column(col)
    for e in events[:limit]:
        table.add_row(
            "★" if e.get("sample") else "",
            e["ts"],
            e["action"],
            e["resource"],
            str(e.get("status", 200)),
            str(e.get("records", "")),
            e.get("src_ip") or "",
            (e.get("session") or "")[:14],
        )
    console.print(table)
    console.print("★ sample events named in the alert's evidence")
