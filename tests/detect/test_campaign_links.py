"""The campaign correlator's component search against the plain one it replaces.

The correlator finds a newly abnormal account's component by following links from
member to member. It looks for links only among the members filed under each member's
networks and (foreign members) clients, instead of comparing every pair. The
component, the order its members are reached in, why each was linked, and the first
incident reached must be exactly those of the plain search over every member, because
they make the incident and the words of its alerts.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from vigile.detect.context_index import ContextIndex
from vigile.detect.detectors.campaign import CampaignCorrelator, _Member
from vigile.detect.engine import Engine
from vigile.detect.rules import load_rules

_DAY = 86400.0
_NETS = [f"192.0.2.{i}/32" for i in range(6)]
_AGENTS = ["MedPratic-Desktop/5.1", "curl/8.5", "python-requests/2.32", "Mozilla/5.0"]
_RULES = ["unexplained-burst", "bulk-paging", "enumeration-sequential", "volume-peer"]


def _correlator() -> CampaignCorrelator:
    engine = Engine(load_rules(), ContextIndex())
    found = next(d for d in engine.detectors if d.name == "campaign")
    assert isinstance(found, CampaignCorrelator)
    return found


def _linked(a: _Member, b: _Member, p: Any) -> str | None:
    """The link between two members, as the correlator first wrote it."""
    if a.key[0] == b.key[0]:
        return None
    shared = a.nets.keys() & b.nets.keys()
    if shared:
        return "network " + sorted(shared)[0]
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


def _plain(
    members: dict[tuple[str, str], _Member], m: _Member, p: Any
) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """Breadth-first over every member, every time."""
    comp, seen, links, joined, i = [m], {m.key}, [], None, 0
    while i < len(comp):
        a = comp[i]
        i += 1
        for b in members.values():
            if b.key in seen:
                continue
            why = _linked(a, b, p)
            if why is None:
                continue
            links.append(why)
            if b.incident is not None:
                joined = joined or b.incident
            seen.add(b.key)
            comp.append(b)
    return [x.key for x in comp], links, joined


_member = st.fixed_dictionaries(
    {
        "tenant": st.integers(0, 4),
        "nets": st.dictionaries(st.sampled_from(_NETS), st.floats(0, 9 * _DAY), max_size=3),
        "agents": st.sets(st.sampled_from(_AGENTS), max_size=2),
        "foreign": st.booleans(),
        # times of day: around midnight, exactly three hours apart, anywhere
        "tod": st.one_of(
            st.sampled_from([0.0, 1800.0, 10800.0, 12600.0, 75600.0, 84600.0, 86399.0]),
            st.floats(0, 86399.99),
        ),
        "first": st.floats(0, 9 * _DAY),
        "rules": st.sets(st.sampled_from(_RULES), max_size=3),
        "incident": st.sampled_from([None, None, None, "inc-a", "inc-b"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_member, min_size=1, max_size=40),
    start=st.integers(0, 39),
    expire_at=st.one_of(st.none(), st.floats(0, 12 * _DAY)),
    on_agent=st.booleans(),
)
def test_the_component_is_the_one_a_search_of_every_member_finds(
    specs: list[dict[str, Any]], start: int, expire_at: float | None, on_agent: bool
) -> None:
    corr = _correlator()
    assert corr.rule is not None
    p = msgspec.structs.replace(corr.rule.params, link_on_agent=on_agent)
    for i, spec in enumerate(specs):
        key = (f"cab-{spec['tenant']:04d}", f"dr.{i}")
        m = _Member(key, spec["first"])
        m.nets = dict(spec["nets"])
        m.agents = {g: spec["first"] for g in sorted(spec["agents"])}
        m.foreign, m.tod, m.rules = spec["foreign"], spec["tod"], set(spec["rules"])
        m.incident, m.last = spec["incident"], max([spec["first"], *spec["nets"].values()])
        corr.signatures[key] = m  # a new member, in arrival order
        corr._enrol(m)
    if expire_at is not None:
        corr._expire(expire_at)  # forgets old networks and quiet members, and their index
    if not corr.members:
        return
    members = list(corr.members.values())
    m = members[start % len(members)]
    comp, seen, links, joined = corr._component(m, p)
    assert ([x.key for x in comp], links, joined) == _plain(corr.members, m, p)
    assert seen == {x.key for x in comp}


def test_a_checkpoint_restores_the_link_indexes() -> None:
    corr = _correlator()
    assert corr.rule is not None
    for i, net in enumerate(["192.0.2.1/32", "192.0.2.1/32", "192.0.2.2/32"]):
        key = (f"cab-{i:04d}", f"dr.{i}")
        m = _Member(key, 100.0 * i)
        m.nets, m.foreign = {net: 100.0 * i}, True
        corr.signatures[key] = m
        corr._enrol(m)
    again = _correlator()
    again.load_state(corr.state())
    assert again._by_net == corr._by_net and again._seq == corr._seq
    first = again.members[("cab-0000", "dr.0")]
    comp, _, links, _ = again._component(first, again.rule.params)  # type: ignore[union-attr]
    assert [x.key for x in comp] == [("cab-0000", "dr.0"), ("cab-0001", "dr.1")]
    assert links == ["network 192.0.2.1/32"]


def test_clients_link_members_same_hours_apart_across_midnight() -> None:
    corr = _correlator()
    assert corr.rule is not None
    p = corr.rule.params
    hours = float(p.same_hours)
    # 23:30, then exactly same_hours later (past midnight), then a second more
    tods = [84600.0, (84600.0 + hours) % 86400.0, (84600.0 + hours + 1.0) % 86400.0]
    for i, tod in enumerate(tods):
        key = (f"cab-{i:04d}", f"dr.{i}")
        m = _Member(key, 1000.0 * i)
        m.agents, m.foreign, m.tod = {"curl/8.5": 0.0}, True, tod
        m.rules = {"bulk-paging"}
        corr.signatures[key] = m
        corr._enrol(m)
    for m in corr.members.values():
        comp, _, links, joined = corr._component(m, p)
        assert ([x.key for x in comp], links, joined) == _plain(corr.members, m, p)
    first = corr.members[("cab-0000", "dr.0")]
    assert [x.key for x in corr._component(first, p)[0]][:2] == [
        ("cab-0000", "dr.0"),
        ("cab-0001", "dr.1"),
    ]
