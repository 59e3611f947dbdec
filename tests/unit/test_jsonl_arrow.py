"""The bulk JSON Lines path gives exactly what the line-by-line path gives."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import event
from vigile.errors import ParseError
from vigile.parsers.jsonl import JsonlParser
from vigile.parsers.jsonl_arrow import block_table, decode_block
from vigile.quarantine import Quarantine
from vigile.store.parquet import events_to_table
from vigile.stream import EventReader

TS = [
    "2026-03-02T09:14:03.512+01:00",
    "2026-03-02T09:14:03Z",
    "2026-03-02T09:14:03.5Z",
    "2026-03-02T09:14:03.123456Z",
    "2026-03-02T09:14:03.1234567Z",  # more than microseconds
    "2026-03-02T09:14:03.Z",
    "2026-03-02T23:59:59.999-05:30",
    "2026-03-02T09:14:03-00:00",
    "2026-03-02T09:14:03+00:00",
    "2026-02-29T09:14:03Z",  # not a leap year
    "2024-02-29T09:14:03Z",
    "2026-04-31T09:14:03Z",
    "2026-03-02T24:00:00Z",
    "2026-03-02T09:60:00Z",
    "2026-03-02T09:14:60Z",
    "2026-03-02t09:14:03Z",
    "2026-03-02 09:14:03Z",
    "2026-03-02T09:14:03z",
    "2026-03-02T09:14:03",  # no offset
    "2026-03-02T09:14:03+24:00",
    "2026-03-02T09:14:03+23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59.999999Z",
    "2026-3-02T09:14:03Z",
    "２026-03-02T09:14:03Z",
]
VARIANTS: list[dict[str, object]] = [
    {},
    {"status": 404},
    {"status": 99},
    {"status": 600},
    {"status": None},
    {"status": ...},
    {"patient_ids": ...},
    {"patient_ids": None},
    {"patient_ids": []},
    {"patient_ids": ["P1", "P2", "P3"]},
    {"patient_ids": [""]},
    {"patient_ids": [None]},
    {"records": 7},
    {"records": -1},
    {"records": None},
    {"bytes": 0},
    {"bytes": -5},
    {"bytes": 2**63 - 1},
    {"bytes": 2**64},
    {"event_id": ...},
    {"event_id": ""},
    {"event_id": None},
    {"tenant": ""},
    {"tenant": ...},
    {"tenant": 5},
    {"actor": None},
    {"action": "peek"},
    {"action": "export"},
    {"src_ip": "082.1.2.3"},
    {"src_ip": "::ffff:10.0.0.1"},
    {"src_ip": "[2001:db8::1]"},
    {"src_ip": "10.0.0.256"},
    {"src_ip": None},
    {"src_ip": "255.255.255.255"},
    {"query": "nom:MAR", "session": None},
    {"user_agent": 'é\u2028"quoted"\\'},
    {"big": 2**70, "x": "é"},  # extras
    {"$vigile_extra": {"a": 1}},
    {"status": 200.0},
    {"status": "200"},
    {"ts": None},
]
RAW = [
    b"",
    b"   ",
    b"\t",
    b"{not json",
    b"[1, 2]",
    b"5",
    b"{}",
    b'{"a":1}{"b":2}',
    b"\xef\xbb\xbf" + orjson.dumps(event()),
    b"  " + orjson.dumps(event(event_id="lead")),
    orjson.dumps(event(event_id="trail")) + b"  ",
    orjson.dumps(event(event_id="cr")) + b"\r",
    b'{"ts":"2026-03-02T09:14:03Z","tenant":"a\xff","actor":"x","action":"read","resource":"p"}',
    b'{"tenant":"a","tenant":"b","ts":"2026-03-02T09:14:03Z","actor":"x","action":"read",'
    b'"resource":"p","event_id":"dupkey"}',
    b'{ "ts" : "2026-03-02T09:14:03Z" , "tenant" : "t", "actor": "a", "action": "read", '
    b'"resource": "p", "event_id": "spaced", "status": null }',
]


def lines(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05:
            out.append(rng.choice(RAW))
            continue
        over: dict[str, object] = {"event_id": f"ev-{seed}-{i}"}
        if roll < 0.5:
            over |= rng.choice(VARIANTS)
        if rng.random() < 0.3:
            over["ts"] = rng.choice(TS)
        if rng.random() < 0.05:
            over["event_id"] = f"ev-{seed}-{rng.randrange(max(i, 1))}"  # a repeat
        out.append(msgspec.json.encode(event(**over)))
    return out


def line_by_line(data: bytes, parser: JsonlParser) -> tuple[pa.Table, list[tuple[int, str]]]:
    events, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            events.append(parser.parse(line))
        except ParseError as exc:
            bad.append((number, exc.reason))
    return events_to_table(events), bad


def bulk(data: bytes, parser: JsonlParser) -> tuple[pa.Table, list[tuple[int, str]], int]:
    bad: list[tuple[int, str]] = []
    block = decode_block(data, 1, parser, lambda n, reason, raw: bad.append((n, reason)))
    assert block.read - block.quarantined == len(block.events) + (
        block.wire.num_rows if block.wire is not None else 0
    )
    return block_table(block), bad, block.read


def test_when_lines_of_every_kind_are_decoded_in_bulk_then_the_result_is_line_by_line(
    tmp_path: Path,
) -> None:
    parser = JsonlParser()
    for seed in range(8):
        data = b"\n".join(lines(seed, 400))
        expected, expected_bad = line_by_line(data, parser)
        got, bad, read = bulk(data, parser)
        assert bad == expected_bad
        assert read == expected.num_rows + len(expected_bad)
        assert got.equals(expected), seed


def test_when_a_default_tenant_is_set_then_both_paths_fill_it_alike() -> None:
    parser = JsonlParser(default_tenant="cab-9")
    data = b"\n".join([orjson.dumps(event(tenant=...)), orjson.dumps(event(event_id="e2"))])
    expected, _ = line_by_line(data, parser)
    got, _, _ = bulk(data, parser)
    assert got.equals(expected)
    assert got.column("tenant").to_pylist() == ["cab-9", "cab-0042"]


def test_when_a_file_is_read_in_bulk_then_counts_quarantine_and_events_match(
    tmp_path: Path,
) -> None:
    data = b"\n".join(lines(99, 3000)) + b"\n"
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    results = []
    for columnar in (True, False):
        q = tmp_path / f"q-{columnar}.jsonl"
        with Quarantine(q) as quarantine:
            reader = EventReader([path], quarantine=quarantine, lateness=0, dedup_window=0)
            tables = list(reader.tables()) if columnar else [events_to_table(list(reader))]
            table = pa.concat_tables(tables)
        results.append((table, reader.stats.as_dict(), q.read_bytes()))
    (bulk_table, bulk_stats, bulk_q), (row_table, row_stats, row_q) = results
    assert bulk_table.equals(row_table)
    assert bulk_stats == row_stats
    assert bulk_q == row_q
    assert isinstance(bulk_stats["late"], int) and bulk_stats["late"] > 0
    assert isinstance(bulk_stats["quarantined"], int) and bulk_stats["quarantined"] > 0


@settings(max_examples=300)
@given(
    st.datetimes(),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.sampled_from([None, 1, 2, 3, 4, 5, 6]),
    st.booleans(),
)
def test_when_a_plain_timestamp_is_read_in_bulk_then_it_is_the_same_instant(
    when: object, offset: int, digits: int | None, zulu: bool
) -> None:
    from datetime import datetime

    assert isinstance(when, datetime)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{when.microsecond:06d}"[:digits]
    if zulu:
        text += "Z"
    else:
        sign = "-" if offset < 0 else "+"
        text += f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    data = orjson.dumps(event(ts=text))
    parser = JsonlParser()
    expected, expected_bad = line_by_line(data, parser)
    got, bad, _ = bulk(data, parser)
    assert bad == expected_bad
    assert got.equals(expected)
