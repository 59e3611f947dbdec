"""The decision state on SQLite and on the machine's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vigile.errors import VigileError
from vigile.events import Alert
from vigile.respond.state import (
    AllowRecord,
    DecisionRecord,
    StateStore,
    TokenRecord,
    new_id,
    open_state,
)


def _decision(**over: object) -> DecisionRecord:
    base: dict[str, object] = {
        "id": new_id("d"),
        "decision": "block",
        "scope": "account",
        "value": "cab-1/dr.a",
        "created": 1000.0,
        "until": 5000.0,
        "reason": "test",
        "origin": "policy:high-block",
        "tenant": "cab-1",
        "actor": "dr.a",
    }
    base.update(over)
    return DecisionRecord(**base)  # type: ignore[arg-type]


def test_when_opened_twice_then_migrations_run_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = open_state(url)
    assert first.schema_version() == 2
    first.close()
    again = open_state(url)
    assert again.migrate() == []
    again.close()


def test_when_decisions_change_then_each_change_gets_a_new_seq(state: StateStore) -> None:
    a = state.add_decision(_decision())
    b = state.add_decision(_decision(scope="session", value="s-9"))
    assert (a.seq, b.seq) == (1, 2)
    lifted = state.revoke_decision(a.id, at=2000.0, by="manual:ana", reason="false positive")
    assert lifted is not None and lifted.seq == 3 and lifted.revoked == 2000.0
    assert state.revoke_decision(a.id, at=2001.0, by="x", reason="again") is None
    assert [d.id for d in state.changes(0)] == [b.id, a.id]
    assert [d.id for d in state.changes(2)] == [a.id]
    assert [d.id for d in state.active_decisions(3000.0)] == [b.id]
    assert state.active_decisions(6000.0) == []
    assert state.last_seq() == 3


def test_when_decisions_are_queried_then_filters_apply(state: StateStore) -> None:
    state.add_decision(_decision(created=100.0))
    state.add_decision(_decision(created=200.0, tenant="cab-2", actor="dr.b", value="cab-2/dr.b"))
    assert len(state.decisions(tenant="cab-2")) == 1
    assert len(state.decisions(since=150.0)) == 1
    assert state.count_recent("policy:high-block", "cab-1", "dr.a", since=50.0) == 1


def test_when_an_alert_is_stored_twice_then_it_is_kept_once(
    state: StateStore, alert: Callable[..., Alert]
) -> None:
    a = alert(incident="inc-7", severity="critical")
    assert state.add_alert(a, t=10.0, received=11.0, outcome={"rules": ["x"]})
    assert not state.add_alert(a, t=10.0, received=11.0, outcome={"rules": ["x"]})
    other = alert(incident="inc-7", tenant="cab-9", actor="dr.z", severity="medium")
    state.add_alert(other, t=20.0, received=21.0, outcome={})
    items = state.alerts()
    assert [i["alert_id"] for i in items] == [other.alert_id, a.alert_id]
    assert items[1]["outcome"] == {"rules": ["x"]}
    assert state.alerts(severities=["critical"])[0]["alert_id"] == a.alert_id
    (incident,) = state.incidents()
    assert incident["incident"] == "inc-7" and incident["alerts"] == 2
    assert incident["severity"] == "critical"
    assert incident["accounts"] == ["cab-0042/dr.martin.0042", "cab-9/dr.z"]


def test_when_tokens_and_allowlist_are_stored_then_they_come_back(state: StateStore) -> None:
    state.add_token(
        TokenRecord(id="abc", name="edge", scopes=["decide"], digest="d" * 64, pepper_id="p",
                    created=1.0)
    )  # fmt: skip
    assert [t.name for t in state.tokens()] == ["edge"]
    assert state.revoke_token("edge", 2.0)
    assert state.tokens()[0].revoked == 2.0
    state.add_allow(
        AllowRecord(id="a-1", scope="ip", value="10.0.0.0/8", until=100.0, reason="vpn",
                    created=1.0, created_by="ana")
    )  # fmt: skip
    assert [a.id for a in state.allowlist(50.0)] == ["a-1"]
    assert state.allowlist(150.0) == []
    assert state.revoke_allow("a-1", 60.0)
    assert state.allowlist(50.0) == []


def test_when_manual_actions_are_audited_then_the_log_lists_them(state: StateStore) -> None:
    state.audit("ana", "block", {"decision": "d-1", "reason": "confirmed"}, 10.0)
    (entry,) = state.audit_log()
    assert entry["who"] == "ana" and entry["detail"]["reason"] == "confirmed"


def test_when_the_postgres_schema_does_not_exist_then_the_error_says_so(pg_url: str) -> None:
    with pytest.raises(VigileError, match="no existing schema"):
        open_state(pg_url.rsplit("%3D", 1)[0] + "%3Dno_such_schema_here")
