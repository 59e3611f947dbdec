"""The interface format: one JSON object per line (INTERFACE §1).

The fast path decodes a line straight into :class:`AccessEvent` (types, ranges,
required fields and RFC 3339 time checked in C). A line with fields the
interface does not define fails that strict decode; the slow path then keeps
the extras in ``AccessEvent.extra`` instead of rejecting them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Self

import msgspec

from vigile.errors import ParseError
from vigile.events import ACTIONS, EXTRA_WIRE_NAME, AccessEvent, normalise_ip
from vigile.parsers.base import ParserOptions

_KNOWN: Final[frozenset[str]] = frozenset(
    f.encode_name for f in msgspec.structs.fields(AccessEvent) if f.encode_name != EXTRA_WIRE_NAME
)
_STRICT: Final = msgspec.json.Decoder(AccessEvent)
_ANY: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()


class JsonlParser:
    """Parser for the interface's JSON Lines events (``--format jsonl``)."""

    name: ClassVar[str] = "jsonl"

    @classmethod
    def from_options(cls, options: ParserOptions) -> Self:
        return cls(default_tenant=options.default_tenant)

    def __init__(self, default_tenant: str | None = None) -> None:
        self.default_tenant = default_tenant

    def parse(self, line: bytes) -> AccessEvent:
        try:
            event = _STRICT.decode(line)
        except msgspec.ValidationError as exc:
            event = self._parse_lenient(line, exc)
        except msgspec.DecodeError as exc:
            raise ParseError(malformed_reason(exc)) from None
        except UnicodeDecodeError:  # bad bytes inside a string value
            raise ParseError("line is not valid UTF-8") from None
        except RecursionError:  # arrays or objects nested a thousand deep
            raise ParseError(TOO_DEEP) from None
        if event.src_ip is not None:
            try:
                event.src_ip = normalise_ip(event.src_ip)
            except ValueError:
                raise ParseError(f"src_ip {event.src_ip!r} is not an IPv4/IPv6 address") from None
        return event

    def _parse_lenient(self, line: bytes, first: msgspec.ValidationError) -> AccessEvent:
        """Keep unknown fields (and fill a default tenant) instead of rejecting the line."""
        message = str(first)
        unknown = message.startswith("Object contains unknown field")
        missing_tenant = self.default_tenant is not None and "required field `tenant`" in message
        if not (unknown or missing_tenant):
            raise ParseError(validation_reason(message)) from None
        try:
            obj: Any = _ANY.decode(line)
        except msgspec.DecodeError as exc:  # the strict decoder stopped at the first field
            raise ParseError(malformed_reason(exc)) from None
        except UnicodeDecodeError:
            raise ParseError("line is not valid UTF-8") from None
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if not isinstance(obj, dict):
            raise ParseError("line is a JSON value but not an object")
        known = {k: v for k, v in obj.items() if k in _KNOWN}
        extra = {k: v for k, v in obj.items() if k not in _KNOWN}
        if self.default_tenant is not None:
            known.setdefault("tenant", self.default_tenant)
        if extra:
            known[EXTRA_WIRE_NAME] = extra
        try:
            return msgspec.convert(known, AccessEvent)
        except msgspec.ValidationError as exc:
            raise ParseError(validation_reason(str(exc))) from None


def validation_reason(message: str) -> str:
    """msgspec's message, phrased with the field first: ``status: expected ...``."""
    text, sep, where = message.partition(" - at `$.")
    if sep:
        field = where.rstrip("`")
        if field == "action" and text.startswith("Invalid enum value"):
            value = text.removeprefix("Invalid enum value ")
            return f"action: {value} is not one of {', '.join(ACTIONS)}"
        return f"{field}: {text[0].lower()}{text[1:]}"
    return message[0].lower() + message[1:]


#: the reason for a line whose JSON nests deeper than the decoder goes (Python's recursion
#: limit, ~1,000 levels): no event nests more than a few
TOO_DEEP: Final = "JSON nested too deep"


def malformed_reason(exc: msgspec.DecodeError) -> str:
    message = str(exc)
    if "invalid utf-8" in message.lower():
        return "line is not valid UTF-8"
    if message.startswith("Input data was truncated"):
        return "invalid JSON: line ends before the JSON value does"
    return "invalid JSON: " + message.removeprefix("JSON is malformed: ")


def render_jsonl(event: AccessEvent) -> bytes:
    """One event as an interface JSON line (no trailing newline)."""
    return _ENCODER.encode(event.to_dict())
