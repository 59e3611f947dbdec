"""Reading sources into one time-ordered, de-duplicated stream."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from tests.helpers import event, write_jsonl
from vigile.errors import InputError
from vigile.quarantine import Quarantine
from vigile.stream import EventReader


def ids(reader: EventReader) -> list[str]:
    return [e.event_id or "" for e in reader]


def test_when_two_files_are_given_then_events_are_merged_in_time_order(tmp_path: Path) -> None:
    a = write_jsonl(
        tmp_path / "a.jsonl",
        [
            event(event_id="a1", ts="2026-03-02T09:00:00Z"),
            event(event_id="a2", ts="2026-03-02T09:02:00Z"),
        ],
    )
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [
            event(event_id="b1", ts="2026-03-02T10:01:00+01:00"),
            event(event_id="b2", ts="2026-03-02T09:03:00Z"),
        ],
    )
    assert ids(EventReader([a, b])) == ["a1", "b1", "a2", "b2"]


def test_when_lines_are_slightly_out_of_order_then_they_are_reordered(tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "a.jsonl",
        [
            event(event_id="1", ts="2026-03-02T09:00:05Z"),
            event(event_id="2", ts="2026-03-02T09:00:01Z"),
            event(event_id="3", ts="2026-03-02T09:00:09Z"),
        ],
    )
    reader = EventReader([f], lateness=30)
    assert ids(reader) == ["2", "1", "3"]
    assert reader.stats.late == 0


def test_when_a_line_is_later_than_the_lateness_then_it_is_kept_and_counted_late(
    tmp_path: Path,
) -> None:
    f = write_jsonl(
        tmp_path / "a.jsonl",
        [
            event(event_id="1", ts="2026-03-02T09:00:00Z"),
            event(event_id="2", ts="2026-03-02T09:10:00Z"),
            event(event_id="3", ts="2026-03-02T09:10:06Z"),  # releases 2
            event(event_id="4", ts="2026-03-02T09:05:00Z"),  # older than what was released
        ],
    )
    reader = EventReader([f], lateness=5)
    assert ids(reader) == ["1", "2", "4", "3"]
    assert reader.stats.late == 1 and reader.stats.accepted == 4


def test_when_an_event_id_repeats_then_it_counts_once(tmp_path: Path) -> None:
    rows = [event(event_id="x"), event(event_id="y"), event(event_id="x")]
    f = write_jsonl(tmp_path / "a.jsonl", rows)
    g = write_jsonl(tmp_path / "b.jsonl", [event(event_id="y")])
    reader = EventReader([f, g])
    assert sorted(ids(reader)) == ["x", "y"]
    assert reader.stats.duplicates == 2 and reader.stats.accepted == 4


def test_when_events_have_no_id_then_none_is_dropped(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [event(event_id=...), event(event_id=...)])
    assert len(list(EventReader([f]))) == 2


def test_when_lines_are_bad_then_they_are_quarantined_with_line_and_reason(tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "a.jsonl", [event(event_id="1"), "{oops", b"\xff", "", event(status=7)]
    )
    qpath = tmp_path / "q.jsonl"
    with Quarantine(qpath) as q:
        reader = EventReader([f], quarantine=q)
        assert ids(reader) == ["1"]
    entries = [json.loads(x) for x in qpath.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2, 3, 5]
    assert all(e["source"] == str(f) for e in entries)
    assert entries[0]["raw"] == "{oops" and entries[1]["raw"] == "\\xff"
    assert entries[2]["reason"].startswith("status:")
    s = reader.stats
    assert (s.read, s.accepted, s.quarantined) == (4, 1, 3)


def test_when_file_is_gzip_then_it_is_read_whatever_its_name(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "audit.log", [event(event_id="g")], gz=True)
    assert ids(EventReader([f])) == ["g"]


def test_when_gzip_is_truncated_then_a_clear_input_error_is_raised(tmp_path: Path) -> None:
    data = gzip.compress(
        b"\n".join(json.dumps(event(event_id=str(i))).encode() for i in range(500))
    )
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip"):
        list(EventReader([f]))


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable"])
def test_when_path_cannot_be_read_then_input_error_names_it(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.jsonl"
    if kind == "directory":
        path.mkdir()
    elif kind == "unreadable":
        path.write_text("{}\n")
        path.chmod(0)  # root ignores modes: make the open itself refuse, as it would for a user

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("vigile.sources.files.io.FileIO", refuse)
    with pytest.raises(InputError, match=str(path)):
        list(EventReader([path]))


def test_when_path_is_dash_then_standard_input_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (json.dumps(event(event_id="in")) + "\n").encode()
    fake = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdin", fake)
    assert ids(EventReader(["-"])) == ["in"]
