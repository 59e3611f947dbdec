"""WSGI middleware: the same contract as :mod:`vigile.respond.asgi`, for Flask, Django...

::

    from vigile.respond.wsgi import VigileWSGIMiddleware
    from vigile.respond.enforcer import SyncRemoteEnforcer

    app.wsgi_app = VigileWSGIMiddleware(
        app.wsgi_app,
        SyncRemoteEnforcer("http://127.0.0.1:8740", token=os.environ["VIGILE_TOKEN"]),
        identify=lambda environ: RequestInfo(session=environ.get("HTTP_X_SESSION_ID")),
    )

The decision is asked before the application is called; the access event is
built when the response iterable is closed (after the last byte was sent) and
emitted from the enforcer's sender thread, so the worker is not held up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from vigile.respond.asgi import refusal_body
from vigile.respond.clock import Clock, wall_clock
from vigile.respond.enforcer import RequestInfo, SyncEnforcer
from vigile.respond.events import EventBuilder, ServedRequest

__all__ = ["VigileWSGIMiddleware", "bearer_session_environ"]

log = logging.getLogger("vigile.respond")

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def bearer_session_environ(environ: Environ) -> RequestInfo | None:
    """The session id in ``Authorization: Bearer <session>.<secret>``."""
    raw = environ.get("HTTP_AUTHORIZATION", "")
    if raw[:7].lower() != "bearer ":
        return None
    session, dot, _ = raw[7:].strip().partition(".")
    if not dot or not session or len(session) > 128:
        return None
    return RequestInfo(session=session)


class _Body:
    """Wraps the application's response iterable: counts bytes, emits on ``close``."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.inner = inner
        self.done = done
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            closer = getattr(self.inner, "close", None)
            if closer is not None:
                closer()
        finally:
            self.done(self.size)


class VigileWSGIMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: WSGIApp,
        enforcer: SyncEnforcer,
        *,
        identify: Callable[[Environ], RequestInfo | None] | None = None,
        route_map: str | Path | None = None,
        timezone: tzinfo = UTC,
        clock: Clock = wall_clock,
        protect: Callable[[str], bool] | None = None,
        strip_headers: bool = True,
    ) -> None:
        self.app = app
        self.enforcer = enforcer
        self.identify = identify or bearer_session_environ
        self.builder = EventBuilder(route_map)
        self.timezone = timezone
        self.clock = clock
        self.protect = protect or (lambda path: path.startswith("/api/"))
        self.strip_headers = strip_headers

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not self.protect(path):
            return self.app(environ, start_response)
        started = time.perf_counter()
        info = self.identify(environ) or RequestInfo()
        info.src_ip = environ.get("REMOTE_ADDR") or None
        info.method = environ.get("REQUEST_METHOD", "GET")
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw:
            query = environ.get("QUERY_STRING", "")
            raw = environ.get("SCRIPT_NAME", "") + path + ("?" + query if query else "")
        info.uri = raw
        verdict = self.enforcer.decide_sync(info)
        if not verdict.allowed:
            status, headers, body = refusal_body(verdict)
            start_response(
                f"{status} {_REASONS.get(status, 'Refused')}",
                [(k.decode(), v.decode()) for k, v in headers],
            )
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
            self._emit(environ, info, status, vh, len(body), started)
            return [body]

        seen: dict[str, Any] = {"status": 500, "headers": {}}

        def watch(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            found: dict[str, str] = {}
            kept = []
            for name, value in headers:
                lname = name.lower()
                if lname.startswith("x-vigile-"):
                    found[lname] = value
                    if self.strip_headers:
                        continue
                kept.append((name, value))
            seen["headers"] = found
            if exc_info is not None:
                return start_response(status, kept, exc_info)
            return start_response(status, kept)

        inner = self.app(environ, watch)
        return _Body(
            inner,
            lambda size: self._emit(environ, info, seen["status"], seen["headers"], size, started),
        )

    def _emit(
        self,
        environ: Environ,
        info: RequestInfo,
        status: int,
        vigile_headers: dict[str, str],
        size: int,
        started: float,
    ) -> None:
        served = ServedRequest(
            method=info.method or "GET",
            target=info.uri or "/",
            status=status,
            src_ip=info.src_ip,
            user_agent=environ.get("HTTP_USER_AGENT"),
            referer=environ.get("HTTP_REFERER"),
            response_headers=vigile_headers,
            bytes_sent=size,
            seconds=time.perf_counter() - started,
            ts=EventBuilder.now(self.clock(), self.timezone),
        )
        event = self.builder.build(served)
        if event is None:
            return
        try:
            self.enforcer.emit_sync(event)
        except Exception:
            log.exception("could not hand over an access event")


_REASONS = {403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}
