"""Canary records: decoy patient files that no genuine workflow touches."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Finding, register
from vigile.detect.facts import Facts
from vigile.events import READ_ACTIONS, AccessEvent


class CanaryParams(msgspec.Struct, forbid_unknown_fields=True):
    #: also fire on refused requests for a canary (an attempt, nothing served)
    include_refused: bool


class CanaryDetector(DetectorBase):
    """Any request that returns (or asks for) a canary file.

    Canaries (``canaries.csv`` in the context) have no doctor, no appointment, no
    search hit a genuine user would open: only a sweep of whole file lists, an id
    walk or a scraper reaches them, so a single read is evidence of extraction.
    The practice's own schedule lists are not looked at (a canary is never booked;
    one that is would be a change to the context, not a read).
    """

    name: ClassVar[str] = "canary"
    actions: ClassVar[frozenset[str] | None] = READ_ACTIONS
    schedule: ClassVar[bool] = False

    Params: ClassVar[type] = CanaryParams

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        canaries = self.env.index.canaries
        if not canaries or not f.ids or canaries.isdisjoint(f.ids):
            return None
        acc = f.acc
        out = []
        for rule in self.rules_for(acc.tenant, acc.role):
            if f.status >= 400 and not rule.params.include_refused:
                continue
            hits = [p for p in f.ids if p in canaries]
            served = f.status < 400
            out.append(
                Finding(
                    rule,
                    float(len(hits)),
                    [
                        f"{'read' if served else 'asked for'} {len(hits)} canary file(s) "
                        f"({f.action} {f.resource}, status {f.status}): decoy files that no "
                        "genuine workflow opens, so the request walks lists or ids it should not",
                    ],
                    {
                        "canaries": len(hits),
                        "action": f.action,
                        "resource": f.resource,
                        "status": f.status,
                        "records": ev.records,
                        "route": ev.route,
                    },
                )
            )
        return out


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(CanaryDetector)
