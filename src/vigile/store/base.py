"""The event store seam: what detection and breach scoping need from storage.

The embedded default is :class:`vigile.store.parquet.ParquetStore` (Parquet files
partitioned by day, queried through DuckDB). A PostgreSQL-backed store or a
Spark reader implements the same small protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from vigile.events import AccessEvent


@dataclass(frozen=True)
class AppendResult:
    """What one ``append`` did: events written, and events already in the store."""

    added: int
    duplicates: int


@dataclass(frozen=True)
class StoreInfo:
    """A store at a glance."""

    events: int
    exposures: int
    days: int
    first_day: str | None
    last_day: str | None
    parts: int
    size_bytes: int


@dataclass(frozen=True)
class EventFilter:
    """Which events a scan returns; ``None`` means no restriction."""

    since: datetime | None = None
    until: datetime | None = None
    actors: frozenset[str] | None = None
    tenants: frozenset[str] | None = None


class EventStore(Protocol):
    """Append-only storage of access events, read back in time order."""

    def append(self, events: Iterable[AccessEvent]) -> AppendResult:
        """Add events; events already stored (same key) are counted, not added."""
        ...

    def scan(self, where: EventFilter | None = None) -> Iterator[AccessEvent]:
        """Every matching event, in event-time order."""
        ...

    def scan_batches(self, where: EventFilter | None = None) -> Iterator[pa.RecordBatch]:
        """The same as :meth:`scan`, as Arrow record batches (columnar consumers)."""
        ...

    def patient_accesses(self, patient_id: str) -> pa.Table:
        """Every access that carried ``patient_id``, in time order."""
        ...

    def info(self) -> StoreInfo: ...
