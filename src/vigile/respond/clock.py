"""Clocks for the response stage.

Decisions expire on the wall clock in production (:func:`wall_clock`). The live
demo replays a simulated working day faster than real time: the application
stamps its events, and the decision service times its decisions, with the same
:class:`ScaledClock` (``--clock 2025-11-06T08:00:00+01:00@1732950000.0x60``: the
virtual time at a wall-clock instant, and a speed), so that detection sees the
rhythm of a real day and decisions last the virtual durations the policy says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from vigile.errors import VigileError

__all__ = ["Clock", "ScaledClock", "parse_clock", "wall_clock"]

#: A clock is a callable returning seconds since the Unix epoch.
Clock = Callable[[], float]


def wall_clock() -> float:
    """The real time (seconds since the epoch)."""
    return time.time()


@dataclass(frozen=True)
class ScaledClock:
    """Virtual time ``origin`` at wall instant ``wall_origin``, running ``speed`` times faster."""

    origin: float
    wall_origin: float
    speed: float = 1.0

    def __call__(self) -> float:
        return self.origin + (time.time() - self.wall_origin) * self.speed

    def wall_seconds(self, virtual_seconds: float) -> float:
        """How long ``virtual_seconds`` of virtual time take on the wall clock."""
        return virtual_seconds / self.speed

    def wall_at(self, virtual: float) -> float:
        """The wall instant at which the clock shows ``virtual``."""
        return self.wall_origin + (virtual - self.origin) / self.speed

    def spec(self) -> str:
        """The ``--clock`` text that rebuilds this clock in another process."""
        return f"{self.origin!r}@{self.wall_origin!r}x{self.speed!r}"


def parse_clock(spec: str | None) -> Clock:
    """``None`` → the wall clock; ``VIRTUAL@WALLx SPEED`` → a :class:`ScaledClock`.

    ``VIRTUAL`` is epoch seconds or an RFC 3339 time; ``WALL`` epoch seconds.
    """
    if not spec:
        return wall_clock
    try:
        virtual, rest = spec.split("@", 1)
        wall, speed = rest.split("x", 1)
        try:
            origin = float(virtual)
        except ValueError:
            origin = datetime.fromisoformat(virtual.replace("Z", "+00:00")).timestamp()
        clock = ScaledClock(origin=origin, wall_origin=float(wall), speed=float(speed))
    except ValueError:
        raise VigileError(
            f"--clock {spec!r}: expected VIRTUAL@WALLxSPEED, e.g. 2025-11-06T08:00:00+01:00@"
            "1732950000x60"
        ) from None
    if clock.speed <= 0:
        raise VigileError(f"--clock {spec!r}: the speed must be positive")
    return clock
