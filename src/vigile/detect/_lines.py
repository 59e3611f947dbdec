"""Schedule polls read without making their patient ids into strings.

The replay reader reads a practice's schedule poll (``list appointment``, ~30 patient
ids, half the requests of a practice-management system) as a
:class:`vigile.events.ScheduleLine`: ``AccessEvent``'s fields, the ids left as JSON (a
``msgspec.Raw``). It may only do so when the full decode would have accepted the same
ids, so it asks:

* :func:`schedule_poll`: does the line hold both marks of a poll as producers write
  them (``"action":"list"``, ``"resource":"appointment"``)? Anywhere: a mark inside
  another field only sends the line the long way, never changes what is read.
* :func:`raw_ids`: how many ids does the raw value hold, when that is sure? It is sure
  when the value is a JSON array of plain non-empty strings (:func:`plain_ids`: printable
  ASCII, neither quote nor backslash, JSON whitespace around the elements) and its key
  is the line's only ``patient_ids`` key (:func:`key_before`: no backslash before the
  value, so every key there is spelt as it is, and the first ``"patient_ids"`` is the
  value's own key). JSON lets a key come twice and the last value is the field's; the
  full decode checks every copy, a raw one only the last, hence the second condition (a
  later copy would itself be the last). Otherwise -1, and the reader decodes the line
  whole, with its checks and its error.

``_lines.c`` is the same in C, built with the compiled modules (``setup.py``) and
imported instead of this file. Only C can tell where a ``Raw`` lies in its line, so
:func:`raw_ids` here always answers -1, and without the C module the reader reads every
line whole. The tests give both versions the same inputs.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = ["key_before", "plain_ids", "raw_ids", "schedule_poll"]

_LIST: Final = b'"action":"list"'
_APPOINTMENT: Final = b'"resource":"appointment"'
_IDS: Final = b'"patient_ids"'

_WS: Final = rb"[ \t\n\r]*"
_ID: Final = rb'"[\x20\x21\x23-\x5b\x5d-\x7e]+"'
_PLAIN: Final = re.compile(
    _WS + rb"\[" + _WS + rb"(?:\]|" + _ID + _WS + rb"(?:," + _WS + _ID + _WS + rb")*\])" + _WS
)
_KEY_END: Final = re.compile(_WS + rb":" + _WS)

Buffer = bytes | bytearray | memoryview | msgspec.Raw


def schedule_poll(line: Buffer) -> bool:
    """Whether ``line`` holds both marks of a schedule poll."""
    data = bytes(line)
    return _LIST in data and _APPOINTMENT in data


def plain_ids(raw: Buffer) -> int:
    """The number of ids of a JSON array of plain non-empty strings, else -1."""
    data = bytes(raw)
    if _PLAIN.fullmatch(data) is None:
        return -1
    return data.count(b'"') // 2


def key_before(line: Buffer, start: int) -> bool:
    """Whether ``line[:start]`` holds no backslash and its first ``"patient_ids"`` is
    followed by JSON whitespace and one colon up to ``start``."""
    data = bytes(line)
    if not 0 <= start <= len(data):
        return False
    head = data[:start]
    if b"\\" in head:
        return False
    at = head.find(_IDS)
    return at >= 0 and _KEY_END.fullmatch(head, at + len(_IDS)) is not None


def raw_ids(line: Buffer, raw: msgspec.Raw) -> int:
    """``plain_ids(raw)`` where ``raw``'s key is the line's only ``patient_ids`` key, else
    -1: always -1 here, since Python cannot tell where a ``Raw`` lies in its line."""
    return -1
