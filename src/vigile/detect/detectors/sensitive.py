"""Reads of protected files (``vip``) with no care relationship."""

from __future__ import annotations

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

    def check(self) -> list[str]:
        from vigile.detect.rules import SEVERITY_RANK

        if self.new_account_max not in SEVERITY_RANK:
            return [f"new_account_max must be one of {', '.join(SEVERITY_RANK)}"]
        return []


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
    """

    name: ClassVar[str] = "sensitive"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print"})
    state_attrs: ClassVar[tuple[str, ...]] = ("recent",)

    Params: ClassVar[type] = SensitiveParams

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        horizon = max((float(r.params.window) for r in self.rules), default=86400.0)
        self.recent: BoundedTable[_Recent] = BoundedTable("vip-reads", horizon, 100_000)

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
        st = self.recent.get((f.key, ev.resource))
        out = []
        for rule in self.rules_for(acc.tenant, acc.role):
            p = rule.params
            if ev.resource not in p.resources:
                continue
            files = set(hits)
            if st is not None:
                lo = f.t - p.window
                files.update(k for k, x in st.pids.items() if x >= lo)
            n = len(files)
            if n < p.min_files:
                continue
            severity = None
            if f.new_account:
                cap = SEVERITY_RANK[p.new_account_max]
                sev = rule.severity_for(float(n))
                if sev is not None and SEVERITY_RANK[sev] > cap:
                    severity = SEVERITIES[cap]
            tried = ["earlier access by this account", "the practice's panel"]
            if self.env.has_appointments:
                tried.insert(0, "an appointment at the practice near the read")
            if self.env.index.note_authors:
                tried.append("a note by the practice")
            out.append(
                Finding(
                    rule,
                    float(n),
                    [
                        f"opened the {ev.resource} of {n} protected (vip) file(s) in "
                        f"{p.window / 3600:.0f} h with no care relationship: none of "
                        f"{', '.join(tried)} explains them"
                        + (" (a new account: severity capped)" if severity else ""),
                    ],
                    {
                        "vip_files": n,
                        "this_request": len(hits),
                        "explanations_tried": tried,
                        "resource": ev.resource,
                        "role": acc.role,
                        "new_account": f.new_account,
                    },
                    severity=severity,
                )
            )
        return out

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not f.uncared_ids or not self.env.index.vip:
            return
        hits = self._hits(f)
        if hits:
            key = (f.key, ev.resource)
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


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(SensitiveDetector)
