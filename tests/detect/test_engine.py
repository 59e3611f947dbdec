"""The engine's contract: deterministic, replay = live, resumable, bounded, event time only."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import msgspec
import orjson
import pytest
from typer.testing import CliRunner

from tests.detect.builders import World
from tests.detect.scenes import DAY, SCENES, account_risk, campaign, session_shared
from vigile.cli import app
from vigile.detect.context_index import ContextIndex
from vigile.detect.engine import Engine
from vigile.detect.reader import ReplayReader
from vigile.detect.rules import load_rules
from vigile.detect.state import save_checkpoint
from vigile.errors import InputError
from vigile.events import SEVERITIES, AccessEvent
from vigile.stream import EventReader

ENCODE = msgspec.json.Encoder().encode


def _case(tmp_path: Path, world: World) -> Path:
    return world.write(tmp_path / "case")


def _alerts(case: Path, events: list[AccessEvent] | None = None) -> list[bytes]:
    engine = Engine(load_rules(), ContextIndex.load(case / "context"))
    stream = events if events is not None else EventReader([case / "events.jsonl"])
    return [ENCODE(a) for a in engine.run(stream)]


def _detect(case: Path, out: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(
        app,
        [
            "detect",
            "--events",
            str(case / "events.jsonl"),
            "--context",
            str(case / "context"),
            "--alerts",
            str(out),
            "--json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = orjson.loads(result.output.strip().splitlines()[-1])
    return summary


def test_when_the_same_input_is_replayed_twice_then_alerts_are_byte_identical(
    tmp_path: Path,
) -> None:
    case = _case(tmp_path, campaign())
    first = _alerts(case)
    assert first, "the campaign scene raises alerts"
    assert _alerts(case) == first


def test_when_events_come_one_at_a_time_then_alerts_equal_the_file_replay(tmp_path: Path) -> None:
    case = _case(tmp_path, session_shared())
    events = list(EventReader([case / "events.jsonl"]))
    engine = Engine(load_rules(), ContextIndex.load(case / "context"))
    live: list[bytes] = []
    for ev in events:  # a live feed: one event, its alerts, the next event
        live.extend(ENCODE(a) for a in engine.process(ev) or [])
    assert live == _alerts(case)
    # the replay reader hands the engine each event's time, counted once (timed())
    replay = Engine(load_rules(), ContextIndex.load(case / "context"))
    assert [ENCODE(a) for a in replay.run(ReplayReader([case / "events.jsonl"]))] == live


def test_when_detect_runs_from_the_cli_then_alerts_and_summary_match_the_engine(
    tmp_path: Path,
) -> None:
    case = _case(tmp_path, account_risk())
    out = tmp_path / "alerts.jsonl"
    summary = _detect(case, out)
    assert out.read_bytes().splitlines() == _alerts(case)
    for key in ("read", "accepted", "quarantined", "duplicates", "alerts", "by_severity"):
        assert key in summary
    assert summary["read"] == summary["accepted"]
    assert summary["alerts"] == len(out.read_bytes().splitlines())
    assert (tmp_path / "alerts.quarantine.jsonl").exists()


def _split_campaign(
    tmp_path: Path, world: World | None = None, at: str = "2026-03-06T09:10"
) -> tuple[Path, Path, Path, list[bytes]]:
    """The campaign case (or ``world``), and its events cut in two at 09:10 on its Friday
    (or ``at``), each part with the context: the case, both parts and the case's lines."""
    case = _case(tmp_path, world if world is not None else campaign())
    lines = (case / "events.jsonl").read_bytes().splitlines()
    cut = next(i for i, line in enumerate(lines) if orjson.loads(line)["ts"] >= at)
    part1, part2 = tmp_path / "part1", tmp_path / "part2"
    for part, rows in ((part1, lines[:cut]), (part2, lines[cut:])):
        part.mkdir()
        (part / "events.jsonl").write_bytes(b"\n".join(rows) + b"\n")
        shutil.copytree(case / "context", part / "context")
    return case, part1, part2, lines


def test_when_a_replay_is_split_with_a_checkpoint_then_alerts_equal_the_full_run(
    tmp_path: Path,
) -> None:
    case, part1, part2, lines = _split_campaign(tmp_path)
    full = tmp_path / "full.jsonl"
    _detect(case, full)
    split = tmp_path / "split.jsonl"
    state = tmp_path / "state.ckpt"
    _detect(part1, split, "--checkpoint", str(state))
    assert state.exists()
    second = _detect(part2, split, "--checkpoint", str(state), "--append")
    assert second["resumed"] is True
    assert split.read_bytes() == full.read_bytes()
    # feeding the whole file again after the checkpoint adds nothing
    again = tmp_path / "again.jsonl"
    summary = _detect(case, again, "--checkpoint", str(state))
    assert again.read_bytes() == b""
    assert summary["skipped_before_checkpoint"] == len(lines)


@pytest.mark.parametrize("scene", ["campaign", "campaign-infrastructure"])
def test_when_a_checkpoint_is_written_in_many_parts_then_the_resumed_run_equals_the_full_run(
    tmp_path: Path, scene: str
) -> None:
    """Tiny part and chunk sizes split every table and dict of the state over many
    pickles (the memory-light format of a month-long replay); the engine that loads them
    re-links its accounts to the practice and session objects of its tables. The
    infrastructure scene is cut between its second and third arrivals."""
    if scene == "campaign":
        case, part1, part2, _ = _split_campaign(tmp_path)
    else:
        case, part1, part2, _ = _split_campaign(tmp_path, SCENES[scene](), at="2026-03-06T20:00")
    first = Engine(load_rules(), ContextIndex.load(case / "context"))
    alerts = [ENCODE(a) for a in first.run(EventReader([part1 / "events.jsonl"]))]
    state = tmp_path / "state.ckpt"
    save_checkpoint(state, first.snapshot(), part_min=2, chunk_weight=3)
    with open(state, "rb") as f:
        header = pickle.load(f)
        chunks = 0
        while pickle.load(f) is not None:
            chunks += 1
    assert header["parts"] >= 4 and chunks > header["parts"], (header["parts"], chunks)
    second = Engine(load_rules(), ContextIndex.load(case / "context"))
    assert second.load(str(state)) is True
    tracker = second.tracker
    linked = [acc for acc in tracker.accounts.values() if acc.ten is not None]
    assert linked and all(acc.ten is tracker.tenants.get(acc.tenant) for acc in linked)
    # (an account keeps its last session after the table forgot it, as before the save)
    live = [acc for acc in tracker.accounts.values() if acc.last_sid in tracker.sessions]
    assert live and all(acc.last_ses is tracker.sessions.get(acc.last_sid) for acc in live)
    alerts += [ENCODE(a) for a in second.run(EventReader([part2 / "events.jsonl"]))]
    assert alerts == _alerts(case)


def test_when_a_pure_python_replay_checkpoints_then_the_other_build_resumes_it(
    tmp_path: Path,
) -> None:
    """A checkpoint written by pure Python (VIGILE_PURE=1, another process) resumes in this
    process, compiled when the mypyc build is present: the pickle is the same either way."""
    case, part1, part2, _ = _split_campaign(tmp_path)
    full = tmp_path / "full.jsonl"
    _detect(case, full)
    split, state = tmp_path / "split.jsonl", tmp_path / "state.ckpt"
    first = [sys.executable, "-m", "vigile", "detect", "--events", str(part1 / "events.jsonl")]
    first += ["--context", str(part1 / "context"), "--alerts", str(split)]
    first += ["--checkpoint", str(state)]
    env = dict(os.environ, VIGILE_PURE="1")
    subprocess.run(first, env=env, check=True, capture_output=True)
    second = _detect(part2, split, "--checkpoint", str(state), "--append")
    assert second["resumed"] is True
    assert split.read_bytes() == full.read_bytes()


def test_when_the_wall_clock_moves_then_alerts_do_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(tmp_path, account_risk())
    expected = _alerts(case)
    events = list(EventReader([case / "events.jsonl"]))

    def forbidden(*_: object) -> float:
        raise AssertionError("detection read the wall clock")

    monkeypatch.setattr(time, "time", forbidden)
    monkeypatch.setattr(time, "monotonic", forbidden)
    assert _alerts(case, events) == expected


def test_when_alerts_are_written_then_they_follow_the_interface(tmp_path: Path) -> None:
    case = _case(tmp_path, session_shared())
    events = {
        e["event_id"]: e
        for e in map(orjson.loads, (case / "events.jsonl").read_bytes().splitlines())
    }
    alerts = [orjson.loads(a) for a in _alerts(case)]
    assert alerts
    ids = set()
    for a in alerts:
        assert set(a) == {
            "alert_id",
            "ts",
            "tenant",
            "actor",
            "session",
            "src_ip",
            "severity",
            "score",
            "detector",
            "reasons",
            "evidence",
            "incident",
        }
        assert a["alert_id"] not in ids
        ids.add(a["alert_id"])
        assert a["severity"] in SEVERITIES
        assert isinstance(a["score"], float | int)
        assert a["reasons"] and all(isinstance(r, str) and r for r in a["reasons"])
        assert any(ch.isdigit() for ch in " ".join(a["reasons"])), "reasons carry the figures"
        datetime.fromisoformat(a["ts"])
        samples = a["evidence"]["event_ids"]
        assert samples and all(s in events for s in samples)
        # ts is the event time of the request that made the alert fire
        assert a["ts"] == events[samples[-1]]["ts"] or a["ts"] >= events[samples[-1]]["ts"]


def test_when_a_rule_keeps_firing_then_repeats_are_suppressed_then_escalated(
    tmp_path: Path,
) -> None:
    w = World()
    w.normal_days()
    # the same session bounced between two networks all afternoon
    office, dc = "82.64.12.7", "163.172.163.220"
    sid = w.login(w.at(DAY, 13.0), "cab-0001", "sec.durand.0001", office)
    for k in range(4 * 60):
        ip = office if k % 2 else dc
        w.read(
            w.at(DAY, 13.0) + __import__("datetime").timedelta(seconds=60 * k + 30),
            "cab-0001",
            "sec.durand.0001",
            f"P{100001 + k % 50:07d}",
            sid,
            ip,
        )
    case = w.write(tmp_path / "case")
    shared = [orjson.loads(a) for a in _alerts(case)]
    shared = [a for a in shared if a["detector"] == "session-shared"]
    # cool-down 1 h over 4 h of firing: a handful of alerts, not hundreds
    assert 2 <= len(shared) <= 5
    levels = [SEVERITIES.index(a["severity"]) for a in shared]
    assert levels == sorted(levels) and levels[-1] > levels[0], levels
    assert (
        shared[-1]["evidence"]["repeats"]["escalated"]
        or shared[-1]["evidence"]["repeats"]["repeat"]
    )


def test_when_state_limits_are_tiny_then_tables_stay_within_them(tmp_path: Path) -> None:
    rules = load_rules()
    rules.settings = msgspec.structs.replace(
        rules.settings, max_accounts=20, max_sessions=30, max_sources=30, max_tenants=10
    )
    engine = Engine(rules, ContextIndex())
    w = World()
    for k in range(400):  # 400 accounts of 40 practices, each its own place
        tenant = f"cab-{k % 40:04d}"
        actor = f"dr.user{k}.{k % 40:04d}"
        ip = f"81.{k % 250}.{k // 250}.9"
        sid = w.login(w.at(0, 8 + k / 100), tenant, actor, ip)
        w.read(w.at(0, 8 + k / 100 + 0.001), tenant, actor, f"P{k:07d}", sid, ip)
    w.write(tmp_path / "case")
    peak = dict.fromkeys(("accounts", "sessions", "sources", "tenants"), 0)
    for ev in EventReader([tmp_path / "case" / "events.jsonl"]):
        engine.process(ev)
        for table in engine.tracker.tables():
            peak[table.name] = max(peak[table.name], len(table))
    assert peak["accounts"] <= 20 * 1.1 + 16
    assert peak["sessions"] <= 30 * 1.1 + 16
    assert peak["sources"] <= 30 * 1.1 + 16
    assert peak["tenants"] <= 10 * 1.1 + 16
    sizes = engine.state_sizes()
    assert sizes["accounts"] <= 22 + 16


def test_when_an_alert_is_explained_then_its_sample_events_are_shown(tmp_path: Path) -> None:
    case = _case(tmp_path, session_shared())
    out = tmp_path / "alerts.jsonl"
    _detect(case, out)
    alert = next(
        orjson.loads(line) for line in out.read_bytes().splitlines() if b"session-shared" in line
    )
    result = CliRunner().invoke(
        app,
        [
            "explain",
            alert["alert_id"],
            "--alerts",
            str(out),
            "--events",
            str(case / "events.jsonl"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.output)
    assert doc["alert"]["alert_id"] == alert["alert_id"]
    shown = {e["event_id"] for e in doc["events"] if e["sample"]}
    assert set(alert["evidence"]["event_ids"]) <= shown
    assert all("patient_ids" not in e for e in doc["events"])  # counts, not ids, by default
    result = CliRunner().invoke(
        app, ["explain", "al-nope", "--alerts", str(out), "--events", str(case / "events.jsonl")]
    )
    assert isinstance(result.exception, InputError)  # `vigile` turns it into status 2


def test_when_events_come_from_a_store_then_alerts_equal_the_file_replay(tmp_path: Path) -> None:
    case = _case(tmp_path, account_risk())
    store = tmp_path / "store"
    result = CliRunner().invoke(
        app, ["ingest", "--events", str(case / "events.jsonl"), "--store", str(store), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "detect",
            "--store",
            str(store),
            "--context",
            str(case / "context"),
            "--alerts",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().splitlines() == _alerts(case)
