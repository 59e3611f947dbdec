"""The Spark backend (local mode) gives the same scope as DuckDB on a tiny store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.scope.conftest import tiny_events
from vigile.context import load_context
from vigile.events import AccessEvent
from vigile.scope.engine import DuckDBBackend, SparkBackend
from vigile.scope.scoping import compute_scope, day_parts
from vigile.scope.selection import from_actors
from vigile.store import open_store

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="no Java: Spark cannot run")


def test_when_spark_runs_the_steps_then_counts_equal_duckdb(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    import msgspec

    store = open_store(tmp_path / "store", create=True)
    store.append(msgspec.convert(e, AccessEvent) for e in tiny_events())
    store.close()
    context = load_context(tiny / "context")
    selection = from_actors(["dr.x.0001"])
    parts = day_parts(tmp_path / "store", "events", None, None)
    results = {}
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
            results[name] = compute_scope(
                backend, parts, context, selection, note_labels=tiny / "labels.csv", link=False
            )
        finally:
            backend.close()
    duck, spark = results["duckdb"], results["spark"]
    assert spark.summary == duck.summary
    assert duck.summary["patients_exposed"] == 4
    for table in ("exposed_patients", "notifications", "by_tenant", "by_actor", "by_category"):
        a, b = getattr(duck, table), getattr(spark, table)
        keys = [(c, "ascending") for c in a.column_names[:2]]
        assert a.sort_by(keys).to_pylist() == b.cast(a.schema).sort_by(keys).to_pylist(), table
