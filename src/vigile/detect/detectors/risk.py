"""Account risk: weak signals on one account, added up over a window."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, fmt, register
from vigile.detect.facts import Facts
from vigile.detect.rules import SEVERITY_RANK, Rule
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent, Alert

_Entry = tuple[float, float, str, str, tuple[str | None, str | None]]


class _Risk:
    __slots__ = ("emitted", "entries", "last", "level")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.emitted = float("-inf")
        self.level = -1
        # rule id -> (time, risk, alert id or "", first reason, (session, source))
        self.entries: dict[str, _Entry] = {}


class RiskParams(msgspec.Struct, forbid_unknown_fields=True):
    #: distinct signals (families) needed
    min_rules: int
    #: risk multiplier for new accounts (their bursts are expected)
    new_account_factor: float
    #: rules that measure the same thing (e.g. volume and unexplained reads of the same
    #: files): within a family only the highest risk counts
    families: dict[str, list[str]]


class RiskCorrelator(DetectorBase):
    """Adds up the ``risk`` of the distinct signals that fired on an account within the window.

    Each rule carries a ``risk`` (points); a weak sign alone (a new network, a burst
    of unexplained reads, a walk in id order) stays low, but several *independent*
    signs on the same account within hours are what extraction looks like. Rules that
    measure the same thing are grouped into ``families`` (volume and unexplained reads
    of the same files; a new network and two places at once): a family counts once,
    with its highest risk. The
    correlated alert's severity comes from the rule's bands on the total, and its
    reasons list every contributing signal. It sees every finding, including those
    the sink suppressed as repeats, so an ongoing signal keeps counting.

    The correlated alert is about the session (and source) its strongest signal came
    from, not the event that tipped the total: on an account shared by its genuine
    owner and an attacker, the owner's next request often does, and the policy acts
    on the alert's session.
    """

    name: ClassVar[str] = "risk"
    actions: ClassVar[frozenset[str] | None] = frozenset()
    needs_window: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("accounts",)

    Params: ClassVar[type] = RiskParams

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        s = env.settings
        self.window = max((float(r.window or 0) for r in self.rules), default=3600.0)
        self.cooldown = min((float(r.cooldown) for r in self.rules), default=3600.0)
        self._families: dict[str, dict[str, str]] = {}
        self.accounts: BoundedTable[_Risk] = BoundedTable("risk", self.window, s.max_accounts)

    def observe(
        self, finding: Finding, alert: Alert | None, ev: AccessEvent, f: Facts
    ) -> list[Finding] | None:
        rule = finding.rule
        risk = finding.risk if finding.risk is not None else rule.risk
        if risk <= 0 or rule.detector == self.name:
            return None
        tenant = finding.tenant or ev.tenant
        actor = finding.actor or ev.actor
        key = (tenant, actor)
        t = f.t
        st = self.accounts.get(key)
        if st is None:
            st = self.accounts.put(key, _Risk(t))
        st.last = t
        lo = t - self.window
        prev = st.entries.get(rule.id)
        fresh = prev is None or prev[0] < lo or prev[1] != risk
        place = finding.place or (
            (ev.session, ev.src_ip) if key == (ev.tenant, ev.actor) else (None, None)
        )
        if fresh:
            aid = alert.alert_id if alert is not None else ""
            st.entries[rule.id] = (t, risk, aid, finding.first_reason(), place)
        else:
            assert prev is not None
            aid = alert.alert_id if alert is not None else prev[2]
            st.entries[rule.id] = (t, risk, aid, prev[3], place)
            if t - st.emitted < self.cooldown:
                return None  # nothing new to say yet
        for rid in [r for r, e in st.entries.items() if e[0] < lo]:
            del st.entries[rid]
        same = key == f.key
        out: list[Finding] | None = None
        for r in self.rules:
            if same and not r.scope.allows(tenant, f.acc.role):
                continue
            p = r.params
            best = self._by_family(st.entries, r)
            if len(best) < p.min_rules:
                continue
            factor = p.new_account_factor if same and f.new_account else 1.0
            total = sum(best.values()) * factor
            sev = r.severity_for(total)
            if sev is None:
                continue
            level = SEVERITY_RANK[sev]
            if level <= st.level and t - st.emitted < self.cooldown:
                continue
            st.level = level
            st.emitted = t
            items = sorted(st.entries.items(), key=lambda kv: (-kv[1][1], kv[0]))
            if out is None:
                out = []
            out.append(
                Finding(
                    r,
                    total,
                    partial(self._reasons, total, items, factor),
                    partial(self._evidence, total, items, factor),
                    tenant=tenant,
                    actor=actor,
                    place=_strongest_place(st.entries),
                )
            )
        return out

    def _by_family(self, entries: dict[str, _Entry], rule: Rule) -> dict[str, float]:
        """The highest risk of each family present (a rule alone is its own family)."""
        family_of = self._families.get(rule.id)
        if family_of is None:
            family_of = self._families[rule.id] = {
                rid: name for name, rids in rule.params.families.items() for rid in rids
            }
        best: dict[str, float] = {}
        for rid, e in entries.items():
            fam = family_of.get(rid, rid)
            if e[1] > best.get(fam, 0.0):
                best[fam] = e[1]
        return best

    def _reasons(self, total: float, items: list[tuple[str, _Entry]], factor: float) -> list[str]:
        head = (
            f"account risk {fmt(total)} from {len(items)} signals within "
            f"{durations(self.window)}: "
            + ", ".join(f"{rid} +{fmt(e[1])}" for rid, e in items)
            + (f" (×{fmt(factor)} for a new account)" if factor != 1.0 else "")
        )
        return [head] + [f"{rid}: {e[3]}" for rid, e in items]

    @staticmethod
    def _evidence(total: float, items: list[tuple[str, _Entry]], factor: float) -> dict[str, Any]:
        return {
            "risk": round(total, 2),
            "signals": {rid: e[1] for rid, e in items},
            "alerts": [e[2] for _, e in items if e[2]],
            "new_account_factor": factor,
            "sessions": sorted({e[4][0] for _, e in items if e[4][0]}),
        }

    def sweep(self, now: float) -> None:
        self.accounts.sweep(now)


def _strongest_place(entries: dict[str, _Entry]) -> tuple[str | None, str | None] | None:
    """The session and source of the strongest signal that names one (latest on a tie)."""
    placed = [e for e in entries.values() if e[4][0] is not None or e[4][1] is not None]
    if not placed:
        return None
    best = max(placed, key=lambda e: (e[1], e[0]))
    return best[4]


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(RiskCorrelator)
