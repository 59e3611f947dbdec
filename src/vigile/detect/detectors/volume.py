"""Volume: records an account reads, against its peers and its own history."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from vigile.detect.detectors.base import DetectorBase, Env, Finding, fmt, register
from vigile.detect.detectors.unexplained import BaselineParams, Threshold, push_peer, threshold
from vigile.detect.facts import Facts
from vigile.detect.rules import Rule
from vigile.detect.state import BoundedTable
from vigile.events import READ_ACTIONS, AccessEvent


class _Volume:
    __slots__ = (
        "day",
        "day_peak",
        "day_records",
        "hist",
        "hist_peak",
        "hour",
        "hour_records",
        "last",
        "th",
    )

    def __init__(self, t: float = 0.0, history: int = 0) -> None:
        self.last = t
        self.day = -1
        self.day_records = 0
        self.day_peak = 0
        self.hour = -1
        self.hour_records = 0
        self.hist: deque[float] = deque(maxlen=history)
        self.hist_peak: deque[float] = deque(maxlen=history)
        self.th: dict[str, Threshold] = {}


class VolumeParams(BaselineParams, forbid_unknown_fields=True):
    pass


class VolumeDetector(DetectorBase):
    """Patient records served to an account, per clock hour and per day.

    Counts the records of every read, list, search, export and print (the
    practice's own schedule excluded), and compares the running figure with the
    peer group (same role, practice of similar size) and the account's own median;
    a new account is judged against its peers with ``new_account_factor`` more
    room (the prior). Volume alone is a weak sign: genuine work has its bursts (a
    recall list, a locum reading a panel), so the shipped rules give it low severity
    and a share of the account risk.
    """

    name: ClassVar[str] = "volume"
    actions: ClassVar[frozenset[str] | None] = READ_ACTIONS
    #: every read counts, even of a patient the account already cares for
    counts_quiet: ClassVar[bool] = True
    modes: ClassVar[tuple[str, ...] | None] = ("hourly", "daily")
    state_attrs: ClassVar[tuple[str, ...]] = ("accounts",)

    Params: ClassVar[type] = VolumeParams

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        s = env.settings
        self.accounts: BoundedTable[_Volume] = BoundedTable(
            "volume", s.account_idle, s.max_accounts
        )
        #: no rule can fire below this many records in a day
        self.floor = min((r.params.min_count for r in self.rules), default=0)

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        r = f.records
        if not r or f.status >= 400 or f.schedule:
            return None
        st = self.accounts.data.get(f.key)
        if st is not None and st.day == f.day:
            day_records = st.day_records + r
            hour_records = (st.hour_records if st.hour == f.hour else 0) + r
            same_day = True
        else:
            day_records = hour_records = r
            same_day = False
        if day_records < self.floor:
            return None
        acc = f.acc
        out: list[Finding] | None = None
        for rule in self.rules_for(acc.tenant, acc.role):
            daily = rule.mode == "daily"
            value = day_records if daily else hour_records
            p = rule.params
            if value < p.min_count or self.muted(rule, f):
                continue
            metric = "daily_records" if daily else "hourly_peak_records"
            th = st.th.get(rule.id) if same_day and st is not None else None
            if th is None:
                own = (st.hist if daily else st.hist_peak) if st is not None else None
                th = threshold(self.env, metric, acc.peer, p, own, f.new_account, f.key)
                if same_day and st is not None:
                    st.th[rule.id] = th
            if value < th.value:
                continue
            what = "today" if daily else "in this clock hour"
            finding = Finding(
                rule,
                value / max(th.value, 1e-9),
                [
                    f"{fmt(value)} patient records read {what}; "
                    f"{th.describe(p, f.new_account, 'records')}"
                ],
                {
                    "records": value,
                    "mode": rule.mode,
                    "new_account": f.new_account,
                    **th.evidence(),
                },
            )
            if out is None:
                out = []
            out.append(finding)
        return out

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        r = f.records
        if not r or f.status >= 400 or f.schedule:
            return
        st = self.accounts.data.get(f.key)
        if st is None:
            st = self.accounts.put(f.key, _Volume(f.t, self.settings.history_days))
        st.last = f.t
        if st.day != f.day:
            if st.day >= 0 and f.acc.flag_day != st.day:
                push_peer(self.env, "daily_records", f.acc.peer, st.day_records, f.key)
                push_peer(
                    self.env,
                    "hourly_peak_records",
                    f.acc.peer,
                    max(st.day_peak, st.hour_records),
                    f.key,
                )
                st.hist.append(st.day_records)
                st.hist_peak.append(max(st.day_peak, st.hour_records))
            st.day = f.day
            st.day_records = 0
            st.day_peak = 0
            st.hour = -1
            st.th = {}
        if st.hour != f.hour:
            st.day_peak = max(st.day_peak, st.hour_records)
            st.hour = f.hour
            st.hour_records = 0
        st.day_records += r
        st.hour_records += r

    def sweep(self, now: float) -> None:
        self.accounts.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(VolumeDetector)
