"""The dashboard over real HTTP: sign-in, sessions, CSRF, CSP, roles, identities, audit.

One small simulated world with a campaign (tests/web/dashboard_world.py), stored
and detected by the real engine, behind a real `vigile serve` with the dashboard.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.web.dashboard_world import (
    PASSWORD,
    Browser,
    DashWorld,
    generate_world,
    start_dashboard,  # fmt: skip
    store_and_detect,
)
from vigile.respond.state import open_state
from vigile.web.auth import create_token
from vigile.web.dashboard import charts
from vigile.web.dashboard.breach import BreachJobs
from vigile.web.dashboard.routes import _rule_doc
from vigile.web.service import Service
from vigile.web.users import IDLE_SECONDS, UserStore, hash_password, verify_password

PEPPER = "dashboard-test-pepper"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DashWorld:
    root = tmp_path_factory.mktemp("dash-world")
    return store_and_detect(generate_world(root), root)


@pytest.fixture(scope="module")
def dash(world: DashWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dash")
    mp = pytest.MonkeyPatch()
    mp.setenv("VIGILE_TOKEN_PEPPER", PEPPER)
    st = open_state(f"sqlite:///{root / 'state.db'}")
    token, _ = create_token(st, "pusher", ["ingest", "read"], now=time.time())
    st.close()
    server, service = start_dashboard(world, root)
    app: Any = server.config.app
    try:
        browsers: list[Browser] = []
        yield {"url": server.url, "service": service, "token": token, "world": world,
               "browsers": browsers, "ui": app.state.dashboard}  # fmt: skip
    finally:
        for b in browsers:
            b.close()
        server.stop()
        mp.undo()


def _browser(dash: dict[str, Any]) -> Browser:
    b = Browser(dash["url"])
    dash["browsers"].append(b)
    return b


def _signed(dash: dict[str, Any], name: str) -> Browser:
    b = _browser(dash)
    assert b.sign_in(name).status_code == 303
    return b


def _audit(service: Service, action: str) -> list[dict[str, Any]]:
    return [e for e in service.state.audit_log(10_000) if e["action"] == action]


def _an_account(dash: dict[str, Any]) -> tuple[str, str]:
    a = next(a for a in dash["world"].alerts if a.incident)
    return a.tenant, a.actor


# ---- sign-in and sessions ---------------------------------------------------------------------
def test_when_nobody_is_signed_in_then_pages_send_to_sign_in_and_data_is_refused(
    dash: dict[str, Any],
) -> None:
    with httpx.Client(base_url=dash["url"]) as c:
        r = c.get("/ui/incidents/x")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=")
        assert c.get("/ui/live").status_code == 401
        assert c.get("/ui/live/stream").status_code == 401
        assert c.get("/ui/labels.csv").status_code == 303
        r = c.get("/ui/login")
        assert r.status_code == 200 and 'type="password"' in r.text


def test_when_the_password_is_wrong_then_sign_in_fails_and_is_audited(
    dash: dict[str, Any],
) -> None:
    b = _browser(dash)
    r = b.sign_in("ana", "not-the-password")
    assert r.status_code == 401 and "wrong name or password" in r.text
    assert "__Host-vigile" not in b.cookies
    assert any(e["who"] == "ui:ana" for e in _audit(dash["service"], "sign-in-failed"))
    assert b.sign_in("nobody-here").status_code == 401


def test_when_signed_in_then_the_session_cookie_is_secure_httponly_strict(
    dash: dict[str, Any],
) -> None:
    b = _browser(dash)
    page = b.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = b.post("/ui/login", {"csrf": token.group(1), "name": "ana", "password": PASSWORD},
               csrf=False)  # fmt: skip
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-vigile="))
    flags = {p.strip().lower() for p in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    assert not any(f.startswith("domain") for f in flags)


def test_when_the_login_form_has_no_matching_token_then_sign_in_is_refused(
    dash: dict[str, Any],
) -> None:
    b = _browser(dash)
    b.get("/ui/login")
    r = b.post("/ui/login", {"csrf": "forged", "name": "ana", "password": PASSWORD}, csrf=False)
    assert r.status_code == 403
    assert "__Host-vigile" not in b.cookies


def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(dash: dict[str, Any]) -> None:
    b = _signed(dash, "ana")
    tenant, actor = _an_account(dash)
    alert = next(a for a in dash["world"].alerts if a.incident)
    incident = dash["world"].incident
    for path in ("/ui/", "/ui/decisions", f"/ui/incidents/{incident}",
                 f"/ui/accounts/{tenant}/{actor}", f"/ui/alerts/{alert.alert_id}",
                 f"/ui/breach/{incident}", "/ui/login"):  # fmt: skip
        r = b.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), path
        assert " style=" not in r.text and "<style" not in r.text, path
        assert "http://" not in r.text.replace(dash["url"], "").replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        ), path  # no remote asset
    for asset in ("/ui/static/dashboard.css", "/ui/static/dashboard.js"):
        assert b.get(asset).status_code == 200


def test_when_a_user_is_disabled_then_its_session_ends(dash: dict[str, Any]) -> None:
    service: Service = dash["service"]
    users = UserStore(service.state)
    users.add("temp.analyst", "analyst", PASSWORD)
    b = _signed(dash, "temp.analyst")
    assert b.get("/ui/").status_code == 200
    assert users.disable("temp.analyst")
    assert b.get("/ui/").status_code == 303
    assert b.sign_in("temp.analyst").status_code == 401


def test_when_a_session_is_idle_or_too_old_then_it_expires(dash: dict[str, Any]) -> None:
    users = UserStore(dash["service"].state)
    user = users.get("ana")
    assert user is not None
    now = time.time()
    token, _ = users.open_session(user, now=now)
    assert users.session(token, now=now + 10) is not None
    assert users.session(token, now=now + IDLE_SECONDS + 60) is None
    assert users.session(token, now=now + 20) is None  # ended for good
    token, _ = users.open_session(user, now=now)
    t = now
    while t < now + 12 * 3600 - 60:  # kept alive, it still ends after 12 hours
        t += IDLE_SECONDS - 60
        users.session(token, now=t)
    assert users.session(token, now=now + 12 * 3600 + 1) is None


def test_passwords_are_stored_as_scrypt_hashes() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("scrypt$32768$8$3$") and "a long enough" not in stored
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passworD", stored)
    assert not verify_password("x", "garbage")


def test_when_a_hash_has_weaker_settings_then_sign_in_replaces_it(dash: dict[str, Any]) -> None:
    service: Service = dash["service"]
    users = UserStore(service.state)
    users.add("old.hash", "analyst", PASSWORD)
    salt = b"0123456789abcdef"
    weak = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1)
    b64 = base64.b64encode
    old = f"scrypt$16384$8$1${b64(salt).decode()}${b64(weak).decode()}"
    users._write("UPDATE dashboard_users SET password = ? WHERE name = ?", (old, "old.hash"))
    assert users.authenticate("old.hash", PASSWORD) is not None
    stored = users._all("SELECT password FROM dashboard_users WHERE name = 'old.hash'")[0][0]
    assert stored.startswith("scrypt$32768$8$3$") and verify_password(PASSWORD, stored)
    assert users.authenticate("old.hash", PASSWORD + "x") is None


def test_when_sign_in_keeps_failing_then_the_name_and_the_client_are_locked_for_a_while(
    dash: dict[str, Any],
) -> None:
    service: Service = dash["service"]
    ui = dash["ui"]
    users = UserStore(service.state)
    users.add("lock.me", "analyst", PASSWORD)
    t = [time.time() + 30 * 86400]  # a clock of our own, a month ahead
    ui.clock = lambda: t[0]
    try:
        b = _browser(dash)
        for _ in range(5):
            assert b.sign_in("lock.me", "not the password").status_code == 401
        r = b.sign_in("lock.me")  # the right password, too late
        assert r.status_code == 429 and "too many failed attempts" in r.text
        assert "__Host-vigile" not in b.cookies
        for _ in range(5):  # a name nobody has is locked the same way: nothing to learn
            assert b.sign_in("nobody.at.all", "not the password").status_code == 401
        assert b.sign_in("nobody.at.all", "not the password").status_code == 429
        assert b.sign_in("ana").status_code == 303  # others still sign in
        t[0] += 601  # the window has passed
        assert b.sign_in("lock.me").status_code == 303
        b = _browser(dash)
        for i in range(20):  # one address trying many names is stopped too
            assert b.sign_in(f"spray.{i}", "not the password").status_code == 401
        r = b.sign_in("adam")
        assert r.status_code == 429 and "__Host-vigile" not in b.cookies
        failed = _audit(service, "sign-in-failed")
        assert len(failed) >= 30
        assert not any("not the password" in orjson.dumps(e).decode() for e in failed)
        b.sign_in("a password typed as a name!", "x" * 10)
        assert _audit(service, "sign-in-failed")[0]["who"] == "ui:?"
    finally:
        ui.clock = time.time
        users._write("DELETE FROM dashboard_login_failures")


def test_at_most_four_password_checks_run_at_once(dash: dict[str, Any]) -> None:
    ui = dash["ui"]
    real = ui.users.authenticate
    running, peak = [0], [0]
    lock = threading.Lock()

    def counted(name: str, password: str) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return real(name, password)
        finally:
            with lock:
                running[0] -= 1

    ui.users.authenticate = counted
    ui.clock = lambda: time.time() + 60 * 86400
    try:
        threads = [
            threading.Thread(target=lambda i=i: _browser(dash).sign_in(f"many.{i}", "wrong one"))
            for i in range(10)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert 2 <= peak[0] <= 4
    finally:
        ui.users.authenticate = real
        ui.clock = time.time
        ui.users._write("DELETE FROM dashboard_login_failures")


def test_when_signing_in_again_then_the_session_id_changes_and_the_old_one_ends(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    old = b.cookies["__Host-vigile"]
    assert b.sign_in("ana").status_code == 303
    assert b.cookies["__Host-vigile"] != old
    users = UserStore(dash["service"].state)
    assert users.session(old) is None
    stale = Browser(dash["url"])
    stale.cookies["__Host-vigile"] = old
    assert stale.get("/ui/").status_code == 303
    stale.close()


def test_when_signed_out_then_the_session_token_is_refused_even_if_kept(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    token = b.cookies["__Host-vigile"]
    assert b.post("/ui/logout", {}).status_code == 303
    assert "__Host-vigile" not in b.cookies
    kept = Browser(dash["url"])
    kept.cookies["__Host-vigile"] = token
    assert kept.get("/ui/").status_code == 303
    assert kept.get("/ui/live").status_code == 401
    kept.close()


def test_when_the_login_token_is_not_ascii_then_sign_in_is_refused_not_crashed(
    dash: dict[str, Any],
) -> None:
    b = _browser(dash)
    b.get("/ui/login")
    r = b.post("/ui/login", {"csrf": "jeton-\u00e9", "name": "ana", "password": PASSWORD},
               csrf=False)  # fmt: skip
    assert r.status_code == 403 and "form expired" in r.text


def test_static_files_and_framework_errors_carry_the_security_headers(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    answers = {
        "static": b.get("/ui/static/dashboard.css"),
        "missing static": b.get("/ui/static/nothing.js"),
        "traversal": b.get("/ui/static/..%2F..%2Fweb%2Fusers.py"),
        "no such page": b.get("/ui/no-such-page"),
        "wrong method": b.client.delete("/ui/decisions", headers=b._headers()),
        "root": b.get("/"),
    }
    assert answers["static"].status_code == 200
    assert answers["missing static"].status_code == 404
    assert answers["traversal"].status_code == 404
    assert "hash_password" not in answers["traversal"].text
    assert answers["no such page"].status_code == 404
    assert answers["wrong method"].status_code == 405
    for what, r in answers.items():
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, what
        assert r.headers.get("x-content-type-options") == "nosniff", what
        assert r.headers.get("x-frame-options") == "DENY", what


def test_when_a_browser_says_the_form_is_cross_site_then_it_is_refused(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    b.get("/ui/decisions")
    r = b.post("/ui/decisions", {"scope": "ip", "value": "10.9.9.8", "reason": "cross site"},
               headers={"sec-fetch-site": "cross-site"})  # fmt: skip
    assert r.status_code == 403
    assert not [d for d in dash["service"].guard.cache.active(time.time())
                if d.reason == "cross site"]  # fmt: skip


def test_when_the_dpo_tries_to_act_then_every_acting_route_refuses(dash: dict[str, Any]) -> None:
    b = _signed(dash, "dora")
    alert = next(a for a in dash["world"].alerts if a.incident)
    b.get("/ui/decisions")
    for path, form in (
        (f"/ui/alerts/{alert.alert_id}/label", {"label": "false_positive", "note": "dpo"}),
        ("/ui/decisions/no-such/revoke", {"reason": "dpo tries"}),
        (f"/ui/incidents/{dash['world'].incident}/status", {"status": "closed", "reason": "x y"}),
    ):
        assert b.post(path, form).status_code == 403, path
    assert UserStore(dash["service"].state).labels([alert.alert_id]).get(alert.alert_id) is None


def test_incident_and_practice_ids_never_name_a_folder_outside_the_scopes(tmp_path: Path) -> None:
    jobs = BreachJobs(tmp_path / "scopes", None, None)
    for bad in ("..", ".", "...", "../x", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            jobs.folder(bad)
    (tmp_path / "scopes" / "inc-1" / "practices").mkdir(parents=True)
    assert jobs.pack("inc-1", "..") is None
    assert jobs.folder("inc-1.a_b") == tmp_path / "scopes" / "inc-1.a_b"


# ---- CSRF and acting -----------------------------------------------------------------
def test_when_a_form_lacks_its_csrf_token_or_comes_from_elsewhere_then_it_is_refused(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    tenant, actor = _an_account(dash)
    form = {"decision": "block", "scope": "account", "value": f"{tenant}/{actor}",
            "reason": "csrf test", "duration": "1h"}  # fmt: skip
    assert b.post("/ui/decisions", {**form, "csrf": "wrong"}).status_code == 403
    r = b.post("/ui/decisions", form, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    active = dash["service"].guard.cache.active(time.time())
    assert not [d for d in active if d.reason == "csrf test"]


def test_when_an_analyst_blocks_then_unblocks_an_account_then_both_are_in_force_and_audited(
    dash: dict[str, Any],
) -> None:
    service: Service = dash["service"]
    b = _signed(dash, "ana")
    tenant, actor = _an_account(dash)
    b.get("/ui/decisions")
    r = b.post("/ui/decisions", {"decision": "throttle", "scope": "account",
                                 "value": f"{tenant}/{actor}", "reason": "too fast tonight",
                                 "duration": "2h", "rate": "10/min"})  # fmt: skip
    assert r.status_code == 303, r.text
    verdict = service.guard.decide(tenant=tenant, actor=actor, session=None, src_ip="203.0.113.9",
                                   method="GET", uri="/api/v1/patients")  # fmt: skip
    assert verdict.decision == "allow"  # a throttle lets the first requests through
    rec = next(d for d in service.guard.cache.active(time.time()) if d.reason == "too fast tonight")
    assert rec.decision == "throttle" and rec.origin == "manual:ui:ana" and not rec.simulated
    page = b.get(f"/ui/accounts/{tenant}/{actor}")
    assert "too fast tonight" in page.text
    back = f"/ui/accounts/{tenant}/{actor}"
    r = b.post(f"/ui/decisions/{rec.id}/revoke", {"reason": "checked with him", "next": back})
    assert r.status_code == 303
    assert rec.id not in {d.id for d in service.guard.cache.active(time.time())}
    done = [e["detail"] for e in service.state.audit_log(200) if e["who"] == "ui:ana"]
    assert any(d.get("reason") == "too fast tonight" for d in done)
    assert any(d.get("reason") == "checked with him" for d in done)


def test_when_a_decision_has_no_reason_or_a_bad_value_then_it_is_refused_clearly(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    b.get("/ui/decisions")
    r = b.post("/ui/decisions", {"scope": "account", "value": "cab-1/x", "reason": ""})
    assert r.status_code == 422 and "give a reason" in r.text
    r = b.post("/ui/decisions", {"scope": "account", "value": "no-slash", "reason": "because"})
    assert r.status_code == 422 and "practice/actor" in r.text
    r = b.post("/ui/decisions", {"scope": "account", "value": "a/b", "reason": "because",
                                 "duration": "forever-ish"})  # fmt: skip
    assert r.status_code == 422
    r = b.post("/ui/decisions", {"decision": "throttle", "scope": "ip", "value": "10.0.0.1",
                                 "reason": "because"})  # fmt: skip
    assert r.status_code == 422 and "rate" in r.text
    r = b.post("/ui/decisions/d-nonexistent/revoke", {"reason": "because"})
    assert r.status_code == 404


def test_when_the_dpo_tries_to_block_then_the_role_refuses(dash: dict[str, Any]) -> None:
    b = _signed(dash, "dora")
    b.get("/ui/decisions")
    r = b.post("/ui/decisions", {"scope": "ip", "value": "10.9.9.9", "reason": "dpo tries"})
    assert r.status_code == 403


def test_when_an_alert_is_labelled_then_the_label_is_kept_and_exported(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    alert = next(a for a in dash["world"].alerts if a.severity == "low")
    page = b.get(f"/ui/alerts/{alert.alert_id}")
    assert "True positive" in page.text
    r = b.post(f"/ui/alerts/{alert.alert_id}/label",
               {"label": "false_positive", "note": "vaccination campaign"})  # fmt: skip
    assert r.status_code == 303
    assert "false positive" in b.get(f"/ui/alerts/{alert.alert_id}").text
    csv_text = b.get("/ui/labels.csv").text
    header, *rows = csv_text.strip().splitlines()
    assert header.startswith("alert_id,ts,tenant,actor,detector,severity,score")
    row = next(r for r in rows if r.startswith(alert.alert_id))
    assert alert.detector in row and "false_positive" in row and "vaccination campaign" in row
    assert b.post(f"/ui/alerts/{alert.alert_id}/label", {"label": "maybe"}).status_code == 422


# ---- pages --------------------------------------------------------------------------------------
def test_the_overview_shows_the_open_incident_with_the_files_it_exposed(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    deadline = time.monotonic() + 20  # the daily roll-up is built in a thread
    page = b.get("/ui/")
    while "s-events" not in page.text and time.monotonic() < deadline:
        time.sleep(0.3)
        page = b.get("/ui/")
    incident = dash["world"].incident
    assert f"/ui/incidents/{incident}" in page.text
    row = page.text.split(f"/ui/incidents/{incident}", 1)[1].split("</tr>", 1)[0]
    figures = [int(x.replace("\u202f", "")) for x in re.findall(r'class="n strong">([\d\u202f]+)<',
                                                                row)]  # fmt: skip
    assert figures and figures[0] > 100  # files extracted by the campaign's accounts
    assert "simulation-mode decisions" in page.text  # the policy runs in simulation here
    assert "Requests per hour" in page.text


def test_the_incident_page_shows_accounts_baselines_sources_and_alerts(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    incident = dash["world"].incident
    page = b.get(f"/ui/incidents/{incident}").text
    accounts = {(a.tenant, a.actor) for a in dash["world"].alerts if a.incident == incident}
    for tenant, actor in accounts:
        assert f"/ui/accounts/{tenant}/{actor}" in page
    assert page.count('class="spark"') == len(accounts)
    assert "Sources and user agents" in page and "MedPratic" in page
    assert "patient files extracted" in page
    assert "in simulation" in page


def test_the_account_page_shows_activity_against_baseline_and_care_relationships(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    tenant, actor = _an_account(dash)
    page = b.get(f"/ui/accounts/{tenant}/{actor}").text
    assert "its own baseline" in page and "peers" in page
    assert re.search(r"were of patients it had an appointment with: [\d\u202f]+ of", page)


def test_the_alert_page_shows_reasons_evidence_events_and_the_rule_doc(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    alert = next(a for a in dash["world"].alerts if a.detector == "ordered-walk")
    page = b.get(f"/ui/alerts/{alert.alert_id}").text
    assert alert.reasons[0][:40] in page.replace("&#39;", "'").replace("&gt;", ">")
    assert "Events behind it" in page and "/api/v1/patients" in page
    doc = (Path(__file__).resolve().parents[2] / "rules" / "ordered-walk.md").read_text()
    first_heading = next(line for line in doc.splitlines() if line.startswith("#"))
    assert first_heading.lstrip("# ").strip()[:20] in page
    assert b.get("/ui/alerts/al-nonexistent").status_code == 404


# ---- roles and identities ----------------------------------------------------------------------
def test_when_an_analyst_asks_for_identities_then_it_is_refused(dash: dict[str, Any]) -> None:
    service: Service = dash["service"]
    before = len(_audit(service, "identity-view"))
    b = _signed(dash, "ana")
    alert = next(a for a in dash["world"].alerts if a.incident)
    page = b.get(f"/ui/alerts/{alert.alert_id}").text
    assert "Show who these patients are" not in page
    assert "data-protection officer only" in page
    assert b.get(f"/ui/alerts/{alert.alert_id}/identities").status_code == 403
    incident = dash["world"].incident
    assert b.get(f"/ui/breach/{incident}/notifications.csv").status_code == 403
    assert b.get(f"/ui/breach/{incident}/packs/cab-0001.zip").status_code == 403
    assert b.get("/ui/audit").status_code == 403
    assert len(_audit(service, "identity-view")) == before


def test_when_the_dpo_views_identities_then_each_view_is_in_the_audit_log(
    dash: dict[str, Any],
) -> None:
    service: Service = dash["service"]
    before = len(_audit(service, "identity-view"))
    b = _signed(dash, "dora")
    alert = next(a for a in dash["world"].alerts if a.incident and a.detector == "ordered-walk")
    page = b.get(f"/ui/alerts/{alert.alert_id}").text
    assert "Show who these patients are" in page
    names = b.get(f"/ui/alerts/{alert.alert_id}/identities")
    assert names.status_code == 200 and "birth_date" in names.text and "last_name" in names.text
    b.get(f"/ui/alerts/{alert.alert_id}/identities")
    views = _audit(service, "identity-view")
    assert len(views) == before + 2
    assert views[0]["who"] == "ui:dora" and views[0]["detail"]["alert"] == alert.alert_id
    assert "identity-view" in b.get("/ui/audit").text


def test_when_an_alert_is_pushed_then_the_live_stream_shows_it_within_2_s(
    dash: dict[str, Any],
) -> None:
    b = _signed(dash, "ana")
    alert: dict[str, Any] = {
        "alert_id": f"al-live-{time.time_ns()}", "ts": "2025-11-10T10:00:00.000+01:00",
        "tenant": "cab-0001", "actor": "dr.live.test", "session": None, "src_ip": None,
        "severity": "high", "score": 9.0, "detector": "bulk-paging",
        "reasons": ["pushed by the test"], "evidence": {}, "incident": None,
    }  # fmt: skip
    seen: dict[str, float] = {}

    def listen() -> None:
        with (
            httpx.Client(base_url=dash["url"], timeout=10) as c,
            c.stream("GET", "/ui/live/stream", headers=b._headers()) as r,
        ):
            for line in r.iter_lines():
                if line.startswith("data: ") and alert["alert_id"] in line:
                    seen["at"] = time.perf_counter()
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.5)
    pushed = time.perf_counter()
    r = httpx.post(dash["url"] + "/v1/alerts", content=orjson.dumps(alert),
                   headers={"authorization": f"Bearer {dash['token']}"})  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1
    t.join(timeout=5)
    assert "at" in seen and seen["at"] - pushed < 2.0


# ---- breach ----------------------------------------------------------------------------
def test_the_breach_scope_runs_and_only_the_dpo_gets_the_persons(dash: dict[str, Any]) -> None:
    service: Service = dash["service"]
    incident = dash["world"].incident
    ana = _signed(dash, "ana")
    ana.get(f"/ui/breach/{incident}")
    assert ana.post(f"/ui/breach/{incident}/run", {}).status_code == 303
    deadline = time.monotonic() + 240
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = ana.get(f"/ui/breach/{incident}/status").json()
        if status["status"] not in ("queued", "running"):
            break
        time.sleep(1)
    assert status["status"] == "done", status
    page = ana.get(f"/ui/breach/{incident}").text
    assert "persons exposed" in page and 'id="persons-hidden"' in page
    labels = re.findall(r'<text class="label"[^>]*>([^<]+)<', page)
    assert labels and not {"data", "note"} & set(labels)  # categories, not their kinds
    pdf = ana.get(f"/ui/breach/{incident}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert ana.get(f"/ui/breach/{incident}/notifications.csv").status_code == 403
    before = len(_audit(service, "identity-view"))
    dora = _signed(dash, "dora")
    page = dora.get(f"/ui/breach/{incident}").text
    assert 'id="persons"' in page and "written to the audit trail" in page
    notes = dora.get(f"/ui/breach/{incident}/notifications.csv")
    assert notes.status_code == 200 and notes.text.count("\n") > 10
    pack_links = re.findall(r'/ui/breach/[^"]+/packs/([^"]+)\.zip', page)
    assert pack_links
    pack = dora.get(f"/ui/breach/{incident}/packs/{pack_links[0]}.zip")
    assert pack.status_code == 200 and pack.content[:2] == b"PK"
    packs_seen = len(_audit(service, "identity-view"))
    assert dora.get(f"/ui/breach/{incident}/packs/no-such-practice.zip").status_code == 404
    assert dora.get(f"/ui/breach/{incident}/packs/...zip").status_code == 404
    assert len(_audit(service, "identity-view")) == packs_seen  # nothing shown, no view
    views = _audit(service, "identity-view")[: len(_audit(service, "identity-view")) - before]
    assert {v["detail"]["what"] for v in views} >= {"breach-persons", "notifications.csv",
                                                    "practice-pack"}  # fmt: skip


def test_labels_csv_cells_cannot_run_as_spreadsheet_formulas(dash: dict[str, Any]) -> None:
    b = _signed(dash, "ana")
    alert = next(a for a in dash["world"].alerts if a.incident)
    b.get(f"/ui/alerts/{alert.alert_id}")
    note = '=HYPERLINK("https://evil.example","open")'
    r = b.post(f"/ui/alerts/{alert.alert_id}/label", {"label": "true_positive", "note": note})
    assert r.status_code == 303
    rows = list(csv.DictReader(io.StringIO(b.get("/ui/labels.csv").text)))
    row = next(x for x in rows if x["alert_id"] == alert.alert_id)
    assert row["note"] == "'" + note
    assert not any(v[:1] in "=+@" for x in rows for v in x.values() if v)


def test_event_controlled_text_is_escaped_in_pages_and_charts(dash: dict[str, Any]) -> None:
    evil = '<img src=x onerror=alert(1)>"'
    alert: dict[str, Any] = {
        "alert_id": f"al-xss-{time.time_ns()}", "ts": "2025-11-10T10:00:00.000+01:00",
        "tenant": "cab-0001", "actor": f"dr.{evil}", "session": None, "src_ip": None,
        "severity": "high", "score": 9.0, "detector": "bulk-paging",
        "reasons": [f"<script>alert(2)</script>{evil}"], "evidence": {"ua": evil},
        "incident": None,
    }  # fmt: skip
    r = httpx.post(dash["url"] + "/v1/alerts", content=orjson.dumps(alert),
                   headers={"authorization": f"Bearer {dash['token']}"})  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1
    b = _signed(dash, "ana")
    for path in ("/ui/", f"/ui/alerts/{alert['alert_id']}",
                 f"/ui/accounts/cab-0001/{quote(alert['actor'], safe='')}"):  # fmt: skip
        page = b.get(path)
        assert page.status_code == 200, path
        assert "<img src=x" not in page.text and "<script>alert" not in page.text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text, path
    drawn = str(charts.lines(evil, [evil], [charts.Series(evil, "s-events", [1.0])]))
    drawn += str(charts.bars(evil, [(evil, 3.0, "s-extracted")]))
    drawn += str(charts.spark(evil, [1.0, 2.0], baseline=1.0))
    assert "<img" not in drawn and 'onerror=alert(1)>"' not in drawn
    assert drawn.count("&lt;img src=x onerror=alert(1)&gt;&quot;") >= 6


def test_rule_documentation_is_rendered_without_raw_html_or_script_links(tmp_path: Path) -> None:
    (tmp_path / "bulk-paging.md").write_text(
        "# Bulk\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) [ok](https://example.org/rule)\n",
        encoding="utf-8",
    )
    html = str(_rule_doc(tmp_path, "bulk-paging"))
    assert "<h1>Bulk</h1>" in html and 'href="https://example.org/rule"' in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html
    assert _rule_doc(tmp_path, "../bulk-paging") is None


def test_when_a_scope_fails_on_data_then_the_page_shows_its_kind_not_the_data(
    tmp_path: Path,
) -> None:
    jobs = BreachJobs(tmp_path / "scopes", tmp_path, None)
    bad = {"alert_id": "a1", "ts": "2025-11-10T10:00:00Z", "tenant": "cab-0001",
           "actor": "dr.x", "severity": "high", "detector": "bulk-paging",
           "reasons": None, "incident": "inc-1", "session": {"DUPONT Jeanne": 1}}  # fmt: skip
    job = jobs.start("inc-1", [bad])
    assert jobs._running is not None
    jobs._running.join(30)
    assert job.status == "failed"
    assert job.error is not None and "DUPONT" not in job.error and "failed (" in job.error
    none = BreachJobs(tmp_path / "scopes2", None, None).start("inc-2", [])
    while none.finished is None:
        time.sleep(0.05)
    assert none.error is not None and "--store" in none.error  # vigile's own words are kept


# ---- the command ---------------------------------------------------------------------------------
def test_vigile_users_add_list_disable(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "vigile", "users", *args, "--state", state]
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )

    r = run("add", "dpo.durand", "--role", "dpo", "--password-stdin",
            stdin="a-very-long-password\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = orjson.loads(run("list", "--json").stdout)
    assert rows[0]["name"] == "dpo.durand" and rows[0]["role"] == "dpo"
    r = run("add", "x.y", "--role", "boss", "--password-stdin", stdin="a-very-long-password\n")
    assert r.returncode == 2 and "--role must be one of" in r.stderr
    r = run("add", "x.y", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "10 characters" in r.stderr
    r = run("add", "dpo.durand", "--password-stdin", stdin="a-very-long-password\n")
    assert r.returncode == 2 and "exists already" in r.stderr
    assert run("disable", "dpo.durand").returncode == 0
    r = run("disable", "dpo.durand")
    assert r.returncode == 2 and "no enabled user" in r.stderr
    store = UserStore(open_state(state))
    assert store.authenticate("dpo.durand", "a-very-long-password") is None
    store.state.close()
    assert b"a-very-long-password" not in (tmp_path / "s.db").read_bytes()
