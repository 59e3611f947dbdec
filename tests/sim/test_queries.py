"""Query strings stay with their events across days (the query table is replaced daily)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson

from vigile.sim.config import SimConfig, apply_overrides
from vigile.sim.generate import generate


def _events(out: Path) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in (out / "events.jsonl").read_bytes().splitlines()]


def test_when_two_closed_days_follow_each_other_then_each_schedule_pull_asks_for_its_own_day(
    tiny_config: Callable[[int], SimConfig], tmp_path: Path
) -> None:
    # Sunday 5 April 2026 then Easter Monday: on both days the only queries are the
    # booking connector's `date=...` pulls, so both days' query tables have one entry
    none = {"count": 0}
    cfg = tiny_config(3)
    cfg = apply_overrides(
        cfg,
        {
            "start": "2026-04-04",
            "days": 3,
            "attacks": dict.fromkeys(cfg.attacks, none),
            "benign": dict.fromkeys(cfg.benign, none),
        },
    )
    generate(cfg, tmp_path)
    pulls = [
        e for e in _events(tmp_path) if e["action"] == "list" and e["resource"] == "appointment"
    ]
    days = {str(e["ts"])[:10] for e in pulls}
    assert {"2026-04-05", "2026-04-06"} <= days
    wrong = [
        (e["ts"], e.get("query")) for e in pulls if e.get("query") != f"date={str(e['ts'])[:10]}"
    ]
    assert wrong == []


def test_when_paging_runs_past_midnight_then_the_pages_keep_their_queries(
    tiny_config: Callable[[int], SimConfig], tmp_path: Path
) -> None:
    # a migration starting just before midnight with small pages: most of its pages are
    # written with the next day's events, whose query table is another one
    cfg = apply_overrides(
        tiny_config(5),
        {
            "days": 6,
            "benign": {
                "data_migration": {"start_day": 1, "hour": 23.5, "page_size": 20, "gap_seconds": 20}
            },
        },
    )
    generate(cfg, tmp_path)
    pages: dict[object, list[tuple[str, str]]] = defaultdict(list)
    for e in _events(tmp_path):
        if str(e["actor"]).startswith("svc.migration.") and e["action"] == "export":
            pages[e["actor"]].append((str(e["ts"]), str(e["query"])))
    assert pages
    for seen in pages.values():
        assert len({ts[:10] for ts, _ in seen}) == 2  # the export crossed midnight
        assert [q for _, q in seen] == [f"page={k + 1}&size=20" for k in range(len(seen))]
