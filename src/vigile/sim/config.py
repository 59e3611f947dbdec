"""Configuration of a simulated world.

A `SimConfig` is plain data: presets build one, a YAML file or `--set key=value`
overrides change it, and `world.json` records the one that was used.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

GENUINE_UA = "MedPratic/7.4.2 (Windows NT 10.0; Win64)"
GENUINE_UAS = (
    "MedPratic/7.4.2 (Windows NT 10.0; Win64)",
    "MedPratic/7.4.1 (Windows NT 10.0; Win64)",
    "MedPratic/7.4.2 (Windows NT 11.0; Win64)",
    "MedPratic/7.4.2 (Macintosh; Intel Mac OS X 14_5)",
    "MedPratic/7.3.9 (Windows NT 10.0; Win64)",
)
AGENDA_UA = "MedPratic-Agenda/3.2.0 (connector; +rdv)"
MIGRATION_UA = "MedPratic-Migration/2.1.4 (bulk)"


@dataclass
class SimConfig:
    """Everything that shapes a world.  Field comments give the unit."""

    preset: str = "small"
    seed: int = 42
    start: str = "2025-11-03"  # first day (local date, Europe/Paris)
    days: int = 14
    practices: int = 8  # used when `doctors` is 0
    doctors: int = 0  # when > 0, practices are drawn until this many doctors exist
    doctor_mix: list[float] = field(default_factory=lambda: [0.38, 0.24, 0.16, 0.11, 0.07, 0.04])
    records_per_doctor: float = 5000.0  # median patient files per doctor (seed: 19 M / 3,800)
    records_sigma: float = 0.35  # log-normal spread of files per doctor
    persons_ratio: float = 19.0 / 15.0  # patient records per true person
    note_rate: float = 169_000 / 19_000_000  # share of patient files carrying notes
    sensitive_share: float = 0.3  # share of notes that are sensitive
    vip_rate: float = 0.0004  # share of files flagged vip (at least one per practice)
    canaries_per_practice: int = 2  # decoy files no genuine workflow touches
    consultations_per_day: float = 22.0  # mean consultations per full doctor-day
    new_patients_per_doctor_day: float = 0.7
    history_years: float = 12.0  # how far back patient files were created
    booking_horizon_days: int = 14  # appointments are booked up to this many days ahead
    online_booking_share: float = 0.45  # appointments booked through the online agenda
    evening_doctor_share: float = 0.35  # doctors who sometimes work in the evening from home
    vacation_share: float = 0.15  # doctors taking a week off inside the window
    gzip: bool = False
    gzip_level: int = 3
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    benign: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (for world.json)."""
        return dataclasses.asdict(self)


def apply_overrides(cfg: SimConfig, data: dict[str, Any]) -> SimConfig:
    """Return a copy of `cfg` with the nested mapping `data` applied on top."""
    out = copy.deepcopy(cfg)
    names = {f.name for f in dataclasses.fields(SimConfig)}
    for key, value in data.items():
        if key not in names:
            raise ValueError(f"unknown sim setting {key!r}")
        if key in ("attacks", "benign"):
            if not isinstance(value, dict):
                raise ValueError(f"{key} must be a mapping of kind -> settings")
            current: dict[str, dict[str, Any]] = getattr(out, key)
            for kind, params in value.items():
                if params is None or params is False:
                    current[kind] = {"count": 0}
                    continue
                if not isinstance(params, dict):
                    raise ValueError(f"{key}.{kind} must be a mapping")
                current.setdefault(kind, {}).update(params)
        else:
            setattr(out, key, _coerce(getattr(out, key), value, key))
    return out


def _coerce(old: Any, value: Any, key: str) -> Any:
    if isinstance(old, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(old, int) and not isinstance(old, bool):
        return int(value)
    if isinstance(old, float):
        return float(value)
    if isinstance(old, list) and isinstance(value, str):
        return [float(v) for v in value.split(",")]
    if isinstance(old, str):
        return str(value)
    if isinstance(old, list) and isinstance(value, list):
        return value
    raise ValueError(f"cannot set {key} to {value!r}")


def parse_assignment(text: str) -> dict[str, Any]:
    """Turn `a.b.c=value` into a nested mapping `{a: {b: {c: value}}}` (value YAML-parsed)."""
    import yaml

    if "=" not in text:
        raise ValueError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    value: Any = yaml.safe_load(raw) if raw else ""
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    assert isinstance(value, dict)
    return value
