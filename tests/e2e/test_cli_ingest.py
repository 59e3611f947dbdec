"""The CLI as a user runs it: a real process, real files, exit codes and summaries."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import event, write_jsonl


def vigile(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigile", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        event(
            event_id=f"e{i}",
            ts=f"2026-03-02T09:{i // 60:02d}:{i % 60:02d}Z",
            patient_ids=[f"P{i:07d}"],
        )
        for i in range(start, start + n)
    ]


def test_when_events_are_ingested_twice_then_the_second_run_adds_nothing(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [*rows(50), "{bad", event(status=42)])
    first = vigile("ingest", "--events", str(f), "--store", str(tmp_path / "st"), "--json")
    assert first.returncode == 0, first.stderr
    stats = json.loads(first.stdout)
    assert {k: stats[k] for k in ("read", "accepted", "quarantined", "duplicates", "added")} == {
        "read": 52,
        "accepted": 50,
        "quarantined": 2,
        "duplicates": 0,
        "added": 50,
    }
    second = json.loads(vigile("ingest", "-e", str(f), "-s", str(tmp_path / "st"), "--json").stdout)
    assert (second["added"], second["duplicates"]) == (0, 50)
    quarantine = (tmp_path / "st" / "quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 4 and json.loads(quarantine[0])["line"] == 51


def test_when_ingest_prints_a_summary_then_it_names_read_accepted_quarantined(
    tmp_path: Path,
) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", rows(3))
    done = vigile("ingest", "-e", str(f), "-s", str(tmp_path / "st"))
    assert done.returncode == 0
    for word in ("read", "accepted", "quarantined"):
        assert word in done.stdout


def test_when_input_is_stdin_gzip_then_it_is_ingested(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows(5)))
    done = subprocess.run(
        [sys.executable, "-m", "vigile", "ingest", "-e", "-", "-s", str(tmp_path / "st"), "--json"],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 5


def test_when_a_file_is_missing_then_one_error_line_and_status_2(tmp_path: Path) -> None:
    done = vigile("ingest", "-e", str(tmp_path / "nope.jsonl"), "-s", str(tmp_path / "st"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"vigile: error: {tmp_path / 'nope.jsonl'}: no such file"
    ]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "st").exists()


def test_when_gzip_is_truncated_then_one_error_line_and_status_2(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows(2000)))
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    done = vigile("ingest", "-e", str(f), "-s", str(tmp_path / "st"))
    assert (
        done.returncode == 2 and "truncated gzip" in done.stderr and "Traceback" not in done.stderr
    )


def test_when_format_is_unknown_then_status_2_lists_formats(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", rows(1))
    done = vigile("ingest", "-e", str(f), "-s", str(tmp_path / "st"), "--format", "syslog")
    assert done.returncode == 2 and "known formats" in done.stderr


def test_when_a_patient_is_looked_up_then_their_accesses_are_listed(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", rows(20))
    vigile("ingest", "-e", str(f), "-s", str(tmp_path / "st"))
    done = vigile("store", "patient", "P0000007", "-s", str(tmp_path / "st"), "--json")
    got = json.loads(done.stdout)
    assert [a["event_key"] for a in got["accesses"]] == ["e7"]


def test_when_converting_then_interface_jsonl_comes_out(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [*rows(3), "nope"])
    done = vigile("convert", "-e", str(f), "-o", str(tmp_path / "out.jsonl"), "--json")
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3
    assert json.loads(done.stdout)["quarantined"] == 1
