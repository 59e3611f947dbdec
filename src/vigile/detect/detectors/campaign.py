"""Campaigns: many accounts across practices turning abnormal together."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any, ClassVar, Final

import msgspec
import xxhash

from vigile.detect.detectors.base import DetectorBase, Env, Finding, durations, register
from vigile.detect.facts import Facts
from vigile.detect.rules import SEVERITY_RANK, Rule, Seconds
from vigile.events import AccessEvent, Alert, event_key


class _Member:
    __slots__ = ("agents", "first", "foreign", "incident", "key", "last", "nets", "rules", "tod")

    def __init__(self, key: tuple[str, str] = ("", ""), t: float = 0.0) -> None:
        self.key = key
        self.first = t
        self.last = t
        self.nets: dict[str, float] = {}
        self.agents: dict[str, float] = {}
        self.foreign = False
        self.incident: str | None = None
        #: the rules that fired on the account (its modus operandi)
        self.rules: set[str] = set()
        #: local time of day (seconds) when it turned abnormal
        self.tod = 0.0


class _Arrival:
    """An account's first request from a new network with a new client."""

    __slots__ = ("event", "ip", "session", "t")

    def __init__(
        self, t: float = 0.0, session: str | None = None, ip: str | None = None, event: str = ""
    ) -> None:
        self.t = t
        self.session = session
        self.ip = ip
        #: the arrival's event (its id, or its key)
        self.event = event


def _first(item: tuple[int, _Member, str]) -> int:
    return item[0]


_CLOCK: Final = 86400.0
#: after every (time of day, order, member) of the same time of day
_LAST: Final = 1 << 62


def _clock_spans(
    tod: float, hours: float, entries: list[tuple[float, int, _Member]]
) -> list[tuple[int, int]]:
    """The slices of ``entries`` (sorted by time of day) within ``hours`` of ``tod`` around
    the clock, a second wider each side (a superset: the link itself is checked after),
    last slice first so that each can be replaced in turn; everything when a time of day
    is off the clock."""
    n = len(entries)
    if not entries or not (0.0 <= tod < _CLOCK) or entries[0][0] < 0.0 or entries[-1][0] >= _CLOCK:
        return [(0, n)]
    lo, hi = tod - hours - 1.0, tod + hours + 1.0
    if hi - lo >= _CLOCK:
        return [(0, n)]
    spans = []
    if hi > _CLOCK:  # wraps past midnight: [0, hi - day] too
        spans.append((0, bisect_right(entries, (hi - _CLOCK, _LAST))))
    spans.append((bisect_left(entries, (lo,)), bisect_right(entries, (hi, _LAST))))
    if lo < 0.0:  # wraps before midnight: [lo + day, day) too
        spans.append((bisect_left(entries, (lo + _CLOCK,)), n))
    return spans[::-1]


def _not_reached(
    entries: list[tuple[float, int, _Member]],
    seen: set[tuple[str, str]],
    candidates: dict[int, _Member],
) -> list[tuple[float, int, _Member]]:
    """The entries whose member is not in ``seen``, each also added to ``candidates``
    (by its order in ``members``)."""
    kept = []
    for e in entries:
        b = e[2]
        if b.key not in seen:
            kept.append(e)
            candidates[e[1]] = b
    return kept


def _unfile(index: dict[str, set[tuple[str, str]]], name: str, key: tuple[str, str]) -> None:
    """Take ``key`` out of ``index[name]`` (and the entry out when it empties)."""
    keys = index.get(name)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[name]


def _enlist(incident: dict[str, Any], key: tuple[str, str]) -> None:
    """Add an account to an incident's members (once)."""
    if list(key) not in incident["members"]:
        incident["members"].append(list(key))


class CampaignParams(msgspec.Struct, forbid_unknown_fields=True):
    min_severity: str
    min_accounts: int
    min_tenants: int
    link_within: Seconds
    link_on_agent: bool
    min_similarity: float
    #: turned abnormal at times of day at most this far apart ("the same hours")
    same_hours: Seconds
    #: rules that say where or how an account connects, not what it does: left out of
    #: the modus operandi compared between accounts
    context_rules: list[str]

    def check(self) -> list[str]:
        if self.min_severity not in SEVERITY_RANK:
            return [f"min_severity must be one of {', '.join(SEVERITY_RANK)}"]
        return []


class InfrastructureParams(msgspec.Struct, forbid_unknown_fields=True):
    min_accounts: int
    min_tenants: int

    def check(self) -> list[str]:
        if self.min_accounts < 2 or self.min_tenants < 2:
            return ["min_accounts and min_tenants must be 2 or more"]
        return []


class CampaignCorrelator(DetectorBase):
    """Groups abnormal accounts of several practices into one incident.

    An account *turns abnormal* when it gets an alert at ``min_severity`` or above
    (any rule but this one). Two abnormal accounts of different practices are
    *linked* when they share a network, or when both act from networks foreign to
    their practices with the same client (user agent), turned abnormal within
    ``link_within`` of each other and in the same hours of the day (``same_hours``),
    and show the same modus operandi: the rules that fired on them (context rules
    such as "new network" left aside) overlap by ``min_similarity`` (Jaccard) at
    least. A connected group of at least ``min_accounts`` accounts across
    ``min_tenants`` practices is a
    campaign: every member gets an alert carrying the incident id, and so does every
    alert of a member from then on (and every account that links to it later).

    The ``infrastructure`` mode groups accounts before any is abnormal on its own: an
    account *arrives* when it acts from a network and with a client both new to it (the
    facts of the event that raised ``new-network`` or ``new-agent``); accounts of
    ``min_tenants`` practices arriving on the same network with the same client within
    the rule's window form an incident (a medium alert each), which later arrivals and
    linked abnormal accounts join.
    """

    name: ClassVar[str] = "campaign"
    actions: ClassVar[frozenset[str] | None] = frozenset()
    needs_window: ClassVar[bool] = True
    modes: ClassVar[tuple[str, ...] | None] = ("abnormal", "infrastructure")
    mode_params: ClassVar[dict[str, type]] = {
        "abnormal": CampaignParams,
        "infrastructure": InfrastructureParams,
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        "members",
        "incidents",
        "signatures",
        "arrivals",
        "arrived",
    )

    def __init__(self, rules: list[Rule], env: Env) -> None:
        super().__init__(rules, env)
        self.rule = next((r for r in self.rules if r.mode == "abnormal"), None)
        self.infra = next((r for r in self.rules if r.mode == "infrastructure"), None)
        self.window = float(self.rule.window or 86400.0) if self.rule else 86400.0
        self.members: dict[tuple[str, str], _Member] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        #: every account with findings in the window: its signals, foreign networks, clients
        self.signatures: dict[tuple[str, str], _Member] = {}
        #: (network, client) → the accounts that arrived there with both new to them,
        #: within the window: account → its arrival
        self.arrivals: dict[tuple[str, str], dict[tuple[str, str], _Arrival]] = {}
        #: accounts grouped by their arrival: account → (incident, time of the arrival)
        self.arrived: dict[tuple[str, str], tuple[str, float]] = {}
        self.context = frozenset(self.rule.params.context_rules) if self.rule else frozenset()
        # where links can be found (derived from ``members``, rebuilt on load_state): the
        # members that acted from each network, and the foreign members that used each
        # client; and each member's place in ``members`` (the order the search keeps)
        self._by_net: dict[str, set[tuple[str, str]]] = {}
        self._by_agent: dict[str, set[tuple[str, str]]] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._next = 0

    def observe(
        self, finding: Finding, alert: Alert | None, ev: AccessEvent, f: Facts
    ) -> list[Finding] | None:
        if finding.rule.detector == self.name:
            return None
        key = (finding.tenant or ev.tenant, finding.actor or ev.actor)
        same = key == f.key
        found: list[Finding] | None = None
        if (
            same
            and self.infra is not None
            and f.net_new_acc
            and f.ua_new
            and ev.status < 400
            and ev.user_agent
            and f.net
        ):
            found = self._arrived(key, f, ev, ev.user_agent)
        more = self._abnormal(key, same, finding, alert, ev, f)
        if more:
            found = more if found is None else found + more
        return found

    def _abnormal(
        self,
        key: tuple[str, str],
        same: bool,
        finding: Finding,
        alert: Alert | None,
        ev: AccessEvent,
        f: Facts,
    ) -> list[Finding] | None:
        rule = self.rule
        if rule is None:
            return None
        m = self.members.get(key)
        p = rule.params
        sig = self.signatures.get(key)
        if sig is None:
            sig = self.signatures[key] = _Member(key, f.t)
        sig.last = f.t
        if finding.rule.id not in self.context:
            sig.rules.add(finding.rule.id)
        if same:
            foreign = bool(f.net) and f.net not in f.ten.nets
            if f.net and foreign:
                sig.nets[f.net] = f.t
            if ev.user_agent:
                sig.agents[ev.user_agent] = f.t
            sig.foreign = sig.foreign or foreign
            if m is sig:
                self._index(m)
        if m is not None:
            m.last = f.t
        if alert is None or SEVERITY_RANK[alert.severity] < SEVERITY_RANK[p.min_severity]:
            return None
        if m is None:
            m = sig
            self._enrol(m)
            m.first = f.t
            ts = ev.ts
            m.tod = ts.hour * 3600.0 + ts.minute * 60.0 + ts.second
            self._expire(f.t)
        if m.incident is not None:
            return None
        return self._group(m, f, ev)

    def _linked(self, a: _Member, b: _Member, p: Any) -> str | None:
        if a.key[0] == b.key[0]:
            return None
        shared = [n for n in a.nets if n in b.nets]
        if shared:
            return "network " + min(shared)
        gap = abs(a.tod - b.tod)
        same_hours = min(gap, 86400.0 - gap) <= p.same_hours
        if (
            p.link_on_agent
            and a.foreign
            and b.foreign
            and same_hours
            and abs(a.first - b.first) <= p.link_within
        ):
            agents = a.agents.keys() & b.agents.keys()
            union = a.rules | b.rules
            similar = len(a.rules & b.rules) / len(union) if union else 0.0
            if agents and similar >= p.min_similarity:
                return f"client {sorted(agents)[0]} from foreign networks, same signals"
        return None

    def _group(self, m: _Member, f: Facts, ev: AccessEvent) -> list[Finding] | None:
        rule = self.rule
        assert rule is not None
        p = rule.params
        comp, seen, links, joined = self._component(m, p)
        tenants = {x.key[0] for x in comp}
        if joined is None and (len(comp) < p.min_accounts or len(tenants) < p.min_tenants):
            return None
        if joined is None:
            # the same incident as an infrastructure group of one of the accounts, if any
            joined = next((g[0] for x in comp if (g := self.arrived.get(x.key))), None)
        if joined is None:
            joined = self._open(seen, f.t)
        inc = self.incidents.setdefault(joined, {"formed": f.t, "members": []})
        new = [x for x in comp if x.incident is None]
        out = []
        size = len([x for x in self.members.values() if x.incident == joined]) + len(new)
        all_tenants = {x.key[0] for x in self.members.values() if x.incident == joined} | tenants
        reason = (
            f"one of {size} accounts in {len(all_tenants)} practices that turned abnormal within "
            f"{durations(self.window)} and are linked by "
            f"{', '.join(sorted(set(links))[:3]) or 'shared traits'}: a coordinated campaign"
        )
        for x in new:
            x.incident = joined
            _enlist(inc, x.key)
            out.append(
                Finding(
                    rule,
                    float(size),
                    [reason],
                    {
                        "incident": joined,
                        "accounts": size,
                        "tenants": len(all_tenants),
                        "links": sorted(set(links))[:10],
                        "abnormal_since": round(f.t - x.first, 1),
                    },
                    tenant=x.key[0],
                    actor=x.key[1],
                )
            )
        return out

    def _component(
        self, m: _Member, p: Any
    ) -> tuple[list[_Member], set[tuple[str, str]], list[str], str | None]:
        """The component of ``m`` (breadth-first over links): its members in the order
        reached, their keys, why each was linked, and the first incident reached. From
        each member, the members linked to it and not reached yet come in ``members``
        order."""
        comp = [m]
        seen = {m.key}
        links: list[str] = []
        i = 0
        joined: str | None = None
        unseen: dict[tuple[bool, str], list[tuple[float, int, _Member]]] = {}
        while i < len(comp):
            a = comp[i]
            i += 1
            for b, why in self._links_from(a, p, seen, unseen):
                links.append(why)
                if b.incident is not None:
                    joined = joined or b.incident
                seen.add(b.key)
                comp.append(b)
        return comp, seen, links, joined

    def _links_from(
        self,
        a: _Member,
        p: Any,
        seen: set[tuple[str, str]],
        unseen: dict[tuple[bool, str], list[tuple[float, int, _Member]]],
    ) -> list[tuple[_Member, str]]:
        """The members not in ``seen`` linked to ``a``, in ``members`` order, with why.

        A link needs a shared network, or (both foreign) a shared client used at the same
        hours of the day: only the members filed under ``a``'s networks, and those filed
        under its clients who turned abnormal within ``same_hours`` of it on the clock,
        can be linked to it. Within one search, ``unseen`` keeps each index entry's
        members not reached yet (``(time of day, order, member)``, by time of day), so
        that the members already in the component are passed over once, not once per
        member of the component (a campaign of 1,500 accounts shares one client)."""
        candidates: dict[int, _Member] = {}
        for n in a.nets:
            entries = self._unseen(unseen, False, n, seen)
            entries[:] = _not_reached(entries, seen, candidates)
        if p.link_on_agent and a.foreign:
            hours = float(p.same_hours)
            for g in a.agents:
                entries = self._unseen(unseen, True, g, seen)
                for lo, hi in _clock_spans(a.tod, hours, entries):
                    entries[lo:hi] = _not_reached(entries[lo:hi], seen, candidates)
        found: list[tuple[int, _Member, str]] = []
        for seq, b in candidates.items():
            why = self._linked(a, b, p)
            if why is not None:
                found.append((seq, b, why))
        found.sort(key=_first)
        return [(b, why) for _, b, why in found]

    def _unseen(
        self,
        unseen: dict[tuple[bool, str], list[tuple[float, int, _Member]]],
        agent: bool,
        name: str,
        seen: set[tuple[str, str]],
    ) -> list[tuple[float, int, _Member]]:
        """The members filed under a network (``agent`` False) or a client, not reached
        yet in this search, by time of day (built on first use)."""
        entries = unseen.get((agent, name))
        if entries is None:
            members, order = self.members, self._seq
            keys = (self._by_agent if agent else self._by_net).get(name, ())
            entries = unseen[(agent, name)] = sorted(
                (b.tod, order[k], b)
                for k in keys
                if k not in seen and (b := members.get(k)) is not None
            )
        return entries

    def _enrol(self, m: _Member) -> None:
        """Make an account a member: last in ``members`` order, filed in the indexes."""
        self.members[m.key] = m
        self._seq[m.key] = self._next
        self._next += 1
        self._index(m)

    def _index(self, m: _Member) -> None:
        """File a member under its networks, and under its clients once it is foreign."""
        for n in m.nets:
            self._by_net.setdefault(n, set()).add(m.key)
        if m.foreign:
            for g in m.agents:
                self._by_agent.setdefault(g, set()).add(m.key)

    def _unindex(self, m: _Member) -> None:
        """Take a member out of the link indexes (it left ``members``)."""
        for n in m.nets:
            _unfile(self._by_net, n, m.key)
        for g in m.agents:
            _unfile(self._by_agent, g, m.key)
        self._seq.pop(m.key, None)

    def _drop_member(self, key: tuple[str, str]) -> None:
        self._unindex(self.members.pop(key))

    def load_state(self, state: Any) -> None:
        super().load_state(state)
        self._by_net, self._by_agent, self._seq = {}, {}, {}
        for i, (key, m) in enumerate(self.members.items()):
            self._seq[key] = i
            self._index(m)
        self._next = len(self.members)

    def _open(self, keys: Iterable[tuple[str, str]], t: float, rule_id: str | None = None) -> str:
        """A new incident of these accounts at ``t``: its id (from the accounts and the
        time, so a replay gives the same ids)."""
        ident = "inc-" + xxhash.xxh3_64_hexdigest(
            ("|".join(sorted(f"{k[0]}/{k[1]}" for k in keys)) + f"|{t:.3f}").encode()
        )
        inc: dict[str, Any] = {"formed": t, "members": []}
        if rule_id is not None:
            inc["rule"] = rule_id
        self.incidents[ident] = inc
        return ident

    def _arrived(
        self, key: tuple[str, str], f: Facts, ev: AccessEvent, ua: str
    ) -> list[Finding] | None:
        """An account is served from a network and with a client both new to it (a refused
        login is not an arrival: spraying is the stuffing rules' business): group it with
        the other practices' accounts that arrived on the same network with the same new
        client within the rule's window."""
        rule = self.infra
        assert rule is not None
        p = rule.params
        place = (f.net, ua)
        here = self.arrivals.get(place)
        if here is None:
            here = self.arrivals[place] = {}
        lo = f.t - float(rule.window or 0.0)
        for k in [k for k, a in here.items() if a.t < lo]:
            del here[k]
        if key in here:
            return None  # already counted (a later event of the same arrival)
        here[key] = _Arrival(f.t, ev.session, ev.src_ip, event_key(ev))
        joined = self._incident_of(key)
        if joined is not None:
            return None  # already in an incident
        for k in here:
            joined = self._incident_of(k)
            if joined is not None:
                break
        tenants = {k[0] for k in here}
        if joined is None and (len(here) < p.min_accounts or len(tenants) < p.min_tenants):
            return None
        if joined is None:
            joined = self._open(here, f.t, rule.id)
        inc = self.incidents.setdefault(joined, {"formed": f.t, "members": [], "rule": rule.id})
        new = [k for k in here if self._incident_of(k) is None]
        span = f.t - min(a.t for a in here.values())
        size, n_tenants = len(here), len(tenants)
        reason = (
            f"one of {size} accounts of {n_tenants} practices that arrived within "
            f"{durations(span)} on network {f.net} with client {ua[:200]}, both new to each of "
            "them: one attack infrastructure using several practices' credentials"
        )
        out = []
        for k in sorted(new):
            a = here[k]
            self.arrived[k] = (joined, a.t)
            _enlist(inc, k)
            out.append(
                Finding(
                    rule,
                    float(size),
                    [reason],
                    {
                        "incident": joined,
                        "accounts": size,
                        "tenants": n_tenants,
                        "network": f.net,
                        "client": ua,
                        "arrived_within": round(span, 1),
                    },
                    tenant=k[0],
                    actor=k[1],
                    event_ids=[a.event],
                    place=None if k == key else (a.session, a.ip),
                )
            )
        return out

    def _incident_of(self, key: tuple[str, str]) -> str | None:
        m = self.members.get(key)
        if m is not None and m.incident is not None:
            return m.incident
        g = self.arrived.get(key)
        return g[0] if g is not None else None

    def incident_for(self, tenant: str, actor: str) -> str | None:
        return self._incident_of((tenant, actor))

    def _expire(self, now: float) -> None:
        lo = now - self.window
        for k in [k for k, x in self.members.items() if x.last < lo and x.incident is None]:
            self._drop_member(k)
        for k in [k for k, x in self.signatures.items() if x.last < lo and k not in self.members]:
            del self.signatures[k]
        for x in self.members.values():
            for n in [n for n, t in x.nets.items() if t < lo]:
                del x.nets[n]
                _unfile(self._by_net, n, x.key)

    def sweep(self, now: float) -> None:
        self._expire(now)
        if self.infra is not None:
            lo = now - float(self.infra.window or 0.0)
            for place in [
                pl for pl, here in self.arrivals.items() if all(a.t < lo for a in here.values())
            ]:
                del self.arrivals[place]
        # incident members are kept while active; forget them after a quiet window ×7
        lo = now - 7 * self.window
        for k in [k for k, x in self.members.items() if x.last < lo]:
            self._drop_member(k)
        for k in [k for k, g in self.arrived.items() if g[1] < lo]:
            del self.arrived[k]


# a call, not a class decorator: a decorated class cannot be compiled by mypyc
register(CampaignCorrelator)
