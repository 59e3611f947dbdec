"""Reads of protected files (``vip``) with no care relationship."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Finding, register
from vigile.detect.facts import Facts
from vigile.detect.rules import Seconds
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent


class _Recent:
    __slots__ = ("last", "pids")

    def __init__(self, t: float) -> None:
        self.last = t
        self.pids: dict[str, float] = {}


@register
class SensitiveDetector(DetectorBase):
    """A ``vip`` file (public figure) opened by an account with no care relationship.

    The classic insider case: no appointment at the practice near the read, no
    earlier access by this account, no note by the practice, not in the panel of
    patients colleagues care for. One such read is worth a look; several within the
    window is snooping. The evidence says which explanations were tried.
    """

    name: ClassVar[str] = "sensitive"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print"})
    state_attrs: ClassVar[tuple[str, ...]] = ("recent",)

    class Params(msgspec.Struct, forbid_unknown_fields=True):
        #: unexplained vip files within the window needed to fire
        min_files: int
        #: how far back the count goes
        window: Seconds

    def __init__(self, rules: list, env) -> None:  # type: ignore[no-untyped-def]
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
        st = self.recent.get(f.key)
        out = []
        for rule in self.rules_for(acc.tenant, acc.role):
            p = rule.params
            files = set(hits)
            if st is not None:
                lo = f.t - p.window
                files.update(k for k, x in st.pids.items() if x >= lo)
            n = len(files)
            if n < p.min_files:
                continue
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
                        f"opened {n} protected (vip) file(s) in {p.window / 3600:.0f} h with no care "
                        f"relationship: none of {', '.join(tried)} explains them",
                    ],
                    {
                        "vip_files": n,
                        "this_request": len(hits),
                        "explanations_tried": tried,
                        "resource": ev.resource,
                        "role": acc.role,
                    },
                )
            )
        return out

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not f.uncared_ids or not self.env.index.vip:
            return
        hits = self._hits(f)
        if hits:
            st = self.recent.get(f.key)
            if st is None:
                st = self.recent.put(f.key, _Recent(f.t))
            st.last = f.t
            for pid in hits:
                st.pids[pid] = f.t
            if len(st.pids) > 256:
                lo = f.t - self.recent.ttl
                st.pids = {k: x for k, x in st.pids.items() if x >= lo}

    def sweep(self, now: float) -> None:
        self.recent.sweep(now)
