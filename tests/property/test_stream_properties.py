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
    data: list[tuple[int, str | None]], lateness: float
) -> tuple[list[tuple[int, str | None]], int, int]:
    reader = EventReader([ListSource(data)], TupleParser(), lateness=lateness, dedup_window=100)  # type: ignore[list-item,arg-type]
    out = [(int((e.ts - T0).total_seconds()), e.event_id) for e in reader]
    return out, reader.stats.late, reader.stats.duplicates


def reference(
    data: list[tuple[int, str | None]], lateness: float
) -> tuple[list[tuple[int, str | None]], int]:
    """The specification, written the slow obvious way: (order, late count), no dedup."""
    pending: list[tuple[int, int]] = []
    out: list[int] = []
    released = newest = float("-inf")
    late = 0
    for i, (ts, _) in enumerate(data):
        if ts < released:
            late += 1
            out.append(i)
            continue
        pending.append((ts, i))
        pending.sort()
        newest = max(newest, ts)
        while pending and pending[0][0] <= newest - lateness:
            out.append(pending.pop(0)[1])
            released = max(released, data[out[-1]][0])
    out += [i for _, i in sorted(pending)]
    return [data[i] for i in out], late


@settings(max_examples=400)
@given(rows, st.sampled_from([0, 5, 30, 1000]))
def test_when_events_arrive_in_any_order_then_release_follows_the_specification(
    data: list[tuple[int, str | None]], lateness: float
) -> None:
    anonymous = [(ts, None) for ts, _ in data]  # no ids: nothing is de-duplicated
    ordered, late = reference(anonymous, lateness)
    out, got_late, dupes = run(anonymous, lateness)
    assert out == ordered
    assert (got_late, dupes) == (late, 0)


def is_subsequence(short: list[tuple[int, str | None]], long: list[tuple[int, str | None]]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


@settings(max_examples=400)
@given(rows, st.sampled_from([0, 5, 30, 1000]))
def test_when_ids_repeat_then_repeats_within_the_window_are_dropped_and_counted(
    data: list[tuple[int, str | None]], lateness: float
) -> None:
    ordered, _ = reference(data, lateness)
    out, _, dupes = run(data, lateness)
    assert len(out) + dupes == len(data)
    assert is_subsequence(out, ordered)
    # an id may come out again only once the stream has moved a whole window past it
    first_seen: dict[str, int] = {}
    high = -1
    for ts, eid in out:
        high = max(high, ts)
        if eid is not None:
            if eid in first_seen:
                assert high - first_seen[eid] >= 100
            first_seen[eid] = ts


@settings(max_examples=200)
@given(rows)
def test_when_lateness_covers_all_disorder_then_output_is_sorted_and_nothing_is_lost(
    data: list[tuple[int, str | None]],
) -> None:
    out, late, dupes = run(data, 1000)
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert late == 0
    assert len(out) + dupes == len(data)
