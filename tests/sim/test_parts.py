"""Building blocks: configuration, notes, clock, CLI wiring."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
import typer
from typer.testing import CliRunner

from vigile.sim import rng
from vigile.sim.attacks import PagingTask
from vigile.sim.batch import EventBatch, Kind, Tables
from vigile.sim.clock import french_holidays, local_midnight_ms, offset_minutes, parse_ts
from vigile.sim.config import SimConfig, apply_overrides, parse_assignment
from vigile.sim.notes import CATEGORIES, expand, generate_note
from vigile.sim.presets import load_config
from vigile.sim.traffic import Agenda, PracticeDay, Session
from vigile.sim.world import build_world


def test_when_an_unknown_setting_is_given_then_configuration_fails_clearly() -> None:
    with pytest.raises(ValueError, match="unknown sim setting"):
        apply_overrides(SimConfig(), {"nope": 1})


def test_when_a_dotted_assignment_is_parsed_then_it_nests_and_types_values() -> None:
    assert parse_assignment("attacks.campaign.accounts=20") == {
        "attacks": {"campaign": {"accounts": 20}}
    }
    cfg = load_config(
        "small",
        assignments=[parse_assignment("days=3"), parse_assignment("attacks.campaign.mode=list")],
    )
    assert cfg.days == 3 and cfg.attacks["campaign"]["mode"] == "list"


def test_when_a_yaml_config_overrides_a_preset_then_it_wins(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("practices: 3\nattacks:\n  night_paging:\n    page_size: 50\n")
    cfg = load_config("small", seed=5, config_file=f)
    assert (cfg.practices, cfg.seed, cfg.attacks["night_paging"]["page_size"]) == (3, 5, 50)


def test_when_notes_are_generated_then_admin_notes_are_unlabelled_and_sensitive_ones_are() -> None:
    r = random.Random(3)
    seen: set[str] = set()
    texts = set()
    for i in range(3000):
        text, cats = generate_note(r, sensitive=i % 2 == 0)
        assert text.strip()
        texts.add(text)
        if i % 2:
            assert cats == []
        else:
            assert cats and set(cats) <= set(CATEGORIES)
            seen.update(cats)
    assert seen == set(CATEGORIES)
    assert len(texts) > 2700  # compositional: almost no two notes alike


def test_when_a_template_nests_alternatives_then_expansion_picks_one_branch() -> None:
    r = random.Random(1)
    outs = {expand("[a|b [c|d]] e", r) for _ in range(200)}
    assert outs == {"a e", "b c e", "b d e"}


def test_when_the_clock_crosses_a_daylight_saving_change_then_offsets_follow() -> None:
    before = parse_ts("2026-03-29T01:30:00.000+01:00")
    after = parse_ts("2026-03-29T03:30:00.000+02:00")
    assert offset_minutes(np.array([before, after])).tolist() == [60, 120]
    assert dt.date(2025, 11, 11) in french_holidays(2025)
    assert dt.date(2026, 4, 6) in french_holidays(2026)  # Easter Monday


def test_when_sim_runs_through_the_cli_then_it_writes_a_world_and_prints_stats(
    tmp_path: Path,
) -> None:
    app = typer.Typer()
    from vigile.sim.cli import register

    register(app)
    out = tmp_path / "w"
    res = CliRunner().invoke(
        app,
        [
            "sim",
            "--out",
            str(out),
            "--set",
            "practices=2",
            "--set",
            "days=3",
            "--set",
            "records_per_doctor=300",
            "--set",
            "attacks.campaign.accounts=1",
            "--stats",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = orjson.loads((out / "world.json").read_bytes())
    assert doc["counts"]["events"] > 0 and "events per doctor-day" in res.output
    res = CliRunner().invoke(app, ["sim", "--world", str(out), "--stats"])
    assert res.exit_code == 0 and "patient files" in res.output
    res = CliRunner().invoke(app, ["sim", "--out", str(out), "--preset", "huge"])
    assert res.exit_code != 0


def test_when_register_is_called_then_sim_and_eval_commands_exist() -> None:
    app = typer.Typer()
    from vigile.sim.cli import register

    register(app)
    names = {c.name for c in app.registered_commands}
    assert names == {"sim", "eval"}


def test_when_one_session_changes_address_then_each_line_keeps_its_own_address() -> None:
    from vigile.sim.batch import EventBatch, Kind, Tables
    from vigile.sim.writer import Renderer

    t = Tables(1)
    t.tenants, t.actors = ["cab-0001"], ["dr.a.0001"]
    sid = t.new_session()
    ips = np.array([t.ip("1.1.1.1"), t.ip("2.2.2.2"), t.ip("1.1.1.1")])
    ua = t.ua("MedPratic/7.4.2 (Windows NT 10.0; Win64)")
    b = EventBatch()
    b.add(
        np.array([1, 2, 3]) * 1000 + 1_762_000_000_000,
        Kind.READ_PATIENT,
        0,
        0,
        sid,
        ips,
        ua,
        np.array([10_000_001, 10_000_002, 10_000_003]),
    )
    lines = Renderer(t, 1).render(b.columns(), np.array([60, 60, 60]), 1).splitlines()
    got = [orjson.loads(x) for x in lines]
    assert [e["src_ip"] for e in got] == ["1.1.1.1", "2.2.2.2", "1.1.1.1"]
    assert [e["patient_ids"] for e in got] == [["P10000001"], ["P10000002"], ["P10000003"]]
    assert all(e["session"] == t.sessions[sid] and e["records"] == 1 for e in got)


@pytest.mark.parametrize(("hour", "which"), [(13.2, 1), (12.2, 0), (7.0, 0), (19.5, 1), (10.0, 0)])
def test_when_a_replay_hour_falls_outside_the_victims_sessions_then_the_nearest_is_replayed(
    tiny_config: Callable[[int], SimConfig], hour: float, which: int
) -> None:
    # small seed 3's token replay had no events: both replay hours drawn fell in the
    # victim's lunch break, between its two sessions
    world = build_world(tiny_config(7))
    victim = world.practices[0].doctors[0]
    t = 1
    mid = local_midnight_ms(world.start + dt.timedelta(days=t))
    tables = Tables(world.cfg.seed)
    ctx = PracticeDay(
        world, 0, t, world.start + dt.timedelta(days=t), mid, tables, EventBatch(),
        rng.generator(1, 2, 3), Agenda(world, 0),
    )  # fmt: skip
    am = Session(mid + 8 * 3_600_000, mid + 12 * 3_600_000, tables.new_session(), 0, 0)
    pm = Session(mid + 14 * 3_600_000, mid + 18 * 3_600_000, tables.new_session(), 0, 0)
    ctx.sessions[victim] = [am, pm]
    task = PagingTask(
        9, victim, np.arange(1000, 2200, dtype=np.int64), 500, 2.0, hour,
        "203.0.113.9", "MedPratic/7.4.2", Kind.EXPORT_PATIENT, login=False, replay_of=victim,
    )  # fmt: skip
    task.run(ctx)
    cols = ctx.batch.columns()
    target = (am, pm)[which]
    assert len(cols) == 3  # 1,200 files in pages of 500
    assert set(cols.session.tolist()) == {target.sid}
    assert target.start < int(cols.ts.min()) and int(cols.ts.max()) < target.end
    assert (cols.kind == Kind.EXPORT_PATIENT).all() and (cols.tag == 9).all()


def test_when_integers_are_drawn_from_floats_then_they_cover_the_range_uniformly() -> None:
    g = np.random.default_rng(5)
    x = rng.randints(g, -3, 4, size=70_000)
    assert x.dtype == np.int64 and x.min() == -3 and x.max() == 3
    counts = np.bincount(x + 3)
    assert np.all(np.abs(counts - 10_000) < 500)  # 7 values, 10,000 expected each
    assert set(rng.randints(g, 5, size=1000).tolist()) == {0, 1, 2, 3, 4}
    assert len(rng.randints(g, 0, 9, size=0)) == 0
    one = [rng.randint(g, 10, 13) for _ in range(3000)]
    assert set(one) == {10, 11, 12} and all(isinstance(v, int) for v in one)
    assert {rng.randint(g, 2) for _ in range(200)} == {0, 1}
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    assert np.array_equal(rng.randints(a, 0, 100, size=50), rng.randints(b, 0, 100, size=50))
