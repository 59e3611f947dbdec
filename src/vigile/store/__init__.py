"""Append-only event store: Parquet partitioned by day, queried through DuckDB."""

from vigile.store.base import AppendResult, EventFilter, EventStore, StoreInfo
from vigile.store.parquet import ParquetStore, open_store

__all__ = ["AppendResult", "EventFilter", "EventStore", "ParquetStore", "StoreInfo", "open_store"]
