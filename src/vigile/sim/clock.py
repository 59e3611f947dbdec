"""Calendar and clock helpers: French public holidays and Europe/Paris offsets.

Times inside the simulator are integer milliseconds since the Unix epoch (UTC).  The
offset of Europe/Paris is looked up per event so that days crossing a daylight-saving
change are written correctly.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

PARIS = ZoneInfo("Europe/Paris")
MS_MIN = 60_000
MS_HOUR = 3_600_000
MS_DAY = 86_400_000


def easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_holidays(year: int) -> frozenset[dt.date]:
    """The eleven French public holidays (jours fériés) of a year, mainland France."""
    e = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    days = {dt.date(year, m, d) for m, d in fixed}
    days |= {e + dt.timedelta(days=1), e + dt.timedelta(days=39), e + dt.timedelta(days=50)}
    return frozenset(days)


def is_holiday(day: dt.date) -> bool:
    """True on a French public holiday."""
    return day in french_holidays(day.year)


@lru_cache(maxsize=4096)
def local_midnight_ms(day: dt.date) -> int:
    """Epoch milliseconds of local midnight (Europe/Paris) starting `day`."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=PARIS).timestamp() * 1000)


def offset_minutes(ts_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Europe/Paris UTC offset in minutes for each timestamp.

    Offsets change only on whole UTC hours, so they are looked up once per distinct hour.
    """
    if len(ts_ms) == 0:
        return np.zeros(0, dtype=np.int64)
    hours = ts_ms // MS_HOUR
    uniq, inv = np.unique(hours, return_inverse=True)
    offs = np.asarray([_offset_at(int(h) * MS_HOUR) for h in uniq], dtype=np.int64)
    return offs[inv]


def _offset_at(ts_ms: int) -> int:
    t = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).astimezone(PARIS)
    off = t.utcoffset()
    assert off is not None
    return int(off.total_seconds() // 60)


def format_ts(ts_ms: int) -> str:
    """RFC 3339 with milliseconds and the Europe/Paris offset, for one timestamp."""
    t = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).astimezone(PARIS)
    return t.isoformat(timespec="milliseconds")


def parse_ts(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (`Z` or an offset)."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=PARIS)
    return round(t.timestamp() * 1000)
