"""Everyday care: the agenda and the genuine requests of a practice for one day.

Doctors read the files of the patients they see (an appointment close in time), look at
results in the morning, renew prescriptions, search now and then, and some work from
home in the evening; secretaries book appointments, check patients in and prefetch the
day's files (a burst of 20-60 reads); the desktop client polls the day's schedule every
few minutes; an online-booking connector books around the clock.  Everything is drawn
with numpy, per practice and per day, from generators seeded by (seed, practice, day).
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vigile.sim import rng
from vigile.sim.batch import EventBatch, Kind, Tables
from vigile.sim.clock import MS_DAY, MS_MIN, is_holiday, local_midnight_ms
from vigile.sim.config import AGENDA_UA
from vigile.sim.world import FLAG_CANARY, World, residential_ip

I64 = npt.NDArray[np.int64]
AnyInt = npt.NDArray[np.integer[Any]]
F64 = npt.NDArray[np.float64]
MS_S = 1000


@dataclass
class Clinician:
    """Who consults on a day, when, and whose panel."""

    gidx: int
    blocks: list[tuple[int, int]]  # (start, end) in minutes after midnight
    panel: int  # local doctor index whose patients they mostly see; -1 whole practice
    intensity: float


@dataclass
class Appointments:
    """A day's appointments of one practice."""

    actor: I64
    start: I64  # ms
    pid: I64
    channel: I64  # 0 secretary by phone, 1 online agenda, 2 clinician, 3 walk-in
    booked: I64  # ms
    booker: I64  # account that booked (gidx)
    show: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.pid)

    def take(self, idx: I64) -> Appointments:
        """The appointments at positions idx."""
        return self.subset(idx)

    def subset(self, m: npt.NDArray[np.bool_] | I64) -> Appointments:
        """The appointments selected by a mask (or positions)."""
        return Appointments(
            self.actor[m],
            self.start[m],
            self.pid[m],
            self.channel[m],
            self.booked[m],
            self.booker[m],
            self.show[m],
        )

    @staticmethod
    def concat(parts: list[Appointments]) -> Appointments:
        """Appointments of several blocks."""
        if not parts:
            return _empty_appts()
        return Appointments(
            *[
                np.concatenate([getattr(x, f) for x in parts])
                for f in ("actor", "start", "pid", "channel", "booked", "booker", "show")
            ]
        )


_APPT_FIELDS = ("actor", "start", "pid", "channel", "booked", "booker", "show")


def _empty_appts() -> Appointments:
    z = np.zeros(0, dtype=np.int64)
    return Appointments(z, z, z, z, z, z, np.zeros(0, dtype=bool))


@dataclass
class Session:
    """One session of an account on a day."""

    start: int
    end: int
    sid: int
    ip: int
    ua: int


class Agenda:
    """Appointments of a practice, generated lazily day by day (deterministically)."""

    def __init__(self, world: World, p: int) -> None:
        self.world = world
        self.p = p
        self.days: dict[int, Appointments] = {}
        self._working: dict[int, list[Clinician]] = {}
        # local day index -> the appointments (of any day) booked on it, one block per
        # generated day, in generation order
        self._booked_on: dict[int, list[Appointments]] = {}
        self._indexed: set[int] = set()
        # (day, back) -> (clinician, patient) of the shown appointments of the days before
        self._recent: tuple[int, int, I64, I64] | None = None

    def clinicians(self, t: int) -> list[Clinician]:
        """Clinicians consulting at the practice on day index t (cached)."""
        c = self._working.get(t)
        if c is None:
            c = self._working[t] = clinicians_on(self.world, self.p, t)
        return c

    def get(self, t: int) -> Appointments:
        """The appointments of day index t."""
        a = self.days.get(t)
        if a is None:
            a, bday = self._generate(t)
            self.days[t] = a
            if t not in self._indexed:
                self._indexed.add(t)
                self._index_bookings(a, bday)
        return a

    def _index_bookings(self, a: Appointments, bday: I64) -> None:
        """Index appointments by the local day of their booking (`bday`: every booking
        time falls inside its local day, see `_generate`)."""
        if len(a) == 0:
            return
        order = np.argsort(bday, kind="stable")
        by_day = a.take(order)
        days, first = np.unique(bday[order], return_index=True)
        bounds = [*first.tolist(), len(order)]
        for k, d in enumerate(days.tolist()):
            lo, hi = bounds[k], bounds[k + 1]
            self._booked_on.setdefault(int(d), []).append(
                Appointments(*[getattr(by_day, f)[lo:hi] for f in _APPT_FIELDS])
            )

    def booked_during(self, t: int) -> Appointments:
        """Appointments (of any day) booked during local day t."""
        self.get(t + self.world.cfg.booking_horizon_days)
        for tt in range(t, t + self.world.cfg.booking_horizon_days):
            self.get(tt)
        return Appointments.concat(self._booked_on.get(t, []))

    def seen_recently(self, actor: int, t: int, back: int = 10) -> I64:
        """Patients the clinician saw in the `back` days before day t (results come back)."""
        r = self._recent
        if r is None or r[0] != t or r[1] != back:
            days = [self.get(d) for d in range(t - back, t)]
            actors = np.concatenate([a.actor[a.show] for a in days])
            pids = np.concatenate([a.pid[a.show] for a in days])
            r = self._recent = (t, back, actors, pids)
        out: I64 = r[3][r[2] == actor]
        return out

    def pids_between(self, t0: int, t1: int) -> I64:
        """Patients with an appointment on days t0..t1 (inclusive)."""
        return np.concatenate([self.get(d).pid for d in range(t0, t1 + 1)])

    def forget_before(self, t: int) -> None:
        """Drop days before t - 14 (bounded memory; recent days serve as history)."""
        for k in [k for k in self.days if k < t - 14]:
            del self.days[k]
        for k in [k for k in self._working if k < t - 1]:
            del self._working[k]
        for k in [k for k in self._booked_on if k < t - 1]:
            del self._booked_on[k]

    def _generate(self, t: int) -> tuple[Appointments, I64]:
        """Day t's appointments (sorted by start) and the local day index each was booked
        on.  A booking's time always falls inside that day: online bookings 07:00-23:00,
        phone bookings 08:30-18:30, the clinician's 09:00-18:00, walk-ins and late
        bookings (before the start) on the day itself, after 06:50."""
        w, p = self.world, self.p
        cfg = w.cfg
        pr = w.practices[p]
        g = rng.generator(cfg.seed, rng.STREAM_SCHEDULE, p, t + 1000)
        day = w.start + dt.timedelta(days=t)
        mid = local_midnight_ms(day)
        sl = w.practice_slice(p)
        sampler = practice_sampler(w, p)
        pids = w.pid[sl]
        parts: list[tuple[I64, I64, I64, I64]] = []
        clin = self.clinicians(t)
        for c in clin:
            slot_min = 14.0 + 7.0 * g.random()
            minutes = sum(e - s for s, e in c.blocks)
            mean = cfg.consultations_per_day * c.intensity * minutes / 570.0
            # slot starts in minutes: int(s + k * slot_min) for each block (s, e)
            slots = np.concatenate(
                [s + np.arange(int((e - s) // slot_min)) * slot_min for s, e in c.blocks]
            ).astype(np.int64)
            n = min(len(slots), int(g.poisson(mean)))
            if n == 0:
                continue
            chosen = np.sort(np.argsort(g.random(len(slots)))[:n])  # n distinct slots
            start = mid + slots[chosen] * MS_MIN
            use_own = g.random(n) < 0.86
            idx = np.where(use_own, sampler.draw_on(g, n, t, c.panel), sampler.draw_on(g, n, t))
            parts.append(
                (np.full(n, c.gidx, dtype=np.int64), start, pids[idx], np.zeros(n, dtype=np.int64))
            )
        # new patients come for a first consultation on the day their file is created
        new_idx = np.flatnonzero(w.created_day[sl] == t)
        if len(new_idx) and clin:
            who = rng.randints(g, 0, len(clin), size=len(new_idx))
            starts = []
            for k in range(len(new_idx)):
                s, e = clin[int(who[k])].blocks[rng.randint(g, len(clin[int(who[k])].blocks))]
                starts.append(mid + rng.randint(g, s, max(s + 1, e - 15)) * MS_MIN)
            parts.append(
                (
                    np.asarray([clin[int(k)].gidx for k in who], dtype=np.int64),
                    np.asarray(starts, dtype=np.int64),
                    pids[new_idx],
                    np.full(len(new_idx), 3, dtype=np.int64),
                )
            )
        if not parts:
            return _empty_appts(), np.zeros(0, dtype=np.int64)
        actor = np.concatenate([x[0] for x in parts])
        start = np.concatenate([x[1] for x in parts])
        pid = np.concatenate([x[2] for x in parts])
        forced = np.concatenate([x[3] for x in parts])
        n = len(pid)
        has_sec = bool(pr.secretaries)
        u = g.random(n)
        channel = np.where(u < cfg.online_booking_share, 1, np.where(has_sec, 0, 2))
        walk = (g.random(n) < 0.08) | (forced == 3)
        channel = np.where(walk, np.where(has_sec, 3, 2), channel)
        lead = np.where(walk, 0, np.floor(cfg.booking_horizon_days * g.random(n) ** 1.7))
        bday = t - lead.astype(np.int64)
        days_u = np.unique(bday)
        bmid_u = np.asarray(
            [local_midnight_ms(w.start + dt.timedelta(days=int(d))) for d in days_u], dtype=np.int64
        )
        closed_u = np.asarray(
            [
                (w.start + dt.timedelta(days=int(d))).weekday() >= 5
                or is_holiday(w.start + dt.timedelta(days=int(d)))
                for d in days_u
            ]
        )
        pos = np.searchsorted(days_u, bday)
        bmid = bmid_u[pos]
        channel = np.where(((channel == 0) | (channel == 2)) & closed_u[pos], 1, channel)
        works = np.zeros(n, dtype=bool)
        if (channel == 2).any():
            # does the appointment's clinician consult on its booking day?
            on = np.zeros((len(days_u), len(w.actors)), dtype=bool)
            for k, d in enumerate(days_u.tolist()):
                on[k, [c.gidx for c in self.clinicians(int(d))]] = True
            works = on[pos, actor]
        channel = np.where((channel == 2) & ~works & (bday != t), 1, channel)
        minute = np.where(
            channel == 1,
            rng.randints(g, 7 * 60, 23 * 60, size=n),
            np.where(
                channel == 0,
                rng.randints(g, 8 * 60 + 30, 18 * 60 + 30, size=n),
                rng.randints(g, 9 * 60, 18 * 60, size=n),
            ),
        )
        booked = bmid + minute * MS_MIN + rng.randints(g, 0, 60_000, size=n)
        walk_at = np.minimum(
            np.maximum(mid + 8 * 60 * MS_MIN, start - rng.randints(g, 10, 150, size=n) * MS_MIN),
            start - MS_MIN,
        )
        booked = np.where(channel == 3, walk_at, booked)
        late = booked >= start
        booked = np.where(late, start - rng.randints(g, 5, 60, size=n) * MS_MIN, booked)
        secs = np.asarray(pr.secretaries or [-1], dtype=np.int64)
        sec_pick = secs[rng.randints(g, 0, len(secs), size=n)]
        booker = np.where(
            channel == 1,
            pr.service,
            np.where(((channel == 0) | (channel == 3)) & has_sec, sec_pick, actor),
        )
        show = g.random(n) >= 0.04
        order = np.argsort(start, kind="stable")
        appts = Appointments(
            actor[order],
            start[order],
            pid[order],
            channel[order],
            booked[order],
            booker[order],
            show[order],
        )
        return appts, bday[order]


class Sampler:
    """Draws a practice's files by visit weight, for the whole practice or one doctor's
    panel (cumulative sums computed once per panel and kept for the whole run).

    Files created inside the window carry their weight from the start; a draw that lands
    on a file not yet created on the day is drawn again."""

    def __init__(
        self,
        weight: npt.NDArray[np.floating[Any]],
        doctor_of: AnyInt,
        created_day: AnyInt | None = None,
    ) -> None:
        self.weight = weight
        self.doc = doctor_of
        self.created = created_day
        self._cdf: dict[int, F64] = {}

    def draw_on(self, g: np.random.Generator, n: int, t: int, panel: int = -1) -> I64:
        """n positions among files that exist before day t."""
        idx = self.draw(g, n, panel)
        if self.created is None or n <= 0:
            return idx
        for _ in range(6):
            bad = self.created[idx] >= t
            if not bad.any():
                break
            idx[bad] = self.draw(g, int(bad.sum()), panel)
        return idx

    def cdf(self, panel: int) -> F64:
        """Cumulative weights of a panel (-1: whole practice); falls back to the practice
        when the panel is empty."""
        c = self._cdf.get(panel)
        if c is None:
            w = self.weight if panel < 0 else np.where(self.doc == panel, self.weight, 0.0)
            c = np.cumsum(w, dtype=np.float64)
            if panel >= 0 and (len(c) == 0 or c[-1] <= 0):
                c = self.cdf(-1)
            self._cdf[panel] = c
        return c

    def draw(self, g: np.random.Generator, n: int, panel: int = -1) -> I64:
        """n positions in the practice slice."""
        cdf = self.cdf(panel)
        if n <= 0 or len(cdf) == 0 or cdf[-1] <= 0:
            return np.zeros(max(n, 0), dtype=np.int64)
        out: I64 = np.minimum(
            np.searchsorted(cdf, g.random(n) * cdf[-1], side="right"), len(cdf) - 1
        ).astype(np.int64)
        return out


_SAMPLERS: dict[tuple[int, int], Sampler] = {}


def practice_sampler(world: World, p: int) -> Sampler:
    """The cached visit-weight sampler of a practice (decoys have weight 0)."""
    key = (id(world), p)
    s = _SAMPLERS.get(key)
    if s is None:
        if len(_SAMPLERS) and next(iter(_SAMPLERS))[0] != id(world):
            _SAMPLERS.clear()
        sl = world.practice_slice(p)
        s = _SAMPLERS[key] = Sampler(world.weight[sl], world.doctor_of[sl], world.created_day[sl])
    return s


def clinicians_on(world: World, p: int, t: int) -> list[Clinician]:
    """Who consults at practice p on day index t, in which half-days, for whose panel."""
    day = world.start + dt.timedelta(days=t)
    wd = day.weekday()
    if wd == 6 or is_holiday(day):
        return []
    pr = world.practices[p]
    g = rng.generator(world.cfg.seed, rng.STREAM_SCHEDULE, p, t + 1000, 7)
    active = [
        (k, world.actors[a])
        for k, a in enumerate(pr.doctors)
        if world.actors[a].active_from <= t <= world.actors[a].active_to
    ]
    if not active:
        return []
    if wd == 5:
        if not pr.saturday:
            return []
        k, a = active[day.isocalendar().week % len(active)]
        return [Clinician(a.gidx, [(510, 750)], k, a.intensity)]
    out: list[Clinician] = []
    locums = list(pr.locums)
    for k, a in active:
        if a.vacation[0] <= t <= a.vacation[1]:
            if locums:
                loc = world.actors[locums.pop(0)]
                out.append(Clinician(loc.gidx, [(loc.start_min, 745), (840, loc.end_min)], k, 0.9))
            continue
        off = dict(a.weekly_off)
        part = off.get(wd)
        if part == "day":
            continue
        am = (a.start_min + rng.randint(g, -10, 11), 740 + rng.randint(g, -15, 16))
        pm = (835 + rng.randint(g, -15, 16), a.end_min + rng.randint(g, -20, 21))
        blocks = [am] if part == "pm" else [pm] if part == "am" else [am, pm]
        out.append(Clinician(a.gidx, blocks, k, a.intensity))
    return out


@dataclass
class PracticeDay:
    """What generators need to emit one practice's events for one day."""

    world: World
    p: int
    t: int
    date: dt.date
    mid: int  # local midnight, epoch ms
    tables: Tables
    batch: EventBatch
    g: np.random.Generator
    agenda: Agenda
    sessions: dict[int, list[Session]] = field(default_factory=dict)

    @property
    def tenant(self) -> int:
        """Tenant index (= practice index)."""
        return self.p

    def open_session(
        self,
        actor: int,
        start: int,
        end: int,
        ip: int,
        ua: int,
        *,
        tag: int = 0,
        login: bool = True,
        logout: bool = True,
    ) -> Session:
        """Record a session and emit its login/logout events."""
        s = Session(start, end, self.tables.new_session(), ip, ua)
        self.sessions.setdefault(actor, []).append(s)
        if login:
            self.batch.add(np.array([start]), Kind.LOGIN, self.p, actor, s.sid, ip, ua, tag=tag)
        if logout:
            self.batch.add(np.array([end]), Kind.LOGOUT, self.p, actor, s.sid, ip, ua, tag=tag)
        return s

    def emit_in_sessions(
        self,
        actor: int,
        sess: list[Session],
        ts: I64,
        kind: int | I64,
        pids: I64 | None,
        *,
        tag: int = 0,
        status: int | I64 = 200,
        query: int | I64 = -1,
    ) -> None:
        """Emit single-patient events, each in the session covering its time."""
        if len(ts) == 0 or not sess:
            return
        sid, ip, ua = _session_cols(sess, ts)
        self.batch.add(
            ts, kind, self.p, actor, sid, ip, ua, pids, status=status, tag=tag, query=query
        )


class ActorDay:
    """Collects one account's requests for a day, then wraps them in sessions."""

    def __init__(self) -> None:
        self.ts: list[I64] = []
        self.kind: list[int] = []
        self.pid: list[I64] = []
        self.status: list[int] = []
        self.multi: list[tuple[I64, int, I64, I64, I64]] = []

    def add(self, ts: I64, kind: int, pids: I64, status: int = 200) -> None:
        """Requests touching one patient each."""
        self.ts.append(ts.astype(np.int64, copy=False))
        self.kind.append(int(kind))
        self.pid.append(pids.astype(np.int64, copy=False))
        self.status.append(status)

    def add_multi(self, ts: I64, kind: int, counts: I64, values: I64, query: I64) -> None:
        """Requests returning several patients each (searches, lists)."""
        self.multi.append((ts.astype(np.int64), kind, counts, values, query))

    def close(
        self,
        ctx: PracticeDay,
        actor: int,
        ip: int,
        ua: int,
        *,
        lunch_relogin: bool,
        sync_every: int,
        sync_filter: int | None,
        not_before: int | None = None,
        not_after: int | None = None,
        ip_change: tuple[int, int] | None = None,
    ) -> list[Session]:
        """Emit the requests inside sessions (login, schedule polling, logout).

        `ip_change` = (time, address): the address changes mid-session (a laptop moving
        from the home box to a phone's connection), the session id stays."""
        all_ts = self.ts + [m[0] for m in self.multi]
        if not any(len(x) for x in all_ts):
            return []
        ts_all = np.concatenate(all_ts)
        g = ctx.g
        first = int(ts_all.min()) - rng.randint(g, 30, 600) * MS_S
        if not_before is not None:
            first = min(first, not_before)
        last = int(ts_all.max()) + rng.randint(g, 20, 900) * MS_S
        if not_after is not None:
            last = max(last, not_after)
        bounds = [(first, last)]
        if lunch_relogin:
            srt = np.sort(ts_all)
            gaps = np.diff(srt)
            lunch = (srt[:-1] > ctx.mid + 11 * 60 * MS_MIN) & (
                srt[:-1] < ctx.mid + 15 * 60 * MS_MIN
            )
            if lunch.any() and gaps[lunch].max() > 40 * MS_MIN:
                i = int(np.flatnonzero(lunch)[np.argmax(gaps[lunch])])
                a_end = int(srt[i]) + rng.randint(g, 60, 600) * MS_S
                b_start = int(srt[i + 1]) - rng.randint(g, 60, 900) * MS_S
                if b_start > a_end:
                    bounds = [(first, a_end), (b_start, last)]
        logouts = [bool(g.random() < 0.7) for _ in bounds]
        sess = [
            ctx.open_session(actor, s, e, ip, ua, logout=lo and ip_change is None)
            for (s, e), lo in zip(bounds, logouts, strict=True)
        ]
        if ip_change is not None:
            for s_, lo in zip(sess, logouts, strict=True):
                if lo:
                    after = s_.end >= ip_change[0]
                    ctx.batch.add(
                        np.array([s_.end]),
                        Kind.LOGOUT,
                        ctx.p,
                        actor,
                        s_.sid,
                        ip_change[1] if after else s_.ip,
                        ua,
                    )
        if self.ts:
            ts = np.concatenate(self.ts)
            sid, sip, sua = _session_cols(sess, ts)
            if ip_change is not None:
                sip = np.where(ts >= ip_change[0], ip_change[1], sip)
            lens = [len(x) for x in self.ts]
            ctx.batch.add(
                ts,
                np.repeat(np.asarray(self.kind, dtype=np.int64), lens),
                ctx.p,
                actor,
                sid,
                sip,
                sua,
                np.concatenate(self.pid),
                status=np.repeat(np.asarray(self.status, dtype=np.int64), lens),
            )
        for ts, kind, counts, values, query in self.multi:
            sid, sip, sua = _session_cols(sess, ts)
            if ip_change is not None:
                sip = np.where(ts >= ip_change[0], ip_change[1], sip)
            ctx.batch.add(ts, kind, ctx.p, actor, sid, sip, sua, values, counts=counts, query=query)
        if sync_every > 0:
            for s in sess:
                _schedule_sync(ctx, actor, s, sync_every, sync_filter)
        return sess


def _session_cols(sess: list[Session], ts: I64) -> tuple[I64, I64, I64]:
    """Session, address and user-agent columns for events at ts."""
    starts = np.asarray([s.start for s in sess], dtype=np.int64)
    k = np.clip(np.searchsorted(starts, ts, side="right") - 1, 0, len(sess) - 1)
    return (
        np.asarray([s.sid for s in sess], dtype=np.int64)[k],
        np.asarray([s.ip for s in sess], dtype=np.int64)[k],
        np.asarray([s.ua for s in sess], dtype=np.int64)[k],
    )


def _schedule_sync(
    ctx: PracticeDay,
    actor: int,
    s: Session,
    every_min: int,
    only_actor: int | None,
    ua: int | None = None,
) -> None:
    """The desktop client's periodic `GET /appointments?date=...` over a session."""
    g = ctx.g
    step = every_min * MS_MIN
    n = max(0, int((s.end - s.start) // step))
    if n == 0:
        return
    ts = s.start + rng.randint(g, 2_000, 20_000) + np.arange(n, dtype=np.int64) * step
    ts = ts + rng.randints(g, -1500, 1500, size=n)
    ts = ts[ts < s.end]
    appts = ctx.agenda.get(ctx.t)
    keep = np.ones(len(appts), dtype=bool) if only_actor is None else appts.actor == only_actor
    booked = appts.booked[keep]
    pids = appts.pid[keep]
    visible = booked[None, :] <= ts[:, None]
    counts = visible.sum(axis=1).astype(np.int64)
    values = np.broadcast_to(pids, visible.shape)[visible]
    # the list is the practice-day's appointments (of one actor or all) booked by then: the
    # day, the filter and the count identify it
    lkey: I64 | int = -1
    who = 0 if only_actor is None else only_actor + 1
    base = (ctx.t * len(ctx.world.practices) + ctx.p) * (len(ctx.world.actors) + 1) + who
    if len(counts) and int(counts.max()) < _LKEY_COUNT and 0 <= base < 1 << 42:
        lkey = base * _LKEY_COUNT + counts
    q = ctx.tables.query(f"date={ctx.date.isoformat()}")
    ctx.batch.add(
        ts,
        Kind.LIST_APPOINTMENT,
        ctx.p,
        actor,
        s.sid,
        s.ip,
        s.ua if ua is None else ua,
        values,
        counts=counts,
        query=q,
        lkey=lkey,
    )


_LKEY_COUNT = 1 << 20


def consult_events(ctx: PracticeDay, ad: ActorDay, t0: I64, pids: I64) -> None:
    """What the desktop client sends while a clinician sees patients at times t0."""
    g = ctx.g
    n = len(t0)
    if n == 0:
        return
    s = MS_S
    ad.add(t0 + rng.randints(g, 0, 20 * s, size=n), Kind.READ_PATIENT, pids)
    m = g.random(n) < 0.92
    ad.add(t0[m] + rng.randints(g, 1 * s, 5 * s, size=int(m.sum())), Kind.READ_ANNOTATION, pids[m])
    m = g.random(n) < 0.7
    ad.add(
        t0[m] + rng.randints(g, 2 * s, 9 * s, size=int(m.sum())), Kind.READ_PRESCRIPTION, pids[m]
    )
    k = g.poisson(0.9, size=n)
    rep = np.repeat(np.arange(n), k)
    ad.add(t0[rep] + rng.randints(g, 20 * s, 600 * s, size=len(rep)), Kind.READ_DOCUMENT, pids[rep])
    m = g.random(n) < 0.07
    ad.add(
        t0[m] + rng.randints(g, 60 * s, 900 * s, size=int(m.sum())), Kind.UPDATE_PATIENT, pids[m]
    )
    m = g.random(n) < 0.68
    rx = t0[m] + rng.randints(g, 8 * 60 * s, 17 * 60 * s, size=int(m.sum()))
    ad.add(rx, Kind.CREATE_PRESCRIPTION, pids[m])
    m = g.random(n) < 0.12
    ad.add(
        t0[m] + rng.randints(g, 9 * 60 * s, 18 * 60 * s, size=int(m.sum())),
        Kind.PRINT_PATIENT,
        pids[m],
    )
    m = g.random(n) < 0.004
    ad.add(
        t0[m] + rng.randints(g, 5 * 60 * s, 15 * 60 * s, size=int(m.sum())),
        Kind.CREATE_ANNOTATION,
        pids[m],
    )


def practice_day(ctx: PracticeDay) -> None:
    """All genuine events of a practice-day."""
    w, p, t, g = ctx.world, ctx.p, ctx.t, ctx.g
    pr = w.practices[p]
    tables = ctx.tables
    office = tables.ip(pr.office_ip)
    appts = ctx.agenda.get(t)
    sl = w.practice_slice(p)
    sampler = practice_sampler(w, p)
    pids_all = w.pid[sl]
    clin = ctx.agenda.clinicians(t)
    workday = bool(clin)
    bookings = ctx.agenda.booked_during(t)
    n_sec = len(pr.secretaries)
    checker = np.where(
        g.random(len(appts)) < 0.65, rng.randints(g, 0, max(1, n_sec), size=len(appts)), -1
    )
    created = np.flatnonzero(w.created_day[sl] == t)
    creator = rng.randints(g, 0, max(1, n_sec), size=len(created))

    for ci, c in enumerate(clin):
        a = w.actors[c.gidx]
        ad = ActorDay()
        mine = (appts.actor == c.gidx) & appts.show
        starts = appts.start[mine]
        if len(starts):
            late = np.cumsum(g.exponential(45.0, size=len(starts))) * MS_S
            late = np.minimum(late, 40 * MS_MIN)
            consult_events(ctx, ad, starts + late.astype(np.int64), appts.pid[mine])
        # morning results and mail: a burst of a few files
        first_block = c.blocks[0][0]
        k = int(g.poisson(9 * c.intensity))
        if k:
            idx = sampler.draw_on(g, k, t, c.panel)
            recent = ctx.agenda.seen_recently(c.gidx, t)
            from_recent = (g.random(k) < 0.6) & (len(recent) > 0)
            if from_recent.any():
                pick = recent[rng.randints(g, 0, len(recent), size=int(from_recent.sum()))]
                idx[from_recent] = np.searchsorted(pids_all, pick)
            ts = (
                ctx.mid
                + first_block * MS_MIN
                - rng.randint(g, 5, 25) * MS_MIN
                + np.cumsum(g.exponential(35.0, size=k)).astype(np.int64) * MS_S
            )
            ad.add(ts, Kind.READ_PATIENT, pids_all[idx])
            ad.add(ts + rng.randints(g, 2, 30, size=k) * MS_S, Kind.READ_DOCUMENT, pids_all[idx])
        # calls, results and renewals through the day
        k = int(g.poisson(7 * c.intensity))
        if k:
            idx = sampler.draw_on(g, k, t, c.panel)
            ts = _times_in_blocks(g, ctx.mid, c.blocks, k)
            ad.add(ts, Kind.READ_PATIENT, pids_all[idx])
            m = g.random(k) < 0.6
            ad.add(
                ts[m] + rng.randints(g, 3, 60, size=int(m.sum())) * MS_S,
                Kind.READ_DOCUMENT,
                pids_all[idx][m],
            )
            m = g.random(k) < 0.45
            ad.add(
                ts[m] + rng.randints(g, 30, 240, size=int(m.sum())) * MS_S,
                Kind.CREATE_PRESCRIPTION,
                pids_all[idx][m],
            )
        _searches(ctx, ad, int(g.poisson(2.5)), sampler, c.blocks)
        # the clinician's own bookings of follow-ups
        mine_b = bookings.booker == c.gidx
        if mine_b.any():
            bt = bookings.booked[mine_b]
            ad.add(
                bt - rng.randints(g, 5, 40, size=len(bt)) * MS_S,
                Kind.READ_PATIENT,
                bookings.pid[mine_b],
            )
            ad.add(bt, Kind.CREATE_APPOINTMENT, bookings.pid[mine_b], status=201)
        if n_sec == 0 and ci == 0 and len(created):
            cts = _times_in_blocks(g, ctx.mid, c.blocks, len(created))
            ad.add(cts, Kind.CREATE_PATIENT, pids_all[created], status=201)
        ad.close(
            ctx,
            c.gidx,
            office,
            tables.ua(w.uas[a.ua]),
            lunch_relogin=g.random() < 0.5,
            sync_every=pr.sync_minutes,
            sync_filter=c.gidx,
        )

    if workday:
        for k, s_g in enumerate(pr.secretaries):
            _secretary_day(
                ctx, s_g, appts, checker == k, bookings, created[creator == k], sampler, office
            )
    _service_day(ctx, bookings)
    # evenings (and some Sundays) from home
    for d_g in pr.doctors:
        a = w.actors[d_g]
        if a.evening_rate <= 0 or not (a.active_from <= t <= a.active_to):
            continue
        if a.vacation[0] <= t <= a.vacation[1]:
            continue
        rate = a.evening_rate if workday else a.evening_rate * 0.25
        if g.random() >= rate:
            continue
        k = 1 + int(g.poisson(6))
        k_doc = pr.doctors.index(d_g)
        idx = sampler.draw_on(g, k, t, k_doc)
        begin = ctx.mid + rng.randint(g, 20 * 60, 22 * 60 + 30) * MS_MIN
        ts = begin + np.cumsum(g.exponential(70.0, size=k)).astype(np.int64) * MS_S
        ad = ActorDay()
        ad.add(ts, Kind.READ_PATIENT, pids_all[idx])
        ad.add(ts + rng.randints(g, 3, 40, size=k) * MS_S, Kind.READ_DOCUMENT, pids_all[idx])
        m = g.random(k) < 0.3
        ad.add(
            ts[m] + rng.randints(g, 40, 200, size=int(m.sum())) * MS_S,
            Kind.CREATE_PRESCRIPTION,
            pids_all[idx][m],
        )
        change = None
        if g.random() < 0.12 and k > 1:  # moved to the phone's connection mid-session
            mobile = residential_ip(w.cfg.seed, 103, d_g * 1000 + t)
            change = (int(np.sort(ts)[k // 2]), tables.ip(mobile))
        ad.close(
            ctx,
            d_g,
            tables.ip(a.home_ip),
            tables.ua(w.uas[a.home_ua]),
            lunch_relogin=False,
            sync_every=0,
            sync_filter=None,
            ip_change=change,
        )


def _times_in_blocks(
    g: np.random.Generator, mid: int, blocks: list[tuple[int, int]], k: int
) -> I64:
    lens = np.asarray([e - s for s, e in blocks], dtype=np.float64)
    # what g.choice(len(blocks), size=k, p=lens / lens.sum()) computes, without its checks
    cdf = np.cumsum(lens / lens.sum())
    cdf /= cdf[-1]
    which = np.searchsorted(cdf, g.random(k), side="right")
    starts = np.asarray([s for s, _ in blocks], dtype=np.int64)[which]
    return mid + (starts * 60 + (g.random(k) * lens[which] * 60).astype(np.int64)) * MS_S


class SearchIndex:
    """Prefix search over last names: pool slugs sorted once per world."""

    def __init__(self) -> None:
        self.slugs: list[str] = []
        self.rank: I64 = np.zeros(0, dtype=np.int64)
        self.n_sur = 0
        self.pool_slugs: list[str] = []
        self._sorted: npt.NDArray[np.str_] = np.zeros(0, dtype=str)
        self._by_practice: dict[int, tuple[I64, I64]] = {}

    def build(self, world: World) -> None:
        """Index the world's surname pool (with typo variants)."""
        from vigile.sim.identity import PoolSeries

        ps = PoolSeries.of(world.pools)
        slugs = ps.slug_surnames.to_list()
        order = np.argsort(np.asarray(slugs, dtype=object), kind="stable")
        self.slugs = [slugs[i] for i in order]
        self._sorted = np.asarray(self.slugs, dtype=str)
        self.rank = np.empty(len(slugs), dtype=np.int64)
        self.rank[order] = np.arange(len(slugs))
        self.n_sur = ps.n_sur
        self.pool_slugs = slugs
        self._by_practice = {}

    def practice_index(self, world: World, p: int) -> tuple[I64, I64]:
        """A practice's files sorted by last name: (sorted ranks, positions in the slice)."""
        hit = self._by_practice.get(p)
        if hit is None:
            r = self.rank[self.index(world.lname[world.practice_slice(p)])]
            order = np.argsort(r, kind="stable")
            hit = self._by_practice[p] = (r[order].astype(np.int32), order.astype(np.int32))
        return hit

    def index(self, encoded_last: AnyInt) -> I64:
        """Encoded last names -> positions in the pool with typo variants."""
        return np.where(encoded_last < 0, self.n_sur + (-encoded_last - 1), encoded_last)

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """[lo, hi) ranks of slugs starting with prefix."""
        lo = bisect.bisect_left(self.slugs, prefix)
        hi = bisect.bisect_left(self.slugs, prefix + "\x7f")
        return lo, hi

    def prefix_ranges(self, prefixes: list[str]) -> I64:
        """`prefix_range` of several prefixes: an (n, 2) array."""
        p = np.asarray(prefixes, dtype=str)
        out = np.empty((len(prefixes), 2), dtype=np.int64)
        out[:, 0] = np.searchsorted(self._sorted, p, side="left")
        out[:, 1] = np.searchsorted(self._sorted, np.char.add(p, "\x7f"), side="left")
        return out

    def slug_of(self, encoded_last: int) -> str:
        """The slug of one encoded last name."""
        return self.pool_slugs[int(self.index(np.array([encoded_last]))[0])]

    def slugs_of(self, encoded_last: AnyInt) -> list[str]:
        """The slugs of encoded last names."""
        return [self.pool_slugs[i] for i in self.index(encoded_last).tolist()]


SEARCH = SearchIndex()


def search_results(ctx: PracticeDay, prefix: str, cap: int, include_canaries: bool) -> I64:
    """What `GET /patients/search?q=prefix` returns at this practice today (by name)."""
    w = ctx.world
    ranks, order = SEARCH.practice_index(w, ctx.p)
    lo, hi = SEARCH.prefix_range(prefix)
    a, b = (
        np.searchsorted(ranks, ranks.dtype.type(lo)),
        np.searchsorted(ranks, ranks.dtype.type(hi)),
    )
    idx = order[a:b] + w.practices[ctx.p].lo
    keep = w.created_day[idx] <= ctx.t
    if not include_canaries:
        keep &= (w.flags[idx] & FLAG_CANARY) == 0
    return w.pid[idx[keep][:cap]]


def search_many(
    ctx: PracticeDay, prefixes: list[str], cap: int, include_canaries: bool
) -> tuple[I64, I64]:
    """`search_results` of several prefixes at once: (result counts, concatenated ids)."""
    w = ctx.world
    ranks, order = SEARCH.practice_index(w, ctx.p)
    # needles of the index's own dtype: mixed dtypes make searchsorted copy the index
    bounds = SEARCH.prefix_ranges(prefixes).astype(ranks.dtype)
    a = np.searchsorted(ranks, bounds[:, 0])
    n = np.searchsorted(ranks, bounds[:, 1]) - a
    offs = np.zeros(len(prefixes) + 1, dtype=np.int64)
    np.cumsum(n, out=offs[1:])
    total = int(offs[-1])
    idx = order[np.repeat(a - offs[:-1], n) + np.arange(total)] + w.practices[ctx.p].lo
    keep = w.created_day[idx] <= ctx.t
    if not include_canaries:
        keep &= (w.flags[idx] & FLAG_CANARY) == 0
    # the first `cap` kept files of each prefix, in name order
    seg = np.repeat(np.arange(len(prefixes)), n)
    kept = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    keep &= kept[1:] - kept[offs[:-1]][seg] <= cap
    counts = np.bincount(seg[keep], minlength=len(prefixes)).astype(np.int64)
    return counts, w.pid[idx[keep]]


def _searches(
    ctx: PracticeDay, ad: ActorDay, k: int, sampler: Sampler, blocks: list[tuple[int, int]]
) -> None:
    """k name searches for practice patients, each followed by opening the file."""
    if k <= 0:
        return
    w, g = ctx.world, ctx.g
    lo = w.practices[ctx.p].lo
    idx = sampler.draw_on(g, k, ctx.t)
    ts = _times_in_blocks(g, ctx.mid, blocks, k)
    # one prefix length per search
    lens = rng.randints(g, 3, 7, size=k).tolist()
    slugs = SEARCH.slugs_of(w.lname[lo + idx])
    prefixes = [s[:m] for s, m in zip(slugs, lens, strict=True)]
    counts, values = search_many(ctx, prefixes, 20, include_canaries=False)
    qs = np.asarray([ctx.tables.query(f"q={p}") for p in prefixes], dtype=np.int64)
    ad.add_multi(ts, Kind.SEARCH_PATIENT, counts, values, qs)
    ad.add(ts + rng.randints(g, 2, 15, size=k) * MS_S, Kind.READ_PATIENT, w.pid[lo + idx])


def _secretary_day(
    ctx: PracticeDay,
    s_g: int,
    appts: Appointments,
    checkin: npt.NDArray[np.bool_],
    bookings: Appointments,
    created: I64,
    sampler: Sampler,
    office: int,
) -> None:
    """A front-desk day: check-ins, prefetch bursts, bookings, new files, calls."""
    w, g = ctx.world, ctx.g
    a = w.actors[s_g]
    pr = w.practices[ctx.p]
    sl = w.practice_slice(ctx.p)
    ad = ActorDay()
    blocks = [(a.start_min, 745), (830, a.end_min)]
    arrive = appts.show & checkin
    at = appts.start[arrive] - rng.randints(g, 1, 12, size=int(arrive.sum())) * MS_MIN
    ad.add(at, Kind.READ_PATIENT, appts.pid[arrive])
    m = g.random(len(at)) < 0.08
    ad.add(
        at[m] + rng.randints(g, 20, 200, size=int(m.sum())) * MS_S,
        Kind.UPDATE_PATIENT,
        appts.pid[arrive][m],
    )
    # front-desk screen prefetch: the half-day's scheduled files in one burst
    if pr.prefetch:
        for lo_min, hi_min, at_min in (
            (0, 13 * 60, a.start_min + rng.randint(g, 2, 15)),
            (13 * 60, 24 * 60, 13 * 60 + rng.randint(g, 35, 70)),
        ):
            m = (appts.start >= ctx.mid + lo_min * MS_MIN) & (
                appts.start < ctx.mid + hi_min * MS_MIN
            )
            m &= appts.booked < ctx.mid + at_min * MS_MIN
            n = int(m.sum())
            if n:
                ts = ctx.mid + at_min * MS_MIN + np.cumsum(rng.randints(g, 150, 1800, size=n))
                ad.add(ts, Kind.READ_PATIENT, appts.pid[m])
    # phone bookings and walk-ins handled by this secretary
    mine = bookings.booker == s_g
    n = int(mine.sum())
    if n:
        bt = bookings.booked[mine]
        bp = bookings.pid[mine]
        ad.add(bt - rng.randints(g, 5, 60, size=n) * MS_S, Kind.READ_PATIENT, bp)
        ad.add(bt, Kind.CREATE_APPOINTMENT, bp, status=201)
    # new patient files created today
    if len(created):
        ts = _times_in_blocks(g, ctx.mid, blocks, len(created))
        ad.add(ts, Kind.CREATE_PATIENT, w.pid[sl][created], status=201)
        ad.add(
            ts + rng.randints(g, 30, 300, size=len(created)) * MS_S,
            Kind.UPDATE_PATIENT,
            w.pid[sl][created],
        )
    # calls: find a file and open it; letters and forms printed
    _searches(ctx, ad, int(g.poisson(14)), sampler, blocks)
    k = int(g.poisson(3))
    if k:
        idx = sampler.draw_on(g, k, ctx.t)
        ad.add(_times_in_blocks(g, ctx.mid, blocks, k), Kind.PRINT_PATIENT, w.pid[sl][idx])
    ad.close(
        ctx,
        s_g,
        office,
        ctx.tables.ua(w.uas[a.ua]),
        lunch_relogin=g.random() < 0.6,
        sync_every=pr.sync_minutes,
        sync_filter=None,
        not_before=ctx.mid + a.start_min * MS_MIN,
        not_after=ctx.mid + a.end_min * MS_MIN,
    )


def _service_day(ctx: PracticeDay, bookings: Appointments) -> None:
    """The online agenda connector: bookings at any hour, hourly schedule pulls."""
    w = ctx.world
    pr = w.practices[ctx.p]
    ip = ctx.tables.ip(w.actors[pr.service].home_ip)
    ua = ctx.tables.ua(AGENDA_UA)
    s = ctx.open_session(
        pr.service,
        ctx.mid + rng.randint(ctx.g, 0, 60_000),
        ctx.mid + MS_DAY - 60_000 - rng.randint(ctx.g, 0, 60_000),
        ip,
        ua,
        logout=False,
    )
    mine = bookings.booker == pr.service
    if mine.any():
        ctx.emit_in_sessions(
            pr.service,
            [s],
            bookings.booked[mine],
            Kind.CREATE_APPOINTMENT,
            bookings.pid[mine],
            status=201,
        )
    _schedule_sync(ctx, pr.service, s, 60, None)
