"""The Spark backend (local mode) gives the same scope as DuckDB on a tiny store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.scope.conftest import tiny_events
from vigile.events import AccessEvent
from vigile.scope.engine import DuckDBBackend, SparkBackend
from vigile.scope.scoping import compute_scope, day_parts, scope_context
from vigile.scope.selection import from_actors
from vigile.store import open_store

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="no Java: Spark cannot run")


def test_when_spark_runs_the_steps_then_counts_equal_duckdb(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    import msgspec

    store = open_store(tmp_path / "store", create=True)
    store.append(msgspec.convert(e, AccessEvent) for e in tiny_events())
    store.close()
    context = scope_context(tiny / "context")
    selection = from_actors(["dr.x.0001"])
    parts = day_parts(tmp_path / "store", "events", None, None)
    summaries: dict[str, dict[str, object]] = {}
    tables: dict[str, dict[str, list[dict[str, object]]]] = {}
    names = ("exposed_patients", "notifications", "persons")
    # a tiny store: one core, one partition, no code generation (faster to start than to run)
    spark_conf = {
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
    }
    spark_backend = SparkBackend("local[1]", conf=spark_conf)
    for name, backend in (("duckdb", DuckDBBackend()), ("spark", spark_backend)):
        try:
            result = compute_scope(
                backend, parts, context, selection, note_labels=tiny / "labels.csv", link=False
            )
            summaries[name] = result.summary
            fetched = {t: result.fetch(f"SELECT * FROM {t}") for t in names}
            for t in ("by_tenant", "by_actor", "by_day", "by_category"):
                fetched[t] = getattr(result, t)
            tables[name] = {
                t: sorted(table.to_pylist(), key=lambda row: [str(v) for v in row.values()])
                for t, table in fetched.items()
            }
        finally:
            backend.close()
    assert summaries["spark"] == summaries["duckdb"]
    assert summaries["duckdb"]["patients_exposed"] == 4
    for table, rows in tables["duckdb"].items():
        assert tables["spark"][table] == rows, table
