"""The fused replay reader gives exactly what the shared EventReader gives."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.detect import builders
from vigile.detect import _lines as _lines_module
from vigile.detect.facts import EventClock
from vigile.detect.reader import ReplayReader
from vigile.errors import InputError
from vigile.events import AccessEvent, ScheduleLine
from vigile.quarantine import Quarantine
from vigile.stream import EventReader


def _event(i: int, second: float, **extra: object) -> dict[str, object]:
    minute, sec = divmod(second, 60)
    ev: dict[str, object] = {
        "ts": f"2026-03-02T09:{int(minute):02d}:{sec:06.3f}+01:00",
        "event_id": f"ev-{i}",
        "tenant": "cab-0001",
        "actor": "dr.martin.0001",
        "session": "s-1",
        "src_ip": "82.64.12.7",
        "action": "read",
        "resource": "patient",
        "patient_ids": [f"P{100000 + i:07d}"],
    }
    ev.update(extra)
    return ev


def _messy_lines() -> list[bytes]:
    """In order, slightly out of order, late, duplicated, bad, blank, extra fields, IPv6."""
    lines: list[bytes] = []
    t = 0.0
    for i in range(400):
        t += 0.7
        second = t
        if i % 17 == 5:
            second = t - 12  # within the lateness: reordered
        if i % 53 == 7:
            second = max(0.0, t - 200)  # beyond the lateness: late
        extra: dict[str, object] = {}
        if i % 29 == 3:
            extra["src_ip"] = "2a01:cb00:1234:5600::17"
        if i % 31 == 4:
            extra["src_ip"] = "::ffff:82.64.12.9"
        if i % 37 == 6:
            extra["x_vendor"] = {"k": i}  # unknown field: kept as extra
        lines.append(orjson.dumps(_event(i, second, **extra)))
        if i % 41 == 9:
            lines.append(orjson.dumps(_event(i, second, **extra)))  # replayed duplicate
        if i % 43 == 10:
            lines.append(b"")
        if i % 47 == 11:
            lines.append(b'{"ts": "2026-03-02T09:00:00+01:00", "tenant": ')  # truncated
        if i % 59 == 12:
            lines.append(orjson.dumps(_event(10_000 + i, second, src_ip="not-an-ip")))
        if i % 61 == 13:
            lines.append(orjson.dumps(_event(20_000 + i, second, action="steal")))
    return lines


def _read(
    cls: type[EventReader], path: Path, tmp: Path, lateness: float = 30.0, dedup: float = 3600.0
) -> tuple[list[Any], dict[str, Any], list[Any]]:
    qpath = tmp / f"{cls.__name__}.quarantine.jsonl"
    with Quarantine(qpath) as q:
        reader = cls([path], "jsonl", quarantine=q, lateness=lateness, dedup_window=dedup)
        events = [(e.ts_us, e.event_id, e.src_ip, e.extra, e.patient_ids) for e in reader]
    stats = reader.stats.as_dict()
    quarantined = [orjson.loads(x) for x in qpath.read_bytes().splitlines()]
    return events, stats, quarantined


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("lateness", [30.0, 0.0])
def test_same_events_counts_and_quarantine(tmp_path: Path, compress: bool, lateness: float) -> None:
    data = b"\n".join(_messy_lines()) + b"\n"
    path = tmp_path / ("events.jsonl.gz" if compress else "events.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)
    a, sa, qa = _read(EventReader, path, tmp_path, lateness)
    b, sb, qb = _read(ReplayReader, path, tmp_path, lateness)
    assert b == a
    assert sb == sa
    assert [(x["line"], x["reason"]) for x in qb] == [(x["line"], x["reason"]) for x in qa]
    # the file really exercises every path
    assert sa["late"] > 0 and sa["duplicates"] > 0 and sa["quarantined"] >= 4
    assert any(e[3] for e in a) and any(":" in (e[2] or "") for e in a)


def test_scene_world_identical(tmp_path: Path) -> None:
    world = builders.World()
    world.normal_days(days=2)
    world.write(tmp_path)
    path = tmp_path / "events.jsonl"
    a, sa, _ = _read(EventReader, path, tmp_path)
    b, sb, _ = _read(ReplayReader, path, tmp_path)
    assert len(a) > 200 and b == a and sb == sa


def test_other_inputs_fall_back(tmp_path: Path) -> None:
    lines = _messy_lines()
    one, two = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    one.write_bytes(b"\n".join(lines[::2]) + b"\n")
    two.write_bytes(b"\n".join(lines[1::2]) + b"\n")
    a = [e.event_id for e in EventReader([one, two])]
    b = [e.event_id for e in ReplayReader([one, two])]
    assert a == b and len(a) > 100


def test_timed_gives_the_engine_clock_of_every_event(tmp_path: Path) -> None:
    """``timed()``: the seconds, day and hour :class:`EventClock` computes, for events in
    order, reordered and late, across hours, days and UTC offsets (a half-hour one too)."""
    lines = _messy_lines()
    stamps = [
        "2026-03-28T23:59:59.999999+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-29T03:00:00.000001+02:00",
        "2026-03-29T02:59:59.5+01:00",  # late: an hour earlier in an other offset
        "2026-03-29T07:45:12.345678+05:30",
        "2026-03-29T03:30:00Z",
        "2026-03-29T04:00:00+02:00",
    ]
    for i, ts in enumerate(stamps):
        lines.append(orjson.dumps({**_event(50_000 + i, 0.0), "ts": ts}))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")  # Windows line endings too
    timed = ReplayReader([path], lateness=30.0).timed()
    assert timed is not None
    stream, now = timed
    got, want = [], []
    for ev in stream:
        clock = EventClock()  # a fresh clock: nothing carried from the previous event
        want.append((clock.seconds(ev.ts), clock.day, clock.hour))
        got.append((now.t, now.day, now.hour))
    assert len(got) > 390 and got == want
    assert len({d for _, d, _ in got}) >= 3 and len({h for _, _, h in got}) >= 5
    # the plain iteration gives the same events; other inputs are not timed
    assert [e.event_id for e in ReplayReader([path], lateness=30.0)] == [
        e.event_id for e in EventReader([path], lateness=30.0)
    ]
    assert ReplayReader([path, path]).timed() is None


def test_a_truncated_gzip_file_is_the_same_clear_error(tmp_path: Path) -> None:
    """The fused loop reads the file itself: a broken file still stops with the one-line
    error (where the file ends) that EventReader gives, never a traceback."""
    data = gzip.compress(b"\n".join(_messy_lines()) + b"\n")
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    errors = []
    for cls in (EventReader, ReplayReader):
        with pytest.raises(InputError) as info:
            list(cls([path]))
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert "truncated gzip file" in errors[1] and "lines before it were read" in errors[1]


def _both_readers(path: Path, tmp: Path, **kw: Any) -> list[Any]:
    """What EventReader, the fused loop, then the fused loop as the engine reads it
    (``timed()``: schedule polls as :class:`ScheduleLine`, made whole here) make of
    ``path``: the events, the quarantine's (line, reason) pairs and the counts. Each
    reading's counts end with how many events came as schedule lines."""
    got = []
    for cls, timed in ((EventReader, False), (ReplayReader, False), (ReplayReader, True)):
        qpath = tmp / f"{cls.__name__}.{timed}.quarantine.jsonl"
        with Quarantine(qpath) as q:
            reader = cls([path], quarantine=q, **kw)
            stream: Any = reader
            if timed:
                pair = reader.timed()
                assert pair is not None
                stream = pair[0]
            lines = list(stream)
            events = [
                msgspec.structs.asdict(e.whole() if isinstance(e, ScheduleLine) else e)
                for e in lines
            ]
        reasons = [
            (x["line"], x["reason"]) for x in map(orjson.loads, qpath.read_bytes().splitlines())
        ]
        polls = sum(isinstance(e, ScheduleLine) for e in lines)
        assert all(isinstance(e, AccessEvent) for e in lines) or timed
        got.append((events, reasons, reader.stats.as_dict()))
        got.append(polls)
    return got


def _same(got: list[Any]) -> int:
    """Assert the three readings of :func:`_both_readers` agree; the schedule lines."""
    assert got[2] == got[0]
    assert got[4] == got[0]
    assert got[1] == got[3] == 0
    return int(got[5])


#: whether the reader's poll checks are the C module (then it reads polls raw)
_NATIVE_LINES = not (_lines_module.__file__ or "").endswith(".py")

#: patient id lists as they may come, valid or not, the same one often again
_ID_LISTS: list[bytes | None] = [
    b'["P0000001","P0000002","P0000003"]',
    b'["P0000001","P0000002","P0000003"]',
    b'["P0000001", "P0000002","P0000003"]',  # the same ids, other spacing
    b'["P0000001"]',
    b'["P\\u00e9001"]',  # an escape
    b'["P\xc3\xa9001"]',  # the same id, in UTF-8
    b"[]",
    None,  # no patient_ids at all
    b'[""]',  # an empty id: quarantined
    b'["P0000001",""]',
    b'["P0000001",7]',
    b'[["P0000001"]]',
    b'"P0000001"',
    b"null",
    b"{}",
    b'[ "P0000001" ,\t"P0000002"\r\n]',  # JSON whitespace everywhere
    b"[ ]",
    b'["P0000001",]',  # a trailing comma: quarantined
    b'["P000\x7f1"]',  # DEL: a JSON string may hold it
    b'["P0\\"]',
    b'["P\xff001"]',  # not UTF-8: quarantined
    b'["P,0001","P]0002","P[0003"]',
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(0, len(_ID_LISTS) - 1),
            st.sampled_from([None, 0, 5]),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_patient_id_lists_are_those_of_the_event_reader(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[int, int, int | None, bool]]
) -> None:
    """Patient id lists as they come, valid or not, repeated by an actor or not, with or
    without ``records``, in reads and in schedule polls: the fused loop's events,
    quarantine and counts are exactly the EventReader's, read plainly or as the engine
    reads them (a guard for any shortcut taken on the lists, the bulk of the bytes)."""
    tmp = tmp_path_factory.mktemp("ids")
    out = []
    for i, (actor, which, records, poll) in enumerate(lines):
        ev = _event(i, float(i))
        ev["actor"] = f"dr.martin.{actor:04d}"
        if poll:
            ev["action"], ev["resource"] = "list", "appointment"
        del ev["patient_ids"]
        if records is not None:
            ev["records"] = records
        line = orjson.dumps(ev)
        ids = _ID_LISTS[which]
        if ids is not None:
            line = line[:-1] + b',"patient_ids":' + ids + b"}"
        out.append(line)
    path = tmp / "events.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    _same(_both_readers(path, tmp))


#: a long line (a schedule of 40 patients) written every way a producer might, valid or
#: not: its head (time and id), its size (``bytes``) and the rest, with keys given twice,
#: escaped, or inside the extras
_HEADS = [
    b'{"ts":"2026-03-02T09:%(m)02d:00.5+01:00","event_id":"ev-%(i)d",',
    b'{"ts":"2026-03-02T09:%(m)02d:00Z","event_id":"ev-%(i)d",',
    b'{"ts":"2026-03-02T09:%(m)02d:00","event_id":"ev-%(i)d",',  # no offset: refused
    b'{"ts":"2026-03-02T09:%(m)02d:00+01:00","event_id":"ev-\\u00e9%(i)d",',  # an escape
    b'{"ts":"2026-03-02T09:%(m)02d:00+01:00","event_id":"ev-\xc3\xa9%(i)d",',  # not ASCII
    b'{"ts":"2026-03-02T09:%(m)02d:00+01:00","event_id":"ev-\x01%(i)d",',  # a control
    b'{"ts":"2026-03-02T09:%(m)02d:00+01:00","event_id":"ev-%(i)d\\"",',  # an escaped quote
    b'{"ts":"2026-03-02T09:%(m)02d:00\\u002b01:00","event_id":"ev-%(i)d",',
    b'{"ts": "2026-03-02T09:%(m)02d:00+01:00", "event_id": "ev-%(i)d",',  # spaced
    b'{"ts":"2026-03-02T09:%(m)02d:00+01:00","event_id":null,',
]
_SIZES = [b"0", b"41", b"4211", b"007", b"-3", b"12.0", b"5e2", b"99999999999999999999", b'"7"']
_RESTS = [
    b'"tenant":"cab-0001","actor":"dr.martin.0001","session":"s-1","src_ip":"82.64.12.7",'
    b'"action":"list","resource":"appointment","patient_ids":%(ids)s,"records":40',
    b'"tenant":"cab-0001","actor":"dr.martin.0001","src_ip":"::ffff:82.64.12.9",'
    b'"action":"list","resource":"appointment","patient_ids":%(ids)s',
    b'"tenant":"cab-0001","actor":"dr.martin.0001","src_ip":"not-an-ip",'
    b'"action":"list","resource":"appointment","patient_ids":%(ids)s',
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"ts":"2026-03-02T10:00:00+01:00","patient_ids":%(ids)s',  # ts given twice
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"bytes":3,"patient_ids":%(ids)s',  # bytes given twice
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"x_vendor":{"a":1,"bytes":9},"patient_ids":%(ids)s',  # a bytes inside an unknown field
    b'"tenant":"cab-0001","actor":"dr.martin\\u002e0001","action":"list",'
    b'"resource":"appointment","patient_ids":%(ids)s',
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"event_id":"ev-again","patient_ids":%(ids)s',  # event_id given twice
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"t\\u0073":"2026-03-02T10:00:00+01:00","patient_ids":%(ids)s',  # ts again, escaped
    # a size inside the extras (the strict decode's own field), after or with a size
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"patient_ids":%(ids)s,"$vigile_extra":{"a":1,"bytes":%(n)s}',
    b'"tenant":"cab-0001","actor":"dr.martin.0001","action":"list","resource":"appointment",'
    b'"bytes":41,"patient_ids":%(ids)s,"$vigile_extra":{"a":1,"bytes":%(n)s}',
]


def test_long_lines_written_every_way_are_read_as_the_event_reader_reads_them(
    tmp_path: Path,
) -> None:
    """Every rest, with every head and every size before, after or without it: the
    fused loop's events, quarantine and counts are exactly the EventReader's, with the
    de-duplication on and off."""
    ids = orjson.dumps([f"P{k:07d}" for k in range(40)])
    out = []
    for rest in _RESTS:
        for where in ("after", "before", "none"):
            for size in _SIZES:
                body = rest % {b"ids": ids, b"n": size}
                if where == "after":
                    body = body + b',"bytes":' + size
                elif where == "before":
                    body = b'"bytes":' + size + b"," + body
                for head in _HEADS:
                    i = len(out)
                    out.append(head % {b"m": i % 60, b"i": i} + body + b"}")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    for window in (0.0, 3600.0):
        got = _both_readers(path, tmp_path, dedup_window=window)
        polls = _same(got)
        assert len(got[0][0]) > 1000 and len(got[0][1]) > 1000
        if _NATIVE_LINES:  # the C checks: polls read as schedule lines, ids left as JSON
            assert polls > 300
        else:  # pure Python: every event read whole
            assert polls == 0


def test_a_dedup_window_of_zero_keeps_every_event(tmp_path: Path) -> None:
    """``dedup_window=0`` turns the de-duplication off in both readers: the same event
    id twice is two events (the fused loop used to drop it within a microsecond)."""
    lines = [orjson.dumps(_event(1, 1.0)), orjson.dumps(_event(1, 1.0))]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    off = _both_readers(path, tmp_path, dedup_window=0.0)
    _same(off)
    assert len(off[0][0]) == 2 and off[0][2]["duplicates"] == 0
    on = _both_readers(path, tmp_path)
    _same(on)
    assert len(on[0][0]) == 1 and on[0][2]["duplicates"] == 1


_JSON_WS = st.sampled_from(["", " ", "\t", "\r\n", "  "])


@st.composite
def _id_arrays(draw: st.DrawFn) -> bytes:
    """JSON arrays as a producer may write patient ids: plain, spaced, escaped, empty,
    not strings, nested, or cut short."""
    items = draw(
        st.lists(
            st.one_of(
                st.text(alphabet="P0123456789-_,[]{} ", max_size=12),
                st.text(max_size=4),  # any character, escaped by the encoder or not
                st.integers(),
                st.none(),
                st.lists(st.text(max_size=3), max_size=2),
            ),
            max_size=6,
        )
    )
    ascii_only = draw(st.booleans())  # escaped (\\u00e9) or written in UTF-8
    parts = [json.dumps(x, ensure_ascii=ascii_only) for x in items]
    ws = [draw(_JSON_WS) for _ in range(2 * len(parts) + 2)]
    body = ",".join(f"{ws[2 * k]}{p}{ws[2 * k + 1]}" for k, p in enumerate(parts))
    text = f"{ws[-2]}[{body or ws[-1]}]"
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate: bytes not UTF-8
    cut = draw(st.integers(0, 3))
    return data[:-cut] if cut else data


@settings(max_examples=400, deadline=None)
@given(st.one_of(_id_arrays(), st.binary(max_size=40)))
def test_plain_ids_says_how_many_ids_only_when_the_decoder_agrees(data: bytes) -> None:
    """``plain_ids`` (C, as built, and the Python of ``_lines.py``): the same answer, and
    an answer of n >= 0 only for an array that decodes as patient ids to n strings."""
    from vigile.detect import _lines
    from vigile.events import NonEmpty

    python = _lines_source().plain_ids(data)
    assert _lines.plain_ids(data) == python
    assert _lines.plain_ids(msgspec.Raw(data)) == python
    if python >= 0:
        ids = msgspec.json.decode(data, type=list[NonEmpty])
        assert len(ids) == python


def _lines_source() -> Any:
    """``vigile/detect/_lines.py`` itself, even where the C module is what imports."""
    import importlib.util

    from vigile.detect import _lines

    src = Path(_lines.__file__).with_name("_lines.py")
    spec = importlib.util.spec_from_file_location("_lines_py", src)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_ids_of_arrays_written_by_hand() -> None:
    from vigile.detect import _lines

    cases = {
        b'["P1","P2"]': 2,
        b' [ "P1" ,\t"P2"\r\n] ': 2,
        b"[]": 0,
        b"[ ]": 0,
        b'["P1",]': -1,
        b'[""]': -1,
        b'["P\\u00e9"]': -1,
        b'["P\xc3\xa9"]': -1,
        b'["P1",2]': -1,
        b'[["P1"]]': -1,
        b'"P1"': -1,
        b'["P1"': -1,
        b'["P1"]x': -1,
        b"": -1,
    }
    for data, want in cases.items():
        assert _lines.plain_ids(data) == want, data
        assert _lines_source().plain_ids(data) == want, data


_POLL_HEAD = (
    b'{"ts":"2026-03-02T09:00:%02d+01:00","event_id":"ev-%d","tenant":"cab-0001",'
    b'"actor":"svc.agenda.0001","action":"list","resource":"appointment",'
)
_DEEP = b"[" * 1200 + b"]" * 1200


@pytest.mark.parametrize(
    "rest",
    [
        b'"patient_ids":[""],"patient_ids":["P1"]}',  # the first value refused
        b'"patient_ids":7,"patient_ids":["P1"]}',
        b'"patient_ids":null,"patient_ids":["P1"]}',
        b'"patient_ids":[["P1"]],"patient_ids":["P1"]}',
        b'"patient_ids":["P\xff"],"patient_ids":["P1"]}',
        b'"patient\\u005fids":[""],"patient_ids":["P1"]}',  # the key escaped
        b'"patient_ids":["P1"],"patient\\u005fids":[""]}',
        b'"patient_ids":["P1"],"patient_ids":["P2","P3"]}',  # both valid: the last one
        b'"patient_ids":' + _DEEP + b"}",  # nested a thousand deep
        b'"patient_ids":["P1"],"x_vendor":' + _DEEP + b"}",
        b'"patient_ids":["P1"],"$vigile_extra":{"a":' + _DEEP + b"}}",
        b'"patient_ids":["P1"],"query":"\\"patient_ids\\""}',  # the mark inside a value
        b'"patient_ids":["P1","P2"]}',  # a plain poll
    ],
)
def test_polls_with_keys_given_twice_or_nested_deep_read_as_the_event_reader_reads_them(
    tmp_path: Path, rest: bytes
) -> None:
    """A key given twice (JSON lets it; the last value is the field's, but the full decode
    checks the first too), written escaped, or a value nested deeper than the decoder
    goes: the same event, or the same quarantine reason, read every way; never a
    traceback (a thousand nested arrays stopped `detect` with a RecursionError)."""
    lines = [_POLL_HEAD % (i, i) + rest for i in range(3)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = _both_readers(path, tmp_path)
    _same(got)
    assert len(got[0][0]) + len(got[0][1]) == 3


_PARTS = [
    b'"action":"list"',
    b'"resource":"appointment"',
    b'"patient_ids"',
    b'"patient_ids":',
    b'"patient_ids" :\t',
    b"\\",
    b":",
    b" ",
    b",",
    b"x",
    b'"action":"lis',
    b'"patient_id',
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PARTS), max_size=8), st.integers(-2, 120))
def test_the_line_checks_are_the_same_in_c_and_python(parts: list[bytes], start: int) -> None:
    from vigile.detect import _lines

    line = b"{" + b"".join(parts) + b"}"
    py = _lines_source()
    assert _lines.schedule_poll(line) == py.schedule_poll(line)
    assert _lines.schedule_poll(bytearray(line)) == _lines.schedule_poll(line)
    assert _lines.key_before(line, start) == py.key_before(line, start)


@pytest.mark.skipif(not _NATIVE_LINES, reason="raw_ids needs the C module (built by make venv)")
def test_raw_ids_counts_only_a_value_of_this_line_under_its_only_key() -> None:
    from vigile.detect import _lines

    decode = msgspec.json.Decoder(ScheduleLine).decode
    base = _POLL_HEAD % (0, 0)
    cases = {
        b'"patient_ids":["P1","P2"]}': 2,
        b'"patient_ids" : [ "P1" ] }': 1,
        b'"patient_ids":[]}': 0,
        b'"route":"patient_ids","patient_ids":["P1"]}': -1,  # the first is a value: unsure
        b'"route":"\\"patient_ids\\"","patient_ids":["P1"]}': -1,  # a backslash before
        b'"patient_ids":[""],"patient_ids":["P1"]}': -1,  # given twice
        b'"patient\\u005fids":[""],"patient_ids":["P1"]}': -1,
        b'"patient_ids":["P1"],"query":"\\\\"}': 1,  # a backslash after: no key there
        b'"patient_ids":["P\\u00e9"]}': -1,
        b'"status":200}': -1,  # no ids: the field's default lies in no line
    }
    for rest, want in cases.items():
        line = base + rest
        raw = decode(line).patient_ids
        assert _lines.raw_ids(line, raw) == want, rest
    # a Raw of another line (equal bytes, elsewhere) is not counted
    line = base + b'"patient_ids":["P1"]}'
    other = decode(bytes(bytearray(line))).patient_ids
    assert _lines.raw_ids(line, other) == -1
    assert _lines_source().raw_ids(line, decode(line).patient_ids) == -1
