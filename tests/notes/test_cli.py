"""`vigile notes` end to end: labels written, bad rows reported, never a traceback."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import orjson
from typer.testing import CliRunner

from vigile.cli import app

ROWS = """annotation_id,patient_id,tenant,author,created,text
a1,p1,t1,dr1,2026-01-02 10:00,"HTA sous amlodipine, pas de diabète"
a2,p2,t1,dr1,2026-01-03,RDV annulé
a3,p3,t1,dr1,not-a-date,"IVG en 2019, rappeler au 06 12 34 56 78"
a4,,t1,dr1,2026-01-03,note sans patient
a5,p5,t1,dr1,2026-01-03,
a6,p6,t1,dr1,2026-01-04,"Maire de la commune, discrétion"
"""


def test_when_annotations_have_bad_rows_then_labels_are_written_and_rows_reported(
    tmp_path: Path,
) -> None:
    src = tmp_path / "annotations.csv"
    src.write_text(ROWS, encoding="utf-8")
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(
        app,
        [
            "notes",
            "--annotations",
            str(src),
            "--out",
            str(out),
            "--json",
            "--no-names",
            "--evidence",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert summary["notes"] == 4 and summary["sensitive"] == 3
    assert summary["rejected"] == 2 and summary["warnings"] == 1
    assert summary["categories"]["reproductive"] == 1
    assert {r["line"] for r in summary["rejected_rows"]} == {4, 5, 6}
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["annotation_id"] for r in rows] == ["a1", "a2", "a3", "a6"]
    assert [r["sensitive"] for r in rows] == ["1", "0", "1", "1"]
    assert rows[2]["categories"] == "reproductive" and rows[2]["identifiers"] == "phone"
    assert {"annotation_id", "sensitive", "categories", "evidence", "patient_id"} <= set(rows[0])


def test_when_the_annotations_file_is_missing_then_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigile",
            "notes",
            "-a",
            str(tmp_path / "nope.csv"),
            "-o",
            str(tmp_path / "x.csv"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "annotations file not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_when_the_file_lacks_the_text_column_then_one_line_and_status_2(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("annotation_id,patient_id\na1,p1\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "vigile", "notes", "-a", str(src), "-o", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "missing required column(s) text" in done.stderr
