"""Property tests of the FHIR AuditEvent parser.

No input crashes it (arbitrary bytes, arbitrary JSON, AuditEvents with any element
replaced by any JSON value); whatever it accepts is a valid interface event; and
render → parse round-trips.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv6Address
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vigile.errors import ParseError
from vigile.events import ACTIONS, AccessEvent
from vigile.parsers.fhir import _REQUEST_LINE, FhirAuditParser, render_fhir
from vigile.parsers.jsonl import JsonlParser, render_jsonl

PARSER = FhirAuditParser()
WITH_DEFAULT = FhirAuditParser(default_tenant="cab-0042")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
#: values that mean something to the parser: codes, references, times, addresses
telling = st.sampled_from(
    [
        "",
        "0", "4", "8", "12", "3", 4, 12,
        "1", "2", "24", "110114", "110122", "110123", "110106", "110150", "110153",
        "read", "search-type", "operation", "$export", "login", "print", "E", "X",
        "AuditEvent", "Bundle", "Patient", "Organization", "Observation",
        "Patient/", "Patient/P0001234", "Organization/cab-0042", "Patient/x/_history/2",
        "urn:vigile:fhir:action", "urn:vigile:fhir:resource", "urn:vigile:fhir:records",
        "http://hl7.org/fhir/resource-types",
        "2026-03-02T09:14:03+01:00", "2026-03-02T09:14:03", "2026-02-30T00:00:00Z",
        "10.0.0.1", "::ffff:10.0.0.1", "300.1.1.1", "fe80::1%eth0",
        "R0VUIC9QYXRpZW50P2ZhbWlseT1EVVBPTlQ=", "R0VU!!", "HTTP 418", "access denied",
        -1, 2**63 - 1,
    ]
)  # fmt: skip
fhir_keys = st.sampled_from(
    [
        "period", "start", "outcomeDesc", "site", "observer", "type", "requestor",
        "network", "address", "policy", "altId", "name", "query", "description",
        "extension", "url", "valueString", "valueUnsignedInt", "valueInteger", "role",
        "what", "reference", "identifier", "value", "display", "coding", "code",
        "system", "resourceType", "recorded", "entity", "agent", "subtype", "action",
    ]
)  # fmt: skip

offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
addresses = (
    st.ip_addresses()
    .filter(lambda a: not (isinstance(a, IPv6Address) and a.ipv4_mapped is not None))
    .map(str)
)
queries = text.filter(lambda q: _REQUEST_LINE.fullmatch(q.partition("\n")[0]) is None)
events = st.builds(
    AccessEvent,
    ts=st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1), timezones=offsets | st.just(UTC)),
    tenant=text | st.sampled_from(["cab-0042", "cab-0107"]),
    actor=text | st.sampled_from(["dr.martin.0042", "sec.durand.0042"]),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(["patient", "document", "prescription", "appointment", "annotation"])
    | st.sampled_from(["session", "encounter"])
    | text,
    event_id=st.none() | text,
    session=st.none() | text,
    src_ip=st.none() | addresses,
    user_agent=st.none() | text,
    method=st.none() | st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    route=st.none() | text,
    status=st.integers(100, 599),
    patient_ids=st.lists(text | st.sampled_from(["P0001234", "P0002345"]), max_size=5, unique=True),
    records=st.none() | st.integers(0, 2**63 - 1),
    bytes=st.none() | st.integers(0, 2**63 - 1),
    query=st.none() | queries,
    extra=st.none() | st.fixed_dictionaries({"request_id": text}),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON tree (the root excluded)."""
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_audit_events(draw: st.DrawFn) -> Any:
    """A rendered AuditEvent with 1-4 elements replaced, removed or added."""
    doc: Any = orjson.loads(render_fhir(draw(events)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(doc))))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        how = draw(st.sampled_from(["replace", "remove", "add"]))
        if how == "remove" and isinstance(parent, dict):
            del parent[last]
        elif how == "add" and isinstance(parent[last], dict):
            parent[last][draw(fhir_keys)] = draw(telling | json_values)
        else:
            parent[last] = draw(telling | json_values)
    return doc


def _accepts_only_valid_events(raw: bytes) -> None:
    for parser in (PARSER, WITH_DEFAULT):
        try:
            event = parser.parse(raw)
        except ParseError as exc:
            assert exc.reason
            continue
        if event is not None:
            # whatever the FHIR parser accepts is a valid interface event
            assert JsonlParser().parse(render_jsonl(event)) == event


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_when_input_is_arbitrary_bytes_then_only_parse_error_is_raised(raw: bytes) -> None:
    _accepts_only_valid_events(raw)


@settings(max_examples=400)
@given(json_values)
def test_when_input_is_arbitrary_json_then_it_parses_skips_or_raises_parse_error(
    obj: object,
) -> None:
    _accepts_only_valid_events(orjson.dumps(obj))


@settings(max_examples=1500)
@given(mutated_audit_events())
def test_when_any_element_of_an_audit_event_is_broken_then_only_parse_error_is_raised(
    doc: object,
) -> None:
    _accepts_only_valid_events(orjson.dumps(doc))


@settings(max_examples=500)
@given(events)
def test_when_an_event_is_rendered_then_parsing_gives_it_back(event: AccessEvent) -> None:
    assert PARSER.parse(render_fhir(event)) == event


@settings(max_examples=200)
@given(events)
def test_when_an_event_is_rendered_then_it_is_one_audit_event_json_line(
    event: AccessEvent,
) -> None:
    line = render_fhir(event)
    assert b"\n" not in line
    doc = orjson.loads(line)
    assert doc["resourceType"] == "AuditEvent"
    assert doc["agent"][0]["requestor"] is True
    patients = [e for e in doc.get("entity", []) if e.get("role", {}).get("code") == "1"]
    assert len(patients) == len(event.patient_ids)
