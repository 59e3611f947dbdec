"""The reference practice application, protected by a real `vigile serve`, over real HTTP.

Two processes' worth of servers (both on loopback, in threads here): the
application with vigile's ASGI middleware and a remote enforcer, and the
service with the real detection engine and the world's context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigile.demo.app.main import AppConfig, create_app
from vigile.demo.app.seed import load_passwords
from vigile.demo.live import LiveSetup, prepare
from vigile.respond.enforcer import RemoteEnforcer
from vigile.respond.state import open_state
from vigile.web.api import create_app as create_vigile
from vigile.web.auth import create_token
from vigile.web.server import ServerThread
from vigile.web.service import ServeConfig, Service

pytestmark = pytest.mark.e2e

TINY = {
    "practices": 2,
    "days": 3,
    "records_per_doctor": 300.0,
    "attacks": {
        k: {"count": 0}
        for k in ("campaign", "night_paging", "low_and_slow", "enumeration", "search_scraping",
                  "token_replay", "credential_stuffing", "vip_snooping")
    },
    "benign": {
        k: {"count": 0}
        for k in ("locum_panel", "vaccine_recall", "new_doctor", "evening_catchup",
                  "data_migration")
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> LiveSetup:
    return prepare(tmp_path_factory.mktemp("live-app"), 5, overrides=TINY)


@pytest.fixture
def live(setup: LiveSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("VIGILE_TOKEN_PEPPER", "e2e-pepper")
    state_url = f"sqlite:///{tmp_path / 'vigile.db'}"
    st = open_state(state_url)
    app_token, _ = create_token(st, "app", ["ingest", "decide"], now=time.time())
    admin_token, _ = create_token(st, "analyst", ["admin"], now=time.time())
    st.close()
    service = Service(ServeConfig(state=state_url, context=setup.context))
    vigile = ServerThread(create_vigile(service)).start()
    enforcer = RemoteEnforcer(vigile.url, app_token, timeout=2.0)
    app = create_app(AppConfig(db=setup.app_db, note_key=setup.note_key), enforcer=enforcer)
    app_server = ServerThread(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1").start()
    try:
        yield {
            "app": app_server.url,
            "vigile": vigile.url,
            "admin": admin_token,
            "service": service,
            "enforcer": enforcer,
            "passwords": load_passwords(setup.passwords),
            "canaries": [
                line.split(",")[0]
                for line in (setup.context / "canaries.csv").read_text().splitlines()[1:]
            ],
        }
    finally:
        app_server.stop()
        vigile.stop()


def _login(live: Any, role: str, index: int = 0) -> tuple[str, str, httpx.Client]:
    accounts = sorted((a, v) for a, v in live["passwords"].items() if v[1] == role)
    actor, (tenant, _, password) = accounts[index]
    client = httpx.Client(base_url=live["app"], headers={"x-forwarded-for": "82.64.12.7"})
    r = client.post("/api/v1/auth/login", json={"login": actor, "password": password})
    assert r.status_code == 200, r.text
    client.headers["authorization"] = f"Bearer {r.json()['token']}"
    return actor, tenant, client


def _other_practice_patient(live: Any, tenant: str) -> str:
    for actor, (t, role, password) in sorted(live["passwords"].items()):
        if t != tenant and role == "doctor":
            with httpx.Client(base_url=live["app"]) as c:
                token = c.post(
                    "/api/v1/auth/login", json={"login": actor, "password": password}
                ).json()["token"]
                r = c.get("/api/v1/patients?size=1", headers={"authorization": f"Bearer {token}"})
                return str(r.json()["patients"][0]["patient_id"])
    raise AssertionError("no second practice")


def test_when_practices_are_apart_then_another_practice_file_is_refused(live: Any) -> None:
    _, tenant, doctor = _login(live, "doctor")
    foreign = _other_practice_patient(live, tenant)
    mine = doctor.get("/api/v1/patients?size=3").json()["patients"]
    assert all(doctor.get(f"/api/v1/patients/{p['patient_id']}").status_code == 200 for p in mine)
    assert doctor.get(f"/api/v1/patients/{foreign}").status_code == 403
    assert doctor.get(f"/api/v1/patients/{foreign}/annotations").status_code == 403
    assert doctor.get("/api/v1/patients/P00000000").status_code == 404
    assert doctor.get("/api/v1/patients?size=1000").status_code == 422
    doctor.close()


def test_when_a_secretary_asks_for_medical_notes_then_the_role_refuses(live: Any) -> None:
    _, _, secretary = _login(live, "secretary")
    pid = secretary.get("/api/v1/patients?size=1").json()["patients"][0]["patient_id"]
    assert secretary.get(f"/api/v1/patients/{pid}").status_code == 200
    assert secretary.get(f"/api/v1/patients/{pid}/annotations").status_code == 403
    assert secretary.get(f"/api/v1/patients/{pid}/prescriptions").status_code == 403
    assert secretary.delete(f"/api/v1/patients/{pid}").status_code == 403
    secretary.close()


def test_when_a_doctor_works_then_every_request_reaches_vigile_as_an_event(live: Any) -> None:
    actor, tenant, doctor = _login(live, "doctor")
    pid = doctor.get("/api/v1/patients?size=1").json()["patients"][0]["patient_id"]
    assert (
        doctor.post(f"/api/v1/patients/{pid}/annotations", json={"text": "RAS"}).status_code == 201
    )
    notes = doctor.get(f"/api/v1/patients/{pid}/annotations").json()["annotations"]
    assert notes[-1]["text"] == "RAS"  # stored encrypted, read back in clear
    r = doctor.post("/api/v1/patients", json={"last_name": "Durand", "first_name": "Léa"})
    new = r.json()["patient_id"]
    assert doctor.get("/api/v1/patients/search?q=dur").json()["patients"]
    assert doctor.put(f"/api/v1/patients/{new}", json={"phone": "0102030405"}).status_code == 200
    assert doctor.get(f"/api/v1/patients/{new}/print").status_code == 200
    assert not [h for h in r.headers if h.startswith("x-vigile")]  # the middleware strips them
    deadline = time.monotonic() + 5
    service: Service = live["service"]
    while service.totals.accepted < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.totals.accepted >= 8
    session = doctor.headers["authorization"][7:].split(".")[0]
    assert service.guard.sessions.account(session) == (tenant, actor)
    doctor.close()


def test_when_a_stolen_account_reads_a_canary_then_its_next_request_is_refused(
    live: Any,
) -> None:
    actor, _, thief = _login(live, "doctor", 1)
    canary = next(
        c for c in live["canaries"]
        if thief.get(f"/api/v1/patients/{c}").status_code in (200, 403)
    )  # fmt: skip
    assert canary
    r = thief.get("/api/v1/patients?size=1")
    assert r.status_code == 403 and r.json()["reference"].startswith("d-")
    with httpx.Client(base_url=live["vigile"],
                      headers={"authorization": f"Bearer {live['admin']}"}) as admin:  # fmt: skip
        alerts = admin.get("/v1/alerts", params={"severity": "critical"}).json()["alerts"]
    assert any(a["detector"] == "canary-read" and a["actor"] == actor for a in alerts)
    # the genuine doctor, in another session, is not blocked by a session decision
    _, _, office = _login(live, "doctor", 1)
    assert office.get("/api/v1/patients?size=1").status_code == 200
    thief.close()
    office.close()


def test_when_the_application_runs_on_postgresql_then_it_serves_the_same(
    setup: LiveSetup, tmp_path: Path
) -> None:
    import uuid

    psycopg = pytest.importorskip("psycopg")
    base = "postgresql://postgres@localhost:5432/test"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip(f"no PostgreSQL at {base}: the application's PostgreSQL mode is not tested")
    schema = f"app_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        from vigile.demo.app.db import Database
        from vigile.demo.app.security import NoteCipher
        from vigile.demo.app.seed import seed

        db = Database(url)
        counts = seed(db, setup.context, passwords_out=tmp_path / "pw.csv",
                      cipher=NoteCipher(setup.note_key))  # fmt: skip
        db.close()
        assert counts["patients"] > 1000
        passwords = load_passwords(tmp_path / "pw.csv")
        actor, (tenant, _, password) = next(
            (a, v) for a, v in sorted(passwords.items()) if v[1] == "doctor"
        )
        app = create_app(AppConfig(db=url, note_key=setup.note_key))
        with ServerThread(app) as server, httpx.Client(base_url=server.url) as c:
            token = c.post("/api/v1/auth/login", json={"login": actor, "password": password})
            c.headers["authorization"] = f"Bearer {token.json()['token']}"
            page = c.get("/api/v1/patients?size=5")
            assert page.status_code == 200 and page.headers["x-vigile-tenant"] == tenant
            pid = page.json()["patients"][0]["patient_id"]
            assert (
                c.post(f"/api/v1/patients/{pid}/annotations", json={"text": "vu"}).status_code
                == 201
            )
            assert (
                c.get(f"/api/v1/patients/{pid}/annotations").json()["annotations"][-1]["text"]
                == "vu"
            )
            assert c.post("/api/v1/patients", json={"last_name": "Roux"}).status_code == 201
        app.state.db.close()
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
