"""`vigile eval`: scoring hand-written alert files against the small world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import typer
from typer.testing import CliRunner

from vigile.sim.cli import register
from vigile.sim.clock import format_ts, parse_ts
from vigile.sim.eval import evaluate


def _cases(world: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in (world / "truth" / name).read_bytes().splitlines()]


def _alert(
    ts: str, tenant: str, actor: str, severity: str, detector: str = "test"
) -> dict[str, Any]:
    return {
        "alert_id": f"{tenant}-{actor}-{ts}-{severity}",
        "ts": ts,
        "tenant": tenant,
        "actor": actor,
        "session": None,
        "src_ip": None,
        "severity": severity,
        "score": 1.0,
        "detector": detector,
        "reasons": ["test"],
        "evidence": {},
        "incident": None,
    }


def _write(path: Path, alerts: list[dict[str, Any]], extra: bytes = b"") -> Path:
    path.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts) + extra)
    return path


def test_when_every_attack_account_is_alerted_at_the_start_then_all_are_detected(
    small_world: Path, tmp_path: Path
) -> None:
    alerts = [
        _alert(a["start"], t, ac, "critical")
        for a in _cases(small_world, "attacks.jsonl")
        for t, ac in a["accounts"]
    ]
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", alerts))
    assert r["summary"]["accounts_detected"] == r["summary"]["accounts"] > 0
    assert all(k["account_detection_rate"] == 1.0 for k in r["by_kind"].values())
    assert all(a["records_before_block"] == 0 for a in r["attacks"])
    assert r["false_alerts"] == 0


def test_when_the_alert_file_is_empty_then_nothing_is_detected_and_all_records_are_exposed(
    small_world: Path, tmp_path: Path
) -> None:
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", []))
    assert r["summary"]["attacks_detected"] == 0
    for a in r["attacks"]:
        assert a["records_before_alert"] == a["records"] == a["records_before_block"]
        assert a["time_to_detect_s"] is None
    assert r["false_alerts"] == 0 and r["false_alerts_per_1000_account_days"] == 0.0


def test_when_a_genuine_doctor_is_alerted_then_it_counts_as_a_false_alert(
    small_world: Path, tmp_path: Path
) -> None:
    attack_accounts = {
        tuple(x) for a in _cases(small_world, "attacks.jsonl") for x in a["accounts"]
    }
    actors = (small_world / "context" / "actors.csv").read_text().splitlines()[1:]
    genuine = next(
        r.split(",")
        for r in actors
        if r.startswith("dr.") and (r.split(",")[1], r.split(",")[0]) not in attack_accounts
    )
    alerts = [
        _alert("2025-11-04T10:00:00.000+01:00", genuine[1], genuine[0], "high"),
        _alert("2025-11-04T11:00:00.000+01:00", genuine[1], genuine[0], "low"),
    ]
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", alerts))
    assert r["false_alerts"] == 1
    assert r["false_alerts_per_1000_account_days"] == round(1000 / r["active_account_days"], 3)


def test_when_an_alert_comes_mid_attack_then_records_before_it_are_counted(
    small_world: Path, tmp_path: Path
) -> None:
    night = next(a for a in _cases(small_world, "attacks.jsonl") if a["kind"] == "night_paging")
    tenant, actor = night["accounts"][0]
    mid = (parse_ts(night["start"]) + parse_ts(night["end"])) // 2
    alerts = [_alert(format_ts(mid), tenant, actor, "medium")]
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", alerts))
    row = next(a for a in r["attacks"] if a["id"] == night["id"])
    assert row["detected"] and row["time_to_detect_s"] > 0
    assert 0 < row["records_before_alert"] < row["records"]
    assert row["records_before_block"] == row["records"]  # medium never blocks


def test_when_an_alert_is_below_min_severity_or_outside_the_window_then_it_does_not_detect(
    small_world: Path, tmp_path: Path
) -> None:
    a = _cases(small_world, "attacks.jsonl")[0]
    tenant, actor = a["accounts"][0]
    alerts = [
        _alert(a["start"], tenant, actor, "low"),
        _alert("2025-10-01T10:00:00.000+02:00", tenant, actor, "critical"),
    ]
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", alerts), grace_hours=1)
    assert not next(x for x in r["attacks"] if x["id"] == a["id"])["accounts_detected"]
    assert r["false_alerts"] == 1


def test_when_a_benign_case_is_flagged_above_low_then_the_report_says_so(
    small_world: Path, tmp_path: Path
) -> None:
    b = _cases(small_world, "benign.jsonl")[0]
    tenant, actor = b["accounts"][0]
    r = evaluate(
        small_world, _write(tmp_path / "a.jsonl", [_alert(b["start"], tenant, actor, "medium")])
    )
    row = next(x for x in r["benign"] if x["id"] == b["id"])
    assert row["flagged"] and r["benign_flagged"] == 1 and r["false_alerts"] == 1


def test_when_alert_lines_are_broken_then_they_are_counted_not_fatal(
    small_world: Path, tmp_path: Path
) -> None:
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", [], b'not json\n{"ts": 1}\n'))
    assert r["alerts_read"] == 2 and r["alerts_invalid"] == 2


def test_when_eval_runs_through_the_cli_then_it_writes_a_json_report(
    small_world: Path, tmp_path: Path
) -> None:
    app = typer.Typer()
    register(app)
    alerts = _write(tmp_path / "a.jsonl", [])
    out = tmp_path / "report.json"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "--world",
            str(small_world),
            "--alerts",
            str(alerts),
            "--min-severity",
            "high",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = orjson.loads(out.read_bytes())
    assert rep["min_severity"] == "high" and "by_kind" in rep
    bad = CliRunner().invoke(
        app,
        ["eval", "--world", str(small_world), "--alerts", str(alerts), "--min-severity", "urgent"],
    )
    assert bad.exit_code != 0


def test_when_campaign_accounts_are_alerted_one_by_one_then_own_exposure_and_incident_count(
    small_world: Path, tmp_path: Path
) -> None:
    campaign = next(a for a in _cases(small_world, "attacks.jsonl") if a["kind"] == "campaign")
    accounts = campaign["accounts"]
    assert len(accounts) >= 5
    t0 = parse_ts(campaign["start"])
    alerts = []
    for i, (tenant, actor) in enumerate(accounts):
        a = _alert(format_ts(t0 + (i + 1) * 3_600_000), tenant, actor, "medium")
        # the incident links the accounts from the second one on
        a["incident"] = "inc-1" if i >= 1 else None
        alerts.append(a)
    r = evaluate(small_world, _write(tmp_path / "a.jsonl", alerts))
    row = next(a for a in r["attacks"] if a["id"] == campaign["id"])
    own = row["account_patients_before_alert"]
    assert len(own) == len(accounts) and own == sorted(own) and own[-1] > 0
    assert len(row["account_records_before_alert"]) == len(accounts)
    # formed when a second account's alert carried it (hour 3): two hours before the fifth
    assert row["incident"] == {
        "id": "inc-1",
        "accounts_linked": len(accounts) - 1,
        "formed_after_fifth_s": -2 * 3600.0,
    }
    k = r["by_kind"]["campaign"]
    assert k["account_patients_before_alert_median"] == float(np.median(own))
    assert k["incident_after_fifth_s_max"] == -2 * 3600.0
