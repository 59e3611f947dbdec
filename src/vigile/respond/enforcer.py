"""Enforcers: how a middleware asks for a decision and hands over the access event.

Two ways, one protocol (:class:`Enforcer`):

* :class:`LocalEnforcer` — vigile runs inside the application process: a
  :class:`~vigile.respond.guard.Guard` answers ``decide`` from memory and runs
  detection on each event as it is emitted. One process, no network.
* :class:`RemoteEnforcer` — the application asks a ``vigile serve`` over HTTP
  (``GET /v1/decide``, ~1 ms on a LAN) and ships its events in batches
  (``POST /v1/events``) from a background task.

Ordering. An attacker's script sends the next request the moment the previous
answer arrives. If that request's decision were asked before the previous
request's event reached detection, the block decided on that event would come
one request late. :class:`RemoteEnforcer` therefore waits, before asking about a
session (or account), until the events it already holds for that same session
have been delivered; people click seconds apart and never wait, a script is
held back by the few milliseconds of one ``POST``. Events of other sessions are
never waited for.

Failure. If vigile cannot be reached, ``fail_open=True`` (the default: a doctor
must be able to open a file during an outage) allows and counts the failure;
``fail_open=False`` refuses with 503. Events that cannot be delivered are
retried, then written to ``spool`` (JSON Lines, to be ingested later) when one
is given, else counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import orjson

from vigile.events import AccessEvent
from vigile.parsers.jsonl import render_jsonl
from vigile.respond.cache import ALLOW, Verdict
from vigile.respond.guard import Guard

__all__ = [
    "Enforcer",
    "EnforcerStats",
    "LocalEnforcer",
    "RemoteEnforcer",
    "RequestInfo",
    "SyncEnforcer",
    "SyncRemoteEnforcer",
]

log = logging.getLogger("vigile.respond")

UNAVAILABLE: Final = Verdict(
    decision="block", status=503, reason="the decision service cannot be reached"
)


@dataclass(slots=True)
class RequestInfo:
    """Who is asking, as the middleware knows it before serving."""

    tenant: str | None = None
    actor: str | None = None
    session: str | None = None
    src_ip: str | None = None
    method: str | None = None
    uri: str | None = None

    @property
    def key(self) -> str | None:
        """What ordering is kept per: the session, else the account."""
        if self.session:
            return "s:" + self.session
        if self.actor:
            return f"a:{self.tenant}/{self.actor}"
        return None


def _event_key(ev: AccessEvent) -> str:
    return "s:" + ev.session if ev.session else f"a:{ev.tenant}/{ev.actor}"


@dataclass
class EnforcerStats:
    """Counters an operator wants to see (exposed by the middleware's owner)."""

    decisions: int = 0
    refused: int = 0
    errors: int = 0
    events: int = 0
    delivered: int = 0
    spooled: int = 0
    dropped: int = 0
    waits: int = 0


class Enforcer(Protocol):
    """What the ASGI middleware needs."""

    stats: EnforcerStats

    async def decide(self, info: RequestInfo) -> Verdict: ...

    async def emit(self, event: AccessEvent) -> None: ...

    async def aclose(self) -> None: ...


class SyncEnforcer(Protocol):
    """What the WSGI middleware needs."""

    stats: EnforcerStats

    def decide_sync(self, info: RequestInfo) -> Verdict: ...

    def emit_sync(self, event: AccessEvent) -> None: ...

    def close(self) -> None: ...


class LocalEnforcer:
    """vigile in the application's own process (see the module docstring)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard.start()
        self.stats = EnforcerStats()

    def decide_sync(self, info: RequestInfo) -> Verdict:
        self.stats.decisions += 1
        v = self.guard.decide(
            info.tenant, info.actor, info.session, info.src_ip, info.method, info.uri
        )
        if not v.allowed:
            self.stats.refused += 1
        return v

    def emit_sync(self, event: AccessEvent) -> None:
        self.stats.events += 1
        self.guard.process(event)
        self.stats.delivered += 1

    async def decide(self, info: RequestInfo) -> Verdict:
        return self.decide_sync(info)

    async def emit(self, event: AccessEvent) -> None:
        self.emit_sync(event)

    async def aclose(self) -> None:
        self.guard.close()

    def close(self) -> None:
        self.guard.close()


def _verdict(response: httpx.Response) -> Verdict:
    if response.status_code < 300:
        simulated = response.headers.get("x-vigile-simulated")
        if simulated:
            return Verdict(decision="allow", status=200, simulated=simulated)
        return ALLOW
    if response.status_code in (403, 429):
        try:
            body: dict[str, Any] = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        retry = response.headers.get("retry-after")
        return Verdict(
            decision="throttle" if response.status_code == 429 else "block",
            status=response.status_code,
            retry_after=int(retry) if retry and retry.isdigit() else None,
            reason=str(body.get("reason") or ""),
            decision_id=body.get("decision_id"),
            scope=body.get("scope"),
            tenant=response.headers.get("x-vigile-tenant"),
            actor=response.headers.get("x-vigile-actor"),
        )
    raise httpx.HTTPStatusError(
        f"decision service answered {response.status_code}",
        request=response.request,
        response=response,
    )


class _Spool:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, events: list[AccessEvent]) -> bool:
        if self.path is None:
            return False
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as handle:
                for ev in events:
                    handle.write(render_jsonl(ev) + b"\n")
        return True


class RemoteEnforcer:
    """Asks a ``vigile serve`` over HTTP; ships events in batches (asyncio)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 0.25,
        fail_open: bool = True,
        batch_max: int = 2000,
        spool: Path | None = None,
        retries: int = 3,
        order_wait: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.fail_open = fail_open
        self.batch_max = batch_max
        self.retries = retries
        self.order_wait = order_wait
        self.stats = EnforcerStats()
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers={"authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, read=timeout, connect=timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
        )
        self._ship_timeout = max(5.0, timeout * 10)
        self._queue: deque[AccessEvent] = deque()
        self._pending: dict[str, int] = {}
        self._delivered: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._spool = _Spool(spool)
        self._closed = False

    def _ensure_sender(self) -> None:
        if self._sender is None or self._sender.done():
            self._wakeup = asyncio.Event()
            self._delivered = asyncio.Event()
            self._sender = asyncio.create_task(self._send_loop())

    async def decide(self, info: RequestInfo) -> Verdict:
        self.stats.decisions += 1
        key = info.key
        if key is not None and self._pending.get(key):
            await self._wait_delivered(key)
        headers = {}
        if info.actor:
            headers["x-vigile-actor"] = info.actor
        if info.tenant:
            headers["x-vigile-tenant"] = info.tenant
        if info.session:
            headers["x-vigile-session"] = info.session
        if info.src_ip:
            headers["x-vigile-client-ip"] = info.src_ip
        if info.method:
            headers["x-original-method"] = info.method
        if info.uri:
            headers["x-original-uri"] = info.uri
        try:
            verdict = _verdict(await self._client.get("/v1/decide", headers=headers))
        except (httpx.HTTPError, OSError) as exc:
            self.stats.errors += 1
            log.warning(
                "decision request failed (%s): %s",
                type(exc).__name__,
                "allowing" if self.fail_open else "refusing",
            )
            return ALLOW if self.fail_open else UNAVAILABLE
        if not verdict.allowed:
            self.stats.refused += 1
        return verdict

    async def _wait_delivered(self, key: str) -> None:
        self.stats.waits += 1
        deadline = time.monotonic() + self.order_wait
        while self._pending.get(key) and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._delivered is None:
                return
            event = self._delivered
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def emit(self, event: AccessEvent) -> None:
        if self._closed:
            return
        self._ensure_sender()
        self.stats.events += 1
        key = _event_key(event)
        self._pending[key] = self._pending.get(key, 0) + 1
        self._queue.append(event)
        assert self._wakeup is not None
        self._wakeup.set()

    async def _send_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch: list[AccessEvent] = []
            while self._queue and len(batch) < self.batch_max:
                batch.append(self._queue.popleft())
            await self._ship(batch)
            for ev in batch:
                key = _event_key(ev)
                left = self._pending.get(key, 1) - 1
                if left <= 0:
                    self._pending.pop(key, None)
                else:
                    self._pending[key] = left
            if self._delivered is not None:
                self._delivered.set()
                self._delivered = asyncio.Event()

    async def _ship(self, batch: list[AccessEvent]) -> None:
        body = b"\n".join(render_jsonl(ev) for ev in batch) + b"\n"
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                response = await self._client.post(
                    "/v1/events",
                    content=body,
                    headers={"content-type": "application/x-ndjson"},
                    timeout=self._ship_timeout,
                )
                if response.status_code == 200:
                    self.stats.delivered += len(batch)
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    log.error("vigile refused an event batch: HTTP %d", response.status_code)
                    break
            except (httpx.HTTPError, OSError) as exc:
                log.warning(
                    "event batch delivery failed (%s), attempt %d", type(exc).__name__, attempt + 1
                )
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 4
        if self._spool.write(batch):
            self.stats.spooled += len(batch)
        else:
            self.stats.dropped += len(batch)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every event emitted so far has been delivered (or spooled)."""
        deadline = time.monotonic() + timeout
        while (self._queue or self._pending) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def aclose(self) -> None:
        await self.flush()
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sender, 5)
        await self._client.aclose()


class SyncRemoteEnforcer:
    """:class:`RemoteEnforcer` for threaded WSGI servers: a sender thread, same ordering."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 0.25,
        fail_open: bool = True,
        batch_max: int = 2000,
        spool: Path | None = None,
        retries: int = 3,
        order_wait: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.fail_open = fail_open
        self.batch_max = batch_max
        self.retries = retries
        self.order_wait = order_wait
        self.stats = EnforcerStats()
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, read=timeout, connect=timeout),
            transport=transport,
        )
        self._ship_timeout = max(5.0, timeout * 10)
        self._queue: deque[AccessEvent] = deque()
        self._pending: dict[str, int] = {}
        self._cond = threading.Condition()
        self._spool = _Spool(spool)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vigile-events", daemon=True)
        self._thread.start()

    def decide_sync(self, info: RequestInfo) -> Verdict:
        self.stats.decisions += 1
        key = info.key
        if key is not None:
            with self._cond:
                if self._pending.get(key):
                    self.stats.waits += 1
                    self._cond.wait_for(lambda: not self._pending.get(key), self.order_wait)
        headers = {
            name: value
            for name, value in (
                ("x-vigile-actor", info.actor),
                ("x-vigile-tenant", info.tenant),
                ("x-vigile-session", info.session),
                ("x-vigile-client-ip", info.src_ip),
                ("x-original-method", info.method),
                ("x-original-uri", info.uri),
            )
            if value
        }
        try:
            verdict = _verdict(self._client.get("/v1/decide", headers=headers))
        except (httpx.HTTPError, OSError) as exc:
            self.stats.errors += 1
            log.warning("decision request failed (%s)", type(exc).__name__)
            return ALLOW if self.fail_open else UNAVAILABLE
        if not verdict.allowed:
            self.stats.refused += 1
        return verdict

    def emit_sync(self, event: AccessEvent) -> None:
        with self._cond:
            if self._closed:
                return
            self.stats.events += 1
            key = _event_key(event)
            self._pending[key] = self._pending.get(key, 0) + 1
            self._queue.append(event)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if not self._queue and self._closed:
                    return
                batch: list[AccessEvent] = []
                while self._queue and len(batch) < self.batch_max:
                    batch.append(self._queue.popleft())
            self._ship(batch)
            with self._cond:
                for ev in batch:
                    key = _event_key(ev)
                    left = self._pending.get(key, 1) - 1
                    if left <= 0:
                        self._pending.pop(key, None)
                    else:
                        self._pending[key] = left
                self._cond.notify_all()

    def _ship(self, batch: list[AccessEvent]) -> None:
        body = b"\n".join(render_jsonl(ev) for ev in batch) + b"\n"
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(
                    "/v1/events",
                    content=body,
                    headers={"content-type": "application/x-ndjson"},
                    timeout=self._ship_timeout,
                )
                if response.status_code == 200:
                    self.stats.delivered += len(batch)
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break
            except (httpx.HTTPError, OSError):
                pass
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 4
        if self._spool.write(batch):
            self.stats.spooled += len(batch)
        else:
            self.stats.dropped += len(batch)

    def flush(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and not self._pending, timeout)

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._client.close()


#: How the middleware finds out who is asking before serving (see :mod:`vigile.respond.asgi`).
Identify = Callable[[dict[str, Any]], RequestInfo | None]
