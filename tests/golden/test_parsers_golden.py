"""Golden cases for every parser.

Layout: ``tests/golden/parsers/<format>/<case>/`` holds ``input.*`` (the log as a
user would have it), optionally ``options.yaml`` (``log_format``, ``route_map``
relative to the case folder, ``default_tenant``, ``extra``), and the expected
``events.jsonl`` (accepted events, in stream order, as interface JSON) and
``quarantine.jsonl`` (bad lines with their reasons), and ``stats.json``.
``pytest --update-golden`` rewrites the expected files; review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigile.parsers import ParserOptions
from vigile.parsers.jsonl import render_jsonl
from vigile.quarantine import Quarantine
from vigile.stream import EventReader

ROOT = Path(__file__).parent / "parsers"
CASES = sorted(p for p in ROOT.glob("*/*") if p.is_dir())


def _options(case: Path) -> ParserOptions:
    file = case / "options.yaml"
    if not file.exists():
        return ParserOptions()
    raw: dict[str, Any] = yaml.safe_load(file.read_text()) or {}
    route_map = raw.get("route_map")
    return ParserOptions(
        log_format=raw.get("log_format"),
        route_map=(case / route_map) if route_map else None,
        default_tenant=raw.get("default_tenant"),
        extra={k: str(v) for k, v in (raw.get("extra") or {}).items()},
    )


def _compare(path: Path, actual: str, update: bool) -> None:
    if update or not path.exists():
        path.write_text(actual)
        if not update:
            pytest.fail(f"{path} did not exist; written from current output, review it")
        return
    assert actual == path.read_text(), f"golden mismatch in {path} (run with --update-golden)"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_when_golden_input_is_parsed_then_events_and_quarantine_match(
    case: Path, tmp_path: Path, update_golden: bool
) -> None:
    fmt = case.parent.name
    inputs = sorted(case.glob("input*"))
    assert inputs, f"{case} has no input file"
    qpath = tmp_path / "quarantine.jsonl"
    with Quarantine(qpath) as quarantine:
        reader = EventReader(inputs, fmt, options=_options(case), quarantine=quarantine)
        events = "".join(render_jsonl(e).decode() + "\n" for e in reader)
    quarantined = []
    for line in qpath.read_text().splitlines():
        entry = json.loads(line)
        entry["source"] = Path(entry["source"]).name
        quarantined.append(json.dumps(entry, ensure_ascii=False) + "\n")
    stats = {k: v for k, v in reader.stats.as_dict().items() if k not in ("per_source", "bytes")}
    _compare(case / "events.jsonl", events, update_golden)
    _compare(case / "quarantine.jsonl", "".join(quarantined), update_golden)
    _compare(case / "stats.json", json.dumps(stats, indent=1) + "\n", update_golden)
