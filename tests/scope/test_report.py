"""The breach file: every output present, the PDFs valid, the packs and letters written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.scope.conftest import write_tiny
from vigile.cli import app


@pytest.fixture(scope="module")
def breach(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scope of the tiny practice with every output, PDFs included (shared: it is slow)."""
    tiny = write_tiny(tmp_path_factory.mktemp("tiny"))
    out = tiny / "breach"
    result = CliRunner().invoke(
        app,
        [
            "scope", "--events", str(tiny / "events.jsonl"), "--context", str(tiny / "context"),
            "--actor", "dr.x.0001", "--note-labels", str(tiny / "labels.csv"),
            "--detected-at", "2026-03-02T12:00:00+01:00", "--contact", "dpo@example.fr",
            "--out", str(out), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _pdf_ok(path: Path) -> bool:
    data = path.read_bytes()
    tail = data[-1024:]
    return (
        data.startswith(b"%PDF-") and b"startxref" in tail and b"%%EOF" in tail and len(data) > 5000
    )


def test_when_a_breach_is_scoped_then_every_interface_file_is_written(breach: Path) -> None:
    for name in ("summary.json", "exposed_patients.csv", "persons.csv", "notifications.csv",
                 "report.html", "report.pdf", "report.en.html", "report.en.pdf"):  # fmt: skip
        assert (breach / name).is_file(), name
    summary = json.loads((breach / "summary.json").read_text())
    for key in ("patients_exposed", "persons_exposed", "patients_with_annotations",
                "patients_with_sensitive_annotations", "tenants_affected", "actors_involved",
                "records_returned"):  # fmt: skip
        assert isinstance(summary[key], int), key
    header = (breach / "exposed_patients.csv").read_text().splitlines()[0]
    assert header.startswith("patient_id,tenant,person_id,first_exposed,last_exposed,accesses")


def test_when_the_report_is_rendered_then_the_pdfs_are_valid(breach: Path) -> None:
    assert _pdf_ok(breach / "report.pdf")
    assert _pdf_ok(breach / "report.en.pdf")


def test_when_the_report_is_read_then_it_carries_the_regulatory_content(breach: Path) -> None:
    fr = (breach / "report.html").read_text()
    for text in ("RGPD art. 33(3)", "art. 33(5)", "ENISA", "72 heures", "L.1111-8-2", "NIS2",
                 "dpo@example.fr", "5 mars 2026 à 12:00", "<svg"):  # fmt: skip
        assert text in fr, text
    en = (breach / "report.en.html").read_text()
    assert "Breach register" in en and "Severity assessment" in en
    assert "http://" not in fr.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_when_practices_are_affected_then_each_gets_a_pack_with_a_letter(breach: Path) -> None:
    for tenant in ("cab-0001", "cab-0002"):
        pack = breach / "practices" / tenant
        assert (pack / "rapport.html").is_file()
        assert (pack / "patients.csv").is_file()
        assert _pdf_ok(pack / "rapport.pdf")  # few practices: PDFs too
    letter = (breach / "practices" / "cab-0001" / "lettre_dossier_medical.html").read_text()
    assert "Madame, Monsieur" in letter and "Ce que vous pouvez faire" in letter
    assert "cnil.fr" in letter
    assert (breach / "practices" / "cab-0001" / "lettre_liste.html").is_file()


def _pack_files(root: Path) -> dict[str, str]:
    """Every file of the packs, with the generation date (which moves) blanked."""
    texts = {}
    for path in sorted((root / "practices").rglob("*")):
        if path.is_file() and path.suffix in (".html", ".csv"):
            text = path.read_text(encoding="utf-8")
            texts[str(path.relative_to(root))] = "\n".join(
                line
                for line in text.splitlines()
                if "Établi le" not in line and "[Lieu], le" not in line
            )
    return texts


def test_when_packs_are_written_by_worker_processes_then_they_equal_the_serial_ones(
    breach: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = write_tiny(tmp_path)
    out = tmp_path / "breach"
    monkeypatch.setenv("VIGILE_PACK_WORKERS", "2")
    result = CliRunner().invoke(
        app,
        [
            "scope", "--events", str(tiny / "events.jsonl"), "--context", str(tiny / "context"),
            "--actor", "dr.x.0001", "--note-labels", str(tiny / "labels.csv"),
            "--detected-at", "2026-03-02T12:00:00+01:00", "--contact", "dpo@example.fr",
            "--out", str(out), "--json", "--no-pdf",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    parallel, serial = _pack_files(out), _pack_files(breach)
    assert set(parallel) == set(serial) and len(serial) >= 6
    assert parallel == serial
