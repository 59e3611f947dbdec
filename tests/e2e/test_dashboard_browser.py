"""The dashboard in a real browser (Debian's chromium driven by Playwright), end to end.

An analyst signs in, sees the incident a simulated campaign made, opens it,
blocks one of its accounts; the protected reference application, behind a real
`vigile serve`, then refuses that account (a real request through the guard);
the analyst runs the breach scope and downloads the report; the DPO sees the
persons and every such view is in the audit trail. A screenshot of each page is
saved under build/test-artifacts/dashboard/.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.dashboard_world import OVERRIDES, PASSWORD, start_dashboard, store_and_detect
from vigile.demo.app.main import AppConfig, create_app
from vigile.demo.app.seed import load_passwords
from vigile.demo.live import prepare
from vigile.respond.enforcer import RemoteEnforcer
from vigile.respond.state import open_state
from vigile.web.auth import create_token
from vigile.web.server import ServerThread

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("VIGILE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "dashboard"

if not CHROMIUM.exists():
    pytest.skip(
        f"no chromium at {CHROMIUM}: install Debian's `chromium` (.ci/run does) to run the "
        "dashboard's browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dash-e2e")
    setup = prepare(root, 7, overrides=OVERRIDES)
    world = store_and_detect(setup.world, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("VIGILE_TOKEN_PEPPER", "e2e-dashboard-pepper")
    st = open_state(f"sqlite:///{root / 'state.db'}")
    app_token, _ = create_token(st, "practice-app", ["ingest", "decide"], now=time.time())
    st.close()
    vigile, service = start_dashboard(world, root)
    enforcer = RemoteEnforcer(vigile.url, app_token, timeout=2.0)
    app = create_app(AppConfig(db=setup.app_db, note_key=setup.note_key), enforcer=enforcer)
    app_server = ServerThread(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1").start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield {
            "vigile": vigile.url,
            "app": app_server.url,
            "service": service,
            "world": world,
            "passwords": load_passwords(setup.passwords),
        }
    finally:
        app_server.stop()
        vigile.stop()
        mp.undo()


def _app_client(stack: dict[str, Any], actor: str) -> httpx.Client:
    _, _, password = stack["passwords"][actor]
    client = httpx.Client(base_url=stack["app"], headers={"x-forwarded-for": "82.64.12.7"})
    r = client.post("/api/v1/auth/login", json={"login": actor, "password": password})
    assert r.status_code == 200, r.text
    client.headers["authorization"] = f"Bearer {r.json()['token']}"
    return client


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url + "/ui/")
    page.wait_for_url(re.compile(r".*/ui/login.*"))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/ui/")


def test_an_analyst_stops_a_campaign_account_and_the_dpo_gets_the_breach_report(
    stack: dict[str, Any],
) -> None:
    url = stack["vigile"]
    incident = stack["world"].incident
    accounts = sorted(
        {(a.tenant, a.actor) for a in stack["world"].alerts if a.incident == incident}
    )
    tenant, actor = next((t, a) for t, a in accounts if a in stack["passwords"])
    victim = _app_client(stack, actor)
    assert victim.get("/api/v1/patients?size=1").status_code == 200  # served before the block
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        context = browser.new_context(viewport={"width": 1360, "height": 900},
                                      accept_downloads=True)  # fmt: skip
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # sign in, see the incident on the overview (live figures connected)
        page.goto(url + "/ui/")
        page.wait_for_url(re.compile(r".*/ui/login.*"))
        _shot(page, "01-sign-in")
        page.fill("input[name=name]", "ana")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/ui/")
        sync_api.expect(page.locator("#live-status")).to_contain_text("live", timeout=10_000)
        link = page.locator(f"a[href='/ui/incidents/{incident}']").first
        sync_api.expect(link).to_be_visible()
        _shot(page, "02-overview")

        # open it, block one of its accounts with a reason
        link.click()
        page.wait_for_url(f"{url}/ui/incidents/{incident}")
        sync_api.expect(page.locator("h1")).to_contain_text(incident)
        _shot(page, "03-incident")
        row = page.locator("table.accounts tr", has=page.locator(
            f"a[href='/ui/accounts/{tenant}/{actor}']"))  # fmt: skip
        row.locator("select[name=duration]").select_option("24h")
        row.locator("input[name=reason]").fill("campaign member: password in an attacker's hands")
        row.locator("button:has-text('Block')").click()
        page.wait_for_url(re.compile(rf".*/ui/incidents/{incident}\?done=d-.*"))
        sync_api.expect(page.locator(".flash")).to_contain_text("in force")
        sync_api.expect(row.locator(".dec-block").first).to_be_visible()
        _shot(page, "04-incident-after-block")

        # the protected application now refuses that account: real requests through the guard
        deadline = time.monotonic() + 5
        status = victim.get("/api/v1/patients?size=1").status_code
        while status != 403 and time.monotonic() < deadline:
            time.sleep(0.1)
            status = victim.get("/api/v1/patients?size=1").status_code
        assert status == 403
        other = next(
            a for t, a in accounts if (t, a) != (tenant, actor) and a in stack["passwords"]
        )
        colleague = _app_client(stack, other)  # only that account is refused
        try:
            assert colleague.get("/api/v1/patients?size=1").status_code == 200
        finally:
            colleague.close()

        # the account, one of its alerts, the decisions
        page.click(f"a[href='/ui/accounts/{tenant}/{actor}']")
        page.wait_for_url(f"{url}/ui/accounts/{tenant}/{actor}")
        sync_api.expect(page.locator("svg.chart").first).to_be_visible()
        _shot(page, "05-account")
        page.locator("a[href^='/ui/alerts/']").first.click()
        page.wait_for_url(re.compile(r".*/ui/alerts/al-.*"))
        sync_api.expect(page.locator("h2", has_text="Why")).to_be_visible()
        _shot(page, "06-alert")
        page.click("nav a[href='/ui/decisions']")
        sync_api.expect(page.locator("body")).to_contain_text("manual:ui:ana")
        _shot(page, "07-decisions")

        # the breach: run the scope, wait for it, download the report
        page.goto(f"{url}/ui/breach/{incident}")
        page.click("#run-scope")
        sync_api.expect(page.locator("#persons-exposed")).to_be_visible(timeout=240_000)
        sync_api.expect(page.locator("#persons-hidden")).to_be_visible()  # not for an analyst
        _shot(page, "08-breach-analyst")
        with page.expect_download() as info:
            page.click("#dl-report")
        report = ARTIFACTS / "report.pdf"
        info.value.save_as(str(report))
        assert report.read_bytes().startswith(b"%PDF") and report.stat().st_size > 10_000

        # the DPO sees the persons; the view is audited
        page.click("button:has-text('Sign out')")
        page.wait_for_url(re.compile(r".*/ui/login"))
        _sign_in(page, url, "dora")
        page.goto(f"{url}/ui/breach/{incident}")
        sync_api.expect(page.locator("#persons tbody tr").first).to_be_visible()
        _shot(page, "09-breach-dpo")
        with page.expect_download() as info:
            page.click("#dl-notifications")
        assert info.value.suggested_filename.endswith("notifications.csv")
        page.goto(f"{url}/ui/audit")
        sync_api.expect(page.locator("tr.idv").first).to_be_visible()
        _shot(page, "10-audit")
        browser.close()
    victim.close()
    assert not errors, errors  # no CSP violation, no script error
    audit = stack["service"].state.audit_log(1000)
    views = [e for e in audit if e["action"] == "identity-view"]
    assert {v["detail"]["what"] for v in views} >= {"breach-persons", "notifications.csv"}
    assert all(v["who"] == "ui:dora" for v in views)
    blocks = [e for e in audit if e["action"] == "block" and e["who"] == "ui:ana"]
    assert blocks and blocks[0]["detail"]["value"] == f"{tenant}/{actor}"
