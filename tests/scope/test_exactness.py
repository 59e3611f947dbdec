"""Scoping against the simulator's truth: every exposed file, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from vigile.scope.engine import DuckDBBackend
from vigile.scope.scoping import compute_scope, day_parts, scope_context
from vigile.scope.selection import Match, from_actors, parse_ts

#: Attack kinds whose requests the logs separate from the account holder's own work
#: (own sessions, or own source address); insiders inside genuine sessions
#: (low-and-slow, VIP snooping) can only be bounded from above.
SEPARABLE = {
    "campaign": "session",
    "night_paging": "session",
    "enumeration": "session",
    "search_scraping": "session",
    "token_replay": "source",
    "credential_stuffing": "session",
}


def _attacks(world: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in (world / "truth" / "attacks.jsonl").read_bytes().splitlines()]


def _attack_traits(world: Path, case: str) -> tuple[list[str], list[str], list[str]]:
    """The accounts, sessions and addresses of an attack's served requests (from the truth)."""
    ids = pl.read_parquet(world / "truth" / "attack_events.parquet").filter(
        (pl.col("case") == case) & (pl.col("status") < 400)
    )
    events = pl.read_ndjson(world / "events.jsonl", infer_schema_length=None).select(
        "event_id", "session", "src_ip"
    )
    served = ids.join(events, on="event_id")
    return (
        sorted(served["actor"].unique().to_list()),
        sorted(served["session"].drop_nulls().unique().to_list()),
        sorted(served["src_ip"].drop_nulls().unique().to_list()),
    )


def _scope(world: Path, attack: dict[str, Any], match: Match) -> tuple[dict[str, Any], set[str]]:
    """The scope's summary and the ids of the files it found exposed."""
    actors, sessions, sources = _attack_traits(world, attack["id"])
    selection = from_actors(
        actors,
        since=parse_ts(attack["start"], "start"),
        until=parse_ts(attack["end"], "end"),
        sessions=sessions if match == "session" else [],
        sources=sources if match == "source" else [],
        match=match,
    )
    backend = DuckDBBackend()
    try:
        result = compute_scope(
            backend,
            day_parts(world / "store", "events", selection.since, selection.until),
            scope_context(world / "context"),
            selection,
            note_labels=world / "truth" / "notes.csv",
            link=False,
        )
        ids = result.fetch("SELECT patient_id FROM exposed_patients").column(0).to_pylist()
        return result.summary, set(ids)
    finally:
        backend.close()


@pytest.mark.parametrize("kind", sorted(SEPARABLE))
def test_when_an_attack_is_scoped_by_its_sessions_then_exposed_files_equal_the_truth(
    small_world: Path, kind: str
) -> None:
    attack = next(a for a in _attacks(small_world) if a["kind"] == kind)
    summary, got = _scope(small_world, attack, SEPARABLE[kind])
    truth = pl.read_parquet(small_world / "truth" / "attack_exposures.parquet").filter(
        pl.col("case") == attack["id"]
    )
    assert got == set(truth["patient_id"].to_list())
    assert summary["patients_exposed"] == truth["patient_id"].n_unique()
    assert summary["exposures"] == truth.height
    served = pl.read_parquet(small_world / "truth" / "attack_events.parquet").filter(
        (pl.col("case") == attack["id"]) & (pl.col("status") < 300)
    )
    assert summary["records_returned"] == served["records"].sum()


def test_when_the_campaign_is_scoped_then_notes_counts_equal_an_independent_count(
    small_world: Path,
) -> None:
    attack = next(a for a in _attacks(small_world) if a["kind"] == "campaign")
    summary, _ = _scope(small_world, attack, "session")
    # independent count: files whose notes endpoint the attack read, that have notes
    events = pl.read_ndjson(small_world / "events.jsonl", infer_schema_length=None).select(
        "event_id", "resource"
    )
    exposures = pl.read_parquet(small_world / "truth" / "attack_exposures.parquet").filter(
        pl.col("case") == attack["id"]
    )
    notes_read = exposures.join(events, on="event_id").filter(pl.col("resource") == "annotation")
    notes = pl.read_csv(small_world / "context" / "annotations.csv", infer_schema=False)
    labels = pl.read_csv(small_world / "truth" / "notes.csv", infer_schema=False)
    with_notes = notes_read.join(notes, on="patient_id", how="semi")["patient_id"].n_unique()
    sensitive_ids = labels.filter(pl.col("sensitive") == "1")["annotation_id"].implode()
    with_sensitive = notes_read.join(
        notes.filter(pl.col("annotation_id").is_in(sensitive_ids)), on="patient_id", how="semi"
    )["patient_id"].n_unique()
    assert with_notes > 0 and with_sensitive > 0
    assert summary["patients_with_annotations"] == with_notes
    assert summary["patients_with_sensitive_annotations"] == with_sensitive


def test_when_an_insider_works_inside_genuine_sessions_then_the_scope_covers_the_truth(
    small_world: Path,
) -> None:
    attack = next(a for a in _attacks(small_world) if a["kind"] == "low_and_slow")
    _, got = _scope(small_world, attack, "account")
    truth = pl.read_parquet(small_world / "truth" / "attack_exposures.parquet").filter(
        pl.col("case") == attack["id"]
    )
    assert set(truth["patient_id"].to_list()) <= got  # an upper bound, never a miss
