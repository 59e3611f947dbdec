"""Every registered detector, found automatically, checked against the plug-in contract."""

from __future__ import annotations

import ast
import inspect
import pickle
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.detect import scenes
from vigile.detect.context_index import ContextIndex
from vigile.detect.detectors import Detector, registry
from vigile.detect.engine import Engine
from vigile.detect.rules import load_rules
from vigile.events import ACTIONS
from vigile.stream import EventReader

DETECTORS = registry()


def _structs(cls: type[Any]) -> list[type[Any]]:
    found = list(getattr(cls, "mode_params", {}).values())
    if hasattr(cls, "Params"):
        found.append(cls.Params)
    return found


def _docstring(cls: type[Any]) -> str | None:
    """The class's docstring; from its source file when compiled (mypyc drops them)."""
    doc = inspect.getdoc(cls)
    if doc:
        return doc
    module = sys.modules[cls.__module__]
    source = Path(module.__file__ or "").with_name(cls.__module__.rpartition(".")[2] + ".py")
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return ast.get_docstring(node)
    return None


def test_when_detectors_are_discovered_then_every_shipped_rule_has_one() -> None:
    assert {
        "canary",
        "unexplained",
        "fingerprint",
        "enumeration",
        "bulk",
        "stuffing",
        "sensitive",
        "volume",
        "risk",
        "campaign",
    } <= set(DETECTORS)
    for rule in load_rules().rules.values():
        assert rule.detector in DETECTORS


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_when_a_detector_is_registered_then_it_documents_itself_and_its_thresholds(
    name: str,
) -> None:
    cls = DETECTORS[name]
    assert cls.name == name
    doc = _docstring(cls)
    assert doc and len(doc) > 80, f"{name}: a docstring saying what it detects and why"
    actions = cls.actions
    assert actions is None or (isinstance(actions, frozenset) and actions <= set(ACTIONS))
    for struct in _structs(cls):
        assert issubclass(struct, msgspec.Struct)
        for field in msgspec.structs.fields(struct):
            assert field.required, f"{name}.{struct.__name__}.{field.name} has a default in Python"
    if cls.modes:
        assert set(getattr(cls, "mode_params", {})) <= set(cls.modes)
    for method in ("score", "learn", "sweep", "state", "load_state", "size"):
        assert callable(getattr(cls, method, None)), f"{name} lacks {method}()"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine]:
    """An engine after the campaign scene (every detector has state)."""
    case = scenes.campaign().write(tmp_path_factory.mktemp("conf") / "case")
    engine = Engine(load_rules(), ContextIndex.load(case / "context"))
    for _ in engine.run(EventReader([case / "events.jsonl"])):
        pass
    return case, engine


def test_when_engine_detectors_run_then_each_satisfies_the_protocol(
    replayed: tuple[Path, Engine],
) -> None:
    _, engine = replayed
    for det in engine.detectors:
        assert isinstance(det, Detector)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_when_state_is_snapshot_then_it_pickles_and_restores_the_same_size(
    name: str, replayed: tuple[Path, Engine]
) -> None:
    _, engine = replayed
    det = next((d for d in engine.detectors if d.name == name), None)
    if det is None:
        pytest.skip(f"no shipped rule uses {name}")
    blob = pickle.dumps(det.state())
    fresh = type(det)(det.rules, engine.env)
    fresh.load_state(pickle.loads(blob))
    assert fresh.size() == det.size()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_when_event_time_moves_far_ahead_then_state_is_evicted(
    name: str, replayed: tuple[Path, Engine]
) -> None:
    _, engine = replayed
    det = next((d for d in engine.detectors if d.name == name), None)
    if det is None:
        pytest.skip(f"no shipped rule uses {name}")
    clone = type(det)(det.rules, engine.env)
    clone.load_state(pickle.loads(pickle.dumps(det.state())))
    clone.sweep(engine.facts.t + 400 * 86400.0)
    assert clone.size() <= det.size()
    assert clone.size() == 0 or name == "campaign", (
        f"{name} keeps {clone.size()} entries a year later"
    )


def test_when_the_same_stream_is_replayed_then_every_detector_ends_in_the_same_state(
    replayed: tuple[Path, Engine],
) -> None:
    case, engine = replayed
    again = Engine(load_rules(), ContextIndex.load(case / "context"))
    for _ in again.run(EventReader([case / "events.jsonl"])):
        pass
    assert again.state_sizes() == engine.state_sizes()
    for a, b in zip(engine.detectors, again.detectors, strict=True):
        assert pickle.dumps(a.state()) == pickle.dumps(b.state()), a.name
