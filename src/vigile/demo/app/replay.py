"""Drive the reference application over real HTTP with a simulated world's genuine users.

Each access event of the world (``vigile sim``) becomes the request that made it:
a login, a file opened, notes read, a schedule polled, a search, a prescription
written... sent at the event's time on a :class:`~vigile.respond.clock.ScaledClock`
(a working morning in two minutes), from the event's address
(``X-Forwarded-For``; the application trusts the loopback proxy) and with its user
agent. Every account has its own task, so its requests keep their order; world
sessions map to live sessions (a login when the world logged in, or when a
session started before the window).

The replay records what each genuine request got back, and in particular every
refusal that came from vigile (a ``reference`` in the body), which is the figure
that matters: genuine users must never be stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import httpx
import orjson

from vigile.events import AccessEvent
from vigile.respond.clock import ScaledClock

__all__ = ["ReplayStats", "Replayer", "refused_by_vigile"]

_WRONG_PASSWORD: Final = "not-the-password"


def refused_by_vigile(response: httpx.Response) -> bool:
    """A 403/429/503 written by vigile's middleware (it carries a ``reference``)."""
    if response.status_code not in (403, 429, 503):
        return False
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and "reference" in body


@dataclass
class ReplayStats:
    """What the genuine users got."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    refused_by_vigile: int = 0
    refused_accounts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    late: int = 0
    latencies: list[float] = field(default_factory=list)
    skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def q(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        return {
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "refused_by_vigile": self.refused_by_vigile,
            "refused_accounts": dict(self.refused_accounts),
            "errors": self.errors,
            "late": self.late,
            "skipped": self.skipped,
            "latency_ms": {"p50": q(0.5), "p99": q(0.99)},
        }


class Replayer:
    """Sends a world's genuine events to the application at their (scaled) time."""

    def __init__(
        self,
        base_url: str,
        passwords: dict[str, tuple[str, str, str]],
        clock: ScaledClock,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.passwords = passwords
        self.clock = clock
        self.stats = ReplayStats()
        self.timeout = timeout
        self._sessions: dict[tuple[str, str], str] = {}  # (actor, world session) → token
        self._created: dict[str, str] = {}  # world patient id → application patient id
        self._doctor: dict[str, str] = {}
        for actor, (tenant, role, _) in sorted(passwords.items()):
            if role == "doctor":
                self._doctor.setdefault(tenant, actor)

    async def run(self, events: Iterable[AccessEvent], stop: asyncio.Event | None = None) -> None:
        """Replay ``events`` (time-ordered) until done or ``stop`` is set."""
        queues: dict[str, list[AccessEvent]] = defaultdict(list)
        for ev in events:
            if ev.actor in self.passwords:
                queues[ev.actor].append(ev)
            else:
                self.stats.skipped += 1
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as client:
            await asyncio.gather(
                *(self._account(client, actor, evs, stop) for actor, evs in queues.items())
            )

    async def _account(
        self,
        client: httpx.AsyncClient,
        actor: str,
        events: list[AccessEvent],
        stop: asyncio.Event | None,
    ) -> None:
        for ev in events:
            if stop is not None and stop.is_set():
                return
            due = self.clock.wall_at(ev.ts.timestamp())
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -2.0:
                self.stats.late += 1
            try:
                await self._send(client, ev)
            except (httpx.HTTPError, OSError):
                self.stats.errors += 1

    async def _token(self, client: httpx.AsyncClient, ev: AccessEvent) -> str | None:
        key = (ev.actor, ev.session or "")
        token = self._sessions.get(key)
        if token is None:
            token = await self._login(client, ev)
        return token

    async def _login(self, client: httpx.AsyncClient, ev: AccessEvent) -> str | None:
        _, _, password = self.passwords[ev.actor]
        r = await self._request(
            client, ev, "POST", "/api/v1/auth/login", json={"login": ev.actor, "password": password}
        )
        if r is None or r.status_code != 200:
            return None
        token = str(r.json()["token"])
        self._sessions[(ev.actor, ev.session or "")] = token
        return token

    async def _request(
        self,
        client: httpx.AsyncClient,
        ev: AccessEvent,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
    ) -> httpx.Response | None:
        headers = {"x-forwarded-for": ev.src_ip or "127.0.0.1"}
        if ev.user_agent:
            headers["user-agent"] = ev.user_agent
        if token:
            headers["authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        r = await client.request(method, path, headers=headers, json=json)
        st = self.stats
        st.latencies.append(time.perf_counter() - started)
        st.requests += 1
        st.statuses[r.status_code] += 1
        if refused_by_vigile(r):
            st.refused_by_vigile += 1
            st.refused_accounts[f"{ev.tenant}/{ev.actor}"] += 1
        return r

    def _pid(self, ev: AccessEvent) -> str | None:
        if not ev.patient_ids:
            return None
        pid = ev.patient_ids[0]
        return self._created.get(pid, pid)

    async def _send(self, client: httpx.AsyncClient, ev: AccessEvent) -> None:
        action, resource = ev.action, ev.resource
        if action == "login":
            await self._login(client, ev)
            return
        if action == "login_failed":
            await self._request(
                client, ev, "POST", "/api/v1/auth/login",
                json={"login": ev.actor, "password": _WRONG_PASSWORD},
            )  # fmt: skip
            return
        token = await self._token(client, ev)
        if token is None:
            return
        if action == "logout":
            await self._request(client, ev, "POST", "/api/v1/auth/logout", token=token)
            self._sessions.pop((ev.actor, ev.session or ""), None)
            return
        pid = self._pid(ev)
        query = f"?{ev.query}" if ev.query else ""
        method, path = "GET", None
        body: dict[str, Any] | None = None
        if resource == "appointment":
            if action == "list":
                path = f"/api/v1/appointments{query}"
            elif action == "create" and pid:
                tenant = self.passwords[ev.actor][0]
                doctor = ev.actor if ev.actor.startswith("dr.") else self._doctor.get(tenant)
                method, path = "POST", "/api/v1/appointments"
                body = {"patient_id": pid, "start": _start(ev), "actor": doctor}
        elif resource == "patient":
            if action == "read" and pid:
                path = f"/api/v1/patients/{quote(pid)}"
            elif action == "print" and pid:
                path = f"/api/v1/patients/{quote(pid)}/print"
            elif action == "search":
                q = ev.query if ev.query and "=" not in ev.query else None
                path = f"/api/v1/patients/search?q={quote(q or 'ma')}"
            elif action == "list":
                path = f"/api/v1/patients{query}"
            elif action == "export":
                path = f"/api/v1/exports/patients{query}"
            elif action == "update" and pid:
                method, path = "PUT", f"/api/v1/patients/{quote(pid)}"
                body = {"phone": "0601020304"}
            elif action == "create":
                method, path = "POST", "/api/v1/patients"
                body = {"last_name": "Nouveau", "first_name": "Patient", "sex": "F",
                        "birth_date": "1990-01-01"}  # fmt: skip
        elif resource == "annotation" and pid:
            path = f"/api/v1/patients/{quote(pid)}/annotations"
            if action == "create":
                method, body = "POST", {"text": "Rdv de contrôle dans un mois."}
        elif resource == "document" and pid:
            path = f"/api/v1/patients/{quote(pid)}/documents/{quote(pid)}-D1"
        elif resource == "prescription" and pid:
            path = f"/api/v1/patients/{quote(pid)}/prescriptions"
            if action == "create":
                method, body = "POST", {"lines": ["Paracétamol 1 g, 3 fois par jour, 5 jours"]}
        if path is None:
            self.stats.skipped += 1
            return
        r = await self._request(client, ev, method, path, token=token, json=body)
        if r is not None and r.status_code == 401:  # the session expired: log in again
            self._sessions.pop((ev.actor, ev.session or ""), None)
        elif (
            r is not None
            and action == "create"
            and resource == "patient"
            and r.status_code == 201
            and ev.patient_ids
        ):
            self._created[ev.patient_ids[0]] = str(r.json()["patient_id"])


def _start(ev: AccessEvent) -> str:
    ts: datetime = ev.ts
    return ts.replace(microsecond=0).isoformat()
