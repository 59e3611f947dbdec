"""Reads of protected files (``vip``) with no care relationship."""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, register
from vigile.detect.facts import Facts
from vigile.detect.rules import SEVERITY_RANK, Rule, Seconds
from vigile.detect.state import BoundedTable
from vigile.events import SEVERITIES, AccessEvent


class _Recent:
    __slots__ = ("last", "pids")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.pids: dict[str, float] = {}


class SensitiveParams(msgspec.Struct, forbid_unknown_fields=True):
    #: unexplained vip files within the window needed to fire
    min_files: int
    #: how far back the count goes
    window: Seconds
    #: which resources count (e.g. the clinical ones: notes, documents, prescriptions)
    resources: list[str]
    #: the highest severity for accounts that are new (no relationships yet)
    new_account_max: str
    #: above this chance of meeting that many protected files among the account's
    #: unexplained new patients of the window, the reads are incidental (0: off).
    #: (plain floats: a compiled module keeps no ``float | None`` for msgspec)
    max_chance: float
    #: the risk of an incidental finding
    incidental_risk: float

    def check(self) -> list[str]:
        from vigile.detect.rules import SEVERITY_RANK

        errors = []
        if self.new_account_max not in SEVERITY_RANK:
            errors.append(f"new_account_max must be one of {', '.join(SEVERITY_RANK)}")
        if not 0.0 <= self.max_chance < 1.0:
            errors.append("max_chance must be at least 0 (off) and below 1")
        return errors


class OpenedHours:
    """Unexplained new patients an account opened, per hour of event time (the
    ``n`` of the chance tests; shared by the vip and sensitive-notes detectors)."""

    __slots__ = ("hours", "last")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.hours: deque[list[int]] = deque()  # [hour, patients]

    def add(self, t: float, k: int, horizon_h: int) -> None:
        self.last = t
        h = int(t // 3600)
        hours = self.hours
        if hours and hours[-1][0] == h:
            hours[-1][1] += k
        else:
            hours.append([h, k])
        while hours and hours[0][0] <= h - horizon_h:
            hours.popleft()

    def count(self, t: float, window: float) -> int:
        lo = int((t - window) // 3600)
        return sum(k for h, k in self.hours if h > lo)


def chance_at_least(v: int, n: int, q: float) -> float:
    """P(X ≥ v) for X ~ Binomial(n, q): how often ``v`` protected files turn up among
    ``n`` files opened at random from a practice whose share of protected files is ``q``."""
    if v <= 0:
        return 1.0
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    if v > n:
        return 0.0
    below = sum(math.comb(n, i) * q**i * (1.0 - q) ** (n - i) for i in range(v))
    return max(0.0, 1.0 - below)


def chance_text(x: float) -> str:
    return f"{x:.1%}" if x >= 0.001 else "less than 0.1%"


class SensitiveDetector(DetectorBase):
    """A ``vip`` file (public figure) opened by an account with no care relationship.

    The classic insider case: no appointment at the practice near the read, no
    care relationship of the account with the patient, no note by the practice, not
    in the panel of patients colleagues care for. A rule chooses the resources it
    counts: opening a public figure's *notes or documents* with no care relationship
    is snooping; opening the administrative file after a phone call is ordinary
    front-desk work (a rule of its own, at low severity). New accounts have no
    relationships yet: their severity is capped. Distinct files are counted per
    resource within the window.

    Targeted or incidental: an account that opens a hundred unexplained files (an
    evening backlog, a bulk read) meets a public figure's file by chance, at the
    practice's share of protected files. With ``max_chance``, the protected files are
    compared with the unexplained new patients the account opened in the window: when
    that many would turn up by chance more often than ``max_chance`` (binomial tail at
    the practice's share), the reads are *incidental*: the severity is capped at low
    and the risk lowered to ``incidental_risk`` (the bulk itself is judged by the
    reading rules). Snooping shows as protected files over-represented among what the
    account opens.
    """

    name: ClassVar[str] = "sensitive"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print"})
    state_attrs: ClassVar[tuple[str, ...]] = ("recent", "opened")

    Params: ClassVar[type] = SensitiveParams

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        horizon = max((float(r.params.window) for r in self.rules), default=86400.0)
        self.recent: BoundedTable[_Recent] = BoundedTable("vip-reads", horizon, 100_000)
        self.chance_window = max(
            (float(r.params.window) for r in self.rules if r.params.max_chance > 0),
            default=0.0,
        )
        self.opened: BoundedTable[OpenedHours] = BoundedTable(
            "vip-base", max(self.chance_window, 3600.0), env.settings.max_accounts
        )
        idx = env.index
        total = sum(idx.files.values())
        self._global_share = (len(idx.vip) / total) if total > len(idx.vip) else None

    def _share(self, tenant: str) -> float | None:
        """The practice's share of protected files (the whole context's when the practice
        is not listed); None when ``patients.csv`` lists only the protected files."""
        files = self.env.index.files.get(tenant, 0)
        vip = self.env.index.vip_files.get(tenant, 0)
        if not files:
            return self._global_share
        if files <= vip:
            return None  # a list of the protected files, not the practice's files
        return max(vip, 1) / files

    def _hits(self, f: Facts) -> list[str]:
        vip = self.env.index.vip
        return [p for p in f.uncared_ids if p in vip]

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        if not f.uncared_ids or not self.env.index.vip:
            return None
        hits = self._hits(f)
        if not hits:
            return None
        acc = f.acc
        st = self.recent.get((f.key, f.resource))
        out = []
        for rule in self.rules_for(acc.tenant, acc.role):
            p = rule.params
            if f.resource not in p.resources:
                continue
            files = set(hits)
            if st is not None:
                lo = f.t - p.window
                files.update(k for k, x in st.pids.items() if x >= lo)
            n = len(files)
            if n < p.min_files:
                continue
            severity = None
            risk = None
            chance_note = ""
            chance: dict[str, float | int] = {}
            if f.new_account:
                cap = SEVERITY_RANK[p.new_account_max]
                sev = rule.severity_for(float(n))
                if sev is not None and SEVERITY_RANK[sev] > cap:
                    severity = SEVERITIES[cap]
            share = self._share(acc.tenant) if p.max_chance > 0 else None
            if share:
                op = self.opened.get(f.key)
                opened = max(op.count(f.t, float(p.window)) if op is not None else 0, n)
                c = chance_at_least(n, opened, share)
                chance = {"opened_unexplained": opened, "practice_share": share, "chance": c}
                where = (
                    f"{n} protected file(s) among {opened} unexplained new patient(s) opened "
                    f"in {p.window / 3600:.0f} h; at the practice's share of protected files "
                    f"(1 in {1 / share:,.0f}) that happens by chance {chance_text(c)} of the time"
                )
                if c > p.max_chance:
                    severity = "low"
                    risk = p.incidental_risk
                    chance_note = f" — incidental to a bulk read ({where}; bar {p.max_chance:.0%})"
                else:
                    chance_note = f" — targeted ({where}; bar {p.max_chance:.0%})"
            tried = ["earlier access by this account", "the practice's panel"]
            if self.env.has_appointments:
                tried.insert(0, "an appointment at the practice near the read")
            if self.env.index.note_authors:
                tried.append("a recent note by the practice")
            out.append(
                Finding(
                    rule,
                    float(n),
                    [
                        f"opened the {f.resource} of {n} protected (vip) file(s) in "
                        f"{p.window / 3600:.0f} h with no care relationship: none of "
                        f"{', '.join(tried)} explains them"
                        + (" (a new account: severity capped)" if severity and not risk else "")
                        + chance_note,
                    ],
                    {
                        "vip_files": n,
                        "this_request": len(hits),
                        "explanations_tried": tried,
                        "resource": f.resource,
                        "role": acc.role,
                        "new_account": f.new_account,
                        **chance,
                    },
                    severity=severity,
                    risk=risk,
                )
            )
        return out

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not f.uncared_ids or not self.env.index.vip:
            return
        if self.chance_window and f.unexplained_ids:
            op = self.opened.get(f.key)
            if op is None:
                op = self.opened.put(f.key, OpenedHours(f.t))
            op.add(f.t, len(f.unexplained_ids), int(self.chance_window // 3600) + 1)
        hits = self._hits(f)
        if hits:
            key = (f.key, f.resource)
            st = self.recent.get(key)
            if st is None:
                st = self.recent.put(key, _Recent(f.t))
            st.last = f.t
            for pid in hits:
                st.pids[pid] = f.t
            if len(st.pids) > 256:
                lo = f.t - self.recent.ttl
                st.pids = {k: x for k, x in st.pids.items() if x >= lo}

    def sweep(self, now: float) -> None:
        self.recent.sweep(now)
        self.opened.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(SensitiveDetector)
