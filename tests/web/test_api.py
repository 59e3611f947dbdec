"""`vigile serve` over real HTTP: tokens, ingest, decisions, manual actions, the stream."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import orjson
import pytest

from tests.helpers import event
from tests.web.conftest import Running
from vigile.events import AccessEvent, Alert
from vigile.respond.state import open_state

ENDPOINTS = [
    ("POST", "/v1/events"),
    ("POST", "/v1/alerts"),
    ("GET", "/v1/decide"),
    ("GET", "/v1/decisions/stream"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/al-1"),
    ("GET", "/v1/incidents"),
    ("GET", "/v1/incidents/inc-1"),
    ("GET", "/v1/decisions"),
    ("GET", "/v1/decisions/d-1"),
    ("POST", "/v1/decisions"),
    ("POST", "/v1/decisions/d-1/revoke"),
    ("POST", "/v1/unblock"),
    ("GET", "/v1/allowlist"),
    ("POST", "/v1/allowlist"),
    ("DELETE", "/v1/allowlist/a-1"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/status"),
    ("GET", "/metrics"),
]


def _alert_line(**over: object) -> bytes:
    base: dict[str, object] = {
        "alert_id": "al-1",
        "ts": "2026-03-02T09:14:03.512+01:00",
        "tenant": "cab-0042",
        "actor": "dr.martin.0042",
        "session": "s-1",
        "src_ip": "82.64.12.7",
        "severity": "high",
        "score": 4.0,
        "detector": "unexplained-burst",
        "reasons": ["38 unexplained reads"],
        "evidence": {},
        "incident": None,
    }
    base.update(over)
    return orjson.dumps(base)


def test_when_health_is_asked_without_a_token_then_it_answers(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    r = httpx.get(s.url + "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_when_any_other_endpoint_is_called_without_a_token_then_401(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with httpx.Client(base_url=s.url) as c:
        for method, path in ENDPOINTS:
            r = c.request(method, path)
            assert r.status_code == 401, f"{method} {path} answered {r.status_code}"
            r = c.request(method, path, headers={"authorization": "Bearer vgl_bad_token"})
            assert r.status_code == 401, f"{method} {path} with a bad token: {r.status_code}"


def test_when_a_token_lacks_the_scope_then_403(serve: Callable[..., Running]) -> None:
    s = serve()
    with s.client("read") as c:
        assert c.post("/v1/events", content=b"").status_code == 403
        assert c.get("/v1/decide").status_code == 403
        assert c.post("/v1/decisions", json={}).status_code == 403
        assert c.get("/v1/alerts").status_code == 200
    with s.client("decide") as c:
        assert c.get("/v1/alerts").status_code == 403
        assert c.get("/v1/decide").status_code == 204
    with s.client("ingest") as c:
        assert c.get("/metrics").status_code == 403


def test_when_tokens_are_stored_then_only_their_keyed_digest_is(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    st = open_state(s.state_url)
    stored = st.tokens()
    st.close()
    assert len(stored) == 4
    for rec in stored:
        assert all(token not in rec.digest for token in s.tokens.values())
        assert len(rec.digest) == 64


def test_when_a_batch_has_bad_lines_then_each_is_answered_and_the_rest_accepted(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    s = serve()
    lines = [
        orjson.dumps(event(event_id="ev-1")),
        b"not json",
        orjson.dumps(event(event_id="ev-2", status=999)),
        b"",
        orjson.dumps(event(event_id="ev-3", session="s-3")),
        orjson.dumps(event(event_id="ev-1")),
    ]
    with s.client("ingest") as c:
        r = c.post("/v1/events", content=b"\n".join(lines) + b"\n")
    body = r.json()
    assert r.status_code == 200
    assert (body["read"], body["accepted"], body["quarantined"], body["duplicates"]) == (5, 2, 2, 1)
    assert [e["line"] for e in body["errors"]] == [2, 3]
    assert body["errors"][1]["reason"].startswith("status:")
    quarantined = [json.loads(x) for x in (tmp_path / "quarantine0.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [2, 3] and quarantined[0]["source"] == "http"
    assert s.service.guard.sessions.account("s-3") == ("cab-0042", "dr.martin.0042")


def test_when_a_batch_is_gzipped_then_it_is_read(serve: Callable[..., Running]) -> None:
    import gzip

    s = serve()
    body = gzip.compress(b"\n".join(orjson.dumps(event(event_id=f"e{i}")) for i in range(50)))
    with s.client("ingest") as c:
        assert c.post("/v1/events", content=body).json()["accepted"] == 50


def test_when_nginx_lines_are_pushed_then_the_route_map_reads_them(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    line = (
        b'82.64.12.7 - - [02/Mar/2026:09:14:03 +0100] "GET /api/v1/patients/P0001234 HTTP/1.1" '
        b'200 512 "-" "MedPratic/7.4.2" "dr.martin.0042" "cab-0042" "s-9" "1" "P0001234" 0.004'
    )
    with s.client("ingest") as c:
        r = c.post("/v1/events?format=nginx", content=line)
    assert r.json()["accepted"] == 1
    assert s.service.guard.sessions.account("s-9") == ("cab-0042", "dr.martin.0042")


def test_when_a_block_is_made_then_decide_refuses_and_unblock_lifts_it(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    who = {"x-vigile-tenant": "cab-0042", "x-vigile-actor": "dr.martin.0042"}
    with s.client("decide") as d, s.client("admin") as admin:
        allowed = d.get("/v1/decide", headers=who)
        assert allowed.status_code == 204 and allowed.headers["x-vigile-decision"] == "allow"
        r = admin.post(
            "/v1/decisions",
            json={"scope": "account", "value": "cab-0042/dr.martin.0042",
                  "reason": "credentials sold online", "duration": "2h"},
        )  # fmt: skip
        assert r.status_code == 201
        decision = r.json()
        assert decision["origin"] == "manual:test-admin" and decision["until"] is not None
        refused = d.get("/v1/decide", headers=who)
        assert refused.status_code == 403
        assert refused.json()["decision_id"] == decision["id"]
        assert 7190 <= int(refused.headers["retry-after"]) <= 7200
        r = admin.post("/v1/unblock", json={"scope": "account", "value": "cab-0042/dr.martin.0042",
                                            "reason": "password reset done"})  # fmt: skip
        assert [x["id"] for x in r.json()["revoked"]] == [decision["id"]]
        assert d.get("/v1/decide", headers=who).status_code == 204
        audit = admin.get("/v1/audit").json()["audit"]
        assert [a["action"] for a in audit][:2] == ["unblock", "block"]
        assert audit[0]["detail"]["reason"] == "password reset done"


def test_when_a_manual_request_is_incomplete_then_it_is_refused(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with s.client("admin") as admin:
        assert (
            admin.post("/v1/decisions", json={"scope": "ip", "value": "1.2.3.4"}).status_code == 422
        )
        no_rate = {"decision": "throttle", "scope": "ip", "value": "1.2.3.4", "reason": "scraping"}
        assert admin.post("/v1/decisions", json=no_rate).status_code == 422
        bad = {"scope": "account", "value": "no-tenant", "reason": "x" * 5}
        assert admin.post("/v1/decisions", json=bad).status_code == 422
        assert admin.post("/v1/decisions/d-nope/revoke", json={"reason": "xyz"}).status_code == 404


def test_when_throttled_then_429_with_retry_after_and_nginx_gets_403(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with s.client("admin") as admin, s.client("decide") as d:
        admin.post(
            "/v1/decisions",
            json={"decision": "throttle", "rate": "2/min", "scope": "ip", "value": "5.6.7.8",
                  "reason": "scraping", "duration": "10m"},
        )  # fmt: skip
        ip = {"x-real-ip": "5.6.7.8"}
        codes = [d.get("/v1/decide", headers=ip).status_code for _ in range(3)]
        assert codes == [204, 204, 429]
        r = d.get("/v1/decide", headers=ip)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = d.get("/v1/decide", headers={**ip, "x-vigile-enforcer": "nginx"})
        assert r.status_code == 403 and r.headers["x-vigile-decision"] == "throttle"


def test_when_alerts_are_pushed_then_the_policy_decides_and_they_can_be_read(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with s.client("ingest") as ing, s.client("read") as rd, s.client("decide") as d:
        r = ing.post(
            "/v1/alerts",
            content=_alert_line(incident="inc-7") + b"\n{broken\n"
            + _alert_line(alert_id="al-2", actor="dr.b.0042", session="s-2", incident="inc-7"),
        )  # fmt: skip
        body = r.json()
        assert (body["accepted"], body["rejected"]) == (2, 1)
        # campaign members: the account is blocked, except at its known places
        assert [(x["scope"], x["value"], x["except_known_places"]) for x in body["decisions"]] == [
            ("account", "cab-0042/dr.martin.0042", True),
            ("account", "cab-0042/dr.b.0042", True),
        ]
        who = {"x-vigile-tenant": "cab-0042", "x-vigile-actor": "dr.martin.0042"}
        assert d.get("/v1/decide", headers=who).status_code == 403
        alerts = rd.get("/v1/alerts").json()["alerts"]
        assert {a["alert_id"] for a in alerts} == {"al-1", "al-2"}
        assert alerts[0]["outcome"]["rules"] == ["campaign-member"]
        assert rd.get("/v1/alerts/al-1").json()["detector"] == "unexplained-burst"
        assert rd.get("/v1/alerts/nope").status_code == 404
        (incident,) = rd.get("/v1/incidents").json()["incidents"]
        assert incident["incident"] == "inc-7" and len(incident["accounts"]) == 2
        detail = rd.get("/v1/incidents/inc-7").json()
        assert len(detail["alerts"]) == 2 and len(detail["decisions"]) == 2
        active = rd.get("/v1/decisions", params={"active": "true"}).json()["decisions"]
        assert len(active) == 2
        assert rd.get(f"/v1/decisions/{active[0]['id']}").json()["scope"] == "account"


def test_when_an_enforcer_long_polls_then_a_new_block_wakes_it_at_once(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with s.client("decide") as d:
        first = d.get("/v1/decisions/stream").json()
        assert first == {"cursor": 0, "decisions": []}
        got: dict[str, object] = {}
        # since=0 means "everything in force"; a waiting poll needs a cursor ≥ 1
        with s.client("admin") as admin:
            admin.post(
                "/v1/decisions", json={"scope": "session", "value": "s-0", "reason": "first"}
            )
            cursor = d.get("/v1/decisions/stream").json()["cursor"]
            assert cursor == 1
            waiting = threading.Thread(
                target=lambda: got.update(
                    page=httpx.get(
                        s.url + "/v1/decisions/stream",
                        params={"since": cursor, "wait": 20},
                        headers={"authorization": f"Bearer {s.tokens['decide']}"},
                        timeout=30,
                    ).json(),
                    at=time.monotonic(),
                )
            )
            waiting.start()
            time.sleep(0.3)
            sent = time.monotonic()
            rec = admin.post(
                "/v1/decisions", json={"scope": "ip", "value": "9.9.9.9", "reason": "botnet"}
            ).json()
            waiting.join(timeout=10)
        page = got["page"]
        assert isinstance(page, dict) and page["cursor"] == 2
        assert [x["id"] for x in page["decisions"]] == [rec["id"]]
        assert float(got["at"]) - sent < 1.0  # type: ignore[arg-type]


def test_when_metrics_are_scraped_then_counters_are_there(serve: Callable[..., Running]) -> None:
    s = serve()
    with s.client("ingest") as ing, s.client("read") as rd, s.client("decide") as d:
        ing.post("/v1/events", content=orjson.dumps(event()) + b"\nbad\n")
        d.get("/v1/decide")
        text = rd.get("/metrics").text
    assert 'vigile_events_total{outcome="accepted"} 1.0' in text
    assert 'vigile_events_total{outcome="quarantined"} 1.0' in text
    assert 'vigile_verdicts_total{decision="allow"} 1.0' in text
    assert "vigile_decide_seconds_bucket" in text


def test_when_an_allowlist_entry_is_added_then_alerts_on_it_decide_nothing(
    serve: Callable[..., Running],
) -> None:
    s = serve()
    with s.client("admin") as admin:
        r = admin.post(
            "/v1/allowlist",
            json={"scope": "account", "value": "cab-0042/dr.martin.0042", "until": "2099-01-01",
                  "reason": "locum covering a holiday"},
        )  # fmt: skip
        assert r.status_code == 201
        entry = r.json()
        out = admin.post("/v1/alerts", content=_alert_line()).json()
        assert out["decisions"] == []
        assert [a["id"] for a in admin.get("/v1/allowlist").json()["allowlist"]] == [entry["id"]]
        assert admin.delete(f"/v1/allowlist/{entry['id']}").status_code == 204
        out = admin.post("/v1/alerts", content=_alert_line(alert_id="al-9")).json()
        assert len(out["decisions"]) == 1


class _CanaryDetector:
    def process(self, ev: AccessEvent) -> Sequence[Alert] | None:
        if "P666" not in ev.patient_ids:
            return None
        return [
            Alert(alert_id=f"al-{ev.event_id}", ts=ev.ts.isoformat(), tenant=ev.tenant,
                  actor=ev.actor, session=ev.session, src_ip=ev.src_ip, severity="critical",
                  score=1.0, detector="canary-read",
                  reasons=["read decoy file P666"], evidence={})
        ]  # fmt: skip


def test_when_an_event_makes_an_alert_then_vigile_logs_name_no_patient(
    serve: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    s = serve(detector=_CanaryDetector())
    with caplog.at_level(logging.DEBUG, logger="vigile"), s.client("ingest") as ing:
        body = ing.post(
            "/v1/events", content=orjson.dumps(event(patient_ids=["P666"], session="s-c"))
        ).json()
    assert (body["alerts"], body["decisions"]) == (1, 1)
    assert any("decision" in r.getMessage() for r in caplog.records)
    assert not any("P666" in r.getMessage() for r in caplog.records)
    with s.client("decide") as d:
        assert d.get("/v1/decide", headers={"x-vigile-session": "s-c"}).status_code == 403


def test_when_the_service_stops_then_detection_state_is_checkpointed_and_restored(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    checkpoint = tmp_path / "detect.ckpt"
    s = serve(detect=True, checkpoint=checkpoint)
    with s.client("ingest") as c:
        assert c.post("/v1/events", content=orjson.dumps(event())).json()["accepted"] == 1
    s.service._save_checkpoint()
    assert checkpoint.exists() and checkpoint.stat().st_size > 0
    again = serve(detect=True, checkpoint=checkpoint)
    watermark = getattr(again.service.detector, "watermark", None)
    assert watermark is not None and watermark > 0  # it resumed where the first one stopped


def test_when_a_store_is_given_then_ingested_events_are_kept_in_it(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    from vigile.store import open_store

    s = serve(store=tmp_path / "store")
    lines = b"\n".join(orjson.dumps(event(event_id=f"ev-{i}")) for i in range(20))
    with s.client("ingest") as c:
        assert c.post("/v1/events", content=lines).json()["accepted"] == 20
    assert s.service.store is not None
    s.service.store.close()  # what shutdown does: the last batch is written
    assert open_store(tmp_path / "store").info().events == 20
