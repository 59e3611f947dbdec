"""Shared machinery for attack and benign scenarios.

A scenario is planned once (which accounts, which days, how much) and then run as
`Task`s, one per (practice, day), after the practice's genuine traffic of that day, so
that it can ride the victim's own sessions when a real attacker would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vigile.sim import rng
from vigile.sim.batch import Kind
from vigile.sim.clock import MS_MIN, is_holiday
from vigile.sim.traffic import PracticeDay, Session
from vigile.sim.world import World

I64 = npt.NDArray[np.int64]
MS_S = 1000


@dataclass
class Picker:
    """Chooses accounts for scenarios, never the same account twice."""

    world: World
    g: np.random.Generator
    used: set[int] = field(default_factory=set)

    def pick(self, roles: tuple[str, ...]) -> int:
        """A free account, present from the start of the window, with one of the roles."""
        cands = [
            a.gidx
            for a in self.world.actors
            if a.role in roles and a.gidx not in self.used and a.active_from == 0
        ]
        if not cands:
            raise ValueError(f"no free account with role {roles}")
        a = cands[int(self.g.integers(len(cands)))]
        self.used.add(a)
        return a


def account(world: World, gidx: int) -> tuple[str, str]:
    """(tenant, actor) of an account."""
    a = world.actors[gidx]
    return (world.practices[a.practice].tenant, a.actor)


class Task(Protocol):
    """Work of one scenario on one practice-day."""

    def run(self, ctx: PracticeDay) -> None:
        """Emit the scenario's events for ctx's practice and day."""


@dataclass
class Plan:
    """A planned scenario: truth metadata plus its tasks keyed by (practice, day)."""

    tag: int  # > 0 attack id, < 0 benign case id
    kind: str
    accounts: list[tuple[str, str]]
    params: dict[str, Any]
    tasks: dict[tuple[int, int], list[Task]] = field(default_factory=dict)

    @property
    def ident(self) -> str:
        """Truth id: `A001` for attacks, `B001` for benign cases."""
        return f"A{self.tag:03d}" if self.tag > 0 else f"B{-self.tag:03d}"

    def add(self, p: int, t: int, task: Task) -> None:
        """Schedule a task."""
        self.tasks.setdefault((p, t), []).append(task)


Planner = Callable[[World, Picker, np.random.Generator, int, dict[str, Any]], "Plan | None"]


def plan_cases(
    world: World,
    picker: Picker,
    params: dict[str, dict[str, Any]],
    planners: dict[str, Planner],
    stream: int,
    sign: int,
) -> list[Plan]:
    """Plan `count` cases of every kind; tags are sign * 1, 2, ...  A case that the world
    is too small for (no free account) is skipped."""
    plans: list[Plan] = []
    kinds = tuple(planners)
    for kind in kinds:
        prm = params[kind]
        for i in range(int(prm.get("count", 1))):
            g = rng.generator(world.cfg.seed, stream, kinds.index(kind), i)
            try:
                plan = planners[kind](world, picker, g, sign * (len(plans) + 1), prm)
            except ValueError:
                plan = None
            if plan is not None:
                plans.append(plan)
    return plans


def is_workday(world: World, t: int) -> bool:
    """Monday to Friday and not a public holiday."""
    d = world.start + dt.timedelta(days=t)
    return d.weekday() < 5 and not is_holiday(d)


def workdays_from(world: World, t0: int) -> list[int]:
    """Workday indices of the window from t0 on."""
    return [t for t in range(max(0, t0), world.cfg.days) if is_workday(world, t)]


def steady_times(
    g: np.random.Generator,
    start: int,
    n: int,
    gap_s: float,
    jitter: float = 0.3,
    skip: tuple[int, int] | None = None,
) -> I64:
    """n request times at a steady pace (gap ± jitter), optionally jumping a pause window."""
    gaps = gap_s * (1.0 + jitter * (2.0 * g.random(n) - 1.0)) * MS_S
    ts = start + np.cumsum(gaps).astype(np.int64)
    if skip is not None:
        a, b = skip
        ts = np.where(ts >= a, ts + (b - a), ts)
    return ts


def in_sessions(sess: list[Session], ts: I64) -> npt.NDArray[np.bool_]:
    """Which times fall inside one of the sessions."""
    ok = np.zeros(len(ts), dtype=bool)
    for s in sess:
        ok |= (ts >= s.start) & (ts <= s.end)
    return ok


def uniform_in_sessions(
    g: np.random.Generator, sess: list[Session], n: int, margin_ms: int = 60_000
) -> I64:
    """n times spread uniformly over the sessions (kept off their edges)."""
    spans = np.asarray([max(0, s.end - s.start - 2 * margin_ms) for s in sess], dtype=np.float64)
    if spans.sum() <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    which = g.choice(len(sess), size=n, p=spans / spans.sum())
    starts = np.asarray([s.start + margin_ms for s in sess], dtype=np.int64)[which]
    return np.sort(starts + (g.random(n) * spans[which]).astype(np.int64))


def emit_file_reads(
    ctx: PracticeDay,
    actor: int,
    sess: list[Session],
    ts: I64,
    pids: I64,
    tag: int,
    annotations: float,
    documents: float = 0.0,
) -> None:
    """Open patient files the way the client does (file, then notes, maybe documents)."""
    g = ctx.g
    ctx.emit_in_sessions(actor, sess, ts, Kind.READ_PATIENT, pids, tag=tag)
    m = g.random(len(ts)) < annotations
    ctx.emit_in_sessions(
        actor,
        sess,
        ts[m] + g.integers(400, 3000, size=int(m.sum())),
        Kind.READ_ANNOTATION,
        pids[m],
        tag=tag,
    )
    m = g.random(len(ts)) < documents
    ctx.emit_in_sessions(
        actor,
        sess,
        ts[m] + g.integers(3000, 40_000, size=int(m.sum())),
        Kind.READ_DOCUMENT,
        pids[m],
        tag=tag,
    )


def emit_pages(
    ctx: PracticeDay,
    actor: int,
    sess: Session,
    ts: I64,
    pids: I64,
    page_size: int,
    kind: int,
    tag: int,
    extra_query: str = "",
) -> None:
    """Page through pids (already ordered) with list/export requests at times ts."""
    n_pages = min(len(ts), (len(pids) + page_size - 1) // page_size)
    if n_pages == 0:
        return
    counts = np.asarray(
        [min(page_size, len(pids) - k * page_size) for k in range(n_pages)], dtype=np.int64
    )
    values = pids[: int(counts.sum())]
    q = np.asarray(
        [ctx.tables.query(f"{extra_query}page={k + 1}&size={page_size}") for k in range(n_pages)],
        dtype=np.int64,
    )
    ctx.batch.add(
        ts[:n_pages],
        kind,
        ctx.p,
        actor,
        sess.sid,
        sess.ip,
        sess.ua,
        values,
        counts=counts,
        query=q,
        tag=tag,
    )


def minutes(ctx: PracticeDay, hhmm: float) -> int:
    """Epoch ms of a local time of ctx's day given in hours (e.g. 13.5 -> 13:30)."""
    return ctx.mid + int(hhmm * 60) * MS_MIN
