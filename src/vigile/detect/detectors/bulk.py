"""Bulk extraction through list, export and search endpoints."""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any, ClassVar, Final

import msgspec

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, fmt, register
from vigile.detect.facts import PAGING_KEYS, Facts, parse_query
from vigile.detect.rules import Rule
from vigile.detect.state import BoundedTable
from vigile.events import AccessEvent

__all__ = ["PAGING_KEYS", "SEARCH_KEYS", "BulkDetector", "parse_query"]

SEARCH_KEYS: Final = ("q", "name", "search", "query", "term", "nom", "family", "last_name")
#: wildcard characters around a searched name (glob, SQL LIKE, ellipsis)
_WILDCARDS: Final = "*%?_. "


def _paging_reason(
    records: int, pages: int, filtered: bool, window: float, share: str, p: Any
) -> str:
    kind = "filtered" if filtered else "unfiltered"
    where = " begun from a network or client new to the account" if p.unfamiliar_only else ""
    return (
        f"{fmt(records)} records in {pages} {kind} list/export pages within {durations(window)} "
        f"in one session{where}{share}; threshold {fmt(p.min_records)} records and "
        f"{p.min_pages} pages"
    )


class _Pages:
    __slots__ = ("last", "pages")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.pages: deque[tuple[float, int, bool]] = deque(maxlen=100_000)


def _unfamiliar(f: Facts) -> bool:
    """The session began (or went on) from a network or client new to the account, or
    is being used from a second place: a stolen password or a replayed token, not the
    account's own workstation."""
    ses = f.ses
    return (ses is not None and ses.unfamiliar) or f.session_moved or f.session_shared


class _Searches:
    __slots__ = ("last", "queries")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.queries: deque[tuple[float, str, int]] = deque(maxlen=10_000)


class Paging(msgspec.Struct, forbid_unknown_fields=True):
    #: records and pages needed within the window
    min_records: int
    min_pages: int
    #: count pages with selection criteria (true) or without (false)
    filtered: bool
    #: only sessions begun from a network or client new to the account (a stolen
    #: password, a replayed token): a lower bar than the office workstation's
    unfamiliar_only: bool


class Search(msgspec.Struct, forbid_unknown_fields=True):
    #: searches needed, longest prefix that counts as "short", share of short ones
    min_searches: int
    max_prefix_len: int
    min_short_share: float


class BulkDetector(DetectorBase):
    """Many records through list / export / search endpoints in a short time.

    Modes:

    * ``paging`` – records served to one session through list and export pages
      within the window; a rule counts either *unfiltered* pages (only paging and
      sorting parameters: "everything, page after page") or *filtered* ones
      (selection criteria such as ``age_min=65``: a recall list, a statistic);
    * ``search`` – many name searches in the window, mostly with very short prefixes
      (``aa``, ``ab``...): the patient base harvested through the search box.
    """

    name: ClassVar[str] = "bulk"
    actions: ClassVar[frozenset[str] | None] = frozenset({"list", "export", "search"})
    modes: ClassVar[tuple[str, ...] | None] = ("paging", "search")
    needs_window: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("paging", "searching")

    mode_params: ClassVar[dict[str, type]] = {"paging": Paging, "search": Search}

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        s = env.settings
        self.paging: BoundedTable[_Pages] = BoundedTable(
            "bulk-pages", s.session_idle, s.max_sessions
        )
        self.searching: BoundedTable[_Searches] = BoundedTable(
            "bulk-search", s.session_idle, s.max_accounts
        )
        self.page_window = max(
            (float(r.window or 0) for r in self.rules if r.mode == "paging"), default=0.0
        )
        self.search_window = max(
            (float(r.window or 0) for r in self.rules if r.mode == "search"), default=0.0
        )

    @staticmethod
    def _page_key(ev: AccessEvent) -> tuple[str, str, str]:
        return (ev.tenant, ev.actor, ev.session or "")

    @staticmethod
    def _prefix(ev: AccessEvent, q: dict[str, str]) -> str:
        """The searched name, without wildcards (``AB*``, ``ab%``, ``ab...``): what the
        user typed is the prefix, the wildcard only says "and whatever follows"."""
        for k in SEARCH_KEYS:
            if k in q:
                return q[k].strip().strip(_WILDCARDS)
        return (ev.query or "").strip(_WILDCARDS)

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        if not f.bulk or f.status >= 400:
            return None
        acc = f.acc
        rules = self.rules_for(acc.tenant, acc.role)
        if not rules:
            return None
        q = f.query
        out: list[Finding] | None = None
        for rule in rules:
            p = rule.params
            finding = None
            if self.muted(rule, f, f.sid if rule.mode == "paging" else None):
                continue
            if rule.mode == "paging" and f.action != "search":
                filtered = f.filtered
                if filtered != p.filtered or (p.unfamiliar_only and not _unfamiliar(f)):
                    continue
                st = self.paging.get(self._page_key(ev))
                lo = f.t - float(rule.window or 0)
                records, pages = f.records, 1
                if st is not None:
                    for t, r, fl in reversed(st.pages):
                        if t < lo:
                            break
                        if fl == filtered:
                            records += r
                            pages += 1
                # one export of the whole base is every page at once
                whole = f.action == "export" and f.records >= p.min_records
                if records >= p.min_records and (pages >= p.min_pages or whole):
                    files = self.env.index.files.get(acc.tenant)
                    share = (
                        f" ({records / files:.0%} of the practice's {fmt(files)} files)"
                        if files
                        else ""
                    )
                    finding = Finding(
                        rule,
                        records / max(p.min_records, 1),
                        [
                            _paging_reason(
                                records, pages, filtered, float(rule.window or 0), share, p
                            )
                        ],
                        {
                            "records": records,
                            "pages": pages,
                            "filtered": filtered,
                            "practice_files": files,
                            "action": f.action,
                            "route": ev.route,
                            "unfamiliar_session": _unfamiliar(f),
                        },
                        key=f.sid,
                    )
            elif rule.mode == "search" and f.action == "search":
                st2 = self.searching.get(f.key)
                lo = f.t - float(rule.window or 0)
                prefixes = [self._prefix(ev, q)]
                records = f.records
                if st2 is not None:
                    for t, pre, r in reversed(st2.queries):
                        if t < lo:
                            break
                        prefixes.append(pre)
                        records += r
                n = len(prefixes)
                if n < p.min_searches:
                    continue
                short = sum(1 for x in prefixes if 0 < len(x) <= p.max_prefix_len)
                if short / n < p.min_short_share:
                    continue
                ordered = prefixes[::-1]
                rising = sum(1 for a, b in pairwise(ordered) if b > a)
                finding = Finding(
                    rule,
                    n / max(p.min_searches, 1),
                    [
                        f"{n} patient searches in {durations(float(rule.window or 0))}, "
                        f"{short / n:.0%} with a prefix of {p.max_prefix_len} letters or less, "
                        f"{rising} of {n - 1} in alphabetical progression; {fmt(records)} records "
                        f"returned; threshold {p.min_searches} searches"
                    ],
                    {
                        "searches": n,
                        "short_share": round(short / n, 3),
                        "distinct": len(set(prefixes)),
                        "alphabetical_steps": rising,
                        "records": records,
                    },
                )
            if finding is not None:
                if out is None:
                    out = []
                out.append(finding)
        return out

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        if not f.bulk or f.status >= 400:
            return
        q = f.query
        if f.action == "search":
            if self.search_window:
                st2 = self.searching.get(f.key)
                if st2 is None:
                    st2 = self.searching.put(f.key, _Searches(f.t))
                st2.last = f.t
                st2.queries.append((f.t, self._prefix(ev, q), f.records))
                lo = f.t - self.search_window
                while st2.queries and st2.queries[0][0] < lo:
                    st2.queries.popleft()
            return
        if self.page_window:
            key = self._page_key(ev)
            st = self.paging.get(key)
            if st is None:
                st = self.paging.put(key, _Pages(f.t))
            st.last = f.t
            st.pages.append((f.t, f.records, f.filtered))
            lo = f.t - self.page_window
            while st.pages and st.pages[0][0] < lo:
                st.pages.popleft()

    def sweep(self, now: float) -> None:
        self.paging.sweep(now)
        self.searching.sweep(now)


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(BulkDetector)
