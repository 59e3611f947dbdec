"""Sensitive notes (health, private life...) read with no care relationship."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, register
from vigile.detect.detectors.sensitive import OpenedHours, chance_at_least, chance_text
from vigile.detect.facts import Facts
from vigile.detect.rules import SEVERITY_RANK, Rule, Seconds
from vigile.detect.state import BoundedTable
from vigile.events import SEVERITIES, AccessEvent

_HIGH = SEVERITY_RANK["high"]
#: what the explainer calls a read explained only by a note written at the practice
_PRACTICE_NOTE = "practice note"


class SensitiveNotesParams(msgspec.Struct, forbid_unknown_fields=True):
    #: distinct patients with sensitive notes read with no care relationship, to fire
    min_patients: int
    #: how far back the count (and the chance test's base) goes
    window: Seconds
    #: which resources count as reading the notes (``annotation``)
    resources: list[str]
    #: later reads of a patient first opened with no care relationship stay unexplained
    #: for this long (the engine counts that first opening as a relationship)
    follow_up: Seconds
    #: the highest severity for accounts that are new (no relationships yet)
    new_account_max: str
    #: above this chance of meeting that many such patients among the account's
    #: unexplained new patients of the window, the reads are incidental (0: off)
    max_chance: float
    #: the risk of an incidental finding
    incidental_risk: float

    def check(self) -> list[str]:
        errors = []
        if self.new_account_max not in SEVERITY_RANK:
            errors.append(f"new_account_max must be one of {', '.join(SEVERITY_RANK)}")
        if not 0.0 <= self.max_chance < 1.0:
            errors.append("max_chance must be at least 0 (off) and below 1")
        if self.min_patients < 1:
            errors.append("min_patients must be at least 1")
        return errors


class _Seen:
    """Patients (id -> event time) of one account, for a window."""

    __slots__ = ("last", "pids")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.pids: dict[str, float] = {}

    def add(self, pid: str, t: float, ttl: float) -> None:
        self.last = t
        self.pids[pid] = t
        if len(self.pids) > 256:
            lo = t - ttl
            self.pids = {k: x for k, x in self.pids.items() if x >= lo}


def _wrote(notes: tuple[tuple[str, str, float], ...], key: tuple[str, str]) -> bool:
    """Whether the account ``key`` (tenant, actor) wrote one of ``notes``."""
    return any(tenant == key[0] and author == key[1] for tenant, author, _ in notes)


def _names(categories: list[str]) -> str:
    return ", ".join(c.replace("_", " ") for c in categories)


class SensitiveNotesDetector(DetectorBase):
    """The notes of a patient whose notes are sensitive, read with no care relationship.

    Most of a practice's notes are administrative; the harm of a leak concentrates in
    the few that reveal health, mental health, sexual or reproductive life, violence,
    judicial matters (INTERFACE §5). With the labels of ``vigile notes`` (categories
    only, never text), an account reading the notes of such a patient with no care
    relationship — no appointment at the practice near the read, no earlier care by
    the account, not a file it created, not in the practice's care panel — is an
    insider's curiosity or a targeted search: medium, at least high when a category
    is high-risk (``vigile.notes.api.HIGH_RISK_CATEGORIES``).

    A note on the file is not a care relationship here (the explainer counts a note
    written at the practice as one: here it would explain every sensitive note by
    itself); the account's own note is.

    Targeted or incidental, as for protected files: the patients read this way are
    compared with the patients the account opened with no care relationship in the
    window; when that many would turn up by chance more often than ``max_chance``
    (binomial tail at the practice's share of patients with sensitive notes) the
    reads are incidental: low, risk ``incidental_risk`` (the bulk is judged by the
    reading rules). Without labels the detector looks at nothing.
    """

    name: ClassVar[str] = "sensitive_notes"
    actions: ClassVar[frozenset[str] | None] = frozenset({"read", "print", "export", "list"})
    state_attrs: ClassVar[tuple[str, ...]] = ("recent", "follow", "opened")

    Params: ClassVar[type] = SensitiveNotesParams

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        idx = env.index
        self.sens: dict[str, tuple[int, str]] = idx.sensitive_notes
        self.high_risk: frozenset[str] = frozenset()
        if self.sens:
            from vigile.notes.api import HIGH_RISK_CATEGORIES

            self.high_risk = frozenset(HIGH_RISK_CATEGORIES)
        self.resources: frozenset[str] = frozenset(
            x for r in self.rules for x in r.params.resources
        )
        window = max((float(r.params.window) for r in self.rules), default=86400.0)
        self.follow_ttl = max((float(r.params.follow_up) for r in self.rules), default=0.0)
        self.chance_window = max(
            (float(r.params.window) for r in self.rules if r.params.max_chance > 0),
            default=0.0,
        )
        cap = env.settings.max_accounts
        self.recent: BoundedTable[_Seen] = BoundedTable("sensitive-notes", window, cap)
        self.follow: BoundedTable[_Seen] = BoundedTable(
            "sensitive-follow", max(self.follow_ttl, 60.0), cap
        )
        self.opened: BoundedTable[OpenedHours] = BoundedTable(
            "sensitive-base", max(self.chance_window, 3600.0), cap
        )
        total = sum(idx.files.values())
        n_sens = sum(idx.sensitive_files.values())
        self._global_share = (n_sens / total) if total > n_sens else None

    @property
    def counts_quiet(self) -> bool:
        """With labels, quiet events count too: the notes read right after the file of a
        patient the explainer just counted as cared for are quiet."""
        return bool(self.sens)

    def _share(self, tenant: str) -> float | None:
        """The practice's share of patients with sensitive notes (the whole context's when
        the practice is not listed in ``patients.csv``); None when unknown."""
        files = self.env.index.files.get(tenant, 0)
        if not files:
            return self._global_share
        n = self.env.index.sensitive_files.get(tenant, 0)
        if files <= n:
            return None
        return max(n, 1) / files

    # ---- what a request shows ------------------------------------------------------------
    def _uncared(self, ev: AccessEvent, f: Facts) -> tuple[list[str], int]:
        """Patients with sensitive notes this request touched with no care relationship,
        and how many patients it opened with none (the chance test's base)."""
        sens = self.sens
        hits: list[str] = []
        if f.single:
            opened = len(f.unexplained_ids)
            why = f.explained_by
            if why:
                for pid, w in why.items():
                    if w == _PRACTICE_NOTE and pid in f.new_ids:
                        opened += 1
            fol = self.follow.get(f.key) if self.follow_ttl else None
            for pid in f.ids:
                if pid not in sens:
                    continue
                if pid in f.uncared_ids:
                    hits.append(pid)
                elif why.get(pid) == _PRACTICE_NOTE:
                    # a colleague's note, and none of the account's own (the explainer
                    # names "own note" first): not care by this account
                    hits.append(pid)
                elif fol is not None:
                    seen_at = fol.pids.get(pid)
                    if seen_at is not None and f.t - seen_at <= self.follow_ttl:
                        hits.append(pid)
            return hits, opened
        if not f.bulk or f.action == "search" or f.resource not in self.resources:
            return hits, 0
        # a list or export of notes: the explainer judges no bulk; care is the account's
        # own (a positive day in its relationships), the panel or its own note
        seen = f.acc.seen
        panel = f.ten.panel
        authors = self.env.index.note_authors
        me = (f.tenant, f.actor)
        opened = 0
        for pid in f.ids:
            v = seen.get(pid)
            if (v is not None and v > 0) or pid in panel:
                continue
            a = authors.get(pid)
            if a is not None and _wrote(a, me):
                continue
            opened += 1
            if pid in sens:
                hits.append(pid)
        return hits, opened

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        if not self.sens or f.status >= 400 or f.resource not in self.resources:
            return None
        hits, _ = self._uncared(ev, f)
        if not hits:
            return None
        acc = f.acc
        st = self.recent.get((f.key, f.resource))
        out = []
        for rule in self.rules_for(acc.tenant, acc.role):
            p = rule.params
            if f.resource not in p.resources:
                continue
            patients = set(hits)
            if st is not None:
                lo = f.t - p.window
                patients.update(k for k, x in st.pids.items() if x >= lo)
            n = len(patients)
            if n < p.min_patients:
                continue
            out.append(self._finding(rule, p, ev, f, sorted(patients), len(hits)))
        return out

    def _finding(
        self,
        rule: Rule,
        p: SensitiveNotesParams,
        ev: AccessEvent,
        f: Facts,
        patients: list[str],
        this_request: int,
    ) -> Finding:
        acc = f.acc
        n = len(patients)
        notes = 0
        per_cat: dict[str, int] = {}
        for pid in patients:
            k, cats = self.sens[pid]
            notes += k
            for cat in cats.split(";"):
                if cat:
                    per_cat[cat] = per_cat.get(cat, 0) + 1
        cats_sorted = sorted(per_cat)
        high = [c for c in cats_sorted if c in self.high_risk]
        band = rule.severity_for(float(n))
        level = SEVERITY_RANK[band] if band is not None else -1
        notes_on: list[str] = []
        if high and level < _HIGH:
            level = _HIGH
            notes_on.append(f"high-risk categories ({_names(high)}): at least high")
        if f.new_account:
            cap = SEVERITY_RANK[p.new_account_max]
            if level > cap:
                level = cap
                notes_on.append("a new account: severity capped")
        risk: float | None = None
        chance: dict[str, float | int] = {}
        share = self._share(acc.tenant) if p.max_chance > 0 else None
        if share:
            op = self.opened.get(f.key)
            opened = max(op.count(f.t, float(p.window)) if op is not None else 0, n)
            odds = chance_at_least(n, opened, share)
            chance = {"opened_unexplained": opened, "practice_share": share, "chance": odds}
            where = (
                f"{n} such patient(s) among {opened} patient(s) opened with no care "
                f"relationship in {p.window / 3600:.0f} h; at the practice's share of patients "
                f"with sensitive notes (1 in {1 / share:,.0f}) that happens by chance "
                f"{chance_text(odds)} of the time; bar {p.max_chance:.0%}"
            )
            if odds > p.max_chance:
                level = SEVERITY_RANK["low"]
                risk = p.incidental_risk
                notes_on = [f"incidental to a bulk read ({where})"]
            else:
                notes_on.append(f"targeted ({where})")
        severity = SEVERITIES[level] if level >= 0 else None
        tried = ["earlier care by this account", "the practice's panel"]
        if self.env.has_appointments:
            tried.insert(0, "an appointment at the practice near the read")
        if self.env.index.note_authors:
            tried.append("a note by this account")
        verb = {"read": "read", "print": "printed", "export": "exported", "list": "listed"}.get(
            ev.action, ev.action
        )
        reason = (
            f"{verb} the notes ({ev.resource}) of {n} patient(s) whose notes are sensitive "
            f"({notes} sensitive note(s): {_names(cats_sorted) or 'no category given'}) "
            f"in {p.window / 3600:.0f} h with no care relationship: none of "
            f"{', '.join(tried)} explains them"
        )
        if notes_on:
            reason += " — " + "; ".join(notes_on)
        evidence: dict[str, object] = {
            "patients": n,
            "sensitive_notes": notes,
            "this_request": this_request,
            "categories": {cat: per_cat[cat] for cat in cats_sorted},
            "high_risk_categories": high,
            "explanations_tried": tried,
            "resource": ev.resource,
            "action": ev.action,
            "role": acc.role,
            "new_account": f.new_account,
            **chance,
        }
        return Finding(rule, float(n), [reason], evidence, severity=severity, risk=risk)

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not self.sens or f.status >= 400:
            return
        hits, opened = self._uncared(ev, f)
        if self.chance_window and opened:
            op = self.opened.get(f.key)
            if op is None:
                op = self.opened.put(f.key, OpenedHours(f.t))
            op.add(f.t, opened, int(self.chance_window // 3600) + 1)
        if not hits:
            return
        if self.follow_ttl and f.single:
            why = f.explained_by
            for pid in hits:
                if why.get(pid) == _PRACTICE_NOTE:
                    fol = self.follow.get(f.key)
                    if fol is None:
                        fol = self.follow.put(f.key, _Seen(f.t))
                    fol.add(pid, f.t, self.follow_ttl)
        if f.resource in self.resources:
            key = (f.key, f.resource)
            st = self.recent.get(key)
            if st is None:
                st = self.recent.put(key, _Seen(f.t))
            for pid in hits:
                st.add(pid, f.t, self.recent.ttl)

    def sweep(self, now: float) -> None:
        self.recent.sweep(now)
        self.follow.sweep(now)
        self.opened.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(SensitiveNotesDetector)
