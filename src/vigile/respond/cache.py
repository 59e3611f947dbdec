"""The decisions in force, in memory: what every ``decide`` call reads, in microseconds.

:class:`DecisionCache` indexes active decisions by ``(scope, value)``; IP decisions
may name a network (``203.0.113.0/24``), kept apart and checked only when one
exists. A throttle keeps a token bucket per decision. :class:`Verdict` is the
answer: allow (200), throttle (429 with ``Retry-After``) or block (403).

Expired decisions are dropped lazily when met and by :meth:`DecisionCache.prune`;
revoked ones are removed when their revocation is applied. The cache is fed by
the state (at start, and by polling its change counter), by the service's own
decisions, and optionally by Redis (:mod:`vigile.respond.shared`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Literal

import msgspec

from vigile.respond.state import DecisionRecord

__all__ = ["ALLOW", "DecisionCache", "SessionMap", "Verdict", "account_key"]

_RANK: Final[dict[str, int]] = {"allow": 0, "throttle": 1, "block": 2}


def account_key(tenant: str, actor: str) -> str:
    """The value of an ``account`` scope: ``tenant/actor``."""
    return f"{tenant}/{actor}"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to "may this request be served?"."""

    decision: Literal["allow", "throttle", "block"]
    status: int
    retry_after: int | None = None
    reason: str = ""
    decision_id: str | None = None
    scope: str | None = None
    value: str | None = None
    #: what a decision in simulation mode would have done (``block``, ``throttle``), if any
    simulated: str | None = None
    #: the account asking, when only its session was given (set on refusals)
    tenant: str | None = None
    actor: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status < 400


ALLOW: Final = Verdict(decision="allow", status=200)


class _Bucket:
    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, capacity: int, per: float, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / per
        self.tokens = float(capacity)
        self.last = now

    def take(self, now: float) -> float:
        """Take one token; returns 0 when granted, else seconds until one is available."""
        elapsed = now - self.last
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class DecisionCache:
    """Active decisions by scope value, with the throttles' buckets (thread-safe)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], dict[str, DecisionRecord]] = {}
        self._nets: dict[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, DecisionRecord]]
        self._nets = {}
        self._buckets: dict[str, _Bucket] = {}
        self._ids: dict[str, tuple[str, str]] = {}
        #: accounts and sessions some decision is about (a cheap first test for `concerns`)
        self._flagged: dict[object, set[str]] = {}
        self._lock = threading.Lock()
        #: highest change number applied
        self.seq = 0

    def __len__(self) -> int:
        return len(self._ids)

    def apply(self, rec: DecisionRecord) -> None:
        """Add a decision, or remove it when it is revoked."""
        with self._lock:
            self.seq = max(self.seq, rec.seq)
            if rec.revoked is not None:
                self._remove(rec.id)
                return
            if rec.decision == "allow":
                return
            key = (rec.scope, rec.value)
            for mark in _marks(rec):
                self._flagged.setdefault(mark, set()).add(rec.id)
            self._by_key.setdefault(key, {})[rec.id] = rec
            self._ids[rec.id] = key
            if rec.scope == "ip" and "/" in rec.value:
                with contextlib.suppress(ValueError):
                    self._nets[rec.id] = (ipaddress.ip_network(rec.value, strict=False), rec)

    def _remove(self, decision_id: str) -> None:
        key = self._ids.pop(decision_id, None)
        if key is None:
            return
        bucket = self._by_key.get(key)
        if bucket is not None:
            rec = bucket.pop(decision_id, None)
            if rec is not None:
                for mark in _marks(rec):
                    ids = self._flagged.get(mark)
                    if ids is not None:
                        ids.discard(decision_id)
                        if not ids:
                            del self._flagged[mark]
            if not bucket:
                del self._by_key[key]
        self._nets.pop(decision_id, None)
        self._buckets.pop(decision_id, None)

    def load(self, records: list[DecisionRecord]) -> None:
        """Replace the contents with ``records`` (a resynchronisation)."""
        with self._lock:
            self._by_key.clear()
            self._nets.clear()
            self._ids.clear()
            self._flagged.clear()
            seq = self.seq
        for rec in records:
            self.apply(rec)
        with self._lock:
            self.seq = max(seq, self.seq)

    def get(self, decision_id: str) -> DecisionRecord | None:
        """The decision with this id, if the cache holds it."""
        with self._lock:
            key = self._ids.get(decision_id)
            return None if key is None else self._by_key[key].get(decision_id)

    def prune(self, now: float) -> int:
        """Drop decisions expired at ``now``; returns how many."""
        with self._lock:
            gone = [i for i, key in self._ids.items() if not self._by_key[key][i].active(now)]
            for i in gone:
                self._remove(i)
        return len(gone)

    def active(self, now: float) -> list[DecisionRecord]:
        """Every decision in force (simulated ones included)."""
        with self._lock:
            return [
                rec for recs in self._by_key.values() for rec in recs.values() if rec.active(now)
            ]

    def strongest(
        self, scope: str, value: str, now: float, simulated: bool
    ) -> DecisionRecord | None:
        """The strongest decision in force for exactly this scope value (same mode)."""
        with self._lock:
            found = self._by_key.get((scope, value))
            if not found:
                return None
            best: DecisionRecord | None = None
            for rec in found.values():
                if rec.simulated != simulated or not rec.active(now):
                    continue
                if best is None or _stronger(rec, best):
                    best = rec
            return best

    def concerns(self, tenant: str, actor: str, session: str | None, now: float) -> bool:
        """True when a decision in force is about this account or session (no side effect)."""
        flagged = self._flagged
        if not flagged:
            return False
        ids = flagged.get((tenant, actor))
        if session:
            more = flagged.get(("s", session))
            if more:
                ids = more if not ids else ids | more
        if not ids:
            return False
        with self._lock:
            for decision_id in list(ids):
                key = self._ids.get(decision_id)
                rec = self._by_key[key].get(decision_id) if key is not None else None
                if rec is not None and rec.active(now):
                    return True
        return False

    def matching(
        self,
        now: float,
        tenant: str | None = None,
        actor: str | None = None,
        session: str | None = None,
    ) -> list[DecisionRecord]:
        """Decisions in force on this account or session (no side effect: no token taken)."""
        keys: list[tuple[str, str]] = []
        if tenant and actor:
            keys.append(("account", account_key(tenant, actor)))
        if session:
            keys.append(("session", session))
        with self._lock:
            return [
                rec for key in keys for rec in self._by_key.get(key, {}).values() if rec.active(now)
            ]

    def verdict(
        self,
        now: float,
        tenant: str | None = None,
        actor: str | None = None,
        session: str | None = None,
        src_ip: str | None = None,
        spare: Callable[[DecisionRecord, str | None], bool] | None = None,
    ) -> Verdict:
        """Block beats throttle beats allow; simulated decisions only annotate an allow.

        ``spare(decision, src_ip)`` is asked about decisions made ``except_places``:
        True leaves this request out of that decision (the account's known place).
        """
        keys: list[tuple[str, str]] = []
        if tenant and actor:
            keys.append(("account", account_key(tenant, actor)))
        if session:
            keys.append(("session", session))
        if src_ip:
            keys.append(("ip", src_ip))
        if tenant:
            keys.append(("tenant", tenant))
        with self._lock:
            by_key = self._by_key
            hits: list[DecisionRecord] | None = None
            expired: list[str] | None = None
            for key in keys:
                found = by_key.get(key)
                if found:
                    for rec in found.values():
                        if rec.active(now):
                            if hits is None:
                                hits = []
                            hits.append(rec)
                        else:
                            if expired is None:
                                expired = []
                            expired.append(rec.id)
            if self._nets and src_ip:
                hits = self._net_hits(src_ip, now, hits)
            if expired:
                for i in expired:
                    self._remove(i)
            if hits is None:
                return ALLOW
            if spare is not None:
                hits = [h for h in hits if not (h.except_places and spare(h, src_ip))]
                if not hits:
                    return ALLOW
            return self._resolve(hits, now)

    def _net_hits(
        self, src_ip: str, now: float, hits: list[DecisionRecord] | None
    ) -> list[DecisionRecord] | None:
        try:
            address = ipaddress.ip_address(src_ip)
        except ValueError:
            return hits
        for network, rec in self._nets.values():
            if address.version == network.version and address in network and rec.active(now):
                if hits is None:
                    hits = []
                if rec not in hits:
                    hits.append(rec)
        return hits

    def _resolve(self, hits: list[DecisionRecord], now: float) -> Verdict:
        enforced = [r for r in hits if not r.simulated]
        shadow = max(
            (r for r in hits if r.simulated), key=lambda r: _RANK[r.decision], default=None
        )
        simulated = shadow.decision if shadow is not None else None
        blocks = [r for r in enforced if r.decision == "block"]
        if blocks:
            rec = max(blocks, key=lambda r: math.inf if r.until is None else r.until)
            retry = None if rec.until is None else max(1, math.ceil(rec.until - now))
            return Verdict(
                decision="block",
                status=403,
                retry_after=retry,
                reason=rec.reason,
                decision_id=rec.id,
                scope=rec.scope,
                value=rec.value,
                simulated=simulated,
            )
        wait = 0.0
        limiting: DecisionRecord | None = None
        for rec in enforced:
            if rec.decision != "throttle" or not rec.rate_count or not rec.rate_per:
                continue
            bucket = self._buckets.get(rec.id)
            if bucket is None:
                bucket = self._buckets[rec.id] = _Bucket(rec.rate_count, rec.rate_per, now)
            w = bucket.take(now)
            if w > wait:
                wait, limiting = w, rec
        if limiting is not None:
            return Verdict(
                decision="throttle",
                status=429,
                retry_after=max(1, math.ceil(wait)),
                reason=limiting.reason,
                decision_id=limiting.id,
                scope=limiting.scope,
                value=limiting.value,
                simulated=simulated,
            )
        if simulated is not None and shadow is not None:
            return Verdict(
                decision="allow",
                status=200,
                reason=shadow.reason,
                decision_id=shadow.id,
                scope=shadow.scope,
                value=shadow.value,
                simulated=simulated,
            )
        return ALLOW


def _marks(rec: DecisionRecord) -> list[object]:
    """What a decision is about, for :meth:`DecisionCache.concerns`."""
    marks: list[object] = []
    if rec.tenant and rec.actor:
        marks.append((rec.tenant, rec.actor))
    if rec.scope == "session":
        marks.append(("s", rec.value))
    return marks


def _stronger(a: DecisionRecord, b: DecisionRecord) -> bool:
    if _RANK[a.decision] != _RANK[b.decision]:
        return _RANK[a.decision] > _RANK[b.decision]
    ua = math.inf if a.until is None else a.until
    ub = math.inf if b.until is None else b.until
    return ua > ub


class SessionMap:
    """Which account a session belongs to, learnt from events (bounded, least recent out).

    An enforcer that only knows the session (nginx reading it from a header) gets
    the account's decisions too.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._map: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._map)

    def remember(self, session: str, tenant: str, actor: str) -> None:
        old = self._map.get(session)
        if old is not None and old[0] == tenant and old[1] == actor:
            return  # known: least recently *learnt* goes first, which is close enough
        with self._lock:
            m = self._map
            m[session] = (tenant, actor)
            if len(m) > self.capacity:
                m.popitem(last=False)

    def account(self, session: str) -> tuple[str, str] | None:
        return self._map.get(session)
