"""The reader's output never depends on how it batches: replay equals live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigile.events import AccessEvent
from vigile.stream import EventReader

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class ListSource:
    """An in-memory source: events given as (seconds offset, event id)."""

    def __init__(self, rows: list[tuple[int, str | None]]) -> None:
        self.name = "mem"
        self.rows = rows

    def lines(self):  # type: ignore[no-untyped-def]
        yield from enumerate(self.rows, 1)


class TupleParser:
    name = "tuple"

    def parse(self, line):  # type: ignore[no-untyped-def]
        offset, eid = line
        return AccessEvent(
            ts=T0 + timedelta(seconds=offset),
            tenant="t",
            actor="a",
            action="read",
            resource="patient",
            event_id=eid,
        )


rows = st.lists(
    st.tuples(st.integers(0, 400), st.none() | st.sampled_from([f"e{i}" for i in range(30)])),
    max_size=120,
)


def run(
    data: list[tuple[int, str | None]], chunk: int, lateness: float
) -> tuple[list[tuple[int, str | None]], int, int]:
    reader = EventReader(
        [ListSource(data)], TupleParser(), lateness=lateness, dedup_window=100, chunk=chunk
    )  # type: ignore[list-item,arg-type]
    out = [(int((e.ts - T0).total_seconds()), e.event_id) for e in reader]
    return out, reader.stats.late, reader.stats.duplicates


@settings(max_examples=300)
@given(rows, st.sampled_from([0, 5, 30, 1000]))
def test_when_chunk_size_changes_then_output_and_counts_are_identical(
    data: list[tuple[int, str | None]], lateness: float
) -> None:
    live = run(data, 1, lateness)
    assert run(data, 3, lateness) == live
    assert run(data, 4096, lateness) == live


@settings(max_examples=200)
@given(rows)
def test_when_lateness_covers_all_disorder_then_output_is_sorted_and_nothing_is_lost(
    data: list[tuple[int, str | None]],
) -> None:
    out, late, dupes = run(data, 7, 1000)
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert late == 0
    assert len(out) + dupes == len(data)
