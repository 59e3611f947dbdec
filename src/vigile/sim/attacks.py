"""Labelled attacks.  Each kind has defaults (DEFAULTS) that presets and users override.

Kinds:
- `campaign`: the seed case.  Many doctors' accounts across many practices, business
  hours on workdays, the genuine client's user agent, residential addresses rotating
  every few requests, a steady pace through the practice's whole file list.
- `night_paging`: bulk paging through the list endpoint at night.
- `low_and_slow`: a few dozen extra files a day from the victim's own workstation, in
  the victim's own session (same address, user agent and session id).
- `enumeration`: sequential ids, cross-practice reads mostly refused (403/404), some
  leaking through a vulnerable route (print).
- `search_scraping`: name-prefix searches (aa, ab, ...) harvesting results.
- `token_replay`: the victim's live session token replayed from elsewhere for a full
  export.
- `credential_stuffing`: login failures on many accounts, a few successes, then
  extraction from the compromised accounts.
- `vip_snooping`: an insider reading public figures' files with no care relationship.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigile.sim import rng
from vigile.sim.batch import Kind
from vigile.sim.config import GENUINE_UA
from vigile.sim.scenario import (
    I64,
    MS_S,
    Picker,
    Plan,
    Planner,
    account,
    emit_file_reads,
    emit_pages,
    is_workday,
    minutes,
    plan_cases,
    steady_times,
    uniform_in_sessions,
    workdays_from,
)
from vigile.sim.traffic import PracticeDay, Session, search_results
from vigile.sim.world import FLAG_VIP, World, hosting_ip, residential_ip

DEFAULTS: dict[str, dict[str, Any]] = {
    "campaign": {
        "count": 1,
        "accounts": 5,
        "start_day": 3,
        "spread_days": 5,
        "rate_per_hour": 60.0,
        "hours": [9.0, 18.0],
        "mode": "read",
        "page_size": 50,
        "read_annotations": 1.0,
        "ip_pool": 400,
        "rotate_every": 0,
        "user_agent": GENUINE_UA,
    },
    "night_paging": {
        "count": 1,
        "start_day": 5,
        "nights": 1,
        "hour": 1.5,
        "page_size": 200,
        "gap_seconds": 4.0,
        "user_agent": GENUINE_UA,
    },
    "low_and_slow": {"count": 1, "start_day": 2, "per_day": 40, "annotations": 0.6},
    "enumeration": {
        "count": 1,
        "start_day": 8,
        "requests": 2000,
        "rate_per_minute": 30.0,
        "hour": 19.0,
        "switch_after": 0.3,
        "leak_share": 0.35,
        "user_agent": GENUINE_UA,
    },
    "search_scraping": {
        "count": 1,
        "start_day": 9,
        "prefix_length": 2,
        "results_cap": 50,
        "rate_per_minute": 4.0,
        "hour": 9.5,
        "user_agent": GENUINE_UA,
    },
    "token_replay": {
        "count": 1,
        "start_day": 10,
        "page_size": 500,
        "gap_seconds": 2.0,
        "user_agent": GENUINE_UA,
    },
    "credential_stuffing": {
        "count": 1,
        "start_day": 7,
        "targets": 10,
        "compromised": 1,
        "attempts": [3, 12],
        "ip_pool": 25,
        "post_pages": 40,
        "page_size": 50,
        "user_agent": GENUINE_UA,
    },
    "vip_snooping": {"count": 1, "start_day": 3, "days": 5, "per_day": 2},
}
KINDS = tuple(DEFAULTS)


def merged(cfg_attacks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Defaults updated with the configuration's overrides."""
    out: dict[str, dict[str, Any]] = {}
    for kind, d in DEFAULTS.items():
        out[kind] = {**d, **cfg_attacks.get(kind, {})}
    for kind in cfg_attacks:
        if kind not in DEFAULTS:
            raise ValueError(f"unknown attack kind {kind!r} (known: {', '.join(KINDS)})")
    return out


def _panel(world: World, p: int, upto_day: int) -> I64:
    """Ids of a practice's files existing before a day, in id order (what lists return)."""
    sl = world.practice_slice(p)
    return world.pid[sl][world.created_day[sl] < upto_day]


def plan_attacks(world: World, picker: Picker) -> list[Plan]:
    """Plan every configured attack (tags 1, 2, ...)."""
    return plan_cases(world, picker, merged(world.cfg.attacks), _PLANNERS, rng.STREAM_PLAN, 1)


def _start(world: World, prm: dict[str, Any], g: np.random.Generator, spread: int = 0) -> int:
    t = int(prm.get("start_day", 0)) + (int(g.integers(0, spread + 1)) if spread else 0)
    return min(max(0, t), world.cfg.days - 1)


# ---------------------------------------------------------------- campaign


@dataclass
class CampaignTask:
    """One compromised account's share of the campaign on one day."""

    tag: int
    actor: int
    pids: I64
    gap_s: float
    hours: tuple[float, float]
    ips: list[str]
    rotate_every: int
    annotations: float
    mode: str
    page_size: int
    ua: str

    def run(self, ctx: PracticeDay) -> None:
        """Log in from a residential address and work through today's share of the files."""
        g = ctx.g
        per = 2 if self.mode == "read" else 1
        n_req = len(self.pids) if self.mode == "read" else -(-len(self.pids) // self.page_size)
        begin = minutes(ctx, self.hours[0]) + int(g.integers(0, 40)) * 60_000
        ts = steady_times(
            g, begin, n_req, self.gap_s, skip=(minutes(ctx, 12.5), minutes(ctx, 13.5))
        )
        ua = ctx.tables.ua(self.ua)
        ip_idx = np.asarray([ctx.tables.ip(ip) for ip in self.ips], dtype=np.int64)
        if self.rotate_every > 0:  # a rotating proxy: a new address every N requests
            chunk = np.arange(n_req) * per // self.rotate_every
        else:  # a new address for every session (each account-day)
            chunk = np.zeros(n_req, dtype=np.int64)
        ip_of = ip_idx[(chunk + int(g.integers(len(ip_idx)))) % len(ip_idx)]
        s = ctx.open_session(
            self.actor,
            begin - int(g.integers(5, 60)) * MS_S,
            int(ts[-1]) + int(g.integers(10, 120)) * MS_S,
            int(ip_of[0]),
            ua,
            tag=self.tag,
            logout=bool(g.random() < 0.5),
        )
        if self.mode == "read":
            ctx.batch.add(
                ts, Kind.READ_PATIENT, ctx.p, self.actor, s.sid, ip_of, ua, self.pids, tag=self.tag
            )
            m = g.random(n_req) < self.annotations
            ctx.batch.add(
                ts[m] + g.integers(300, 2500, size=int(m.sum())),
                Kind.READ_ANNOTATION,
                ctx.p,
                self.actor,
                s.sid,
                ip_of[m],
                ua,
                self.pids[m],
                tag=self.tag,
            )
        else:
            sess = [Session(s.start, s.end, s.sid, int(ip_of[0]), ua)]
            emit_pages(
                ctx, self.actor, sess[0], ts, self.pids, self.page_size, Kind.LIST_PATIENT, self.tag
            )


def _plan_campaign(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    n_acc = int(prm["accounts"])
    prac = g.permutation(len(world.practices))
    chosen: list[int] = []
    for p in prac:
        if len(chosen) >= n_acc:
            break
        docs = [d for d in world.practices[int(p)].doctors if d not in picker.used]
        if docs:
            d = docs[int(g.integers(len(docs)))]
            picker.used.add(d)
            chosen.append(d)
    while len(chosen) < n_acc:  # more accounts than practices: second doctors
        try:
            chosen.append(picker.pick(("doctor",)))
        except ValueError:
            break
    if not chosen:
        return None
    ips = [residential_ip(world.cfg.seed, 300 + tag, k) for k in range(int(prm["ip_pool"]))]
    hours = (float(prm["hours"][0]), float(prm["hours"][1]))
    plan = Plan(
        tag, "campaign", [account(world, a) for a in chosen], {**prm, "accounts": len(chosen)}
    )
    per_req = 1 if prm["mode"] == "read" else int(prm["page_size"])
    for a in chosen:
        p = world.actors[a].practice
        t0 = _start(world, prm, g, int(prm["spread_days"]))
        rate = float(prm["rate_per_hour"]) * float(np.exp(g.normal(0, 0.15)))
        panel = _panel(world, p, t0)
        pos = 0
        work_h = hours[1] - hours[0] - 1.0 - 0.8  # lunch and a margin
        for t in workdays_from(world, t0):
            if pos >= len(panel):
                break
            n_req = int(rate * work_h * g.uniform(0.85, 1.0))
            take = panel[pos : pos + n_req * per_req]
            pos += len(take)
            gap = 3600.0 / rate
            plan.add(
                p,
                t,
                CampaignTask(
                    tag,
                    a,
                    take,
                    gap,
                    hours,
                    ips,
                    int(prm["rotate_every"]),
                    float(prm["read_annotations"]),
                    str(prm["mode"]),
                    int(prm["page_size"]),
                    str(prm["user_agent"]),
                ),
            )
    return plan


# ---------------------------------------------------------------- night paging


@dataclass
class PagingTask:
    """Bulk paging through a list/export endpoint from a fresh session."""

    tag: int
    actor: int
    pids: I64
    page_size: int
    gap_s: float
    hour: float
    ip: str
    ua: str
    kind: int
    login: bool = True
    extra_query: str = ""
    replay_of: int = -1  # replay this account's live session instead of logging in

    def run(self, ctx: PracticeDay) -> None:
        """Page through all files."""
        g = ctx.g
        n_pages = -(-len(self.pids) // self.page_size)
        begin = minutes(ctx, self.hour) + int(g.integers(0, 30 * 60)) * MS_S
        ts = steady_times(g, begin, n_pages, self.gap_s, jitter=0.5)
        ip, ua = ctx.tables.ip(self.ip), ctx.tables.ua(self.ua)
        if self.replay_of >= 0:
            mine = ctx.sessions.get(self.replay_of, [])
            live = [s for s in mine if s.start < begin < s.end]
            if not live and mine:
                # the hour drawn fell outside the victim's sessions (its lunch break, say):
                # the token is replayed in the session nearest that hour (no new draw, so
                # the rest of the practice-day is unchanged)
                near = min(mine, key=lambda s: (max(s.start - begin, begin - s.end), s.start))
                quarter = (near.end - near.start) // 4
                moved = min(max(begin, near.start + quarter), near.end - quarter)
                if near.start < moved < near.end:
                    ts = ts + (moved - begin)
                    begin = moved
                    live = [near]
            if not live:
                return
            s = Session(live[0].start, live[0].end, live[0].sid, ip, ua)
        else:
            s = ctx.open_session(
                self.actor,
                begin - int(g.integers(3, 30)) * MS_S,
                int(ts[-1]) + int(g.integers(5, 60)) * MS_S,
                ip,
                ua,
                tag=self.tag,
                login=self.login,
                logout=bool(g.random() < 0.6),
            )
        emit_pages(
            ctx, self.actor, s, ts, self.pids, self.page_size, self.kind, self.tag, self.extra_query
        )


def _plan_night_paging(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    a = picker.pick(("doctor", "secretary"))
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    plan = Plan(tag, "night_paging", [account(world, a)], dict(prm))
    ip = residential_ip(world.cfg.seed, 400 + tag, 0)
    for t in range(t0, min(world.cfg.days, t0 + int(prm["nights"]))):
        plan.add(
            p,
            t,
            PagingTask(
                tag,
                a,
                _panel(world, p, t),
                int(prm["page_size"]),
                float(prm["gap_seconds"]),
                float(prm["hour"]),
                ip,
                str(prm["user_agent"]),
                Kind.LIST_PATIENT,
            ),
        )
    return plan


# ---------------------------------------------------------------- low and slow


@dataclass
class LowSlowTask:
    """Extra file reads hidden in the victim's own working sessions."""

    tag: int
    actor: int
    pids: I64
    annotations: float

    def run(self, ctx: PracticeDay) -> None:
        """Spread the reads over the victim's office sessions of the day."""
        sess = [
            s
            for s in ctx.sessions.get(self.actor, [])
            if s.ip == ctx.tables.ip(ctx.world.practices[ctx.p].office_ip)
        ]
        if not sess:
            return
        ts = uniform_in_sessions(ctx.g, sess, len(self.pids))
        emit_file_reads(
            ctx, self.actor, sess, ts, self.pids[: len(ts)], self.tag, self.annotations, 0.15
        )


def _plan_low_and_slow(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    a = picker.pick(("doctor", "secretary"))
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    panel = g.permutation(_panel(world, p, t0))
    plan = Plan(tag, "low_and_slow", [account(world, a)], dict(prm))
    pos = 0
    for t in workdays_from(world, t0):
        k = max(1, int(g.poisson(float(prm["per_day"]))))
        plan.add(p, t, LowSlowTask(tag, a, panel[pos : pos + k], float(prm["annotations"])))
        pos += k
    return plan


# ---------------------------------------------------------------- enumeration


@dataclass
class EnumerationTask:
    """Sequential ids; other practices' files refused, except through the print route."""

    tag: int
    actor: int
    first_id: int
    n: int
    gap_s: float
    hour: float
    switch_after: float
    leak_share: float
    ip: str
    ua: str

    def run(self, ctx: PracticeDay) -> None:
        """Walk the ids."""
        w, g = ctx.world, ctx.g
        ids = self.first_id + np.arange(self.n, dtype=np.int64)
        begin = minutes(ctx, self.hour) + int(g.integers(0, 1800)) * MS_S
        ts = steady_times(g, begin, self.n, self.gap_s, jitter=0.6)
        from vigile.sim.world import PID_BASE

        k = ids - PID_BASE
        inside = (k >= 0) & (k < len(w.owner))
        owner = np.where(inside, w.owner[np.clip(k, 0, len(w.owner) - 1)], -1)
        exists = owner >= 0
        own = owner == ctx.p
        switched = np.arange(self.n) >= int(self.switch_after * self.n)
        leak = g.random(self.n) < self.leak_share
        status = np.where(~exists, 404, np.where(own, 200, 403))
        status = np.where(switched & exists & ~own & leak, 200, status)
        kind = np.where(switched, int(Kind.PRINT_PATIENT), int(Kind.READ_PATIENT))
        ip, ua = ctx.tables.ip(self.ip), ctx.tables.ua(self.ua)
        s = ctx.open_session(
            self.actor, begin - 20 * MS_S, int(ts[-1]) + 30 * MS_S, ip, ua, tag=self.tag
        )
        ctx.batch.add(ts, kind, ctx.p, self.actor, s.sid, ip, ua, ids, status=status, tag=self.tag)


def _plan_enumeration(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    a = picker.pick(("doctor", "secretary", "locum"))
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    own_ids = _panel(world, p, t0)
    first = int(own_ids[int(g.integers(len(own_ids)))]) - int(g.integers(0, 200))
    plan = Plan(tag, "enumeration", [account(world, a)], dict(prm))
    rate = float(prm["rate_per_minute"])
    plan.add(
        p,
        t0,
        EnumerationTask(
            tag,
            a,
            first,
            int(prm["requests"]),
            60.0 / rate,
            float(prm["hour"]),
            float(prm["switch_after"]),
            float(prm["leak_share"]),
            residential_ip(world.cfg.seed, 500 + tag, 0),
            str(prm["user_agent"]),
        ),
    )
    return plan


# ---------------------------------------------------------------- search scraping


@dataclass
class SearchScrapeTask:
    """Systematic name-prefix searches."""

    tag: int
    actor: int
    prefixes: list[str]
    cap: int
    gap_s: float
    hour: float
    ip: str
    ua: str

    def run(self, ctx: PracticeDay) -> None:
        """Run the searches at a steady pace."""
        g = ctx.g
        begin = minutes(ctx, self.hour) + int(g.integers(0, 1800)) * MS_S
        ts = steady_times(
            g,
            begin,
            len(self.prefixes),
            self.gap_s,
            jitter=0.5,
            skip=(minutes(ctx, 12.5), minutes(ctx, 13.75)),
        )
        counts, values, qs = [], [], []
        for pre in self.prefixes:
            res = search_results(ctx, pre, self.cap, include_canaries=True)
            counts.append(len(res))
            values.append(res)
            qs.append(ctx.tables.query(f"q={pre}"))
        ip, ua = ctx.tables.ip(self.ip), ctx.tables.ua(self.ua)
        s = ctx.open_session(
            self.actor,
            begin - 40 * MS_S,
            int(ts[-1]) + 60 * MS_S,
            ip,
            ua,
            tag=self.tag,
            logout=False,
        )
        ctx.batch.add(
            ts,
            Kind.SEARCH_PATIENT,
            ctx.p,
            self.actor,
            s.sid,
            ip,
            ua,
            np.concatenate(values),
            counts=np.asarray(counts, dtype=np.int64),
            query=np.asarray(qs, dtype=np.int64),
            tag=self.tag,
        )


def _plan_search_scraping(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    a = picker.pick(("secretary", "doctor"))
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    letters = string.ascii_lowercase
    n = int(prm["prefix_length"])
    prefixes = [""]
    for _ in range(n):
        prefixes = [x + c for x in prefixes for c in letters]
    plan = Plan(tag, "search_scraping", [account(world, a)], dict(prm))
    days = workdays_from(world, t0) or [t0]
    per_day = int(60 * 7 * float(prm["rate_per_minute"]))
    for k, t in enumerate(days):
        chunk = prefixes[k * per_day : (k + 1) * per_day]
        if not chunk:
            break
        plan.add(
            p,
            t,
            SearchScrapeTask(
                tag,
                a,
                chunk,
                int(prm["results_cap"]),
                60.0 / float(prm["rate_per_minute"]),
                float(prm["hour"]),
                residential_ip(world.cfg.seed, 600 + tag, 0),
                str(prm["user_agent"]),
            ),
        )
    return plan


# ---------------------------------------------------------------- token replay


@dataclass
class ReplayTask:
    """Replay the victim's session from elsewhere, once, on the first day it is live."""

    inner: PagingTask
    state: dict[str, bool]

    def run(self, ctx: PracticeDay) -> None:
        """Export everything through the stolen session."""
        if self.state.get("done"):
            return
        before = len(ctx.batch.parts)
        self.inner.pids = _panel(ctx.world, ctx.p, ctx.t + 1)
        self.inner.run(ctx)
        if len(ctx.batch.parts) > before:
            self.state["done"] = True


def _plan_token_replay(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    a = picker.pick(("secretary", "doctor"))
    p = world.actors[a].practice
    t0 = _start(world, prm, g)
    plan = Plan(tag, "token_replay", [account(world, a)], dict(prm))
    state: dict[str, bool] = {}
    ip = hosting_ip(world.cfg.seed, 700 + tag, 0)
    for t in workdays_from(world, t0):
        hour = float(g.uniform(10.0, 16.0))
        plan.add(
            p,
            t,
            ReplayTask(
                PagingTask(
                    tag,
                    a,
                    np.zeros(0, dtype=np.int64),
                    int(prm["page_size"]),
                    float(prm["gap_seconds"]),
                    hour,
                    ip,
                    str(prm["user_agent"]),
                    Kind.EXPORT_PATIENT,
                    login=False,
                    replay_of=a,
                ),
                state,
            ),
        )
    return plan


# ---------------------------------------------------------------- credential stuffing


@dataclass
class StuffingTask:
    """Login failures on one target account; a success and extraction if compromised."""

    tag: int
    actor: int
    attempts: int
    compromised: bool
    ips: list[str]
    ua: str
    post_pages: int
    page_size: int

    def run(self, ctx: PracticeDay) -> None:
        """Failures spread over the day, then maybe a success and paging."""
        g = ctx.g
        ts = np.sort(ctx.mid + g.integers(0, 86_400 - 4 * 3600, size=self.attempts) * MS_S)
        ips = np.asarray(
            [
                ctx.tables.ip(self.ips[int(i)])
                for i in g.integers(len(self.ips), size=self.attempts)
            ],
            dtype=np.int64,
        )
        ua = ctx.tables.ua(self.ua)
        ctx.batch.add(
            ts, Kind.LOGIN_FAILED, ctx.p, self.actor, -1, ips, ua, status=401, tag=self.tag
        )
        if not self.compromised:
            return
        begin = int(ts[-1]) + int(g.integers(20, 600)) * MS_S
        pids = _panel(ctx.world, ctx.p, ctx.t + 1)[: self.post_pages * self.page_size]
        pts = steady_times(g, begin + 5 * MS_S, self.post_pages, 6.0, jitter=0.5)
        s = ctx.open_session(
            self.actor,
            begin,
            int(pts[-1]) + 30 * MS_S,
            int(ips[-1]),
            ua,
            tag=self.tag,
            logout=False,
        )
        emit_pages(ctx, self.actor, s, pts, pids, self.page_size, Kind.LIST_PATIENT, self.tag)


def _plan_credential_stuffing(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    n = int(prm["targets"])
    targets = []
    for _ in range(n):
        try:
            targets.append(picker.pick(("doctor", "secretary", "locum")))
        except ValueError:
            break
    if not targets:
        return None
    comp = set(targets[: int(prm["compromised"])])
    t0 = _start(world, prm, g)
    ips = [
        hosting_ip(world.cfg.seed, 800 + tag, k)
        if k % 3 == 0
        else residential_ip(world.cfg.seed, 800 + tag, k)
        for k in range(int(prm["ip_pool"]))
    ]
    lo, hi = int(prm["attempts"][0]), int(prm["attempts"][1])
    plan = Plan(
        tag,
        "credential_stuffing",
        [account(world, a) for a in targets],
        {**prm, "compromised_accounts": [account(world, a) for a in sorted(comp)]},
    )
    for a in targets:
        p = world.actors[a].practice
        t = min(world.cfg.days - 1, t0 + int(g.integers(0, 2)))
        plan.add(
            p,
            t,
            StuffingTask(
                tag,
                a,
                int(g.integers(lo, hi + 1)),
                a in comp,
                ips,
                str(prm["user_agent"]),
                int(prm["post_pages"]),
                int(prm["page_size"]),
            ),
        )
    return plan


# ---------------------------------------------------------------- vip snooping


@dataclass
class VipTask:
    """An insider opens public figures' files during their normal working day."""

    tag: int
    actor: int
    pids: I64

    def run(self, ctx: PracticeDay) -> None:
        """Read the files inside the insider's own sessions."""
        sess = ctx.sessions.get(self.actor, [])
        if not sess:
            return
        ts = uniform_in_sessions(ctx.g, sess, len(self.pids))
        emit_file_reads(ctx, self.actor, sess, ts, self.pids[: len(ts)], self.tag, 1.0, 0.8)


def _plan_vip_snooping(
    world: World, picker: Picker, g: np.random.Generator, tag: int, prm: dict[str, Any]
) -> Plan | None:
    vip_prac = sorted({int(world.practice_of[i]) for i in np.flatnonzero(world.flags & FLAG_VIP)})
    order = [vip_prac[int(i)] for i in g.permutation(len(vip_prac))]
    for p in order:
        cands = [
            x
            for x in world.practices[p].secretaries + world.practices[p].doctors
            if x not in picker.used
        ]
        if not cands:
            continue
        a = cands[int(g.integers(len(cands)))]
        picker.used.add(a)
        sl = world.practice_slice(p)
        vips = world.pid[sl][(world.flags[sl] & FLAG_VIP) != 0]
        t0 = _start(world, prm, g)
        plan = Plan(tag, "vip_snooping", [account(world, a)], dict(prm))
        days = [t for t in workdays_from(world, t0)][: int(prm["days"])]
        pool = g.permutation(vips)
        for k, t in enumerate(days):
            take = np.resize(pool, int(prm["per_day"]) * (k + 1))[k * int(prm["per_day"]) :]
            take = np.unique(take)
            plan.add(p, t, VipTask(tag, a, take))
        return plan
    return None


_PLANNERS: dict[str, Planner] = {
    "campaign": _plan_campaign,
    "night_paging": _plan_night_paging,
    "low_and_slow": _plan_low_and_slow,
    "enumeration": _plan_enumeration,
    "search_scraping": _plan_search_scraping,
    "token_replay": _plan_token_replay,
    "credential_stuffing": _plan_credential_stuffing,
    "vip_snooping": _plan_vip_snooping,
}

__all__ = ["DEFAULTS", "KINDS", "Picker", "is_workday", "plan_attacks"]
