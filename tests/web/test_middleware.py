"""ASGI and WSGI middleware against a real `vigile serve`, and in-process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tests.web.conftest import Running
from vigile.events import AccessEvent, Alert
from vigile.respond.asgi import VigileMiddleware
from vigile.respond.enforcer import LocalEnforcer, RemoteEnforcer, SyncRemoteEnforcer
from vigile.respond.guard import Guard
from vigile.respond.policy import load_policy
from vigile.respond.state import open_state
from vigile.respond.wsgi import VigileWSGIMiddleware
from vigile.web.server import ServerThread, free_port

TOKEN = "s-abc.secret"  # the reference app's token shape: <session id>.<secret>


class CanaryDetector:
    """Alerts (critical, canary) on any response that carried patient P666."""

    def process(self, ev: AccessEvent) -> Sequence[Alert] | None:
        if "P666" not in ev.patient_ids or ev.status >= 400:
            return None
        return [
            Alert(alert_id=f"al-{ev.event_id}", ts=ev.ts.isoformat(), tenant=ev.tenant,
                  actor=ev.actor, session=ev.session, src_ip=ev.src_ip, severity="critical",
                  score=1.0, detector="canary-read", reasons=["decoy read"], evidence={})
        ]  # fmt: skip


def practice_app() -> FastAPI:
    """A miniature protected application: it names who and which patients, like the reference."""
    app = FastAPI()

    @app.get("/api/v1/patients/{pid}")
    def read(pid: str) -> JSONResponse:
        return JSONResponse(
            {"patient_id": pid},
            headers={"X-Vigile-Actor": "dr.martin.0042", "X-Vigile-Tenant": "cab-0042",
                     "X-Vigile-Session": "s-abc", "X-Vigile-Records": "1",
                     "X-Vigile-Patients": pid},
        )  # fmt: skip

    @app.get("/static/app.js")
    def asset() -> JSONResponse:
        return JSONResponse({})

    return app


def _identify(scope: Any) -> Any:
    from vigile.respond.enforcer import RequestInfo

    return RequestInfo(tenant="cab-0042", actor="dr.martin.0042", session="s-abc")


@pytest.fixture
def local_guard() -> Iterator[Guard]:
    g = Guard(open_state("sqlite:///:memory:"), load_policy(), detector=CanaryDetector())
    yield g
    g.state.close()  # type: ignore[union-attr]


def test_when_in_process_then_the_read_after_a_canary_is_refused(local_guard: Guard) -> None:
    seen: list[AccessEvent] = []
    app = VigileMiddleware(
        practice_app(), LocalEnforcer(local_guard), identify=_identify, on_event=seen.append
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as c:
        first = c.get("/api/v1/patients/P1", headers={"user-agent": "MedPratic/7.4.2"})
        assert first.status_code == 200
        assert not any(h.startswith("x-vigile") for h in first.headers)  # stripped
        assert c.get("/api/v1/patients/P666").status_code == 200
        refused = c.get("/api/v1/patients/P2")
        assert refused.status_code == 403
        assert refused.json()["reference"].startswith("d-")
        assert "decoy" not in refused.text  # the attacker learns nothing about why
        assert c.get("/static/app.js").status_code == 200
    assert [(e.action, e.status, e.patient_ids) for e in seen] == [
        ("read", 200, ["P1"]),
        ("read", 200, ["P666"]),
        ("read", 403, ["P2"]),
    ]
    first_event = seen[0]
    assert first_event.user_agent == "MedPratic/7.4.2" and first_event.src_ip == "127.0.0.1"
    assert first_event.route == "/api/v1/patients/{patient_id}" and first_event.event_id


def test_when_a_script_reads_fast_then_the_block_lands_on_the_very_next_request(
    serve: Callable[..., Running],
) -> None:
    s = serve(detector=CanaryDetector())
    enforcer = RemoteEnforcer(s.url, s.tokens["admin"], timeout=2.0)
    app = VigileMiddleware(practice_app(), enforcer, identify=_identify)
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as c:
        for _ in range(5):
            statuses = [c.get("/api/v1/patients/P1").status_code for _ in range(3)]
            assert statuses == [200, 200, 200]
            c.get("/api/v1/patients/P666")
            # no sleep: the next request must already see the block
            assert c.get("/api/v1/patients/P2").status_code == 403
            with s.client("admin") as admin:  # lift everything (escalation blocks the account)
                for d in admin.get("/v1/decisions", params={"active": "true"}).json()["decisions"]:
                    admin.post(f"/v1/decisions/{d['id']}/revoke", json={"reason": "next round"})
    assert enforcer.stats.errors == 0 and enforcer.stats.dropped == 0


def test_when_vigile_is_unreachable_then_fail_open_allows_and_fail_closed_refuses() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for fail_open, expected in ((True, 200), (False, 503)):
        enforcer = RemoteEnforcer(dead, "vgl_x", timeout=0.2, fail_open=fail_open, retries=0)
        app = VigileMiddleware(practice_app(), enforcer, identify=_identify)
        with ServerThread(app) as server, httpx.Client(base_url=server.url) as c:
            assert c.get("/api/v1/patients/P1").status_code == expected
        assert enforcer.stats.errors >= 1


def test_when_events_cannot_be_delivered_then_they_are_spooled(tmp_path: Any) -> None:
    import asyncio

    from tests.helpers import event

    spool = tmp_path / "spool.jsonl"
    dead = f"http://127.0.0.1:{free_port()}"

    async def run() -> RemoteEnforcer:
        enforcer = RemoteEnforcer(dead, "vgl_x", timeout=0.1, retries=1, spool=spool)
        await enforcer.emit(AccessEvent(**event()))  # type: ignore[arg-type]
        await enforcer.aclose()
        return enforcer

    enforcer = asyncio.run(run())
    assert enforcer.stats.spooled == 1
    assert b'"actor":"dr.martin.0042"' in spool.read_bytes()


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    pid = environ["PATH_INFO"].rsplit("/", 1)[-1]
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("X-Vigile-Actor", "dr.martin.0042"),
         ("X-Vigile-Tenant", "cab-0042"), ("X-Vigile-Session", "s-abc"),
         ("X-Vigile-Records", "1"), ("X-Vigile-Patients", pid)],
    )  # fmt: skip
    return [b'{"ok": true}']


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # no request lines in the test output
        pass


def test_when_a_wsgi_app_is_protected_then_it_behaves_like_the_asgi_one(
    serve: Callable[..., Running],
) -> None:
    s = serve(detector=CanaryDetector())
    enforcer = SyncRemoteEnforcer(s.url, s.tokens["admin"], timeout=2.0)
    app = VigileWSGIMiddleware(_wsgi_app, enforcer)
    port = free_port()
    server: WSGIServer = make_server("127.0.0.1", port, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            ok = c.get("/api/v1/patients/P1")
            assert ok.status_code == 200 and "x-vigile-patients" not in ok.headers
            assert c.get("/api/v1/patients/P666").status_code == 200
            time.sleep(0.05)  # wsgiref closes the response after the client has it
            refused = c.get("/api/v1/patients/P3")
            assert refused.status_code == 403 and refused.json()["reference"].startswith("d-")
    finally:
        server.shutdown()
        server.server_close()
        enforcer.close()
    assert s.service.totals.accepted == 3
    assert s.service.guard.sessions.account("s-abc") == ("cab-0042", "dr.martin.0042")
