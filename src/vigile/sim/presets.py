"""Presets: `small` (tests, demo), `medium` (tuning), `seed` (the seed case's scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vigile.sim.config import SimConfig, apply_overrides

PRESETS: dict[str, dict[str, Any]] = {
    "small": {
        "days": 14,
        "practices": 8,
        "sensitive_share": 0.3,
        "attacks": {
            "campaign": {"accounts": 5, "start_day": 4, "spread_days": 3},
            "night_paging": {"start_day": 6},
            "low_and_slow": {"start_day": 2, "per_day": 35},
            "enumeration": {"start_day": 8, "requests": 1500},
            "search_scraping": {"start_day": 9},
            "token_replay": {"start_day": 10},
            "credential_stuffing": {"start_day": 7, "targets": 8, "compromised": 1},
            "vip_snooping": {"start_day": 3},
        },
        "benign": {},
    },
    "medium": {
        "days": 28,
        "practices": 80,
        "sensitive_share": 0.3,
        "attacks": {
            "campaign": {"accounts": 40, "start_day": 10, "spread_days": 10},
            "night_paging": {"count": 2, "start_day": 5},
            "low_and_slow": {"count": 2, "start_day": 3},
            "enumeration": {"count": 2, "start_day": 12},
            "search_scraping": {"count": 2, "start_day": 14},
            "token_replay": {"count": 2, "start_day": 16},
            "credential_stuffing": {"count": 2, "start_day": 8, "targets": 30, "compromised": 3},
            "vip_snooping": {"count": 2, "start_day": 4},
        },
        "benign": {
            "locum_panel": {"count": 2},
            "vaccine_recall": {"count": 2},
            "new_doctor": {"count": 2},
            "evening_catchup": {"count": 3},
            "data_migration": {"count": 2},
        },
    },
    "seed": {
        "days": 28,
        "doctors": 3800,
        "records_per_doctor": 4650.0,
        "sensitive_share": 0.01,
        "attacks": {
            "campaign": {
                "accounts": 1500,
                "start_day": 7,
                "spread_days": 14,
                "rate_per_hour": 150,
            },
            "night_paging": {"count": 3, "start_day": 5},
            "low_and_slow": {"count": 3, "start_day": 2},
            "enumeration": {"count": 2, "start_day": 12},
            "search_scraping": {"count": 2, "start_day": 14},
            "token_replay": {"count": 2, "start_day": 16},
            "credential_stuffing": {"count": 2, "start_day": 8, "targets": 60, "compromised": 5},
            "vip_snooping": {"count": 3, "start_day": 4},
        },
        "benign": {
            "locum_panel": {"count": 5},
            "vaccine_recall": {"count": 5},
            "new_doctor": {"count": 5},
            "evening_catchup": {"count": 10},
            "data_migration": {"count": 3},
        },
    },
}


def preset_config(name: str, seed: int | None = None) -> SimConfig:
    """The configuration of a named preset (optionally with another seed)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    cfg = apply_overrides(SimConfig(preset=name), PRESETS[name])
    if seed is not None:
        cfg.seed = seed
    return cfg


def load_config(
    preset: str,
    seed: int | None = None,
    config_file: Path | None = None,
    assignments: list[dict[str, Any]] | None = None,
) -> SimConfig:
    """A preset, then a YAML file of overrides, then `--set` assignments, then the seed."""
    cfg = preset_config(preset)
    if config_file is not None:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{config_file}: expected a mapping at the top level")
        cfg = apply_overrides(cfg, data)
    for a in assignments or []:
        cfg = apply_overrides(cfg, a)
    if seed is not None:
        cfg.seed = seed
    return cfg
