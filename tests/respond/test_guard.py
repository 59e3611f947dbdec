"""The guard: alerts → policy → decisions → verdicts, with state, Redis and replicas."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from tests.helpers import event
from tests.respond.conftest import Clock
from vigile.events import AccessEvent, Alert
from vigile.respond.cache import DecisionCache
from vigile.respond.guard import Guard
from vigile.respond.policy import load_policy, parse_policy
from vigile.respond.shared import RedisShared
from vigile.respond.state import DecisionRecord, new_id


def _ev(**over: object) -> AccessEvent:
    return msgspec.convert(event(**over), AccessEvent)


def test_when_no_decision_exists_then_everyone_is_allowed(guard: Guard) -> None:
    v = guard.decide("cab-0042", "dr.martin.0042", "s-1", "82.64.12.7")
    assert (v.decision, v.status) == ("allow", 200)


def test_when_a_high_alert_arrives_then_its_session_is_blocked_not_the_doctor(
    guard: Guard, alert: Callable[..., Alert]
) -> None:
    outcome = guard.handle_alert(alert(severity="high", session="s-attacker"))
    (rec,) = outcome.decisions
    assert (rec.decision, rec.scope, rec.value) == ("block", "session", "s-attacker")
    assert rec.until == pytest.approx(guard.clock() + 4 * 3600)
    blocked = guard.decide("cab-0042", "dr.martin.0042", "s-attacker", "1.2.3.4")
    assert (blocked.status, blocked.decision_id) == (403, rec.id)
    assert blocked.retry_after == 4 * 3600
    assert guard.decide("cab-0042", "dr.martin.0042", "s-office", "82.64.12.7").allowed


def test_when_the_account_is_flagged_again_then_the_account_is_blocked(
    guard: Guard, alert: Callable[..., Alert], clock: Clock
) -> None:
    guard.handle_alert(alert(severity="high", session="s-a"))
    clock.advance(600)
    second = guard.handle_alert(alert(severity="high", session="s-b"))
    (rec,) = second.decisions
    assert (rec.scope, rec.value) == ("account", "cab-0042/dr.martin.0042")
    assert "repeat 2+" in rec.reason
    assert not guard.decide("cab-0042", "dr.martin.0042", "s-new", "5.6.7.8").allowed


def test_when_a_decision_already_covers_an_alert_then_none_is_added(
    guard: Guard, alert: Callable[..., Alert]
) -> None:
    guard.handle_alert(alert(severity="critical", detector="canary-read", session="s-1"))
    again = guard.handle_alert(alert(severity="medium", session="s-1"))
    assert again.decisions == [] and len(again.covered_by) == 1


def test_when_a_medium_alert_arrives_then_the_session_is_throttled(
    guard: Guard, alert: Callable[..., Alert], clock: Clock
) -> None:
    guard.handle_alert(alert(severity="medium", session="s-busy"))
    answers = [guard.decide(session="s-busy").status for _ in range(31)]
    assert answers[:30] == [200] * 30 and answers[30] == 429
    refused = guard.decide(session="s-busy")
    assert refused.retry_after == 2  # one request every 2 s at 30/min
    clock.advance(2.0)
    assert guard.decide(session="s-busy").allowed


def test_when_the_policy_is_in_simulation_then_nothing_is_refused(
    make_guard: Callable[..., Guard], alert: Callable[..., Alert]
) -> None:
    policy = load_policy()
    policy.simulation = True
    g = make_guard(policy=policy)
    (rec,) = g.handle_alert(alert(severity="critical")).decisions
    assert rec.simulated
    v = g.decide("cab-0042", "dr.martin.0042", "s-1", None)
    assert v.allowed and v.simulated == "block"
    assert g.stats.would_have == 1


def test_when_a_detection_rule_runs_in_simulation_then_its_decisions_are_simulated(
    guard: Guard, alert: Callable[..., Alert]
) -> None:
    (rec,) = guard.handle_alert(alert(evidence={"simulation": True})).decisions
    assert rec.simulated
    assert guard.decide(session="s-1").allowed


def test_when_an_identity_is_allowlisted_then_no_policy_decision_is_made(
    make_guard: Callable[..., Guard], alert: Callable[..., Alert]
) -> None:
    policy = parse_policy(
        """
version: 1
rules:
  - {id: all, match: {}, decision: block, scope: ip, duration: 1h}
allowlist:
  - {scope: account, value: cab-1/svc.migration.1, until: 2099-01-01, reason: planned migration}
""",
        "p.yaml",
    )
    g = make_guard(policy=policy)
    out = g.handle_alert(alert(tenant="cab-1", actor="svc.migration.1", src_ip="9.9.9.9"))
    assert out.decisions == [] and out.allowlisted is not None
    assert "planned migration" in out.allowlisted and "p.yaml:" in out.allowlisted
    # an IP block made for someone else does not refuse the allowlisted account at that IP
    g.handle_alert(alert(tenant="cab-1", actor="dr.x", src_ip="9.9.9.9"))
    assert not g.decide("cab-1", "dr.x", None, "9.9.9.9").allowed
    assert g.decide("cab-1", "svc.migration.1", None, "9.9.9.9").allowed


def test_when_an_analyst_unblocks_with_allow_for_then_the_same_alert_does_not_block_again(
    guard: Guard, alert: Callable[..., Alert], clock: Clock
) -> None:
    guard.block("account", "cab-0042/dr.martin.0042", reason="confirmed theft", by="ana")
    assert not guard.decide("cab-0042", "dr.martin.0042").allowed
    lifted = guard.unblock(
        scope="account", value="cab-0042/dr.martin.0042", reason="was the locum", by="ana",
        allow_for=3600,
    )  # fmt: skip
    assert len(lifted) == 1 and lifted[0].revoke_reason == "was the locum"
    assert guard.decide("cab-0042", "dr.martin.0042").allowed
    out = guard.handle_alert(alert(severity="high"))
    assert out.decisions == [] and "was the locum" in (out.allowlisted or "")
    clock.advance(3601)
    assert guard.handle_alert(alert(severity="high")).decisions
    assert guard.state is not None
    assert [e["action"] for e in guard.state.audit_log()] == ["unblock", "allow", "block"]


def test_when_a_manual_decision_is_made_then_an_allowlist_does_not_stop_it(
    make_guard: Callable[..., Guard],
) -> None:
    policy = parse_policy(
        "version: 1\nrules: [{id: x, match: {}, decision: allow}]\nallowlist:\n"
        "  - {scope: ip, value: 10.0.0.0/8, until: 2099-01-01, reason: vpn}\n",
        "p.yaml",
    )
    g = make_guard(policy=policy)
    g.block("ip", "10.1.2.3", reason="seen scraping", by="ana", duration=60)
    assert g.decide(src_ip="10.1.2.3").status == 403


def test_when_a_network_is_blocked_then_every_address_in_it_is(guard: Guard) -> None:
    guard.block("ip", "203.0.113.0/24", reason="botnet", by="ana", duration=60)
    assert guard.decide(src_ip="203.0.113.77").status == 403
    assert guard.decide(src_ip="203.0.114.1").allowed
    assert guard.decide(src_ip="2001:db8::1").allowed


def test_when_only_the_session_is_known_then_account_decisions_still_apply(
    guard: Guard,
) -> None:
    guard.observe(_ev(session="s-77"))
    guard.block("account", "cab-0042/dr.martin.0042", reason="stolen", by="ana")
    assert guard.decide(session="s-77").status == 403
    assert guard.decide(session="s-unknown").allowed


def test_when_a_decision_expires_then_it_stops_applying(guard: Guard, clock: Clock) -> None:
    guard.block("session", "s-1", reason="x", by="ana", duration=60)
    assert not guard.decide(session="s-1").allowed
    clock.advance(61)
    assert guard.decide(session="s-1").allowed
    assert len(guard.cache) == 0


class _Detector:
    """An AlertSource for the test: alerts on every read of patient P666."""

    def __init__(self, make: Callable[..., Alert]) -> None:
        self.make = make

    def process(self, ev: AccessEvent) -> Sequence[Alert] | None:
        if "P666" in ev.patient_ids:
            return [self.make(severity="critical", detector="canary-read", session=ev.session,
                              tenant=ev.tenant, actor=ev.actor)]  # fmt: skip
        return None


def test_when_events_are_processed_then_detection_alerts_become_decisions(
    make_guard: Callable[..., Guard], alert: Callable[..., Alert]
) -> None:
    g = make_guard(detector=_Detector(alert))
    assert g.process(_ev(patient_ids=["P1"])) == []
    (outcome,) = g.process(_ev(patient_ids=["P666"], session="s-9"))
    assert outcome.decisions[0].value == "s-9"
    assert g.decide(session="s-9").status == 403
    assert g.stats.events == 2 and g.stats.alerts == 1


def test_when_the_guard_restarts_then_decisions_and_repeats_survive(
    tmp_path: Path, clock: Clock, alert: Callable[..., Alert], make_guard: Callable[..., Guard]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = make_guard(url)
    first.handle_alert(alert(severity="high", session="s-a"))
    clock.advance(60)
    second = make_guard(url)
    assert second.decide(session="s-a").status == 403
    (rec,) = second.handle_alert(alert(severity="high", session="s-b")).decisions
    assert rec.scope == "account"  # the repeat before the restart counted


def test_when_two_replicas_share_postgres_then_each_sees_the_others_decisions(
    pg_url: str, make_guard: Callable[..., Guard]
) -> None:
    a = make_guard(pg_url)
    b = make_guard(pg_url)
    rec = a.block("account", "cab-1/dr.a", reason="stolen", by="ana", duration=3600)
    assert b.decide("cab-1", "dr.a").allowed
    assert b.sync() == 1
    assert b.decide("cab-1", "dr.a").decision_id == rec.id
    a.unblock(decision_id=rec.id, reason="done", by="ana")
    b.sync()
    assert b.decide("cab-1", "dr.a").allowed


def test_when_servers_share_redis_then_a_block_reaches_the_other_within_a_second(
    redis_url: str, make_guard: Callable[..., Guard]
) -> None:
    prefix = f"vigile-test-{new_id('r')}"
    writer = make_guard(shared=RedisShared(redis_url, prefix=prefix), clock=time.time)
    # an application server: no state of its own, decisions from Redis only
    reader = make_guard(None, shared=RedisShared(redis_url, prefix=prefix), clock=time.time)
    try:
        time.sleep(0.2)  # the follower subscribes
        rec = writer.block("session", "s-red", reason="stolen token", by="ana", duration=60)
        deadline = time.monotonic() + 2.0
        while reader.decide(session="s-red").allowed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.decide(session="s-red").decision_id == rec.id
        writer.unblock(decision_id=rec.id, reason="done", by="ana")
        deadline = time.monotonic() + 2.0
        while not reader.decide(session="s-red").allowed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.decide(session="s-red").allowed
        # a server that starts later loads what is in force from the hash
        writer.block("session", "s-late", reason="x", by="ana", duration=60)
        late = RedisShared(redis_url, prefix=prefix)
        assert [r.value for r in late.snapshot(time.time())] == ["s-late"]
        late.close()
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(f"{prefix}:decisions")
        client.close()


def test_when_the_cache_resynchronises_then_revoked_decisions_are_gone() -> None:
    cache = DecisionCache()
    rec = DecisionRecord(id=new_id("d"), decision="block", scope="session", value="s",
                         created=0.0, until=None, reason="r", origin="manual:x", seq=4)  # fmt: skip
    cache.apply(rec)
    assert cache.verdict(1.0, session="s").status == 403
    cache.load([])
    assert cache.verdict(1.0, session="s").allowed and cache.seq == 4


def test_when_an_account_is_blocked_except_known_places_then_its_office_still_works(
    make_guard: Callable[..., Guard], alert: Callable[..., Alert]
) -> None:
    policy = parse_policy(
        """
version: 1
known_places: {min_days: 2}
rules:
  - {id: stolen, match: {}, decision: block, scope: account, duration: 4h,
     except_known_places: true}
""",
        "p.yaml",
    )
    g = make_guard(policy=policy)
    for day in ("2026-02-26", "2026-02-27"):  # the office, two days in a row
        g.process(_ev(ts=f"{day}T09:00:00+01:00", src_ip="82.64.12.7"))
    g.process(_ev(ts="2026-03-02T09:00:00+01:00", src_ip="90.1.2.3"))  # home, one day only
    assert g.places.networks("cab-0042", "dr.martin.0042") == {
        "82.64.12.0/24": 2,
        "90.1.2.0/24": 1,
    }
    (rec,) = g.handle_alert(alert(src_ip="185.220.101.4")).decisions
    assert rec.scope == "account" and rec.except_places
    assert g.decide("cab-0042", "dr.martin.0042", "s-x", "82.64.12.99").allowed  # the office
    assert g.decide("cab-0042", "dr.martin.0042", "s-x", "90.1.2.3").status == 403
    assert g.decide("cab-0042", "dr.martin.0042", "s-x", "185.220.101.4").status == 403
    # while the account is under a decision, nothing it does makes a place known
    for day in ("2026-03-03", "2026-03-04"):
        g.process(_ev(ts=f"{day}T09:00:00+01:00", src_ip="185.220.101.4"))
    assert "185.220.101.0/24" not in g.places.networks("cab-0042", "dr.martin.0042")


def test_when_an_alert_names_no_session_then_the_account_is_blocked_except_known_places(
    guard: Guard, alert: Callable[..., Alert]
) -> None:
    (rec,) = guard.handle_alert(alert(session=None, detector="campaign")).decisions
    assert (rec.scope, rec.except_places) == ("account", True)
    assert "except its known places" in rec.reason


def test_when_events_of_a_throttled_session_are_processed_then_no_token_is_taken(
    guard: Guard,
) -> None:
    guard.block("session", "s-1", reason="paging", by="ana", decision="throttle", rate=(2, 60.0))
    for _ in range(5):
        guard.process(_ev(session="s-1"))
    assert [guard.decide(session="s-1").status for _ in range(3)] == [200, 200, 429]
