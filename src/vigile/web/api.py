"""The HTTP API of ``vigile serve`` (wiring only: every decision is made in ``respond``).

Endpoints (token scope in brackets):

* ``GET /health`` (none) — liveness, 200 ``{"status": "ok"}``;
* ``POST /v1/events[?format=jsonl|nginx|apache|fhir]`` [ingest] — a batch of
  lines (gzip accepted); bad lines are answered with their line and reason;
* ``POST /v1/alerts`` [ingest] — alerts (INTERFACE §3) made elsewhere → policy;
* ``GET /v1/decide`` [decide] — shaped for nginx ``auth_request``: 204 / 429 / 403;
* ``GET /v1/decisions/stream?since=N&wait=S`` [decide] — long-poll of changes;
* ``GET /v1/alerts``, ``/v1/alerts/{id}``, ``/v1/incidents``, ``/v1/incidents/{id}``,
  ``/v1/decisions``, ``/v1/decisions/{id}``, ``/v1/status``, ``/metrics`` [read];
* ``POST /v1/decisions`` (manual block / throttle), ``POST /v1/decisions/{id}/revoke``,
  ``POST /v1/unblock``, ``GET|POST /v1/allowlist``, ``DELETE /v1/allowlist/{id}``,
  ``GET /v1/audit`` [admin] — every action with a reason, audited.

``/v1/decide`` is served by a small ASGI fast path in front of FastAPI (no
routing, no validation layer): it reads the account, practice, session, client
address, method and URI from headers and answers from memory. The dashboard
(docs/dashboard.md, :mod:`vigile.web.dashboard`) mounts under ``/ui`` beside this API.
"""

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from vigile import __version__
from vigile.errors import VigileError
from vigile.events import Alert
from vigile.respond.cache import Verdict
from vigile.respond.policy import parse_duration, parse_rate, parse_until
from vigile.respond.state import TokenRecord, iso
from vigile.web.auth import TokenAuth
from vigile.web.metrics import Metrics
from vigile.web.service import Service

__all__ = ["create_app"]

log = logging.getLogger("vigile.web")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ALERT_DECODER: Final = msgspec.json.Decoder(Alert)


class _Json(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Json:
    return _Json({"error": message}, status_code=status, headers=headers)


def _since(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise HTTPException(
            400, f"since: {value!r} is not an RFC 3339 time or epoch seconds"
        ) from None


class BlockRequest(BaseModel):
    """A manual decision."""

    decision: Literal["block", "throttle"] = "block"
    scope: Literal["account", "session", "ip", "tenant"]
    value: str = Field(min_length=1, max_length=400)
    reason: str = Field(min_length=3, max_length=1000)
    duration: str | float | None = None
    rate: str | None = None
    simulated: bool = False
    except_known_places: bool = False


class RevokeRequest(BaseModel):
    """Lifting a decision."""

    reason: str = Field(min_length=3, max_length=1000)
    allow_for: str | float | None = None


class UnblockRequest(RevokeRequest):
    """Lifting every decision on a scope value."""

    scope: Literal["account", "session", "ip", "tenant"]
    value: str = Field(min_length=1, max_length=400)


class AllowRequest(BaseModel):
    """A run-time allowlist entry."""

    scope: Literal["account", "session", "ip", "tenant"]
    value: str = Field(min_length=1, max_length=400)
    until: str
    reason: str = Field(min_length=3, max_length=1000)


def _need(scope: str) -> Callable[[Request], TokenRecord]:
    """A dependency: the request's token, which must grant ``scope`` (401 / 403 otherwise)."""

    def check(request: Request) -> TokenRecord:
        auth: TokenAuth = request.app.state.auth
        rec = auth.verify(request.headers.get("authorization"), time.time())
        if rec is None:
            raise HTTPException(
                401, "a valid token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not auth.allows(rec, scope):
            raise HTTPException(403, f"this token lacks the {scope!r} scope")
        return rec

    return check


Ingest = Annotated[TokenRecord, Depends(_need("ingest"))]
Decide = Annotated[TokenRecord, Depends(_need("decide"))]
Read = Annotated[TokenRecord, Depends(_need("read"))]
Admin = Annotated[TokenRecord, Depends(_need("admin"))]


def create_app(
    service: Service, *, extend: Sequence[Callable[[FastAPI, Service], None]] = ()
) -> ASGIApp:
    """The ASGI application serving ``service``.

    ``extend`` hooks add routes to the same FastAPI app (the dashboard, issue 8,
    mounts itself this way: ``vigile.web.dashboard.mount(api, service)``).
    """
    auth = TokenAuth(service.state)
    metrics = Metrics(service)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.startup()
        try:
            yield
        finally:
            await service.shutdown()

    api = FastAPI(
        title="vigile",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=_Json,
    )
    api.state.service = service
    api.state.auth = auth
    api.state.metrics = metrics

    @api.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @api.exception_handler(VigileError)
    async def _vigile_error(_: Request, exc: VigileError) -> Response:
        return _error(400, str(exc))

    # ---- health, metrics, status -------------------------------------------------------------
    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @api.get("/metrics")
    async def prometheus(_: Read) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/v1/status")
    async def status(_: Read) -> dict[str, Any]:
        return service.status()

    # ---- ingest --------------------------------------------------------------------------------
    @api.post("/v1/events")
    async def ingest(request: Request, _: Ingest, format: str = "jsonl") -> Response:
        body = await _body(request, service.config.max_body)
        started = time.perf_counter()
        result = await service.ingest(body, fmt=format)
        metrics.ingest_seconds.observe(time.perf_counter() - started)
        return _Json(result.as_dict())

    @api.post("/v1/alerts")
    async def push_alerts(request: Request, _: Ingest) -> Response:
        body = await _body(request, service.config.max_body)
        alerts: list[Alert] = []
        errors: list[dict[str, Any]] = []
        for n, line in enumerate(body.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                alerts.append(_ALERT_DECODER.decode(line))
            except msgspec.DecodeError as exc:
                errors.append({"line": n, "reason": str(exc)})
        outcomes = service.handle_alerts(alerts)
        return _Json(
            {
                "accepted": len(alerts),
                "rejected": len(errors),
                "errors": errors[:100],
                "decisions": [d.to_json() for o in outcomes for d in o.decisions],
            }
        )

    # ---- decisions for enforcers -----------------------------------------------------------------
    @api.get("/v1/decisions/stream")
    async def stream(
        _: Decide,
        since: Annotated[int | None, Query(ge=0)] = None,
        wait: Annotated[float, Query(ge=0, le=60)] = 0.0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response:
        page = service.decision_changes(since, limit)
        if since and not page["decisions"] and wait > 0:
            await service.wait_change(wait)
            page = service.decision_changes(since, limit)
        return _Json(page)

    # ---- reading -----------------------------------------------------------------------------
    @api.get("/v1/alerts")
    async def alerts(
        _: Read,
        since: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        severity: Annotated[list[str] | None, Query()] = None,
        incident: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> Response:
        items = service.state.alerts(
            since=_since(since),
            tenant=tenant,
            actor=actor,
            severities=severity,
            incident=incident,
            limit=limit,
        )
        return _Json({"alerts": items})

    @api.get("/v1/alerts/{alert_id}")
    async def alert(alert_id: str, _: Read) -> Response:
        item = service.state.alert(alert_id)
        if item is None:
            raise HTTPException(404, "no such alert")
        return _Json(item)

    @api.get("/v1/incidents")
    async def incidents(
        _: Read, since: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> Response:
        return _Json({"incidents": service.state.incidents(since=_since(since), limit=limit)})

    @api.get("/v1/incidents/{incident_id}")
    async def incident(incident_id: str, _: Read) -> Response:
        items = service.state.alerts(incident=incident_id, limit=10_000)
        if not items:
            raise HTTPException(404, "no such incident")
        accounts = sorted({(a["tenant"], a["actor"]) for a in items})
        decisions = [
            d.to_json()
            for tenant, actor in accounts
            for d in service.state.decisions(tenant=tenant, actor=actor, limit=100)
        ]
        return _Json(
            {
                "incident": incident_id,
                "accounts": [f"{t}/{a}" for t, a in accounts],
                "tenants": sorted({t for t, _ in accounts}),
                "alerts": items,
                "decisions": decisions,
            }
        )

    @api.get("/v1/decisions")
    async def decisions(
        _: Read,
        active: bool = False,
        scope: str | None = None,
        value: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> Response:
        items = service.state.decisions(
            active_at=service.guard.clock() if active else None,
            scope=scope,
            value=value,
            tenant=tenant,
            actor=actor,
            since=_since(since),
            limit=limit,
        )
        return _Json({"decisions": [d.to_json() for d in items]})

    @api.get("/v1/decisions/{decision_id}")
    async def decision(decision_id: str, _: Read) -> Response:
        rec = service.state.decision(decision_id)
        if rec is None:
            raise HTTPException(404, "no such decision")
        return _Json(rec.to_json())

    # ---- acting -----------------------------------------------------------------------------
    @api.post("/v1/decisions", status_code=201)
    async def block(body: BlockRequest, who: Admin) -> Response:
        try:
            duration = parse_duration(body.duration) if body.duration is not None else None
            rate = parse_rate(body.rate) if body.rate is not None else None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if body.decision == "throttle" and rate is None:
            raise HTTPException(422, "a throttle needs a rate, e.g. 20/min")
        if body.scope == "account" and "/" not in body.value:
            raise HTTPException(422, "an account is written tenant/actor")
        rec = service.guard.block(
            body.scope,
            body.value,
            reason=body.reason,
            by=who.name,
            duration=duration,
            decision=body.decision,
            rate=(rate.count, rate.per) if rate else None,
            simulated=body.simulated,
            except_places=body.except_known_places,
        )
        return _Json(rec.to_json(), status_code=201)

    @api.post("/v1/decisions/{decision_id}/revoke")
    async def revoke(decision_id: str, body: RevokeRequest, who: Admin) -> Response:
        allow_for = _duration(body.allow_for)
        lifted = service.guard.unblock(
            decision_id=decision_id, reason=body.reason, by=who.name, allow_for=allow_for
        )
        if not lifted:
            raise HTTPException(404, "no such decision in force")
        return _Json({"revoked": [d.to_json() for d in lifted]})

    @api.post("/v1/unblock")
    async def unblock(body: UnblockRequest, who: Admin) -> Response:
        allow_for = _duration(body.allow_for)
        lifted = service.guard.unblock(
            scope=body.scope,
            value=body.value,
            reason=body.reason,
            by=who.name,
            allow_for=allow_for,
        )
        return _Json({"revoked": [d.to_json() for d in lifted]})

    @api.get("/v1/allowlist")
    async def allowlist(_: Admin) -> Response:
        return _Json({"allowlist": service.guard.allowlist()})

    @api.post("/v1/allowlist", status_code=201)
    async def allow(body: AllowRequest, who: Admin) -> Response:
        try:
            until = parse_until(body.until)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        rec = service.guard.allow(
            body.scope, body.value, until=until, reason=body.reason, by=who.name
        )
        return _Json(
            {
                "id": rec.id,
                "scope": rec.scope,
                "value": rec.value,
                "until": iso(rec.until),
                "reason": rec.reason,
            },
            status_code=201,
        )

    @api.delete("/v1/allowlist/{allow_id}")
    async def disallow(allow_id: str, who: Admin) -> Response:
        if not service.guard.disallow(allow_id, by=who.name):
            raise HTTPException(404, "no such allowlist entry")
        return Response(status_code=204)

    @api.get("/v1/audit")
    async def audit(_: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> Response:
        return _Json({"audit": service.state.audit_log(limit)})

    for hook in extend:
        hook(api, service)
    return DecideFastPath(api, service, auth, metrics)


def _duration(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes: send smaller batches")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes: send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


# ---- the decision fast path ----------------------------------------------------------------
_DECIDE_PATH: Final = "/v1/decide"
_H_AUTH: Final = b"authorization"
_H_ACTOR: Final = b"x-vigile-actor"
_H_TENANT: Final = b"x-vigile-tenant"
_H_SESSION: Final = b"x-vigile-session"
_H_IP: Final = (b"x-vigile-client-ip", b"x-real-ip", b"x-forwarded-for")
_H_METHOD: Final = (b"x-original-method", b"x-forwarded-method")
_H_URI: Final = (b"x-original-uri", b"x-forwarded-uri")
_H_ENFORCER: Final = b"x-vigile-enforcer"
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]


class DecideFastPath:
    """Answers ``GET /v1/decide`` itself; everything else goes to the FastAPI app.

    Allow: 204 with ``X-Vigile-Decision: allow``. Throttle: 429 with ``Retry-After``.
    Block: 403 (``Retry-After`` when the block expires). nginx's ``auth_request``
    only understands 2xx, 401 and 403, so an enforcer that sends
    ``X-Vigile-Enforcer: nginx`` gets a throttle as 403 with
    ``X-Vigile-Decision: throttle`` and ``Retry-After``, which the documented
    nginx configuration turns back into a 429 for the client.
    """

    def __init__(self, app: ASGIApp, service: Service, auth: TokenAuth, metrics: Metrics) -> None:
        self.app = app
        self.service = service
        self.auth = auth
        self.metrics = metrics
        self.state = getattr(app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _DECIDE_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["method"] not in ("GET", "HEAD", "POST"):
            await _respond(send, 405, {"error": "use GET"})
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name] = value
        rec = self.auth.verify(_text(headers.get(_H_AUTH)), time.time())
        if rec is None:
            await _respond(
                send,
                401,
                {"error": "a valid token is required"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if not self.auth.allows(rec, "decide"):
            await _respond(send, 403, {"error": "this token lacks the 'decide' scope"})
            return
        ip = None
        for name in _H_IP:
            raw = headers.get(name)
            if raw:
                ip = raw.split(b",", 1)[0].strip().decode("latin-1") or None
                break
        verdict = self.service.guard.decide(
            tenant=_text(headers.get(_H_TENANT)),
            actor=_text(headers.get(_H_ACTOR)),
            session=_text(headers.get(_H_SESSION)),
            src_ip=ip,
            method=_first(headers, _H_METHOD),
            uri=_first(headers, _H_URI),
        )
        nginx = headers.get(_H_ENFORCER) == b"nginx"
        await _answer(send, verdict, nginx)
        self.metrics.decide_seconds.observe(time.perf_counter() - started)


def _text(raw: bytes | None) -> str | None:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace").strip()
    return text or None


def _first(headers: dict[bytes, bytes], names: tuple[bytes, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return _text(value)
    return None


async def _respond(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = orjson.dumps(body)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(data)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _answer(send: Send, v: Verdict, nginx: bool) -> None:
    if v.status < 400:
        headers = [(b"x-vigile-decision", b"allow")]
        if v.simulated:
            headers.append((b"x-vigile-simulated", v.simulated.encode()))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    status = v.status if not nginx else 403
    extra = [(b"x-vigile-decision", v.decision.encode())]
    if v.retry_after is not None:
        extra.append((b"retry-after", str(v.retry_after).encode()))
    if v.decision_id:
        extra.append((b"x-vigile-decision-id", v.decision_id.encode()))
    if v.actor and v.tenant:  # the account of a session-only request: for the enforcer's event
        extra.append((b"x-vigile-actor", v.actor.encode()))
        extra.append((b"x-vigile-tenant", v.tenant.encode()))
    await _respond(
        send,
        status,
        {
            "decision": v.decision,
            "reason": v.reason,
            "decision_id": v.decision_id,
            "scope": v.scope,
            "retry_after": v.retry_after,
        },
        extra,
    )
