"""Golden cases: one folder per rule, ``tests/detect/golden/<rule>/``.

Each holds ``events.jsonl`` (the scene the rule is about, built by
:mod:`tests.detect.scenes`), ``context/`` and the expected ``alerts.jsonl``; the
four normal days of three practices that come before every scene are shared, in
``golden/_normal/events.jsonl``. The runner replays the events through the shipped rules
and compares the alerts byte for byte; the case must raise its own rule.
``pytest --update-golden`` rebuilds the inputs from the scenes and rewrites the
expected alerts: review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import orjson
import pytest

from tests.detect.scenes import SCENES
from vigile.detect.context_index import ContextIndex
from vigile.detect.engine import Engine
from vigile.detect.rules import load_rules
from vigile.stream import EventReader

ROOT = Path(__file__).parent / "golden"
NORMAL = ROOT / "_normal"
RULE_IDS = sorted(load_rules().rules)
_ENCODE = msgspec.json.Encoder().encode


def replay(case: Path) -> bytes:
    """The alerts of a case, as JSON Lines bytes."""
    engine = Engine(load_rules(), ContextIndex.load(case / "context"))
    reader = EventReader([NORMAL / "events.jsonl", case / "events.jsonl"])
    out = [_ENCODE(a) for a in engine.run(reader)]
    return b"".join(line + b"\n" for line in out)


def test_when_rules_are_shipped_then_each_has_a_scene_and_a_golden_case() -> None:
    assert sorted(SCENES) == RULE_IDS
    missing = [r for r in RULE_IDS if not (ROOT / r / "alerts.jsonl").exists()]
    assert not missing, f"no golden case for {missing} (run pytest --update-golden)"


@pytest.mark.parametrize("rule", RULE_IDS)
def test_when_golden_case_is_replayed_then_alerts_match_and_its_rule_fires(
    rule: str, update_golden: bool
) -> None:
    case = ROOT / rule
    expected = case / "alerts.jsonl"
    if update_golden:
        if case.exists():
            shutil.rmtree(case)
        SCENES[rule]().write(case, NORMAL)
        expected.write_bytes(replay(case))
    actual = replay(case)
    assert actual == expected.read_bytes(), f"golden mismatch in {expected} (--update-golden)"
    fired = {orjson.loads(line)["detector"] for line in actual.splitlines()}
    assert rule in fired, f"the {rule} case does not raise {rule} (raised: {sorted(fired)})"
