"""Durations as people write them in YAML files, flags and the API: ``90s``, ``30m``, ``7d``.

One reader for rules (windows, cool-downs), policies (decision durations), the
service's API and breach scoping's look-back, so that ``30m`` means the same
everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Final

__all__ = ["UNIT_SECONDS", "parse_duration"]

#: seconds per unit; a bare number is seconds
UNIT_SECONDS: Final[dict[str, float]] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$")
_HINT: Final = "write e.g. 90s, 30m, 4h, 7d"


def parse_duration(value: object, *, positive: bool = False) -> float:
    """``30m`` → 1800.0; a plain number is seconds; ``ValueError`` for anything else.

    Durations are never negative nor infinite; with ``positive`` zero is refused too
    (a block for zero seconds is a mistake, a rule window of 0 may mean "off").
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} ({_HINT})")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * UNIT_SECONDS[m.group(2) or "s"]
    if seconds is None:
        raise ValueError(f"not a duration: {value!r} ({_HINT})")
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        need = "positive" if positive else "zero or more"
        raise ValueError(f"a duration must be {need}: {value!r}")
    return seconds
