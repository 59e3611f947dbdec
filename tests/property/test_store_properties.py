"""The store gives back exactly what it was given: instants to the microsecond, offsets, extras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from vigile.events import AccessEvent
from vigile.store.parquet import _to_table, events_from_batch

offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
events = st.builds(
    AccessEvent,
    ts=st.datetimes(datetime(1971, 1, 1), datetime(2300, 1, 1), timezones=offsets | st.just(UTC)),
    tenant=st.text(min_size=1, max_size=6),
    actor=st.text(min_size=1, max_size=6),
    action=st.sampled_from(["read", "list", "login"]),
    resource=st.sampled_from(["patient", "annotation"]),
    event_id=st.none() | st.text(min_size=1, max_size=6),
    patient_ids=st.lists(st.text(min_size=1, max_size=5), max_size=3),
    extra=st.none() | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), min_size=1),
)


@settings(max_examples=200)
@given(st.lists(events, min_size=1, max_size=20))
def test_when_events_become_columns_and_back_then_nothing_changes(batch: list[AccessEvent]) -> None:
    table = _to_table(batch)
    back = [e for b in table.to_batches() for e in events_from_batch(b)]
    assert back == batch
    assert [b.ts.utcoffset() for b in back] == [e.ts.utcoffset() for e in batch]
