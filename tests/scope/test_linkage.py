"""Person linkage on a labelled sample: the simulator's files with their true persons."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from vigile.context import load_context
from vigile.scope.engine import DuckDBBackend
from vigile.scope.persons import link_persons, pairwise_quality


def test_when_a_practice_network_is_linked_then_pairs_are_found_precisely(
    small_world: Path,
) -> None:
    patients = load_context(small_world / "context").patients
    # a labelled sample: every file of the persons whose id falls in a fifth of the id space
    truth = pl.read_csv(small_world / "truth" / "persons.csv")
    sample_persons = truth.filter(pl.col("person_id").hash(7) % 5 == 0)
    sample = patients.join(sample_persons.select("patient_id"), on="patient_id", how="semi")
    backend = DuckDBBackend()
    try:
        backend.register_arrow("exposed_identities", sample.to_arrow())
        stats = link_persons(backend)
        persons = backend.fetch("SELECT patient_id, person_id FROM persons")
    finally:
        backend.close()
    quality = pairwise_quality(pl.from_arrow(persons), truth)
    assert stats.files == sample.height > 20_000
    assert quality.precision >= 0.97
    assert quality.recall >= 0.97
    assert abs(quality.persons_error) <= 0.01


def test_when_trained_on_a_uniform_sample_then_pairs_are_still_found_precisely(
    small_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Spark path's training (an embedded DuckDB on a uniform sample of the files,
    parameters applied to the engine's linker), here with a sample of a third."""
    from vigile.scope import persons as persons_module

    monkeypatch.setattr(persons_module, "TRAIN_SAMPLE", 5_000)  # samples of ≤ 10,000 files
    patients = load_context(small_world / "context").patients
    truth = pl.read_csv(small_world / "truth" / "persons.csv")
    sample_persons = truth.filter(pl.col("person_id").hash(7) % 5 == 0)
    files = patients.join(sample_persons.select("patient_id"), on="patient_id", how="semi")
    backend = DuckDBBackend()
    try:
        backend.register_arrow("exposed_identities", files.to_arrow())
        stats = link_persons(backend, sample_training=True)
        persons = backend.fetch("SELECT patient_id, person_id FROM persons")
    finally:
        backend.close()
    quality = pairwise_quality(pl.from_arrow(persons), truth)
    assert "uniform sample" in stats.method
    assert files.height > 20_000
    assert quality.precision >= 0.97
    assert quality.recall >= 0.97
    assert abs(quality.persons_error) <= 0.01
