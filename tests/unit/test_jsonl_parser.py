"""The interface JSON Lines parser: every bad-input case gets a precise reason."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import orjson
import pytest

from tests.helpers import event
from vigile.errors import ParseError
from vigile.parsers import make_parser
from vigile.parsers.jsonl import JsonlParser, render_jsonl


def parse(obj: object) -> object:
    return JsonlParser().parse(obj if isinstance(obj, bytes) else msgspec.json.encode(obj))


def reason(obj: object) -> str:
    with pytest.raises(ParseError) as info:
        parse(obj)
    return info.value.reason


def test_when_line_is_a_valid_event_then_every_field_is_typed() -> None:
    e = JsonlParser().parse(orjson.dumps(event(records=None, bytes=5120, query=None)))
    assert e.tenant == "cab-0042" and e.action == "read" and e.patient_ids == ["P0001234"]
    assert e.ts.utcoffset() == timedelta(hours=1)
    assert e.records == 1  # defaults to len(patient_ids)
    assert e.status == 200 and e.bytes == 5120
    assert e.ts_us == 1_772_439_243_512_000


def test_when_optional_fields_are_absent_then_defaults_apply() -> None:
    e = JsonlParser().parse(
        b'{"ts":"2026-03-02T08:14:03Z","tenant":"t","actor":"a","action":"login","resource":"session"}'
    )
    assert e.status == 200 and e.patient_ids == [] and e.records == 0 and e.src_ip is None


def test_when_line_has_unknown_fields_then_they_are_kept_and_rendered_back() -> None:
    e = JsonlParser().parse(orjson.dumps(event(workstation="POSTE-3", geo={"cc": "FR"})))
    assert e.extra == {"workstation": "POSTE-3", "geo": {"cc": "FR"}}
    back = orjson.loads(render_jsonl(e))
    assert back["workstation"] == "POSTE-3" and back["geo"] == {"cc": "FR"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{", "invalid JSON"),
        (b"not json", "invalid JSON"),
        (b"[1, 2]", "expected `object`, got `array`"),
        (b"\xff\xfe{}", "invalid JSON"),
        (event(ts="2026-03-02T09:14:03"), "ts: expected `datetime` with a timezone component"),
        (event(ts="2026-02-30T09:14:03Z"), "ts: invalid RFC3339"),
        (event(ts=1772439243), "ts: expected `datetime`, got `int`"),
        (event(action="READ"), "action: 'READ' is not one of login"),
        (event(status=700), "status: expected `int` <= 599"),
        (event(status=99), "status: expected `int` >= 100"),
        (event(status="200"), "status: expected `int`, got `str`"),
        (event(records=-1), "records: expected `int` >= 0"),
        (event(bytes=-5), "bytes: expected `int` >= 0"),
        (event(records=2**64), "records: expected `int` <= 9223372036854775807"),
        (event(patient_ids="P1"), "patient_ids: expected `array`, got `str`"),
        (event(patient_ids=[1]), "patient_ids[0]: expected `str`, got `int`"),
        (event(patient_ids=[""]), "patient_ids[0]: expected `str` of length >= 1"),
        (event(tenant=""), "tenant: expected `str` of length >= 1"),
        (event(tenant=...), "object missing required field `tenant`"),
        (event(actor=None), "actor: expected `str`, got `null`"),
        (event(src_ip="999.1.1.1"), "src_ip '999.1.1.1' is not an IPv4/IPv6 address"),
        (event(src_ip="999.1.1.1", extra_field=1), "src_ip '999.1.1.1' is not an IPv4/IPv6"),
        (event(ts=..., extra_field=1), "object missing required field `ts`"),
    ],
)
def test_when_line_is_bad_then_parse_error_names_the_field(line: object, expected: str) -> None:
    assert expected in reason(line)


def test_when_src_ip_is_ipv4_mapped_or_bracketed_then_it_is_normalised() -> None:
    assert JsonlParser().parse(orjson.dumps(event(src_ip="::ffff:10.1.2.3"))).src_ip == "10.1.2.3"
    assert JsonlParser().parse(orjson.dumps(event(src_ip="[2001:DB8::1]"))).src_ip == "2001:db8::1"


def test_when_default_tenant_is_given_then_lines_without_tenant_are_accepted() -> None:
    parser = JsonlParser(default_tenant="cab-0001")
    assert parser.parse(orjson.dumps(event(tenant=...))).tenant == "cab-0001"


def test_when_format_is_unknown_then_error_lists_known_formats() -> None:
    from vigile.errors import InputError

    with pytest.raises(InputError, match=r"known formats: .*jsonl"):
        make_parser("syslog")


def test_when_bytes_inside_a_string_are_not_utf8_then_the_reason_says_so() -> None:
    line = b'{"ts":"2026-03-02T09:14:03Z","tenant":"a\xff","actor":"x","action":"read"}'
    assert reason(line) == "line is not valid UTF-8"


def test_when_a_line_holds_two_objects_then_it_is_malformed_not_a_crash() -> None:
    assert reason(b'{"a":1}{"b":2}').startswith("invalid JSON: trailing characters")
