"""An attacker with stolen credentials, against the reference application, over real HTTP.

Two scripts, both counting the patient records they actually obtained (the
``X-Vigile-Records`` the application served them is not visible to them, so they
count what the response bodies contain) until the application refuses them:

* :func:`bulk_paging` — log in from a new address with a script, and page the
  whole patient list as fast as the server answers;
* :func:`campaign_account` — the seed case's pattern, one stolen doctor's account
  among several: the genuine client's user agent, a residential address (rotating
  every ``rotate_every`` requests when set), the practice's file list read in id
  order, file then notes, at a steady pace (the simulator's campaign rate, in
  files per hour of the scaled clock).

A refusal with a vigile reference (403) ends the script for that account: the
attack was stopped. A throttle (429) makes it wait ``Retry-After`` and go on —
records it gets while throttled still count.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson

from vigile.demo.app.replay import refused_by_vigile
from vigile.respond.clock import ScaledClock

__all__ = ["AttackResult", "bulk_paging", "campaign_account"]

SCRIPT_AGENT: Final = "python-requests/2.32.3"


@dataclass
class AttackResult:
    """What one attacking account obtained before being stopped."""

    kind: str
    account: str
    src_ips: list[str] = field(default_factory=list)
    records: int = 0
    patients: set[str] = field(default_factory=set)
    requests: int = 0
    throttled: int = 0
    stopped: bool = False
    stopped_by: str | None = None
    started_at: float | None = None  # virtual time
    stopped_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "account": self.account,
            "records": self.records,
            "patients": len(self.patients),
            "requests": self.requests,
            "throttled": self.throttled,
            "stopped": self.stopped,
            "stopped_by": self.stopped_by,
            "minutes_to_stop": (
                round((self.stopped_at - self.started_at) / 60, 1)
                if self.stopped_at is not None and self.started_at is not None
                else None
            ),
        }


async def _login(
    client: httpx.AsyncClient, actor: str, password: str, ip: str, agent: str
) -> str | None:
    r = await client.post(
        "/api/v1/auth/login",
        json={"login": actor, "password": password},
        headers={"x-forwarded-for": ip, "user-agent": agent},
    )
    return str(r.json()["token"]) if r.status_code == 200 else None


def _patients_in(body: Any) -> list[str]:
    if isinstance(body, dict):
        if isinstance(body.get("patients"), list):
            return [str(p["patient_id"]) for p in body["patients"] if "patient_id" in p]
        if "patient_id" in body and "last_name" in body:
            return [str(body["patient_id"])]
    return []


async def _get(
    client: httpx.AsyncClient,
    result: AttackResult,
    path: str,
    token: str,
    ip: str,
    agent: str,
    clock: ScaledClock,
) -> tuple[str, Any]:
    """One request: ``("ok", body)``, ``("stopped", None)`` or ``("other", None)``."""
    while True:
        r = await client.get(
            path,
            headers={"authorization": f"Bearer {token}", "x-forwarded-for": ip,
                     "user-agent": agent},
        )  # fmt: skip
        result.requests += 1
        if r.status_code == 429:
            result.throttled += 1
            wait = int(r.headers.get("retry-after", "1"))
            await asyncio.sleep(clock.wall_seconds(wait))
            continue
        if refused_by_vigile(r):
            result.stopped = True
            result.stopped_at = clock()
            result.stopped_by = orjson.loads(r.content).get("reference")
            return "stopped", None
        if r.status_code != 200:
            return "other", None
        body = orjson.loads(r.content)
        got = _patients_in(body)
        result.records += len(got)
        result.patients.update(got)
        return "ok", body


async def bulk_paging(
    base_url: str,
    actor: str,
    tenant: str,
    password: str,
    clock: ScaledClock,
    *,
    ip: str = "185.220.101.47",
    page_size: int = 50,
    max_pages: int = 400,
) -> AttackResult:
    """Page the whole list with stolen credentials, as fast as the server answers."""
    result = AttackResult("bulk paging", f"{tenant}/{actor}", src_ips=[ip])
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        token = await _login(client, actor, password, ip, SCRIPT_AGENT)
        result.started_at = clock()
        if token is None:
            return result
        for page in range(1, max_pages + 1):
            state, body = await _get(
                client, result, f"/api/v1/patients?page={page}&size={page_size}", token, ip,
                SCRIPT_AGENT, clock,
            )  # fmt: skip
            if state != "ok" or not body.get("more"):
                break
    return result


async def campaign_account(
    base_url: str,
    actor: str,
    tenant: str,
    password: str,
    clock: ScaledClock,
    *,
    ips: list[str],
    agent: str,
    rate_per_hour: float = 60.0,
    rotate_every: int = 0,
    max_files: int = 2000,
    ids: list[str] | None = None,
    page_size: int = 20,
    until: float | None = None,
) -> AttackResult:
    """Read one practice's files in id order at a steady pace, notes too, until stopped.

    With ``ids`` (the practice's file ids, as the simulator's campaign has them)
    the files are read directly; without, the attacker pages the list
    (``page_size``) to learn them first. ``until`` (virtual time) ends the attack.
    """
    result = AttackResult("campaign", f"{tenant}/{actor}", src_ips=list(ips[:1]))
    gap = clock.wall_seconds(3600.0 / rate_per_hour)
    ip_index = 0
    requests = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        ip = ips[0]
        token = await _login(client, actor, password, ip, agent)
        result.started_at = clock()
        if token is None:
            return result

        async def batches() -> Any:
            if ids is not None:
                yield ids
                return
            page = 1
            while True:
                state, body = await _get(
                    client, result, f"/api/v1/patients?page={page}&size={page_size}", token,
                    ip, agent, clock,
                )  # fmt: skip
                if state != "ok":
                    return
                yield [p["patient_id"] for p in body["patients"]]
                if not body.get("more"):
                    return
                page += 1

        files = 0
        async for batch in batches():
            for pid in batch:
                if files >= max_files or (until is not None and clock() >= until):
                    return result
                next_at = time.monotonic() + gap
                for path in (f"/api/v1/patients/{pid}", f"/api/v1/patients/{pid}/annotations"):
                    state, _ = await _get(client, result, path, token, ip, agent, clock)
                    requests += 1
                    if state == "stopped":
                        return result
                    if rotate_every > 0 and requests % rotate_every == 0 and len(ips) > 1:
                        ip_index = (ip_index + 1) % len(ips)
                        ip = ips[ip_index]
                        result.src_ips.append(ip)
                files += 1
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if result.stopped:
                break
    return result
