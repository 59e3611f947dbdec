"""Unexplained access: reads of patients no care relationship explains (Fabbri & LeFevre)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from functools import partial
from typing import Any, ClassVar

import msgspec

from vigile.detect.detectors.base import (
    DetectorBase,
    Env,
    Finding,
    durations,
    fmt,
    median,
    register,
)
from vigile.detect.facts import Facts
from vigile.detect.rules import Rule
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent


class BaselineParams(msgspec.Struct, forbid_unknown_fields=True):
    """How a count is compared with the account's peers and with its own history.

    threshold = max(min_count, peer_multiplier × peer quantile (or ``prior`` while
    the peer group has fewer than ``min_peers`` account-days), own_multiplier × the
    account's own median); × ``new_account_factor`` for accounts that are new.
    """

    min_count: int
    peer_quantile: float
    peer_multiplier: float
    own_multiplier: float
    prior: float
    min_peers: int
    new_account_factor: float

    def check(self) -> list[str]:
        problems = []
        if not 0.0 < self.peer_quantile < 1.0:
            problems.append("peer_quantile must be between 0 and 1 (exclusive)")
        if self.new_account_factor < 1.0:
            problems.append("new_account_factor must be at least 1 (new accounts get more room)")
        return problems


class Threshold:
    """A computed threshold and what it was based on (for the reasons)."""

    __slots__ = ("group", "own_days", "own_median", "peer_n", "peer_q", "prior_used", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.peer_q: float | None = None
        self.peer_n = 0
        self.group = ""
        self.own_median: int | float = 0.0
        self.own_days = 0
        self.prior_used = False

    def describe(self, p: BaselineParams, new_account: bool, unit: str) -> str:
        parts = []
        if self.prior_used:
            parts.append(
                f"prior {fmt(p.prior)} {unit} (fewer than {p.min_peers} peer account-days yet)"
            )
        else:
            parts.append(
                f"{p.peer_quantile * 100:.0f}th percentile of {fmt(self.peer_n)} {self.group} "
                f"account-days: {fmt(self.peer_q or 0)}"
            )
        if self.own_days:
            parts.append(f"own median {fmt(self.own_median)} over {self.own_days} active days")
        text = f"threshold {fmt(self.value)} ({'; '.join(parts)}"
        if new_account:
            text += f"; ×{fmt(p.new_account_factor)} for a new account"
        return text + ")"

    def evidence(self) -> dict[str, Any]:
        return {
            "threshold": round(self.value, 2),
            "peer_group": self.group,
            "peer_quantile_value": self.peer_q,
            "peer_account_days": self.peer_n,
            "own_median": self.own_median,
            "own_days": self.own_days,
            "prior_used": self.prior_used,
        }


def threshold(
    env: Env,
    metric: str,
    peer: str,
    p: BaselineParams,
    own: deque[float] | None,
    new_account: bool,
    account: Hashable = None,
) -> Threshold:
    """The threshold for a daily figure (see :class:`BaselineParams`).

    The peer quantile leaves ``account``'s own days out; the peer group falls back to
    the role across practice sizes when the group has too few account-days.
    """
    th = Threshold()
    peers = env.peers
    found = None
    for group in (peer, peer.split("/", maxsplit=1)[0] + "/*"):
        found = peers.quantile(metric, group, p.peer_quantile, exclude=account)
        if found is not None and found[1] >= p.min_peers:
            break
        found = None
    if found is not None:
        q, n = found
        th.peer_q, th.peer_n, th.group = q, n, group
        base = p.peer_multiplier * q
    else:
        th.prior_used = True
        base = p.peer_multiplier * p.prior
    value = max(float(p.min_count), base)
    if own is not None and len(own) >= env.settings.min_history_days:
        th.own_median = median(own)
        th.own_days = len(own)
        value = max(value, p.own_multiplier * th.own_median)
    if new_account:
        value *= p.new_account_factor
    th.value = value
    return th


def push_peer(env: Env, metric: str, peer: str, value: float, account: Hashable = None) -> None:
    """Record a closed account-day for the account's peer group and its role."""
    env.peers.push(metric, peer, value, account)
    env.peers.push(metric, peer.split("/", maxsplit=1)[0] + "/*", value, account)


class _Account:
    __slots__ = (
        "day",
        "day_count",
        "day_peak",
        "day_run",
        "hist",
        "hist_peak",
        "hist_run",
        "last",
        "over",
        "run",
        "run_t",
        "th",
        "times",
    )

    def __init__(self, t: float = 0.0, history: int = 0, persist: int = 1) -> None:
        self.last = t
        self.day = -1
        self.day_count = 0
        self.day_peak = 0
        self.times: deque[float] = deque()
        self.hist: deque[float] = deque(maxlen=history)
        self.hist_peak: deque[float] = deque(maxlen=history)
        #: consecutive new patients none of which was explained, and when the last came
        self.run = 0
        self.run_t = -1.0
        self.day_run = 0
        self.hist_run: deque[float] = deque(maxlen=history)
        self.over: deque[bool] = deque(maxlen=max(1, persist))
        self.th: dict[str, Threshold] = {}


class Persistent(BaselineParams, forbid_unknown_fields=True):
    #: days over the threshold needed, among the last ``of_days`` active days
    days: int
    of_days: int


class UnexplainedDetector(DetectorBase):
    """Patients opened that no care relationship explains, against peers and own history.

    For each read, the explainer says which patients are *new* to the account and
    which of those nothing explains (appointment at the practice near in time, the
    account's own earlier access, a note by the practice, the practice's panel). This
    detector counts those unexplained patients:

    * ``run`` – consecutive new patients none of which is explained (no more than
      the window between two): "a run of unexplained reads is the strongest sign";
    * ``burst`` – how many within a sliding window (minutes);
    * ``daily`` – since the start of the account's local day;
    * ``persistent`` – days above the threshold among the last active days: the
      low-and-slow insider who stays under any one day's radar.

    Each count is compared with the peer group (same role, practice of similar
    size) and the account's own median; new accounts get ``new_account_factor``
    more room. Account-days that raised a medium-or-higher alert never enter the
    baselines.
    """

    name: ClassVar[str] = "unexplained"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print"})
    modes: ClassVar[tuple[str, ...] | None] = ("run", "burst", "daily", "persistent")
    state_attrs: ClassVar[tuple[str, ...]] = ("accounts",)

    mode_params: ClassVar[dict[str, type]] = {
        "run": BaselineParams,
        "burst": BaselineParams,
        "daily": BaselineParams,
        "persistent": Persistent,
    }

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        s = env.settings
        self.accounts: BoundedTable[_Account] = BoundedTable(
            "unexplained", s.account_idle, s.max_accounts
        )
        bursts = [r for r in self.rules if r.mode == "burst"]
        self.window = max((float(r.window or 0) for r in bursts), default=0.0)
        runs = [r for r in self.rules if r.mode == "run"]
        #: a run breaks after this long without a new unexplained patient
        self.run_gap = max((float(r.window or 0) for r in runs), default=0.0)
        self.burst_rule = bursts[0] if bursts else None
        persist = [r for r in self.rules if r.mode == "persistent"]
        self.persist_rule = persist[0] if persist else None
        self.history = s.history_days

    # ---- scoring -------------------------------------------------------------------------
    def _threshold(self, st: _Account | None, rule: Rule, f: Facts) -> Threshold:
        """The rule's threshold for this account today (cached for the account-day)."""
        if st is not None and st.day == f.day:
            th = st.th.get(rule.id)
            if th is not None:
                return th
        acc = f.acc
        mode = rule.mode
        if mode == "burst":
            own = st.hist_peak if st is not None else None
            th = threshold(self.env, "burst_peak", acc.peer, rule.params, own, f.new_account, f.key)
        elif mode == "run":
            own = st.hist_run if st is not None else None
            th = threshold(self.env, "run_peak", acc.peer, rule.params, own, f.new_account, f.key)
        elif mode == "daily":
            own = st.hist if st is not None else None
            th = threshold(
                self.env, "daily_unexplained", acc.peer, rule.params, own, f.new_account, f.key
            )
        else:
            th = threshold(
                self.env, "daily_unexplained", acc.peer, rule.params, None, f.new_account, f.key
            )
        if st is not None and st.day == f.day:
            st.th[rule.id] = th
        return th

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        k = len(f.unexplained_ids)
        if not k:
            return None
        acc = f.acc
        rules = self.rules_for(acc.tenant, acc.role)
        if not rules:
            return None
        st = self.accounts.get(f.key)
        t = f.t
        day_count = (st.day_count if st is not None and st.day == f.day else 0) + k
        out: list[Finding] | None = None
        for rule in rules:
            th = self._threshold(st, rule, f)
            mode = rule.mode
            before = 0
            window_days = 0
            if mode == "run":
                count = k
                if st is not None and t - st.run_t <= self.run_gap:
                    count += st.run
                if count < th.value:
                    continue
            elif mode == "burst":
                lo = t - float(rule.window or 0)
                count = k
                if st is not None:
                    times = st.times
                    # times are in order and pruned to the window by learn(): skip the few
                    # that fell out of it since
                    i, n = 0, len(times)
                    while i < n and times[i] < lo:
                        i += 1
                    count += n - i
                if count < th.value:
                    continue
            else:
                count = day_count
                if count < th.value:
                    continue
                if mode == "persistent":
                    p = rule.params
                    days = (
                        list(st.over)[-(p.of_days - 1) :]
                        if st is not None and p.of_days > 1
                        else []
                    )
                    before, window_days = sum(days), len(days)
                    if before + 1 < p.days:
                        continue
            if self.muted(rule, f, score=count / max(th.value, 1e-9)):
                continue
            if out is None:
                out = []
            out.append(
                Finding(
                    rule,
                    count / max(th.value, 1e-9),
                    partial(self._reasons, rule, count, th, f.new_account, before, window_days),
                    partial(self._evidence, rule, count, th, f.new_account, acc.role, before),
                )
            )
        return out

    def _reasons(
        self, rule: Rule, count: int, th: Threshold, new: bool, before: int, days: int
    ) -> list[str]:
        if rule.mode == "run":
            what = f"{count} patients in a row, new to the account,"
        elif rule.mode == "burst":
            what = f"{count} patients opened in {durations(float(rule.window or 0))}"
        elif rule.mode == "daily":
            what = f"{count} patients opened today"
        else:
            what = (
                f"{count} patients opened today (over the threshold on {before} of the previous "
                f"{days} active days too)"
            )
        return [
            f"{what} that no care relationship explains ({self._tried()}); "
            f"{th.describe(rule.params, new, 'patients')}"
        ]

    @staticmethod
    def _evidence(
        rule: Rule, count: int, th: Threshold, new: bool, role: str, before: int
    ) -> dict[str, Any]:
        evidence = {
            "unexplained": count,
            "mode": rule.mode,
            "new_account": new,
            "role": role,
            **th.evidence(),
        }
        if rule.mode == "persistent":
            evidence["days_over"] = before + 1
        return evidence

    def _tried(self) -> str:
        tried = []
        if self.env.has_appointments:
            tried.append("no appointment near")
        tried.append("no earlier access by the account")
        if self.env.index.note_authors:
            tried.append("no recent note by the practice")
        tried.append("not in the practice's panel")
        return ", ".join(tried)

    # ---- learning ------------------------------------------------------------------------
    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not f.single:
            return
        st = self.accounts.get(f.key)
        if st is None:
            if not f.unexplained_ids:
                return
            st = self.accounts.put(
                f.key,
                _Account(
                    f.t, self.history, self.persist_rule.params.of_days if self.persist_rule else 1
                ),
            )
        st.last = f.t
        if st.day != f.day:
            self._close_day(st, f)
        k = len(f.unexplained_ids)
        if not k:
            if f.new_ids:
                st.run = 0  # an explained new patient breaks the run
            return
        t = f.t
        st.run = (st.run if t - st.run_t <= self.run_gap else 0) + k
        st.run_t = t
        st.day_run = max(st.day_run, st.run)
        st.day_count += k
        times = st.times
        times.extend([t] * k)
        lo = t - self.window
        while times and times[0] < lo:
            times.popleft()
        st.day_peak = max(st.day_peak, len(times))

    def _close_day(self, st: _Account, f: Facts) -> None:
        if st.day >= 0:
            acc = f.acc
            clean = acc.flag_day != st.day
            if self.persist_rule is not None:
                p = self.persist_rule.params
                th = threshold(
                    self.env, "daily_unexplained", acc.peer, p, None, f.new_account, f.key
                )
                st.over.append(st.day_count >= th.value)
            if clean:
                push_peer(self.env, "daily_unexplained", acc.peer, st.day_count, f.key)
                push_peer(self.env, "burst_peak", acc.peer, st.day_peak, f.key)
                push_peer(self.env, "run_peak", acc.peer, st.day_run, f.key)
                st.hist.append(st.day_count)
                st.hist_peak.append(st.day_peak)
                st.hist_run.append(st.day_run)
        st.day = f.day
        st.day_count = 0
        st.day_peak = 0
        st.day_run = 0
        st.th = {}

    def sweep(self, now: float) -> None:
        self.accounts.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(UnexplainedDetector)
