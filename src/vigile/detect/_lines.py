"""Schedule polls read without making their patient ids into strings.

:func:`schedule_poll` tells a line that is one (both marks in it).

:func:`plain_ids` gives the number of ids in a JSON array of plain non-empty strings
(printable ASCII, neither a quote nor a backslash, JSON whitespace allowed around the
elements), or -1 for anything else. A result of 0 or more means the array decodes as
:attr:`vigile.events.AccessEvent.patient_ids` (``list[str]``, each id non-empty) to that
many strings; -1 says nothing either way, and the caller decodes the array itself.

The replay reader asks it of each schedule poll it reads as a
:class:`vigile.events.ScheduleLine`: the check ``AccessEvent``'s decoder would make of
the ids, without building the ids. ``_lines.c`` is the same function in C, built with
the compiled modules (``setup.py``) and imported instead of this one; the tests give
both the same inputs.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = ["plain_ids", "schedule_poll"]

_LIST: Final = b'"action":"list"'
_APPOINTMENT: Final = b'"resource":"appointment"'
_IDS: Final = b'"patient_ids"'

_WS: Final = rb"[ \t\n\r]*"
_ID: Final = rb'"[\x20\x21\x23-\x5b\x5d-\x7e]+"'
_PLAIN: Final = re.compile(
    _WS + rb"\[" + _WS + rb"(?:\]|" + _ID + _WS + rb"(?:," + _WS + _ID + _WS + rb")*\])" + _WS
)


def schedule_poll(line: bytes) -> bool:
    """Whether ``line`` holds both marks of a schedule poll as producers write it
    (``"action":"list"`` and ``"resource":"appointment"``), anywhere, with no backslash and
    at most one ``"patient_ids"``: a mark found inside another field only sends the line
    the long way (a :class:`ScheduleLine` made whole), never changes what is read.

    Without a backslash a key is spelt as it is, so one ``"patient_ids"`` at most means
    one such key at most: JSON lets a key come twice (the last value is the field's), and
    a full decode checks the first value where a raw one would skip it."""
    return _LIST in line and _APPOINTMENT in line and b"\\" not in line and line.count(_IDS) <= 1


def plain_ids(raw: msgspec.Raw | bytes | bytearray | memoryview) -> int:
    """The number of ids of a JSON array of plain non-empty strings, else -1."""
    data = bytes(raw)
    if _PLAIN.fullmatch(data) is None:
        return -1
    return data.count(b'"') // 2
