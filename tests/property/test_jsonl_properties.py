"""Property tests of the interface parser: no input crashes it; render → parse round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vigile.errors import ParseError
from vigile.events import ACTIONS, AccessEvent
from vigile.parsers.jsonl import JsonlParser, render_jsonl

PARSER = JsonlParser()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_values = {
    "ts": st.sampled_from(["2026-03-02T09:14:03Z", "2026-03-02T09:14:03", "x", ""]) | json_values,
    "tenant": st.text(max_size=5) | json_values,
    "actor": st.text(max_size=5) | json_values,
    "action": st.sampled_from([*ACTIONS, "READ", ""]) | json_values,
    "resource": st.text(max_size=5) | json_values,
    "status": st.integers(-10, 1000) | json_values,
    "patient_ids": st.lists(st.text(max_size=4), max_size=3) | json_values,
    "records": st.integers(-3, 10) | json_values,
    "src_ip": st.sampled_from(["10.0.0.1", "::1", "300.1.1.1", "x"]) | json_values,
}
near_events = st.fixed_dictionaries({}, optional=field_values)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_when_input_is_arbitrary_bytes_then_only_parse_error_is_raised(raw: bytes) -> None:
    try:
        PARSER.parse(raw)
    except ParseError as exc:
        assert exc.reason


@settings(max_examples=400)
@given(st.one_of(near_events, json_values))
def test_when_input_is_arbitrary_json_then_it_parses_or_raises_parse_error(obj: object) -> None:
    try:
        event = PARSER.parse(orjson.dumps(obj))
    except ParseError as exc:
        assert exc.reason
    else:
        assert isinstance(event, AccessEvent) and event.tenant and event.actor


offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
events = st.builds(
    AccessEvent,
    ts=st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1), timezones=offsets | st.just(UTC)),
    tenant=text,
    actor=text,
    action=st.sampled_from(ACTIONS),
    resource=text,
    event_id=st.none() | text,
    session=st.none() | text,
    src_ip=st.none() | st.ip_addresses(v=4).map(str),
    user_agent=st.none() | text,
    method=st.none() | st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    route=st.none() | text,
    status=st.integers(100, 599),
    patient_ids=st.lists(text, max_size=5),
    records=st.none() | st.integers(0, 10**9),
    bytes=st.none() | st.integers(0, 10**12),
    query=st.none() | text,
    extra=st.none()
    | st.dictionaries(st.sampled_from(["site", "geo", "x_trace"]), json_values, min_size=1),
)


@settings(max_examples=300)
@given(events)
def test_when_an_event_is_rendered_then_parsing_gives_it_back(event: AccessEvent) -> None:
    assert PARSER.parse(render_jsonl(event)) == event
