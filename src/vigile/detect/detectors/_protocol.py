"""The detector plug-in protocol (see :mod:`vigile.detect.detectors.base`).

Kept apart from ``base`` and never compiled: a ``runtime_checkable`` protocol must stay a
Python class, while ``base`` and the detectors may be compiled with mypyc.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from vigile.detect.detectors.base import Finding
from vigile.detect.facts import Facts
from vigile.events import AccessEvent

__all__ = ["Detector"]


@runtime_checkable
class Detector(Protocol):
    """The plug-in protocol (see the module docstring)."""

    name: ClassVar[str]
    actions: ClassVar[frozenset[str] | None]

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None: ...

    def learn(self, ev: AccessEvent, f: Facts) -> None: ...

    def sweep(self, now: float) -> None: ...

    def state(self) -> Any: ...

    def load_state(self, state: Any) -> None: ...

    def size(self) -> int: ...
