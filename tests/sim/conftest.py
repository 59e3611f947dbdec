"""Fixtures: one small world per test session (the `small` preset), and a tiny one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigile.sim.config import SimConfig, apply_overrides
from vigile.sim.generate import generate
from vigile.sim.presets import preset_config


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `small` preset, generated once."""
    out = tmp_path_factory.mktemp("small")
    generate(preset_config("small"), out)
    return out


@pytest.fixture(scope="session")
def small_events(small_world: Path) -> list[dict[str, Any]]:
    """The small world's events, parsed once."""
    return [orjson.loads(x) for x in (small_world / "events.jsonl").read_bytes().splitlines()]


@pytest.fixture
def tiny_config() -> Callable[[int], SimConfig]:
    """Factory: a few practices over a week, every attack and benign case at minimal size."""
    return _tiny_config


def _tiny_config(seed: int = 7) -> SimConfig:
    cfg = preset_config("small", seed=seed)
    return apply_overrides(
        cfg,
        {
            "practices": 4,
            "days": 7,
            "records_per_doctor": 800.0,
            "attacks": {
                "campaign": {"accounts": 2, "start_day": 1, "spread_days": 1},
                "night_paging": {"start_day": 2},
                "low_and_slow": {"start_day": 1},
                "enumeration": {"start_day": 2, "requests": 200},
                "search_scraping": {"start_day": 3},
                "token_replay": {"start_day": 2},
                "credential_stuffing": {"start_day": 2, "targets": 3},
                "vip_snooping": {"start_day": 1},
            },
            "benign": {
                "locum_panel": {"start_day": 0},
                "vaccine_recall": {"start_day": 0},
                "new_doctor": {"start_day": 0},
                "evening_catchup": {"start_day": 0},
                "data_migration": {"start_day": 1},
            },
        },
    )
