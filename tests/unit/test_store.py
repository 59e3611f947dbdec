"""The embedded Parquet event store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from tests.helpers import event
from vigile.errors import InputError
from vigile.events import AccessEvent
from vigile.parsers.jsonl import JsonlParser
from vigile.store import EventFilter, open_store


def ev(**over: object) -> AccessEvent:
    return JsonlParser().parse(msgspec.json.encode(event(**over)))


def day_events() -> list[AccessEvent]:
    return [
        ev(event_id="e1", ts="2026-03-02T23:30:00+01:00", patient_ids=["P1", "P2"]),
        ev(event_id="e2", ts="2026-03-02T23:10:00Z", patient_ids=["P2"], actor="sec.durand.0042"),
        ev(event_id=..., ts="2026-03-03T08:00:00+01:00", patient_ids=["P3"], big=2**70, x="é"),
        ev(
            event_id="e4",
            ts="2026-03-01T12:00:00Z",
            patient_ids=[],
            action="login",
            resource="session",
        ),
    ]


def test_when_events_are_appended_then_they_read_back_in_time_order(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    result = store.append(day_events())
    assert (result.added, result.duplicates) == (4, 0)
    back = list(store.scan())
    assert [e.ts_us for e in back] == sorted(e.ts_us for e in day_events())
    assert back == sorted(day_events(), key=lambda e: e.ts_us)  # offsets and extras kept
    assert store.days() == ["2026-03-01", "2026-03-02", "2026-03-03"]  # UTC days


def test_when_the_same_events_are_ingested_twice_then_nothing_is_added(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append(day_events())
    again = store.append([*day_events(), ev(event_id="new", ts="2026-03-02T10:00:00Z")])
    assert (again.added, again.duplicates) == (1, 4)
    assert store.info().events == 5


def test_when_a_batch_repeats_a_key_then_it_is_stored_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    result = store.append([ev(event_id="d"), ev(event_id="d"), ev(event_id=...), ev(event_id=...)])
    assert (result.added, result.duplicates) == (2, 2)


def test_when_a_patient_is_queried_then_every_access_to_them_is_returned(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append(day_events(), batch_size=2)
    rows = store.patient_accesses("P2").to_pylist()
    assert [r["event_key"] for r in rows] == ["e1", "e2"]  # 22:30Z before 23:10Z
    assert {r["actor"] for r in rows} == {"dr.martin.0042", "sec.durand.0042"}
    assert store.patient_accesses("P404").num_rows == 0


def test_when_scan_is_filtered_then_only_matching_events_come_back(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append(day_events())
    where = EventFilter(
        since=datetime.fromisoformat("2026-03-02T00:00:00+00:00"),
        actors=frozenset({"dr.martin.0042"}),
    )
    assert [e.event_id for e in store.scan(where)] == ["e1", None]


def test_when_an_exposures_twin_is_missing_then_opening_rebuilds_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append(day_events())
    twins = sorted((tmp_path / "s" / "exposures").glob("day=*/part-*.parquet"))
    twins[0].unlink()
    reopened = open_store(tmp_path / "s")
    assert reopened.info().exposures == 4


def test_when_directory_is_not_a_store_then_a_clear_error_is_raised(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no event store here"):
        open_store(tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not a vigile event store"):
        open_store(tmp_path / "other", create=True)


def test_when_a_store_is_compacted_then_rows_are_unchanged_and_parts_merged(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    for i in range(5):
        store.append(
            [ev(event_id=f"c{i}", ts=f"2026-03-02T1{i}:00:00Z", patient_ids=[f"P{i}", "P9"])]
        )
    before = list(store.scan())
    assert store.info().parts == 5
    assert store.compact() == ["2026-03-02"]
    assert store.info().parts == 1 and store.info().exposures == 10
    assert list(store.scan()) == before
    assert [r["event_key"] for r in store.patient_accesses("P9").to_pylist()] == [
        f"c{i}" for i in range(5)
    ]
    again = store.append([ev(event_id="c3", ts="2026-03-02T13:00:00Z")])
    assert again.added == 0


def test_when_compaction_was_interrupted_then_opening_finishes_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append([ev(event_id="a", ts="2026-03-02T10:00:00Z")])
    store.append([ev(event_id="b", ts="2026-03-02T11:00:00Z")])
    day = tmp_path / "s" / "events" / "day=2026-03-02"
    old = sorted(p.name for p in day.glob("part-*"))
    # simulate a crash after the merged part landed but before the old ones were removed
    merged = "part-merged.parquet"
    import shutil

    shutil.copy(day / old[0], day / merged)
    shutil.copy(
        tmp_path / "s" / "exposures" / "day=2026-03-02" / old[0],
        tmp_path / "s" / "exposures" / "day=2026-03-02" / merged,
    )
    (day / ".compacting").write_text(" ".join([merged, *old]))
    reopened = open_store(tmp_path / "s")
    assert sorted(p.name for p in day.glob("part-*")) == [merged]
    assert not (day / ".compacting").exists()
    assert reopened.info().parts == 1


def test_when_the_key_index_is_lost_then_reingesting_still_adds_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s", create=True)
    store.append(day_events())
    runs = sorted((tmp_path / "s" / "keys").glob("day=*/run-*.u64"))
    assert len(runs) == 3  # one run per day touched
    runs[0].unlink()  # as after a crash between a part and its run
    import shutil

    shutil.rmtree(tmp_path / "s" / "keys" / "day=2026-03-03")
    again = open_store(tmp_path / "s").append(day_events())
    assert (again.added, again.duplicates) == (0, 4)
    assert len(sorted((tmp_path / "s" / "keys").glob("day=*/run-*.u64"))) == 3


def test_when_hashes_collide_then_only_the_same_keys_count_as_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from vigile.store import parquet

    # every key hashes alike: the index says "maybe stored" for all, the parts decide
    monkeypatch.setattr(parquet, "key_hashes", lambda keys: np.zeros(len(keys), np.uint64))
    store = open_store(tmp_path / "s", create=True)
    store.append([ev(event_id="a", ts="2026-03-02T10:00:00Z")])
    again = store.append(
        [ev(event_id="a", ts="2026-03-02T10:00:00Z"), ev(event_id="b", ts="2026-03-02T11:00:00Z")]
    )
    assert (again.added, again.duplicates) == (1, 1)
    assert sorted(e.event_id or "" for e in store.scan()) == ["a", "b"]


def test_when_a_day_is_appended_in_many_batches_then_runs_merge_and_dedup_stays_exact(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "s", create=True)
    batch = [
        ev(event_id=f"k{i}", ts=f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}Z") for i in range(64)
    ]
    for i in range(0, 64, 2):
        assert store.append(batch[i : i + 2]).added == 2
    runs = sorted((tmp_path / "s" / "keys" / "day=2026-03-02").glob("run-*.u64"))
    assert 1 <= len(runs) <= 6  # merged as they piled up (32 parts)
    again = store.append(batch)
    assert (again.added, again.duplicates) == (0, 64)
    store.compact()
    runs = sorted((tmp_path / "s" / "keys" / "day=2026-03-02").glob("run-*.u64"))
    assert len(runs) == 1
    reopened = open_store(tmp_path / "s")
    assert reopened.append([*batch, ev(event_id="new", ts="2026-03-02T12:00:00Z")]).added == 1


def test_when_a_big_day_is_compacted_then_parts_are_capped_and_rows_unchanged(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "s", create=True)
    batch = [
        ev(event_id=f"b{i}", ts=f"2026-03-02T11:{i // 60:02d}:{i % 60:02d}Z") for i in range(12)
    ]
    for i in range(0, 12, 2):
        store.append(batch[i : i + 2])
    before = sorted(e.event_id or "" for e in store.scan())
    assert store.compact(max_rows=4) == ["2026-03-02"]
    assert store.info().parts == 3 and store.info().events == 12
    assert sorted(e.event_id or "" for e in store.scan()) == before
    assert store.compact(max_rows=4) == []  # full parts are left as they are
    assert store.append(batch).added == 0


def test_when_compaction_runs_out_of_memory_then_the_events_stay_and_the_error_is_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb
    from typer.testing import CliRunner

    from vigile.cli import app
    from vigile.errors import VigileError
    from vigile.store.parquet import ParquetStore

    real = ParquetStore._merge_parts

    tried: list[str] = []

    def starved(self: ParquetStore, day: str, names: list[str], memory: str = "") -> None:
        tried.append(memory)
        # a half-written merge, then DuckDB gives up (as a 128 MB limit did on a 1.8 M-event day)
        (self.root / "events" / f"day={day}" / ".tmp-part-x.parquet").write_bytes(b"half")
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data")

    store = open_store(tmp_path / "s", create=True)
    for i in range(3):
        store.append([ev(event_id=f"c{i}", ts=f"2026-03-02T1{i}:00:00Z", patient_ids=["P9"])])
    before = list(store.scan())
    monkeypatch.setattr(ParquetStore, "_merge_parts", starved)
    with pytest.raises(VigileError, match=r"compaction of 2026-03-02 failed.*every event"):
        store.compact()
    assert list(store.scan()) == before and store.info().parts == 3
    assert not list((tmp_path / "s" / "events").rglob(".tmp-*"))
    assert tried == ["128MB", "256MB", "512MB"]  # each limit in turn, then the error
    # through the CLI: a warning, exit 0, the events counted as added
    f = tmp_path / "more.jsonl"
    f.write_bytes(
        b"".join(
            msgspec.json.encode(event(event_id=f"d{i}", ts=f"2026-03-02T0{i}:00:00Z")) + b"\n"
            for i in range(3)
        )
    )
    res = CliRunner().invoke(
        app, ["ingest", "-e", str(f), "-s", str(tmp_path / "s"), "--compact-above", "2", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert "compaction of 2026-03-02 failed" in res.output and '"added":3' in res.output

    # a day too dense for the first limit is merged at the next one
    def dense(self: ParquetStore, day: str, names: list[str], memory: str = "") -> None:
        tried.append(memory)
        if memory == "128MB":
            starved(self, day, names, memory)
        real(self, day, names, memory)

    tried.clear()
    monkeypatch.setattr(ParquetStore, "_merge_parts", dense)
    assert store.compact() == ["2026-03-02"] and store.info().parts == 1
    assert store.info().events == 6 and tried[-1] == "256MB"
