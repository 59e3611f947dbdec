"""Benign hard cases: genuine work that looks like extraction, labelled in the truth.

Kinds:
- `locum_panel`: a locum arriving to cover a doctor reads the doctor's whole active panel
  over a day or two.
- `vaccine_recall`: the yearly flu-vaccine recall: an export of every patient aged 65+,
  then letters printed.
- `new_doctor`: a newly arrived doctor (fresh account, no history) sees patients and
  reads many files in the first days.
- `evening_catchup`: a doctor clears a backlog of results from home in the evening.
- `data_migration`: the practice's planned migration: a service account exports every
  file at night with the migration tool.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigile.sim import rng
from vigile.sim.batch import Kind
from vigile.sim.config import MIGRATION_UA
from vigile.sim.scenario import (
    I64,
    MS_S,
    Picker,
    Plan,
    Planner,
    account,
    emit_file_reads,
    minutes,
    plan_cases,
    steady_times,
    workdays_from,
)
from vigile.sim.traffic import PracticeDay, Session
from vigile.sim.world import FLAG_CANARY, Actor, World, hosting_ip

DEFAULTS: dict[str, dict[str, Any]] = {
    "locum_panel": {"count": 1, "start_day": 1, "days": 2, "gap_seconds": 25.0},
    "vaccine_recall": {
        "count": 1,
        "start_day": 2,
        "min_age": 65,
        "page_size": 100,
        "print_share": 0.3,
    },
    "new_doctor": {"count": 1, "start_day": 3, "discovery_days": 3, "per_day": 150},
    "evening_catchup": {"count": 1, "start_day": 4, "files": [100, 250]},
    "data_migration": {
        "count": 1,
        "start_day": 6,
        "page_size": 500,
        "gap_seconds": 3.0,
        "hour": 22.5,
    },
}
KINDS = tuple(DEFAULTS)


def merged(cfg_benign: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Defaults updated with the configuration's overrides."""
    for kind in cfg_benign:
        if kind not in DEFAULTS:
            raise ValueError(f"unknown benign case {kind!r} (known: {', '.join(KINDS)})")
    return {k: {**d, **cfg_benign.get(k, {})} for k, d in DEFAULTS.items()}


def _new_account(
    world: World,
    p: int,
    prefix: str,
    role: str,
    t: int,
    g: np.random.Generator,
    ip: str | None = None,
) -> Actor:
    """Create an account that appears during the window (actors.csv `created`)."""
    from vigile.sim.identity import ascii_slug

    used = {a.actor for a in world.actors if a.practice == p}
    while True:
        slug = ascii_slug(world.pools.surnames[int(g.integers(400))])
        name = f"{prefix}.{slug}.{p + 1:04d}"
        if name not in used:
            break
    gidx = len(world.actors)
    from vigile.sim.world import residential_ip

    a = Actor(
        gidx,
        name,
        p,
        role,
        world.start + dt.timedelta(days=t),
        0,
        ip or residential_ip(world.cfg.seed, 101, gidx),
        0,
        active_from=t,
    )
    world.actors.append(a)
    return a


def _start(world: World, prm: dict[str, Any], g: np.random.Generator) -> int:
    t = int(prm.get("start_day", 0)) + int(g.integers(0, 3))
    days = workdays_from(world, t) or workdays_from(world, 0)
    return days[0] if days else 0


@dataclass
class ReviewTask:
    """Read a list of files at a steady pace during office hours in the actor's session."""

    tag: int
    actor: int
    pids: I64
    gap_s: float
    hour: float
    home: bool = False

    def run(self, ctx: PracticeDay) -> None:
        """Open the files one after another."""
        if len(self.pids) == 0:
            return
        g = ctx.g
        w = ctx.world
        a = w.actors[self.actor]
        begin = minutes(ctx, self.hour) + int(g.integers(0, 1200)) * MS_S
        ts = steady_times(
            g,
            begin,
            len(self.pids),
            self.gap_s,
            jitter=0.8,
            skip=None if self.home else (minutes(ctx, 12.5), minutes(ctx, 14.0)),
        )
        sess = [s for s in ctx.sessions.get(self.actor, []) if s.start <= ts[0] <= s.end]
        if not sess or self.home:
            ip = ctx.tables.ip(a.home_ip if self.home else w.practices[ctx.p].office_ip)
            ua = ctx.tables.ua(w.uas[a.home_ua if self.home else a.ua])
            sess = [
                ctx.open_session(
                    self.actor,
                    int(ts[0]) - int(g.integers(20, 300)) * MS_S,
                    int(ts[-1]) + int(g.integers(30, 600)) * MS_S,
                    ip,
                    ua,
                    tag=self.tag,
                )
            ]
        else:
            sess = [
                Session(
                    sess[0].start,
                    max(sess[0].end, int(ts[-1])),
                    sess[0].sid,
                    sess[0].ip,
                    sess[0].ua,
                )
            ]
        emit_file_reads(
            ctx, self.actor, sess, ts, self.pids, self.tag, 0.9, 0.6 if self.home else 0.3
        )


@dataclass
class RecallTask:
    """Export of elderly patients for the vaccine recall, then letters."""

    tag: int
    actor: int
    min_age: int
    page_size: int
    print_share: float

    def run(self, ctx: PracticeDay) -> None:
        """Export pages with the recall filter, then print a share of the letters."""
        from vigile.sim.scenario import emit_pages

        w, g = ctx.world, ctx.g
        sl = w.practice_slice(ctx.p)
        keep = (
            (w.age[sl] >= self.min_age)
            & ((w.flags[sl] & FLAG_CANARY) == 0)
            & (w.created_day[sl] <= ctx.t)
        )
        pids = w.pid[sl][keep]
        sess = ctx.sessions.get(self.actor, [])
        begin = minutes(ctx, 10.0) + int(g.integers(0, 3600)) * MS_S
        live = [s for s in sess if s.start <= begin <= s.end]
        if not live:
            a = w.actors[self.actor]
            live = [
                ctx.open_session(
                    self.actor,
                    begin - 60 * MS_S,
                    begin + 3 * 3600 * MS_S,
                    ctx.tables.ip(w.practices[ctx.p].office_ip),
                    ctx.tables.ua(w.uas[a.ua]),
                    tag=self.tag,
                )
            ]
        n_pages = -(-len(pids) // self.page_size)
        ts = steady_times(g, begin, n_pages, 2.5, jitter=0.5)
        emit_pages(
            ctx,
            self.actor,
            live[0],
            ts,
            pids,
            self.page_size,
            Kind.EXPORT_PATIENT,
            self.tag,
            extra_query=f"age_min={self.min_age}&campagne=grippe&",
        )
        m = g.random(len(pids)) < self.print_share
        pts = steady_times(g, int(ts[-1]) + 120 * MS_S if len(ts) else begin, int(m.sum()), 8.0)
        ctx.emit_in_sessions(self.actor, [live[0]], pts, Kind.PRINT_PATIENT, pids[m], tag=self.tag)


def plan_benign(world: World, picker: Picker) -> list[Plan]:
    """Plan every configured benign hard case (tags -1, -2, ...; may add accounts)."""
    return plan_cases(world, picker, merged(world.cfg.benign), _PLANNERS, rng.STREAM_BENIGN, -1)


def _free_practice(
    world: World, picker: Picker, g: np.random.Generator, need_secretary: bool = False
) -> int:
    order = g.permutation(len(world.practices))
    for p in order:
        pr = world.practices[int(p)]
        if need_secretary and not pr.secretaries:
            continue
        if not any(a in picker.used for a in pr.doctors + pr.secretaries):
            return int(p)
    return int(order[0])


def _plan_locum(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan:
    p = _free_practice(world, picker, g)
    t0 = _start(world, prm, g)
    loc = _new_account(world, p, "dr", "locum", t0, g)
    picker.used.add(loc.gidx)
    pr = world.practices[p]
    k = int(g.integers(len(pr.doctors)))
    sl = world.practice_slice(p)
    active = (world.doctor_of[sl] == k) & (world.weight[sl] >= 0.5) & (world.created_day[sl] < t0)
    pids = g.permutation(world.pid[sl][active])
    plan = Plan(
        tag,
        "locum_panel",
        [account(world, loc.gidx)],
        {**prm, "covered_doctor": world.actors[pr.doctors[k]].actor, "files": len(pids)},
    )
    days = workdays_from(world, t0)[: int(prm["days"])]
    per = -(-len(pids) // max(1, len(days)))
    for i, t in enumerate(days):
        plan.add(
            p,
            t,
            ReviewTask(
                tag, loc.gidx, pids[i * per : (i + 1) * per], float(prm["gap_seconds"]), 8.5
            ),
        )
    return plan


def _plan_recall(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan:
    a = -1
    for p in g.permutation(len(world.practices)).tolist():
        pr = world.practices[p]
        free = [x for x in pr.secretaries + pr.doctors if x not in picker.used]
        if free:
            a = free[0]  # the front desk runs the recall when there is one
            break
    if a < 0:
        raise ValueError("no free account for a vaccine recall")
    picker.used.add(a)
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    plan = Plan(tag, "vaccine_recall", [account(world, a)], dict(prm))
    plan.add(
        p,
        t0,
        RecallTask(tag, a, int(prm["min_age"]), int(prm["page_size"]), float(prm["print_share"])),
    )
    return plan


def _plan_new_doctor(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan:
    p = _free_practice(world, picker, g)
    t0 = _start(world, prm, g)
    doc = _new_account(world, p, "dr", "doctor", t0, g)
    doc.start_min, doc.end_min = 510, 1110
    pr = world.practices[p]
    pr.doctors.append(doc.gidx)
    picker.used.add(doc.gidx)
    sl = world.practice_slice(p)
    weights = np.where((world.flags[sl] & FLAG_CANARY) == 0, world.weight[sl], 0.0)
    plan = Plan(tag, "new_doctor", [account(world, doc.gidx)], dict(prm))
    for t in workdays_from(world, t0)[: int(prm["discovery_days"])]:
        n = int(g.poisson(float(prm["per_day"])))
        cdf = np.cumsum(weights)
        idx = np.unique(np.searchsorted(cdf, g.random(n) * cdf[-1], side="right"))
        idx = np.minimum(idx, len(weights) - 1)
        plan.add(p, t, ReviewTask(tag, doc.gidx, world.pid[sl][g.permutation(idx)], 50.0, 8.6))
    return plan


def _plan_evening(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan:
    a = picker.pick(("doctor",))
    p = world.actors[a].practice
    t0 = min(world.cfg.days - 1, int(prm["start_day"]) + int(g.integers(0, 4)))
    sl = world.practice_slice(p)
    k = world.practices[p].doctors.index(a)
    lo, hi = int(prm["files"][0]), int(prm["files"][1])
    cand = world.pid[sl][(world.doctor_of[sl] == k) & (world.weight[sl] > 0.2)]
    pids = g.permutation(cand)[: int(g.integers(lo, hi + 1))]
    plan = Plan(tag, "evening_catchup", [account(world, a)], {**prm, "files": len(pids)})
    plan.add(
        p,
        t0,
        ReviewTask(
            tag, a, pids, float(g.uniform(15.0, 45.0)), float(g.uniform(20.0, 21.5)), home=True
        ),
    )
    return plan


@dataclass
class MigrationTask:
    """The migration tool pages through every file overnight."""

    tag: int
    actor: int
    page_size: int
    gap_s: float
    hour: float
    ip: str

    def run(self, ctx: PracticeDay) -> None:
        """Export all (non-decoy) files."""
        from vigile.sim.attacks import PagingTask

        w = ctx.world
        sl = w.practice_slice(ctx.p)
        keep = ((w.flags[sl] & FLAG_CANARY) == 0) & (w.created_day[sl] <= ctx.t)
        PagingTask(
            self.tag,
            self.actor,
            w.pid[sl][keep],
            self.page_size,
            self.gap_s,
            self.hour,
            self.ip,
            MIGRATION_UA,
            Kind.EXPORT_PATIENT,
        ).run(ctx)


def _plan_migration(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan:
    p = _free_practice(world, picker, g)
    t0 = min(world.cfg.days - 1, int(prm["start_day"]) + int(g.integers(0, 3)))
    ip = hosting_ip(world.cfg.seed, 900 - tag, 0)
    svc = _new_account(world, p, "svc.migration", "service", max(0, t0 - 2), g, ip=ip)
    svc.active_from = 10_000  # no everyday traffic
    taken = {a.actor for a in world.actors}
    name, n = f"svc.migration.{p + 1:04d}", 2
    while name in taken:
        name, n = f"svc.migration{n}.{p + 1:04d}", n + 1
    svc.actor = name
    picker.used.add(svc.gidx)
    plan = Plan(tag, "data_migration", [account(world, svc.gidx)], dict(prm))
    plan.add(
        p,
        t0,
        MigrationTask(
            tag, svc.gidx, int(prm["page_size"]), float(prm["gap_seconds"]), float(prm["hour"]), ip
        ),
    )
    return plan


_PLANNERS: dict[str, Planner] = {
    "locum_panel": _plan_locum,
    "vaccine_recall": _plan_recall,
    "new_doctor": _plan_new_doctor,
    "evening_catchup": _plan_evening,
    "data_migration": _plan_migration,
}

__all__ = ["DEFAULTS", "KINDS", "plan_benign"]
