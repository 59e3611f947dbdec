"""ASGI middleware: ask vigile before serving, hand over the access event after.

::

    from vigile.respond.asgi import VigileMiddleware
    from vigile.respond.enforcer import RemoteEnforcer

    app = VigileMiddleware(
        app,
        RemoteEnforcer("http://127.0.0.1:8740", token=os.environ["VIGILE_TOKEN"]),
        identify=my_identify,          # request → RequestInfo(tenant, actor, session)
        timezone=ZoneInfo("Europe/Paris"),
    )

For every HTTP request whose path ``protect`` accepts (default: ``/api/``):

1. ``identify(scope)`` says who is asking (the application knows its sessions;
   the default reads a session id from ``Authorization: Bearer <session>.<secret>``);
2. the enforcer decides; a refusal is answered here — 403, or 429 with
   ``Retry-After`` (503 if the service is unreachable and ``fail_open`` is off)
   — with a reference the user can quote to support, and nothing about why;
3. otherwise the application serves; the middleware watches the status, the
   ``X-Vigile-*`` headers and the size of the response, and builds the access
   event exactly as nginx + the route map would (:mod:`vigile.respond.events`);
4. the event is emitted after the response is sent (refused requests too: an
   attempt on a blocked account is evidence). ``X-Vigile-*`` headers are removed
   from what the client receives unless ``strip_headers=False`` (an nginx in front
   that logs them hides them itself with ``proxy_hide_header``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Final

import orjson

from vigile.events import AccessEvent
from vigile.respond.cache import Verdict
from vigile.respond.clock import Clock, wall_clock
from vigile.respond.enforcer import Enforcer, RequestInfo
from vigile.respond.events import EventBuilder, ServedRequest

__all__ = ["VigileMiddleware", "bearer_session", "refusal_body"]

log = logging.getLogger("vigile.respond")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_VIGILE_PREFIX: Final = b"x-vigile-"


def bearer_session(headers: dict[bytes, bytes]) -> str | None:
    """The session id in ``Authorization: Bearer <session>.<secret>`` (the reference app's)."""
    raw = headers.get(b"authorization")
    if not raw or raw[:7].lower() != b"bearer ":
        return None
    token = raw[7:].strip()
    session, dot, _ = token.partition(b".")
    if not dot or not session or len(session) > 128:
        return None
    return session.decode("ascii", "replace")


def _default_identify(scope: Scope) -> RequestInfo | None:
    headers = dict(scope.get("headers") or ())
    session = bearer_session(headers)
    return RequestInfo(session=session) if session else None


def refusal_body(v: Verdict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a refusal: a reference to quote, nothing about why."""
    if v.status == 429:
        message = "too many requests: slow down"
    elif v.status == 503:
        message = "access control unavailable: try again shortly"
    else:
        message = "access suspended by the security service: contact your support"
    body = orjson.dumps({"error": message, "reference": v.decision_id})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if v.retry_after is not None:
        headers.append((b"retry-after", str(v.retry_after).encode()))
    return v.status, headers, body


class VigileMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        enforcer: Enforcer,
        *,
        identify: Callable[[Scope], RequestInfo | None] | None = None,
        route_map: str | Path | None = None,
        timezone: tzinfo = UTC,
        clock: Clock = wall_clock,
        protect: Callable[[str], bool] | None = None,
        strip_headers: bool = True,
        on_event: Callable[[AccessEvent], None] | None = None,
    ) -> None:
        self.app = app
        self.enforcer = enforcer
        self.identify = identify or _default_identify
        self.builder = EventBuilder(route_map)
        self.timezone = timezone
        self.clock = clock
        self.protect = protect or (lambda path: path.startswith("/api/"))
        self.strip_headers = strip_headers
        self.on_event = on_event

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http" or not self.protect(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = self.identify(scope) or RequestInfo()
        client = scope.get("client")
        info.src_ip = client[0] if client else None
        info.method = scope["method"]
        target = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        uri = target.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        info.uri = uri
        headers = dict(scope.get("headers") or ())
        verdict = await self.enforcer.decide(info)
        if not verdict.allowed:
            status, out_headers, body = refusal_body(verdict)
            await send({"type": "http.response.start", "status": status, "headers": out_headers})
            await send({"type": "http.response.body", "body": body})
            if not info.actor and verdict.actor:
                info.tenant, info.actor = verdict.tenant, verdict.actor
            vh = {"x-vigile-records": "0"}
            for name, value in (
                ("x-vigile-actor", info.actor),
                ("x-vigile-tenant", info.tenant),
                ("x-vigile-session", info.session),
            ):
                if value:
                    vh[name] = value
            await self._emit(info, uri, headers, status, vh, len(body), started)
            return

        seen: dict[str, Any] = {"status": 500, "headers": {}, "bytes": 0}
        strip = self.strip_headers

        async def watch(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                seen["status"] = message["status"]
                found: dict[str, str] = {}
                kept: list[tuple[bytes, bytes]] = []
                for name, value in message.get("headers") or ():
                    lname = name.lower()
                    if lname.startswith(_VIGILE_PREFIX):
                        found[lname.decode("latin-1")] = value.decode("utf-8", "replace")
                        if strip:
                            continue
                    kept.append((name, value))
                seen["headers"] = found
                if strip and len(kept) != len(message.get("headers") or ()):
                    message = {**message, "headers": kept}
            elif kind == "http.response.body":
                seen["bytes"] += len(message.get("body") or b"")
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            await self._emit(
                info, uri, headers, seen["status"], seen["headers"], seen["bytes"], started
            )

    async def _emit(
        self,
        info: RequestInfo,
        uri: str,
        headers: dict[bytes, bytes],
        status: int,
        vigile_headers: dict[str, str],
        size: int,
        started: float,
    ) -> None:
        ua = headers.get(b"user-agent")
        referer = headers.get(b"referer")
        served = ServedRequest(
            method=info.method or "GET",
            target=uri,
            status=status,
            src_ip=info.src_ip,
            user_agent=ua.decode("utf-8", "replace") if ua else None,
            referer=referer.decode("utf-8", "replace") if referer else None,
            response_headers=vigile_headers,
            bytes_sent=size,
            seconds=time.perf_counter() - started,
            ts=EventBuilder.now(self.clock(), self.timezone),
        )
        event = self.builder.build(served)
        if event is None:
            return
        if self.on_event is not None:
            self.on_event(event)
        try:
            await self.enforcer.emit(event)
        except Exception:  # the application's answer is already sent: never fail it now
            log.exception("could not hand over an access event")

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                try:
                    await self.enforcer.aclose()
                except Exception:
                    log.exception("closing the enforcer failed")
            await send(message)

        return wrapped
