"""The live chapter of `vigile demo`, shortened: real servers, genuine users, an attacker."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from vigile.demo.live import run_live

pytestmark = pytest.mark.e2e


def test_when_the_live_chapter_runs_then_attacks_are_stopped_and_genuine_users_are_not(
    tmp_path: Path,
) -> None:
    text = io.StringIO()
    console = Console(file=text, width=140, force_terminal=False)
    figures = run_live(
        tmp_path,
        console,
        11,
        speed=400.0,
        day=3,
        start_hour=7.75,
        end_hour=10.5,
        attack_hour=8.5,
        campaign_hour=8.75,
        campaign_accounts=3,
        overrides={"practices": 4, "days": 4, "records_per_doctor": 700.0},
    )
    output = text.getvalue()
    print(output)  # shown when the test fails
    assert "what each attack obtained before it was stopped" in output
    assert figures["genuine"]["requests"] > 300
    assert figures["genuine"]["refused_by_vigile"] == 0, figures["genuine"]["refused_accounts"]
    assert figures["genuine"]["errors"] == 0
    assert figures["bulk_paging"]["stopped"]
    assert figures["campaign"]["all_stopped"]
    assert figures["campaign"]["median_patients"] < 100
    assert (tmp_path / "live" / "live.json").exists()
