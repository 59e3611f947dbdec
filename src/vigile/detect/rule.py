"""One validated rule and its scope: what the detectors read on every event.

Loading and validating them (YAML, ``file:line`` errors) is :mod:`vigile.detect.rules`'s
work; this module only holds the two classes, compiled with the detectors (see
``setup.py``), so that a detector reads a rule's fields and calls
:meth:`Rule.severity_for` natively rather than through Python attribute lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from vigile.events import SEVERITIES

__all__ = ["SEVERITY_RANK", "Rule", "Scope"]

SEVERITY_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Scope:
    """Which accounts a rule applies to (empty lists mean no restriction)."""

    roles: frozenset[str] = frozenset()
    exclude_roles: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    exclude_tenants: frozenset[str] = frozenset()

    def allows(self, tenant: str, role: str) -> bool:
        """True when an account of ``role`` in ``tenant`` is in scope."""
        if self.roles and role not in self.roles:
            return False
        if role in self.exclude_roles:
            return False
        if self.tenants and tenant not in self.tenants:
            return False
        return tenant not in self.exclude_tenants


@dataclass(frozen=True)
class Rule:
    """One validated rule. ``params`` is the detector's typed parameter struct."""

    id: str
    title: str
    detector: str
    severity: str
    bands: tuple[tuple[float, str], ...]  # (min score, severity), highest first; () = fixed
    risk: float
    simulation: bool
    scope: Scope
    window: float | None
    cooldown: float
    escalate_after: int
    max_severity: str
    params: Any
    tags: Mapping[str, tuple[str, ...]]
    mode: str | None = None
    description: str = ""
    path: str = ""
    line: int = 1
    doc: str | None = None
    #: the highest severity rank a finding of this rule can have on its own
    top_level: int = field(default=0, compare=False)

    def severity_for(self, score: float) -> str | None:
        """The severity for a detector score: the fixed one, or the highest band reached.

        With bands, a score below every band gives ``None`` (no alert).
        """
        if not self.bands:
            return self.severity
        for threshold, sev in self.bands:
            if score >= threshold:
                return sev
        return None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def __post_init__(self) -> None:
        top = max((SEVERITY_RANK[s] for _, s in self.bands), default=SEVERITY_RANK[self.severity])
        object.__setattr__(self, "top_level", min(top, SEVERITY_RANK[self.max_severity]))
