"""The access event of a request served in-process, exactly as nginx would have logged it.

A protected application names the account, the practice, the session, the record
count and the patient ids of each response in ``X-Vigile-*`` response headers
(``docs/reference-api.md``); nginx logs them with ``log_format vigile`` and
``vigile convert --format nginx`` turns the log into events with a route map.

The middleware must give *the same events* without nginx. Rather than a second
implementation of route matching, :class:`EventBuilder` writes the line nginx
would have written (same fields, same escaping) and reads it with the very
:class:`~vigile.parsers.weblog.NginxParser` and route map that read real logs; it
then puts back what a log line loses: the time to the microsecond (nginx's
``$time_local`` has seconds) and a unique ``event_id``. About 10 µs per request.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Final

from vigile.errors import ParseError
from vigile.events import AccessEvent
from vigile.parsers.logformat import PRESETS, compile_log_format
from vigile.parsers.routemap import load_route_map
from vigile.parsers.weblog import NginxParser

__all__ = ["EventBuilder", "ServedRequest", "nginx_escape"]

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_SAFE: Final = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def nginx_escape(value: str | None) -> str:
    """A value as nginx writes it in a log (``escape=default``): ``-`` when empty,
    ``"``, ``\\``, control and non-ASCII bytes as ``\\xHH``."""
    if not value:
        return "-"
    if _SAFE.issuperset(value):
        return value
    out = []
    for ch in value:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _time_local(ts: datetime) -> str:
    offset = ts.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (
        f"{ts.day:02d}/{_MONTHS[ts.month - 1]}/{ts.year:04d}:"
        f"{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


@dataclass(slots=True)
class ServedRequest:
    """What the middleware saw of one request and its response."""

    method: str
    target: str  # path and query string, as sent
    status: int
    src_ip: str | None
    user_agent: str | None
    response_headers: Mapping[str, str]  # lower-case names
    bytes_sent: int
    seconds: float
    ts: datetime
    referer: str | None = None


class EventBuilder:
    """Turns a served request into its access event (``None``: not a patient-data route)."""

    def __init__(self, route_map: str | Path | None = None, *, id_prefix: str | None = None):
        fmt = compile_log_format(PRESETS["nginx"]["vigile"], "nginx")
        self.parser = NginxParser(fmt, load_route_map(route_map))
        self.prefix = id_prefix or f"ev-{os.getpid():x}-{os.urandom(3).hex()}"
        self._seq = itertools.count(1)
        self.unmatched = 0

    def line(self, r: ServedRequest) -> str:
        """The ``log_format vigile`` line nginx would have written for this request."""
        h = r.response_headers
        return (
            f"{r.src_ip or '-'} - - [{_time_local(r.ts)}] "
            f'"{nginx_escape(r.method)} {nginx_escape(r.target)} HTTP/1.1" '
            f"{r.status} {r.bytes_sent} "
            f'"{nginx_escape(r.referer)}" "{nginx_escape(r.user_agent)}" '
            f'"{nginx_escape(h.get("x-vigile-actor"))}" "{nginx_escape(h.get("x-vigile-tenant"))}" '
            f'"{nginx_escape(h.get("x-vigile-session"))}" '
            f'"{nginx_escape(h.get("x-vigile-records"))}" '
            f'"{nginx_escape(h.get("x-vigile-patients"))}" {r.seconds:.3f}'
        )

    def build(self, r: ServedRequest) -> AccessEvent | None:
        """The event, or ``None`` when the route is not a patient-data access (or unknown)."""
        try:
            event = self.parser.parse(self.line(r).encode())
        except ParseError:
            self.unmatched += 1
            return None
        if event is None:
            return None
        event.ts = r.ts
        event.event_id = f"{self.prefix}-{next(self._seq)}"
        return event

    @staticmethod
    def now(clock_value: float, tz: tzinfo) -> datetime:
        """An aware timestamp for ``clock_value`` in the application's time zone."""
        return datetime.fromtimestamp(clock_value, tz)
