"""The one contract between vigile's stages: access events in, alerts and decisions out.

An :class:`AccessEvent` is one application request that touched patient data (or a
login), exactly as ``shared/spec/INTERFACE.md`` §1 defines it. Every parser turns its
input into these; the store keeps them; the detectors read them. An :class:`Alert`
is §3's output, a :class:`Decision` what the response stage serves to the protected
application.

The structs are msgspec ``Struct``s: decoding a JSON line straight into
:class:`AccessEvent` validates types, ranges and the timestamp in C, which is what
keeps the JSON Lines path above a million lines a second.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from functools import lru_cache
from socket import AF_INET, inet_pton
from typing import Annotated, Any, Final, Literal

import msgspec
import xxhash

__all__ = [
    "ACTIONS",
    "READ_ACTIONS",
    "SEVERITIES",
    "AccessEvent",
    "Action",
    "Alert",
    "Decision",
    "ScheduleLine",
    "Severity",
    "event_key",
    "normalise_ip",
]

Action = Literal[
    "login",
    "login_failed",
    "logout",
    "read",
    "search",
    "list",
    "export",
    "print",
    "create",
    "update",
    "delete",
]
ACTIONS: Final[tuple[str, ...]] = Action.__args__  # type: ignore[attr-defined]
#: Actions through which patient data leaves the application.
READ_ACTIONS: Final[frozenset[str]] = frozenset({"read", "search", "list", "export", "print"})

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: Final[tuple[str, ...]] = Severity.__args__  # type: ignore[attr-defined]

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # fits the store's int64
Status = Annotated[int, msgspec.Meta(ge=100, le=599)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

#: Wire name of the field that keeps unknown input fields. No producer sends it:
#: a line with extra fields fails the strict fast decode, and the JSON Lines
#: parser's slow path moves the extras here.
EXTRA_WIRE_NAME: Final = "$vigile_extra"


class AccessEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One application request that touched patient data (INTERFACE §1)."""

    ts: AwareDatetime
    tenant: NonEmpty
    actor: NonEmpty
    action: Action
    resource: NonEmpty
    event_id: str | None = None
    session: str | None = None
    src_ip: str | None = None
    user_agent: str | None = None
    method: str | None = None
    route: str | None = None
    status: Status = 200
    patient_ids: list[NonEmpty] = msgspec.field(default_factory=list)
    records: Count | None = None
    bytes: Count | None = None
    query: str | None = None
    extra: dict[str, Any] | None = msgspec.field(default=None, name=EXTRA_WIRE_NAME)

    def __post_init__(self) -> None:
        if self.records is None:
            self.records = len(self.patient_ids)

    @property
    def ts_us(self) -> int:
        """Event time as microseconds since the Unix epoch (UTC)."""
        return round(self.ts.timestamp() * 1_000_000)

    @property
    def refused(self) -> bool:
        """True when the application refused or could not serve the request."""
        return self.status >= 400

    def to_dict(self) -> dict[str, Any]:
        """The event as the interface's JSON object (extras flattened back in)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        extra = out.pop(EXTRA_WIRE_NAME, None)
        out = {k: v for k, v in out.items() if v is not None}
        if extra:
            for k, v in extra.items():
                out.setdefault(k, v)
        return out


#: the patient ids of a :class:`ScheduleLine` made whole, and a line without any
_IDS: Final = msgspec.json.Decoder(list[NonEmpty])
_NO_IDS: Final = msgspec.Raw(b"[]")


class ScheduleLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """An :class:`AccessEvent` read with its ``patient_ids`` left as JSON (``msgspec.Raw``).

    The detection replay reads a practice's schedule polls (``list appointment``, half
    of the requests of a practice-management system, each naming the day's patients)
    this way: nearly all of them go no further than the engine's first test, so their
    ids are never made into strings. The fields are :class:`AccessEvent`'s, with the
    same types and checks, in the same order (a test holds the two together); the
    reader checks the ids themselves (``vigile.detect._lines.raw_ids``) before it
    accepts the line. :meth:`whole` gives the event itself.
    """

    ts: AwareDatetime
    tenant: NonEmpty
    actor: NonEmpty
    action: Action
    resource: NonEmpty
    event_id: str | None = None
    session: str | None = None
    src_ip: str | None = None
    user_agent: str | None = None
    method: str | None = None
    route: str | None = None
    status: Status = 200
    patient_ids: msgspec.Raw = _NO_IDS
    records: Count | None = None
    bytes: Count | None = None
    query: str | None = None
    extra: dict[str, Any] | None = msgspec.field(default=None, name=EXTRA_WIRE_NAME)

    def whole(self) -> AccessEvent:
        """The :class:`AccessEvent` this line holds (the one a full decode gives)."""
        fields = dict(zip(self.__struct_fields__, msgspec.structs.astuple(self), strict=True))
        fields["patient_ids"] = _IDS.decode(self.patient_ids)
        return AccessEvent(**fields)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def event_key(event: AccessEvent | ScheduleLine) -> str:
    """A stable identity for deduplication: the ``event_id``, else a content hash.

    Two renderings of the same request (a file ingested twice, the same request
    from two formats) give the same key; a 128-bit hash keeps collisions out of
    reach for any realistic store.
    """
    if event.event_id:
        return event.event_id
    if isinstance(event, ScheduleLine):
        event = event.whole()
    return "h:" + xxhash.xxh3_128_hexdigest(_ENCODER.encode(event))


_ENCODER: Final = msgspec.json.Encoder()


def normalise_ip(value: str) -> str:
    """Validate an IPv4/IPv6 address and return its canonical text form.

    Raises ``ValueError`` when ``value`` is not an address. Plain dotted IPv4
    (nearly every line) is checked by the C ``inet_pton``; everything else goes
    through :mod:`ipaddress` (IPv6 compressed, IPv4-mapped IPv6 → IPv4, brackets).
    """
    try:
        inet_pton(AF_INET, value)
    except OSError:
        return _normalise_ip_slow(value)
    return value


@lru_cache(maxsize=16_384)
def _normalise_ip_slow(value: str) -> str:
    address = ipaddress.ip_address(value.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class Alert(msgspec.Struct, kw_only=True, omit_defaults=False):
    """A detector's finding (INTERFACE §3)."""

    alert_id: str
    ts: str
    tenant: str
    actor: str
    session: str | None
    src_ip: str | None
    severity: Severity
    score: float
    detector: str
    reasons: list[str]
    evidence: dict[str, Any]
    incident: str | None = None


DecisionKind = Literal["allow", "throttle", "block"]
Scope = Literal["account", "session", "ip", "tenant"]


class Decision(msgspec.Struct, kw_only=True):
    """What the protected application is told to do for a scope, until ``until``."""

    decision: DecisionKind
    scope: Scope
    value: str
    until: str | None
    reason: str
    alert_id: str | None = None
    simulated: bool = False
