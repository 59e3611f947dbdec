"""ScheduleLine: an AccessEvent read with its patient ids left as JSON, made whole on demand."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from vigile.events import AccessEvent, ScheduleLine, event_key


def test_the_fields_are_the_access_events() -> None:
    """Same names, wire names, types, checks, defaults and order, but for the ids: a
    field added to AccessEvent and not here would be refused on the polls alone."""
    ours = {f.name: f for f in msgspec.structs.fields(ScheduleLine)}
    theirs = {f.name: f for f in msgspec.structs.fields(AccessEvent)}
    assert list(ours) == list(theirs)
    for name, field in theirs.items():
        mine = ours[name]
        assert mine.encode_name == field.encode_name, name
        if name == "patient_ids":
            assert mine.type is msgspec.Raw and bytes(mine.default) == b"[]"
            continue
        assert (mine.type, mine.default, mine.default_factory) == (
            field.type,
            field.default,
            field.default_factory,
        ), name
    assert ScheduleLine.__struct_config__.forbid_unknown_fields


_POLL = {
    "ts": "2026-03-02T09:00:00.5+01:00",
    "tenant": "cab-0001",
    "actor": "svc.agenda.0001",
    "session": "s-1",
    "src_ip": "82.64.12.7",
    "user_agent": "Agenda/3.2",
    "action": "list",
    "resource": "appointment",
    "method": "GET",
    "route": "/api/v1/appointments",
    "patient_ids": ["P0000001", "P0000002"],
    "bytes": 812,
    "$vigile_extra": {"k": 1},
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"event_id": "ev-1"},
        {"records": 40, "status": 206, "query": "day=2026-03-02"},
        {"patient_ids": []},
        {"patient_ids": ["P\u00e9", "P 2"]},
    ],
)
def test_made_whole_it_is_the_event_a_full_decode_gives(change: dict[str, object]) -> None:
    line = orjson.dumps({**_POLL, **change})
    whole = msgspec.json.decode(line, type=AccessEvent)
    sched = msgspec.json.decode(line, type=ScheduleLine)
    assert sched.whole() == whole
    assert sched.whole().records == whole.records
    # the watermark of a checkpoint names it the same way, with or without an id
    assert event_key(sched) == event_key(whole)


def test_a_line_without_ids_is_whole_with_no_ids() -> None:
    data = {k: v for k, v in _POLL.items() if k != "patient_ids"}
    sched = msgspec.json.decode(orjson.dumps(data), type=ScheduleLine)
    assert sched.whole() == msgspec.json.decode(orjson.dumps(data), type=AccessEvent)
    assert sched.whole().patient_ids == [] and sched.whole().records == 0


def test_made_whole_the_ids_keep_their_checks() -> None:
    """whole() is the full decode's event only for ids the reader checked; given ids a
    full decode refuses, it refuses them too (an empty id), never makes an event."""
    sched = msgspec.json.decode(
        orjson.dumps({**_POLL, "patient_ids": ["P1", ""]}), type=ScheduleLine
    )
    with pytest.raises(msgspec.ValidationError):
        sched.whole()
