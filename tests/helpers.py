"""Small builders shared by the tests: synthetic French identities only."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson


def event(**over: Any) -> dict[str, Any]:
    """A valid interface event as a dict; keyword arguments override fields."""
    base: dict[str, Any] = {
        "ts": "2026-03-02T09:14:03.512+01:00",
        "tenant": "cab-0042",
        "actor": "dr.martin.0042",
        "action": "read",
        "resource": "patient",
        "event_id": "ev-1",
        "session": "s-1",
        "src_ip": "82.64.12.7",
        "user_agent": "MedPratic/7.4.2 (Windows NT 10.0; Win64)",
        "method": "GET",
        "route": "/api/v1/patients/{patient_id}",
        "status": 200,
        "patient_ids": ["P0001234"],
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def write_jsonl(path: Path, rows: list[dict[str, Any] | str | bytes], gz: bool = False) -> Path:
    """Write rows (dicts as JSON, str/bytes verbatim) one per line."""
    lines = []
    for row in rows:
        if isinstance(row, dict):
            lines.append(orjson.dumps(row))
        elif isinstance(row, str):
            lines.append(row.encode())
        else:
            lines.append(row)
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path
