"""The memory cap: global budgets on relationships, and sweeps that skip what cannot expire."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tests.detect.builders import World
from vigile.detect.context_index import ContextIndex
from vigile.detect.engine import Engine
from vigile.detect.reader import ReplayReader
from vigile.detect.rules import load_rules
from vigile.detect.state import budget_cutoff, prune_floor


def test_budget_cutoff_keeps_the_newest_days_within_the_budget() -> None:
    a = {"p1": 1, "p2": -2, "p3": 3, "p4": -(3 + 0.5)}
    b = {"p5": 2, "p6": 4}
    assert budget_cutoff([a, b], 6) is None
    cut = budget_cutoff([a, b], 3)  # days 4 (1), 3 (2) fit; day 2 (2 more) does not
    assert cut == 3.0
    kept = sum(1 for d in (a, b) for t in d.values() if abs(t) >= cut)
    assert kept == 3


def test_prune_floor_skips_until_something_can_expire() -> None:
    d = {f"p{i}": i for i in range(10, 20)}
    assert prune_floor(d, 10.0, 5.0, 100) == 10.0 and len(d) == 10  # nothing before day 10
    floor = prune_floor(d, 10.0, 15.0, 100)
    assert floor == 15.0 and sorted(d.values()) == list(range(15, 20))
    d["q"] = 30
    assert prune_floor(d, floor, 12.0, 3) >= 15.0 and len(d) <= 3  # capacity still enforced


def test_when_relationships_exceed_the_budget_then_the_oldest_days_go(tmp_path: Path) -> None:
    w = World()
    w.normal_days(days=5)
    case = w.write(tmp_path / "case")
    rules = load_rules()
    free = Engine(rules, ContextIndex.load(case / "context"))
    list(free.run(ReplayReader([case / "events.jsonl"])))
    total = free.state_sizes()["relationships"]
    assert total > 60 and free.state_sizes()["budget_evictions"] == 0

    budget = total // 3
    rules.settings = msgspec.structs.replace(rules.settings, max_relationships=budget)
    capped = Engine(rules, ContextIndex.load(case / "context"))
    list(capped.run(ReplayReader([case / "events.jsonl"])))
    assert capped.state_sizes()["budget_evictions"] > 0
    # the next daily sweep brings the total within the budget, newest days kept
    ex = capped.explainer
    ex.sweep(capped.clock.day, capped.tracker.tenants, capped.tracker.accounts)
    assert capped.state_sizes()["relationships"] <= budget
    newest = max(abs(t) for a in capped.tracker.accounts.values() for t in a.seen.values())
    assert newest == max(abs(t) for a in free.tracker.accounts.values() for t in a.seen.values())
