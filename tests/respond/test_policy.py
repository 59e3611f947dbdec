"""Policies as data: validation with file:line, matching, escalation, allowlists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vigile.errors import ConfigError
from vigile.events import Alert
from vigile.respond.policy import (
    DEFAULT_POLICY,
    load_policy,
    parse_duration,
    parse_policy,
    parse_rate,
    parse_until,
)

GOOD = """\
version: 1
description: test policy
rules:
  - id: canary
    match: {detectors: ["canary*"]}
    decision: block
    scope: session
    duration: 24h
  - id: slow-medium
    match: {severity: [medium], incident: false}
    decision: throttle
    rate: 20/min
    scope: account
    duration: 30m
    escalation:
      within: 6h
      steps:
        - {after: 2, decision: block, duration: 1h}
        - {after: 4, scope: tenant, decision: block, duration: 4h}
  - id: tagged
    match: {tags: [T1530], min_severity: high}
    decision: block
    duration: 2h
    simulation: true
    continue: true
  - id: low
    match: {severity: [low]}
    decision: allow
allowlist:
  - {scope: ip, value: 10.20.0.0/16, until: 2099-12-31, reason: vendor VPN}
  - {scope: account, value: cab-1/svc.migration.1, until: "2020-01-01T00:00:00Z", reason: old}
"""


def test_when_the_shipped_policy_is_loaded_then_it_is_valid() -> None:
    policy = load_policy()
    assert policy.file == str(DEFAULT_POLICY)
    assert [r.id for r in policy.rules][:3] == ["campaign-member", "canary-block", "critical-block"]
    assert policy.by_id["campaign-member"].except_places and policy.known_place_days == 2
    assert not policy.simulation


def test_when_every_shipped_policy_has_a_document_then_none_is_missing() -> None:
    for path in DEFAULT_POLICY.parent.glob("*.yaml"):
        load_policy(path)
        assert path.with_suffix(".md").exists(), f"{path.name} needs a .md beside it"


def test_when_a_policy_is_valid_then_rules_steps_and_allowlist_are_read() -> None:
    policy = parse_policy(GOOD, "p.yaml")
    slow = policy.by_id["slow-medium"]
    assert slow.rate is not None and (slow.rate.count, slow.rate.per) == (20, 60.0)
    assert slow.within == 6 * 3600
    assert [(e.after, e.decision, e.scope) for e in slow.escalation] == [
        (2, "block", "account"),
        (4, "block", "tenant"),
    ]
    assert policy.by_id["tagged"].severities == frozenset({"high", "critical"})
    assert policy.allowlist[0].network is not None
    assert policy.allowlist[0].line == 30


def test_when_a_policy_has_many_problems_then_each_is_reported_with_its_line() -> None:
    bad = """\
version: 1
rules:
  - id: Bad_Id
    match: {severity: [urgent]}
    decision: stop
    duration: soon
  - id: t
    match: {}
    decision: throttle
    duration: 1h
  - id: e
    match: {}
    decision: block
    duration: 1h
    escalation: {steps: [{after: 1, duration: 2h}]}
  - id: t
    match: {}
    decision: allow
allowlist:
  - {scope: ip, value: not-an-ip, reason: x}
color: red
"""
    with pytest.raises(ConfigError) as caught:
        parse_policy(bad, "bad.yaml")
    text = "\n".join(caught.value.problems)
    for expected in (
        "bad.yaml:3: rules[1].id: 'Bad_Id' must be",
        "bad.yaml:4: rule Bad_Id: match.severity: 'urgent' is not one of",
        "bad.yaml:5: rule Bad_Id: decision: 'stop' is not one of allow, throttle, block",
        "bad.yaml:6: rule Bad_Id: duration: not a duration: 'soon'",
        "bad.yaml:7: rule t: a throttle needs a rate",
        "bad.yaml:15: rule e: escalation.steps[1]: after must be a whole number above 1",
        "bad.yaml:16: rules[4]: id 't' already used at line 7",
        "bad.yaml:20: allowlist[1].until: missing",
        "bad.yaml:20: allowlist[1].value: 'not-an-ip' is not an IP or network",
        "bad.yaml:21: policy: unknown key 'color'",
    ):
        assert expected in text, f"missing: {expected}\n---\n{text}"


def test_when_the_yaml_is_broken_then_the_line_is_given(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nrules:\n  - id: x\n    match: {severity: [high]\n")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert caught.value.problems[0].startswith(f"{path}:")
    assert "not valid YAML" in caught.value.problems[0]


def test_when_alerts_come_then_the_first_matching_rule_applies_unless_continue(
    alert: Callable[..., Alert],
) -> None:
    policy = parse_policy(GOOD, "p.yaml")
    assert [r.id for r in policy.match(alert(detector="canary-read", severity="critical"))] == [
        "canary"
    ]
    tagged = alert(severity="high", evidence={"tags": {"mitre": ["T1530"]}})
    assert [r.id for r in policy.match(tagged)] == ["tagged"]
    assert [r.id for r in policy.match(alert(severity="medium"))] == ["slow-medium"]
    assert policy.match(alert(severity="medium", incident="inc-1")) == []
    assert [r.id for r in policy.match(alert(severity="low"))] == ["low"]


def test_when_a_rule_repeats_then_the_escalation_step_reached_applies() -> None:
    rule = parse_policy(GOOD, "p.yaml").by_id["slow-medium"]
    assert rule.step(1).decision == "throttle"
    assert (rule.step(2).decision, rule.step(2).scope, rule.step(2).duration) == (
        "block",
        "account",
        3600.0,
    )
    assert rule.step(3).escalated_after == 2
    assert rule.step(9).scope == "tenant"


def test_when_an_allowlist_entry_expired_then_it_covers_nothing() -> None:
    policy = parse_policy(GOOD, "p.yaml")
    now = parse_until("2026-03-02T10:00:00Z")
    assert policy.allowed("ip", "10.20.3.4", now) is not None
    assert policy.allowed("ip", "10.21.3.4", now) is None
    assert policy.allowed("account", "cab-1/svc.migration.1", now) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("30m", 1800.0), ("4h", 14400.0), ("2d", 172800.0), (5, 5.0)],
)
def test_when_a_duration_is_written_then_it_is_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-5", "soon", True, "5 years"])
def test_when_a_duration_is_wrong_then_it_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_when_a_rate_is_written_then_it_is_count_per_seconds() -> None:
    assert (parse_rate("20/min").count, parse_rate("20/min").per) == (20, 60.0)
    assert parse_rate("2/s").per_second == 2.0
    with pytest.raises(ValueError):
        parse_rate("fast")
