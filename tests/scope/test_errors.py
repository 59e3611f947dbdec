"""Bad inputs end with one clear line and status 2, before any output is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from vigile.cli import app
from vigile.errors import VigileError
from vigile.scope.selection import AlertRef, from_actors, from_alerts, parse_ts, read_alerts


def _alert(incident: str | None, actor: str = "dr.x.0001", **over: object) -> dict[str, object]:
    base = {
        "alert_id": f"al-{actor}", "ts": "2026-03-02T10:05:00Z", "tenant": "cab-0001",
        "actor": actor, "session": "s-x", "src_ip": "203.0.113.9", "severity": "high",
        "score": 9.0, "detector": "ordered-walk", "reasons": ["r"], "evidence": {},
        "incident": incident,
    }  # fmt: skip
    base.update(over)
    return base


def _write(path: Path, rows: list[dict[str, object] | str]) -> Path:
    path.write_bytes(
        b"\n".join(r.encode() if isinstance(r, str) else orjson.dumps(r) for r in rows)
    )
    return path


def _run(*args: str) -> tuple[int, str]:
    """The command as a user runs it: a real process, its status and its error line."""
    done = subprocess.run(
        [sys.executable, "-m", "vigile", "scope", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr


def test_when_the_incident_is_unknown_then_the_known_ones_are_listed(tmp_path: Path) -> None:
    alerts = [AlertRef("a1", parse_ts("2026-03-02T10:00:00Z", "t"), "cab-1", "dr.a", None, None,
                       "high", "d", "inc-1")]  # fmt: skip
    with pytest.raises(VigileError, match=r"unknown incident 'inc-9'.*inc-1"):
        from_alerts(alerts, incident="inc-9")


def test_when_several_incidents_and_none_chosen_then_the_user_must_choose(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", [_alert("inc-1"), _alert("inc-2", actor="dr.y.0001")])
    with pytest.raises(VigileError, match=r"2 incidents.*--incident"):
        from_alerts(read_alerts(path))


def test_when_the_window_is_empty_then_it_is_refused() -> None:
    with pytest.raises(VigileError, match="empty window"):
        from_actors(["dr.x"], since=parse_ts("2026-03-03", "s"), until=parse_ts("2026-03-02", "u"))


def test_when_no_request_matches_then_the_error_says_which_window(
    tiny: Path, tmp_path: Path
) -> None:
    code, output = _run(
        "--events", str(tiny / "events.jsonl"), "--actor", "dr.nobody.0001",
        "--out", str(tmp_path / "out"), "--no-pdf",
    )  # fmt: skip
    assert code == 2
    assert "no request of the selected account" in output


def test_when_an_alert_line_is_broken_then_its_line_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", [_alert("inc-1"), "{not json"])
    with pytest.raises(VigileError, match=r"a\.jsonl:2"):
        read_alerts(path)


def test_when_both_or_neither_selection_is_given_then_the_command_says_so(
    tiny: Path, tmp_path: Path
) -> None:
    alerts = _write(tmp_path / "a.jsonl", [_alert("inc-1")])
    events = str(tiny / "events.jsonl")
    code, output = _run(
        "--events", events, "--alerts", str(alerts), "--actor", "x", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "either --alerts" in output
    code, output = _run("--events", events, "--out", str(tmp_path / "o"))
    assert code == 2 and "either --alerts" in output


def test_when_alerts_name_an_incident_then_its_accounts_are_scoped(
    tiny: Path, tmp_path: Path
) -> None:
    alerts = _write(tmp_path / "a.jsonl", [_alert("inc-1"), _alert("inc-2", actor="dr.y.0001")])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "scope", "--events", str(tiny / "events.jsonl"), "--context", str(tiny / "context"),
            "--alerts", str(alerts), "--incident", "inc-1", "--match", "session",
            "--note-labels", str(tiny / "labels.csv"), "--out", str(out), "--no-pdf", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert summary["actors_involved"] == 1  # dr.y.0001 belongs to another incident
    assert summary["patients_exposed"] == 4
    assert summary["detected_at"] == "2026-03-02T10:05:00.000Z"


def test_when_the_engine_runs_out_of_disk_then_one_line_says_where_and_what_to_do(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    import vigile.scope.run as scope_run
    from vigile.scope.engine import engine_failure

    def full(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException(
            'IO Error: Could not write file "/tmp/x/duckdb_temp.tmp": No space left on device'
        )

    monkeypatch.setattr(scope_run, "run_scope", full)  # the command imports it when it runs
    result = CliRunner().invoke(
        app,
        [
            "scope", "--events", str(tiny / "events.jsonl"), "--context", str(tiny / "context"),
            "--actor", "dr.x.0001", "--out", str(tmp_path / "out"), "--no-pdf",
        ],
    )  # fmt: skip
    # the command raises the user-facing error that vigile's main() prints in one line (status 2)
    assert isinstance(result.exception, VigileError) and result.exception.exit_code == 2
    message = str(result.exception)
    assert "No space left on device" in message and "--memory" in message
    assert engine_failure(ValueError("a bug")) is None
    oom = engine_failure(duckdb.OutOfMemoryException("Out of Memory Error: failed"))
    assert oom is not None and "raise --memory" in str(oom)
