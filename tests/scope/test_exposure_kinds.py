"""Consulted vs extracted, refused requests, the file's own practice, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from vigile.cli import app


def _scope(tiny: Path, out: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(
        app,
        [
            "scope", "--events", str(tiny / "events.jsonl"), "--context", str(tiny / "context"),
            "--actor", "dr.x.0001", "--note-labels", str(tiny / "labels.csv"),
            "--out", str(out), "--no-pdf", "--json", *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_when_a_search_lists_files_then_they_are_consulted_and_reads_are_extracted(
    tiny: Path, tmp_path: Path
) -> None:
    summary = _scope(tiny, tmp_path / "out")
    files = pl.read_csv(tmp_path / "out" / "exposed_patients.csv", infer_schema=False)
    exposure = dict(zip(files["patient_id"], files["exposure"], strict=True))
    assert exposure == {
        "P001": "extracted",
        "P002": "consulted",
        "P003": "extracted",
        "P101": "extracted",
    }
    accesses = dict(zip(files["patient_id"], files["accesses"], strict=True))
    assert accesses == {"P001": "4", "P002": "1", "P003": "2", "P101": "1"}
    assert summary["patients_exposed"] == 4
    assert summary["patients_consulted_only"] == 1
    assert summary["patients_extracted"] == 3


def test_when_a_request_is_refused_then_it_exposes_nothing(tiny: Path, tmp_path: Path) -> None:
    summary = _scope(tiny, tmp_path / "out")
    files = pl.read_csv(tmp_path / "out" / "exposed_patients.csv", infer_schema=False)
    assert "P102" not in files["patient_id"].to_list()  # the 403 read
    assert summary["events_in_scope"] == 9
    assert summary["events_refused"] == 2  # the 403 read and the 404 list
    assert summary["records_returned"] == 8


def test_when_another_practice_file_leaks_then_that_practice_is_its_controller(
    tiny: Path, tmp_path: Path
) -> None:
    summary = _scope(tiny, tmp_path / "out")
    files = pl.read_csv(tmp_path / "out" / "exposed_patients.csv", infer_schema=False)
    tenant = dict(zip(files["patient_id"], files["tenant"], strict=True))
    assert tenant["P101"] == "cab-0002"
    assert summary["tenants_affected"] == 2
    assert (tmp_path / "out" / "practices" / "cab-0002" / "patients.csv").is_file()


def test_when_notes_are_read_then_sensitive_ones_are_counted_by_category(
    tiny: Path, tmp_path: Path
) -> None:
    summary = _scope(tiny, tmp_path / "out")
    assert summary["patients_with_annotations"] == 1  # P001's notes were read; P003's were not
    assert summary["patients_with_sensitive_annotations"] == 1
    files = pl.read_csv(tmp_path / "out" / "exposed_patients.csv", infer_schema=False)
    p001 = files.filter(pl.col("patient_id") == "P001").row(0, named=True)
    assert p001["notes"] == "2" and p001["sensitive_notes"] == "1"
    assert p001["sensitive_categories"] == "health;sexual_health"


def test_when_files_of_one_person_are_exposed_then_they_collapse_into_one_person(
    tiny: Path, tmp_path: Path
) -> None:
    summary = _scope(tiny, tmp_path / "out")
    persons = pl.read_csv(tmp_path / "out" / "persons.csv", infer_schema=False)
    person = dict(zip(persons["patient_id"], persons["person_id"], strict=True))
    assert person["P001"] == person["P101"]  # Camille Durand at two practices
    assert len({person["P001"], person["P002"], person["P003"]}) == 3
    assert summary["persons_exposed"] == 3
    notifications = pl.read_csv(tmp_path / "out" / "notifications.csv", infer_schema=False)
    assert notifications.height == 3
    camille = notifications.filter(pl.col("person_id") == person["P001"]).row(0, named=True)
    assert camille["practices"] == "cab-0001;cab-0002"
    assert camille["email"] == "camille.durand@example.fr"
    assert camille["sensitive_note"] == "1"
    assert camille["letter"] == "dossier_medical"


def test_when_the_window_is_narrowed_then_later_requests_are_out_of_scope(
    tiny: Path, tmp_path: Path
) -> None:
    summary = _scope(tiny, tmp_path / "out", "--until", "2026-03-02T23:59:59Z")
    assert summary["events_in_scope"] == 8  # not e10 on 3 March
    files = pl.read_csv(tmp_path / "out" / "exposed_patients.csv", infer_schema=False)
    p003 = files.filter(pl.col("patient_id") == "P003").row(0, named=True)
    assert p003["exposure"] == "consulted"


def test_when_every_request_in_the_window_was_refused_then_nothing_is_exposed(
    tiny: Path, tmp_path: Path
) -> None:
    window = ("--since", "2026-03-02T10:03:30Z", "--until", "2026-03-02T10:04:30Z")
    summary = _scope(tiny, tmp_path / "out", *window)  # only the 403 read
    assert summary["events_in_scope"] == 1 and summary["events_refused"] == 1
    assert summary["patients_exposed"] == 0 and summary["persons_exposed"] == 0
    assert summary["patients_extracted"] == 0 and summary["records_returned"] == 0
    assert (tmp_path / "out" / "report.html").is_file()
