"""Enumeration: walking ids, refusals, other practices' files."""

from __future__ import annotations

import re
from collections import deque
from typing import ClassVar, Final

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, register
from vigile.detect.facts import Facts
from vigile.detect.rules import Rule
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent

_REFUSED: Final = frozenset({401, 403, 404})
_DIGITS: Final = re.compile(r"(\d+)\D*$")
_PREFIX: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_:./#"
#: patient ids whose number is remembered (the memo is emptied beyond this many)
_NUMBERS_MAX: Final = 65_536


def id_number(pid: str) -> int | None:
    """The number in a patient id (``P10090933`` → 10090933), or ``None``.

    Decimal digits only (``isdecimal``: what ``int`` reads): ``²`` is a digit to
    ``isdigit`` but no number."""
    if pid.isdecimal():
        return int(pid)
    tail = pid.lstrip(_PREFIX)
    if tail.isdecimal():
        return int(tail)
    m = _DIGITS.search(pid)
    return int(m.group(1)) if m else None


class _Walk:
    __slots__ = (
        "attempts",
        "last",
        "last_id",
        "last_new",
        "ordered",
        "ordered_ids",
        "refused_until",
        "seq",
        "seq_ids",
    )

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.attempts: deque[tuple[float, bool]] = deque(maxlen=4096)
        self.last_id: int | None = None
        self.seq = 0
        self.seq_ids: deque[str] = deque(maxlen=20)
        self.last_new: int | None = None
        self.ordered = 0
        self.ordered_ids: deque[str] = deque(maxlen=20)
        self.refused_until = -1.0


class Refusals(msgspec.Struct, forbid_unknown_fields=True):
    #: refused requests needed, and their share of single-file requests
    min_refused: int
    min_share: float


class Sequential(msgspec.Struct, forbid_unknown_fields=True):
    #: run length needed; largest id step that continues a sequence
    min_run: int
    max_step: int


class CrossPractice(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Ordered(msgspec.Struct, forbid_unknown_fields=True):
    min_run: int


class EnumerationDetector(DetectorBase):
    """Requests that walk the id space instead of following care.

    Modes:

    * ``refusals`` – many single-file requests refused (403/404) within the window,
      and a high share of them: guessing ids, probing authorisation (OWASP API1);
    * ``sequential`` – consecutive requests for ids that follow each other (step
      1 to ``max_step``): an id walk;
    * ``cross-practice`` – a file of *another* practice served to this account
      (from ``patients.csv``): broken object-level authorisation that leaked;
    * ``ordered-walk`` – the patients new to the account come in strictly
      increasing id order, run after run: a script going through a list, where care
      follows the schedule, not the id order.
    """

    name: ClassVar[str] = "enumeration"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print"})
    modes: ClassVar[tuple[str, ...] | None] = (
        "refusals",
        "sequential",
        "cross-practice",
        "ordered-walk",
    )
    state_attrs: ClassVar[tuple[str, ...]] = ("walks",)

    mode_params: ClassVar[dict[str, type]] = {
        "refusals": Refusals,
        "sequential": Sequential,
        "cross-practice": CrossPractice,
        "ordered-walk": Ordered,
    }

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        s = env.settings
        self.walks: BoundedTable[_Walk] = BoundedTable(
            "enumeration", s.session_idle, s.max_accounts
        )
        self.window = max(
            (float(r.window or 0) for r in self.rules if r.mode == "refusals"), default=3600.0
        )
        self.max_step = max(
            (r.params.max_step for r in self.rules if r.mode == "sequential"), default=1
        )
        self.min_seq = min(
            (r.params.min_run for r in self.rules if r.mode == "sequential"), default=1 << 30
        )
        self.min_walk = min(
            (r.params.min_run for r in self.rules if r.mode == "ordered-walk"), default=1 << 30
        )
        self.cross = any(r.mode == "cross-practice" for r in self.rules)
        #: id_number of the patient ids seen lately: an event asks for the same id up to
        #: three times (score, ordered walk, learn), and care reopens the same files
        self._numbers: dict[str, int | None] = {}
        self._num: int | None = None
        self._walk = 0

    def _number(self, pid: str) -> int | None:
        """:func:`id_number`, remembered."""
        numbers = self._numbers
        if pid in numbers:
            return numbers[pid]
        if len(numbers) >= _NUMBERS_MAX:
            numbers.clear()
        num = numbers[pid] = id_number(pid)
        return num

    def _step(self, st: _Walk | None, num: int | None) -> int:
        """The sequential run length after this request (0: broken)."""
        if st is None or num is None or st.last_id is None:
            return 0
        d = num - st.last_id
        if d == 0:
            return st.seq
        return st.seq + 1 if 0 < d <= self.max_step else 0

    def _refusal(self, rule: Rule, f: Facts, st: _Walk | None) -> Finding | None:
        """``refusals``: this refused request and those of the window, against all."""
        p = rule.params
        lo = f.t - float(rule.window or self.window)
        n = r = 0
        if st is not None:
            for t, x in reversed(st.attempts):
                if t < lo:
                    break
                n += 1
                r += x
        n, r = n + 1, r + 1
        if r < p.min_refused or r / n < p.min_share:
            return None
        return Finding(
            rule,
            r / n,
            [
                f"{r} of {n} single-file requests refused (403/404) in "
                f"{durations(float(rule.window or self.window))}: guessing ids or "
                "probing authorisation"
            ],
            {"refused": r, "requests": n, "share": round(r / n, 3)},
        )

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        ids = f.ids
        self._num = None
        self._walk = 0
        if len(ids) > 3 or f.schedule:
            return None
        if not f.new_ids and f.status not in _REFUSED:
            # a patient the account already had: it neither starts nor breaks a walk
            return None
        st = self.walks.data.get(f.key)
        # a refused request may name no patient (INTERFACE §1: the ids the response
        # carried): no id, no walk, yet one more refusal of the ratio
        num = self._num = self._number(ids[0]) if ids else None
        refused = f.status in _REFUSED
        run = self._step(st, num)
        walk = self._walk = self._ordered(st, f.new_ids) if f.new_ids else 0
        cross = bool(f.unexplained_ids) and self.cross
        if not (refused or run >= self.min_seq or cross or walk >= self.min_walk):
            return None
        acc = f.acc
        rules = self.rules_for(acc.tenant, acc.role)
        out: list[Finding] | None = None
        for rule in rules:
            p = rule.params
            finding = None
            mode = rule.mode
            if mode == "refusals" and refused:
                if self.muted(rule, f):
                    continue
                finding = self._refusal(rule, f, st)
            elif mode == "sequential":
                if run >= p.min_run and not self.muted(rule, f):
                    finding = Finding(
                        rule,
                        float(run),
                        [
                            f"{run + 1} requests for consecutive ids (steps of at most "
                            f"{p.max_step}): an id walk"
                        ],
                        {"run": run + 1, "status": f.status},
                        event_ids=list(st.seq_ids) if st is not None else [],
                    )
            elif mode == "cross-practice":
                if f.unexplained_ids and self.env.index.knows_patients and not self.muted(rule, f):
                    foreign = []
                    for pid in f.unexplained_ids:
                        holders = self.env.index.patient_tenants(pid)
                        if holders and acc.tenant not in holders:
                            foreign.append(holders[0])
                    if foreign:
                        finding = Finding(
                            rule,
                            float(len(foreign)),
                            [
                                f"served {len(foreign)} file(s) of another practice "
                                f"({f.action} {f.resource} via "
                                f"{ev.route or 'an unnamed route'}): object-level authorisation "
                                "failed"
                            ],
                            {"foreign_files": len(foreign), "route": ev.route, "status": f.status},
                        )
            elif (
                mode == "ordered-walk"
                and f.new_ids
                and walk >= p.min_run
                and not self.muted(rule, f, score=float(walk))
            ):
                finding = Finding(
                    rule,
                    float(walk),
                    [
                        f"the last {walk} patients new to this account were opened in strictly "
                        "increasing id order: a script walking a list, not care following the "
                        "schedule"
                    ],
                    {"run": walk},
                    event_ids=list(st.ordered_ids) if st is not None else [],
                )
            if finding is not None:
                if out is None:
                    out = []
                out.append(finding)
        return out

    def _ordered(self, st: _Walk | None, new_ids: list[str]) -> int:
        run = st.ordered if st is not None else 0
        last = st.last_new if st is not None else None
        for pid in new_ids:
            num = self._number(pid)
            if num is None:
                return 0
            run = run + 1 if last is not None and num > last else 1
            last = num
        return run

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        ids = f.ids
        if len(ids) > 3 or f.schedule:
            return
        if not f.new_ids and f.status not in _REFUSED:
            return
        key = f.key
        st = self.walks.data.get(key)
        if st is None:
            st = self.walks.put(key, _Walk(f.t))
        t = f.t
        st.last = t
        refused = f.status in _REFUSED
        if refused:
            st.refused_until = t + self.window
        if refused or t <= st.refused_until:
            # request outcomes are only kept while refusals are recent (the ratio's window)
            st.attempts.append((t, refused))
        if not ids:
            return  # a refusal that names no patient: the ratio, not the walks
        num = self._num
        seq = self._step(st, num)
        st.seq = seq
        if num is not None:
            st.last_id = num
        if seq:
            if ev.event_id:
                st.seq_ids.append(ev.event_id)
        elif st.seq_ids:
            st.seq_ids.clear()
        if f.new_ids:
            run = self._walk
            if run <= 1:
                st.ordered_ids.clear()
            st.ordered = run
            st.last_new = self._number(f.new_ids[-1])
            if ev.event_id:
                st.ordered_ids.append(ev.event_id)

    def sweep(self, now: float) -> None:
        self.walks.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(EnumerationDetector)
