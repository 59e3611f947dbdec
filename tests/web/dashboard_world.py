"""A small simulated world with a campaign, stored and detected, and a dashboard on it.

Shared by the dashboard's HTTP tests (tests/web) and its browser tests (tests/e2e):
six practices over eight days, one campaign on five doctors' accounts (the seed
case's pattern), everything else quiet; the real detection engine makes the
alerts and groups the campaign into an incident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vigile.events import Alert
from vigile.respond.state import open_state
from vigile.web.api import create_app
from vigile.web.dashboard import DashboardConfig, make_mount
from vigile.web.server import ServerThread
from vigile.web.service import ServeConfig, Service
from vigile.web.users import UserStore

PASSWORD = "correct-horse-battery"
_QUIET = ("night_paging", "low_and_slow", "enumeration", "search_scraping", "token_replay",
          "credential_stuffing", "vip_snooping")  # fmt: skip
OVERRIDES: dict[str, Any] = {
    "practices": 6,
    "days": 8,
    "records_per_doctor": 400.0,
    "attacks": {
        **{k: {"count": 0} for k in _QUIET},
        "campaign": {"accounts": 5, "start_day": 4, "spread_days": 2},
    },
    "benign": {
        k: {"count": 0}
        for k in ("locum_panel", "vaccine_recall", "new_doctor", "evening_catchup",
                  "data_migration")
    },
}  # fmt: skip


@dataclass
class DashWorld:
    """A world's files, its event store, and the alerts detection made on it."""

    world: Path
    store: Path
    alerts: list[Alert]

    @property
    def context(self) -> Path:
        return self.world / "context"

    @property
    def incident(self) -> str:
        found = sorted({a.incident for a in self.alerts if a.incident})
        assert found, "the campaign formed no incident"
        return found[0]


def generate_world(root: Path, seed: int = 7) -> Path:
    """The small world of this module (generated once per directory)."""
    from vigile.sim.config import apply_overrides
    from vigile.sim.generate import generate
    from vigile.sim.presets import preset_config

    world = root / "world"
    if not (world / "world.json").exists():
        generate(apply_overrides(preset_config("small", seed=seed), OVERRIDES), world)
    return world


def store_and_detect(world: Path, root: Path) -> DashWorld:
    """Append the world's events to an event store and run detection over them."""
    from vigile.detect.context_index import ContextIndex
    from vigile.detect.engine import Engine
    from vigile.detect.rules import load_rules
    from vigile.store import open_store
    from vigile.stream import EventReader

    store = root / "store"
    st = open_store(store, create=True)
    st.append(EventReader([world / "events.jsonl"], "jsonl"))
    st.close()
    engine = Engine(load_rules(), ContextIndex.load(world / "context"))
    alerts = list(engine.run(EventReader([world / "events.jsonl"], "jsonl")))
    return DashWorld(world, store, alerts)


def simulation_policy(root: Path) -> Path:
    """The shipped policy in simulation mode: the alerts decide nothing, people do."""
    shipped = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    text = shipped.read_text(encoding="utf-8").replace("simulation: false", "simulation: true", 1)
    path = root / "policy-simulation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def start_dashboard(
    dw: DashWorld, root: Path, users: dict[str, str] | None = None
) -> tuple[ServerThread, Service]:
    """``vigile serve`` with the dashboard on a free port; the alerts go through the policy."""
    state = f"sqlite:///{root / 'state.db'}"
    st = open_state(state)
    store = UserStore(st)
    for name, role in (users or {"ana": "analyst", "dora": "dpo", "adam": "admin"}).items():
        store.add(name, role, PASSWORD)
    st.close()
    service = Service(
        ServeConfig(
            state=state,
            context=dw.context,
            store=dw.store,
            detect=False,
            policy=simulation_policy(root),
        )
    )
    config = DashboardConfig(scopes=root / "scopes", refresh=0.2)
    server = ServerThread(create_app(service, extend=[make_mount(config)])).start()
    for alert in dw.alerts:
        service.guard.handle_alert(alert)
    return server, service


class Browser:
    """An httpx client that signs in like a browser (cookies are ``Secure``: sent by hand)."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        headers.update(extra or {})
        return headers

    def _keep(self, response: httpx.Response) -> None:
        for raw in response.headers.get_list("set-cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in raw.lower() or "expires=thu, 01 jan 1970" in raw.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, path: str, **kw: Any) -> httpx.Response:
        r = self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)
        self._keep(r)
        found = re.search(r'name="csrf" value="([^"]+)"', r.text) if r.text else None
        if found and "/ui/login" not in path:
            self.csrf = found.group(1)
        return r

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True,
             headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        body = {**data, **({"csrf": self.csrf} if csrf and "csrf" not in data else {})}
        r = self.client.post(path, data=body, headers=self._headers(headers))
        self._keep(r)
        return r

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        page = self.get("/ui/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        r = self.post("/ui/login", {"csrf": token.group(1), "name": name, "password": password,
                                    "next": "/ui/"}, csrf=False)  # fmt: skip
        if r.status_code == 303:
            self.get("/ui/")
        return r

    def close(self) -> None:
        self.client.close()
