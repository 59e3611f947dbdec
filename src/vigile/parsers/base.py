"""What a parser is: bytes of one line in, one :class:`AccessEvent` (or nothing) out.

A parser raises :class:`~vigile.errors.ParseError` with a precise reason for a
bad line, and returns ``None`` for a well-formed line that is not an access to
patient data (a static asset in a web log, a FHIR AuditEvent about something
else): those are counted as *skipped*, never lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from vigile.events import AccessEvent


@dataclass(frozen=True)
class ParserOptions:
    """Options a user can give any parser; each parser reads those it needs.

    ``log_format``: an nginx/Apache ``log_format`` string as pasted from the config.
    ``route_map``: a YAML file mapping URLs to action, resource and patient ids.
    ``default_tenant``: the practice to use when the input does not name one.
    ``extra``: free ``key=value`` options (``--parser-option``) for parsers that
    need more.
    """

    log_format: str | None = None
    route_map: Path | None = None
    default_tenant: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Parser(Protocol):
    """One input format. Registered by ``name`` in :mod:`vigile.parsers`."""

    name: ClassVar[str]

    def parse(self, line: bytes) -> AccessEvent | None:
        """Parse one line; raise ``ParseError(reason)`` if it is bad."""
        ...
