"""A real nginx (Debian's package) in front of the reference application, asking vigile.

The shipped ``deploy/nginx/vigile.conf`` is used as is, with only its addresses,
log path and token file replaced: ``auth_request`` → ``vigile serve`` → 403 after
a block, 429 with ``Retry-After`` under a throttle; vigile tails nginx's access
log; and the events nginx's log gives are the ones the ASGI middleware emits for
the same requests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigile.demo.app.main import AppConfig, create_app
from vigile.demo.app.seed import load_passwords
from vigile.demo.live import LiveSetup, prepare
from vigile.events import AccessEvent
from vigile.parsers import ParserOptions, make_parser
from vigile.respond.asgi import VigileMiddleware
from vigile.respond.enforcer import LocalEnforcer
from vigile.respond.guard import Guard
from vigile.respond.policy import load_policy
from vigile.respond.state import open_state
from vigile.web.api import create_app as create_vigile
from vigile.web.auth import create_token
from vigile.web.server import ServerThread, free_port
from vigile.web.service import ServeConfig, Service

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "deploy" / "nginx" / "vigile.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (Debian: apt-get install -y nginx)"
    ),
]
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
    return prepare(tmp_path_factory.mktemp("live-nginx"), 3, overrides=TINY)


def _render(conf: str, *, port: int, app: str, vigile: str, log: Path, token_file: Path) -> str:
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8080;", f"server {app};"),
        ("server 127.0.0.1:8740;", f"server {vigile};"),
        ("/var/log/nginx/vigile-access.log", str(log)),
        ("/etc/nginx/vigile-token.conf", str(token_file)),
    ):
        assert old in conf, f"the shipped config no longer has {old!r}"
        conf = conf.replace(old, new)
    return conf


@pytest.fixture
def stack(setup: LiveSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("VIGILE_TOKEN_PEPPER", "e2e-pepper")
    log = tmp_path / "access.log"
    log.touch()
    state_url = f"sqlite:///{tmp_path / 'vigile.db'}"
    st = open_state(state_url)
    decide_token, _ = create_token(st, "nginx-edge", ["decide"], now=time.time())
    admin_token, _ = create_token(st, "analyst", ["admin"], now=time.time())
    st.close()
    service = Service(
        ServeConfig(
            state=state_url,
            context=setup.context,
            tail=[(log, "nginx")],
            quarantine=tmp_path / "quarantine.jsonl",
            detect=False,  # enforcement mechanics here; detection end to end: test_live_app
        )
    )
    vigile = ServerThread(create_vigile(service)).start()
    # the application, with the in-process middleware only as a witness of its events
    seen: list[AccessEvent] = []
    witness = Guard(open_state("sqlite:///:memory:"), load_policy())
    app = VigileMiddleware(
        create_app(AppConfig(db=setup.app_db, note_key=setup.note_key)),
        LocalEnforcer(witness),
        identify=None,
        strip_headers=False,
        on_event=seen.append,
        timezone=__import__("zoneinfo").ZoneInfo("Europe/Paris"),
    )
    app_server = ServerThread(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1").start()
    port = free_port()
    token_file = tmp_path / "vigile-token.conf"
    token_file.write_text(f'proxy_set_header Authorization "Bearer {decide_token}";\n')
    token_file.chmod(0o600)
    (tmp_path / "vigile.conf").write_text(
        _render(
            CONF.read_text(),
            port=port,
            app=app_server.url.removeprefix("http://"),
            vigile=vigile.url.removeprefix("http://"),
            log=log,
            token_file=token_file,
        )
    )
    temp = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nerror_log {tmp_path / 'error.log'} warn;\n"
        f"pid {tmp_path / 'nginx.pid'};\nevents {{ worker_connections 256; }}\n"
        f"http {{\n{temp}    include {tmp_path / 'vigile.conf'};\n}}\n"
    )
    assert NGINX is not None
    nginx_out = open(tmp_path / "nginx.out", "wb")  # noqa: SIM115 - closed below
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=nginx_out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if nginx.poll() is not None:
                out = (tmp_path / "nginx.out").read_text()
                pytest.fail(f"nginx exited: {out}\n{(tmp_path / 'error.log').read_text()}")
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield {
            "url": url,
            "vigile": vigile.url,
            "admin": admin_token,
            "service": service,
            "log": log,
            "seen": seen,
            "passwords": load_passwords(setup.passwords),
            "tmp": tmp_path,
        }
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        nginx_out.close()
        app_server.stop()
        vigile.stop()
        witness.state.close()  # type: ignore[union-attr]


def _login(s: dict[str, Any], role: str = "doctor") -> tuple[str, str, str, str]:
    actor, (tenant, _, password) = next(
        (a, v) for a, v in sorted(s["passwords"].items()) if v[1] == role
    )
    r = httpx.post(s["url"] + "/api/v1/auth/login", json={"login": actor, "password": password})
    assert r.status_code == 200, r.text
    return actor, tenant, r.json()["token"], r.json()["session"]


def _patient(s: dict[str, Any], token: str) -> str:
    r = httpx.get(
        s["url"] + "/api/v1/patients?size=2", headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    return str(r.json()["patients"][0]["patient_id"])


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_when_vigile_blocks_an_account_then_nginx_refuses_its_requests(stack: Any) -> None:
    s = stack
    actor, tenant, token, session = _login(s)
    auth = {"authorization": f"Bearer {token}"}
    pid = _patient(s, token)
    ok = httpx.get(f"{s['url']}/api/v1/patients/{pid}", headers=auth)
    assert ok.status_code == 200
    assert not [h for h in ok.headers if h.startswith("x-vigile")]  # hidden by nginx
    # vigile learnt the session from nginx's access log (tail)
    _wait(lambda: s["service"].guard.sessions.account(session) == (tenant, actor))
    admin = httpx.Client(base_url=s["vigile"], headers={"authorization": f"Bearer {s['admin']}"})
    r = admin.post("/v1/decisions", json={"scope": "account", "value": f"{tenant}/{actor}",
                                          "reason": "password found on a paste site",
                                          "duration": "1h"})  # fmt: skip
    decision = r.json()["id"]
    refused = httpx.get(f"{s['url']}/api/v1/patients/{pid}", headers=auth)
    assert refused.status_code == 403
    assert refused.json()["reference"] == decision
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600
    admin.post(f"/v1/decisions/{decision}/revoke", json={"reason": "password reset"})
    assert httpx.get(f"{s['url']}/api/v1/patients/{pid}", headers=auth).status_code == 200
    # a throttle becomes a 429 with Retry-After for the client
    admin.post("/v1/decisions", json={"decision": "throttle", "rate": "2/min", "scope": "session",
                                      "value": session, "reason": "paging fast",
                                      "duration": "10m"})  # fmt: skip
    codes = [httpx.get(f"{s['url']}/api/v1/patients/{pid}", headers=auth) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[2].headers["retry-after"]) >= 1
    admin.close()


def test_when_vigile_is_down_then_nginx_fails_open(stack: Any) -> None:
    s = stack
    _, _, token, _ = _login(s)
    s["service"].guard.decide = None  # type: ignore[assignment]  # the decision endpoint breaks
    r = httpx.get(
        s["url"] + "/api/v1/patients?size=1", headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200


def test_when_nginx_logs_requests_then_they_read_as_the_middleware_events(stack: Any) -> None:
    s = stack
    _, _, token, _ = _login(s)
    auth = {"authorization": f"Bearer {token}"}
    pid = _patient(s, token)
    for path in (
        f"/api/v1/patients/{pid}",
        f"/api/v1/patients/{pid}/annotations",
        f"/api/v1/patients/{pid}/print",
        "/api/v1/patients/search?q=ma",
        "/api/v1/appointments?date=2025-11-04",
        "/api/v1/exports/patients?page=1&size=3",
        "/api/v1/patients/P99999999",
    ):
        httpx.get(s["url"] + path, headers=auth)
    httpx.post(s["url"] + "/api/v1/auth/login", json={"login": "dr.nobody", "password": "x"})
    httpx.post(s["url"] + "/api/v1/auth/logout", headers=auth)
    _wait(lambda: len(s["log"].read_text().splitlines()) >= len(s["seen"]) >= 11)
    parser = make_parser("nginx", ParserOptions())
    from_log = [parser.parse(line) for line in s["log"].read_bytes().splitlines()]
    logged = [e for e in from_log if e is not None]

    def key(ev: AccessEvent) -> tuple[Any, ...]:
        return (ev.tenant, ev.actor, ev.action, ev.resource, ev.session, ev.src_ip, ev.method,
                ev.route, ev.status, tuple(ev.patient_ids), ev.records, ev.bytes, ev.query,
                ev.user_agent)  # fmt: skip

    assert [key(e) for e in logged] == [key(e) for e in s["seen"]]
    for a, b in zip(logged, s["seen"], strict=True):
        assert abs(a.ts.timestamp() - b.ts.timestamp()) < 2.0  # nginx logs whole seconds
