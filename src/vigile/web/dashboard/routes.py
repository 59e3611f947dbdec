"""The dashboard's pages (``/ui/...``): sign-in, overview, incident, account, alert,
decisions, breach, audit; the live stream; the downloads.

Security, in one place:

* every page needs a signed-in user (server-side session, cookie ``__Host-vigile``:
  ``Secure``, ``HttpOnly``, ``SameSite=Strict``; idle 30 min, 12 h at most);
* every state-changing request is a ``POST`` carrying the session's CSRF token,
  and its ``Origin`` (when the browser sends one) must be this server;
* every answer carries a strict Content-Security-Policy (``default-src 'self'``,
  no inline script or style), ``X-Frame-Options: DENY``, ``nosniff``,
  ``Referrer-Policy: same-origin`` and ``Cache-Control: no-store``;
* patient identities are shown to the ``dpo`` role only, and every page or file
  that shows them writes an ``identity-view`` line to the audit trail first.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
import re
import secrets
import statistics
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigile.errors import VigileError
from vigile.respond.policy import parse_duration, parse_rate
from vigile.web.dashboard import DashboardConfig, charts
from vigile.web.dashboard.breach import BreachJobs
from vigile.web.dashboard.data import SEVERITY_ORDER, DashboardData, LiveRate
from vigile.web.service import Service
from vigile.web.users import Session, User, UserStore

__all__ = ["install"]

HERE: Final = Path(__file__).parent
log = logging.getLogger("vigile.web")
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
_MAX_FORM: Final = 64 << 10
_PASSWORD_CHECKS: Final = 4
_USER_NAME: Final = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")


class _NeedLoginError(Exception):
    def __init__(self, path: str, api: bool = False) -> None:
        self.path = path
        self.api = api


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


class _SecurityHeaders:
    """Every answer under ``/ui`` (pages, static files, framework errors such as 404, 405
    or 422, and a crash's 500) leaves with :data:`SECURITY_HEADERS`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        #: static files keep their validators and may be cached (they hold no data)
        self.raw_static = [(k, v) for k, v in self.raw if k != b"cache-control"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/" or path.startswith("/ui")):
            await self.app(scope, receive, send)
            return
        started = False
        raw = self.raw_static if path.startswith("/ui/static/") else self.raw

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                ours = {k for k, _ in raw}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                message = {**message, "headers": headers + raw}
            await send(message)

        try:
            await self.app(scope, receive, send_secured)
        except Exception:
            if started:
                raise
            log.exception("dashboard request failed")
            await send_secured(
                {"type": "http.response.start", "status": 500,
                 "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
            )  # fmt: skip
            await send_secured(
                {"type": "http.response.body", "body": b"internal error (see the server's log)"}
            )


def _secure(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers[key] = value
    return response


class Dashboard:
    """The pages' shared objects (one per application)."""

    def __init__(self, service: Service, config: DashboardConfig) -> None:
        self.service = service
        self.config = config
        self.users = UserStore(service.state)
        self.tz = ZoneInfo(config.tz)
        self.data = DashboardData(
            service.state,
            service.config.store,
            service.config.context,
            tz=self.tz,
            refresh=config.refresh,
        )
        self.live = LiveRate()
        service.event_listeners.append(self.live.add)
        self.jobs = BreachJobs(
            config.scopes,
            service.config.store,
            service.config.context,
            organisation=config.organisation,
            contact=config.contact,
        )
        self.rules_dir = config.rules or _rules_dir()
        self._live_lock = threading.Lock()
        self.severity = self.data.severity_counts()
        self.alert_count = sum(self.severity.values())
        self.recent: deque[dict[str, Any]] = deque(
            (self._recent_item(a) for a in service.state.alerts(limit=12)), maxlen=12
        )
        self.latest: str | None = self.recent[0]["id"] if self.recent else None
        self._incidents: tuple[Any, float, list[dict[str, Any]]] | None = None
        self._memo: dict[str, tuple[Any, Any]] = {}
        service.guard.listeners.append(self._on_guard)
        self.data.after_roll = self._warm
        self.cookie = "__Host-vigile" if config.secure_cookies else "vigile"
        self.login_cookie = "__Host-vigile-login" if config.secure_cookies else "vigile-login"
        self.clock: Callable[[], float] = config.clock
        #: password checks at once (32 MiB each: many sign-ins cannot take the memory)
        self.password_checks = asyncio.Semaphore(_PASSWORD_CHECKS)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = self.when
        self.env.filters["day"] = self.day
        self.env.filters["num"] = lambda n: f"{int(n or 0):,}".replace(",", "\u202f")
        self.env.filters["pct"] = lambda x: f"{100 * float(x):.0f} %"
        self.env.globals["severities"] = SEVERITY_ORDER
        self.env.globals["tzname"] = config.tz
        self.env.globals["q"] = lambda s: quote(str(s), safe="")
        self.data.maybe_roll()  # the store's roll-up starts now, in a thread

    def _warm(self) -> None:
        """Compute the open incidents' figures before anyone asks (after each roll-up)."""
        for inc in self.data.incidents(self.users.closed_incidents())[:20]:
            if not inc["open"]:
                continue
            windows = self.data.incident_windows(inc["incident"])
            self.data.exposure(inc["incident"], windows)
            self.data.sources(inc["incident"], windows)

    # ---- formatting --------------------------------------------------------------------------
    def when(self, value: Any, fmt: str = "%d/%m %H:%M") -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return str(value)
        if isinstance(value, int | float):
            value = datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return str(value.astimezone(self.tz).strftime(fmt))
        return str(value)

    def day(self, value: Any) -> str:
        return (
            self.when(value, "%a %d/%m")
            if not isinstance(value, date) or isinstance(value, datetime)
            else value.strftime("%a %d/%m")
        )

    # ---- sessions ------------------------------------------------------------------------------
    def session(self, request: Request, roles: tuple[str, ...] | None = None) -> Session:
        request.state.started = time.perf_counter()
        found = self.users.session(request.cookies.get(self.cookie))
        if found is None:
            api = request.url.path.startswith(("/ui/live", "/ui/breach/")) and (
                request.url.path.endswith(("/stream", "/status", "/live"))
            )
            raise _NeedLoginError(request.url.path, api)
        if roles is not None and found.user.role not in roles:
            raise _RefusedError(403, "your role does not allow this page")
        return found

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        """A posted form, its CSRF token and origin checked."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise _RefusedError(403, "cross-site request refused")
        origin = request.headers.get("origin")
        # a browser sends "null" in some privacy modes: the CSRF token still decides
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise _RefusedError(403, "cross-site request refused")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM:
                raise _RefusedError(413, "form too large")
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if session is not None and not hmac.compare_digest(
            fields.get("csrf", "").encode(), session.csrf.encode()
        ):
            raise _RefusedError(403, "this form expired; reload the page and try again")
        return fields

    def page(self, name: str, request: Request, session: Session | None, **ctx: Any) -> Response:
        started = time.perf_counter()
        html = self.env.get_template(name).render(
            request=request,
            session=session,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            now=time.time(),
            **ctx,
        )
        response = HTMLResponse(html)
        now = time.perf_counter()
        total = 1000 * (now - getattr(request.state, "started", started))
        response.headers["server-timing"] = (
            f"render;dur={1000 * (now - started):.1f}, app;dur={total:.1f}"
        )
        return _secure(response)

    def audit(self, user: User, action: str, detail: dict[str, Any]) -> None:
        self.service.state.audit(f"ui:{user.name}", action, detail, time.time())

    def identity_view(self, user: User, what: str, detail: dict[str, Any]) -> None:
        """Every view of patient identities is audited before it is shown."""
        if not user.sees_identities:
            raise _RefusedError(
                403, "patient identities are shown to the data-protection officer only"
            )
        self.audit(user, "identity-view", {"what": what, **detail})

    # ---- shared figures --------------------------------------------------------------------
    def in_force(self) -> list[Any]:
        now = self.service.guard.clock()
        return sorted(self.service.guard.cache.active(now), key=lambda d: -d.created)

    def _recent_item(self, a: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": a["alert_id"],
            "when": self.when(a["ts"]),
            "severity": a["severity"],
            "detector": a["detector"],
            "account": f"{a['tenant']}/{a['actor']}",
            "reason": (a["reasons"] or [""])[0][:160],
            "incident": a.get("incident"),
        }

    def _on_guard(self, kind: str, payload: Any) -> None:
        """Alerts as the guard handles them: the live counters, without a query."""
        if kind != "alert" or not getattr(payload, "stored", False):
            return
        alert = payload.alert
        item = self._recent_item(
            {"alert_id": alert.alert_id, "ts": alert.ts, "severity": alert.severity,
             "detector": alert.detector, "tenant": alert.tenant, "actor": alert.actor,
             "reasons": alert.reasons, "incident": alert.incident}
        )  # fmt: skip
        with self._live_lock:
            self.severity[alert.severity] = self.severity.get(alert.severity, 0) + 1
            self.alert_count += 1
            self.recent.appendleft(item)
            self.latest = alert.alert_id

    def memo(self, name: str, compute: Callable[[], Any], extra: Any = None) -> Any:
        """A figure that changes only with the alerts (and ``extra``): kept until then."""
        key = (self.alert_count, extra)
        hit = self._memo.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        if len(self._memo) > 1000:
            self._memo.clear()
        self._memo[name] = (key, value)
        return value

    def open_incidents(self) -> list[dict[str, Any]]:
        """Incidents (cached until the next alert or for 10 s)."""
        key = (self.alert_count, len(self.users.closed_incidents()))
        now = time.monotonic()
        if self._incidents is None or self._incidents[0] != key or now - self._incidents[1] > 10:
            items = self.data.incidents(self.users.closed_incidents())
            self._incidents = (key, now, items)
        return self._incidents[2]

    def live_snapshot(self) -> dict[str, Any]:
        active = self.in_force()
        rate = self.live.per_minute(60)
        with self._live_lock:
            severity = dict(self.severity)
            recent = list(self.recent)
            count, latest = self.alert_count, self.latest
        return {
            "alerts": count,
            "latest": latest,
            "severity": severity,
            "recent": recent,
            "open_incidents": sum(1 for i in self.open_incidents() if i["open"]),
            "blocked": sum(1 for d in active if d.decision == "block" and not d.simulated),
            "throttled": sum(1 for d in active if d.decision == "throttle" and not d.simulated),
            "simulated": sum(1 for d in active if d.simulated),
            "rate": [p for p, _ in rate],
            "rate_now": rate[-2][0] if len(rate) > 1 else 0,
            "events_total": self.live.total_events,
            "server_time": time.time(),
        }


def _every_day(days: list[tuple[date, int, int]]) -> list[tuple[date, int, int]]:
    """Per-day figures with the days without any filled in (a time axis, not a list)."""
    if not days:
        return []
    found = {d: (x, c) for d, x, c in days}
    first, last = days[0][0], days[-1][0]
    span = (last - first).days + 1
    out = []
    for i in range(span):
        d = first + timedelta(days=i)
        x, c = found.get(d, (0, 0))
        out.append((d, x, c))
    return out


def _concerning(decisions: list[Any], tenant: str, actor: str) -> list[Any]:
    """Decisions in force on this account (on it, or on one of its sessions or places)."""
    return _by_account(decisions).get((tenant, actor), [])


def _by_account(decisions: list[Any]) -> dict[tuple[str, str], list[Any]]:
    """Decisions grouped by the account they concern (in their order)."""
    out: dict[tuple[str, str], list[Any]] = {}
    for d in decisions:
        if d.tenant and d.actor:
            key = (d.tenant, d.actor)
        elif d.scope == "account" and "/" in d.value:
            t, _, a = d.value.partition("/")
            key = (t, a)
        else:
            continue
        out.setdefault(key, []).append(d)
    return out


def _rules_dir() -> Path | None:
    try:
        from vigile.detect.rules import default_rules_dir
    except ImportError:
        return None
    return default_rules_dir()


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a ``'``
    (actor ids, practices and notes come from events or people, not from vigile)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


def install(api: FastAPI, service: Service, config: DashboardConfig) -> None:
    """Add the dashboard to ``api`` (see the module docstring)."""
    ui = Dashboard(service, config)
    api.state.dashboard = ui
    api.add_middleware(_SecurityHeaders)
    api.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    @api.exception_handler(_NeedLoginError)
    async def _need_login(_: Request, exc: _NeedLoginError) -> Response:
        if exc.api:
            return _secure(
                Response(b'{"error": "sign in"}', status_code=401, media_type="application/json")
            )
        return _secure(RedirectResponse(f"/ui/login?next={quote(exc.path)}", status_code=303))

    @api.exception_handler(_RefusedError)
    async def _refused(request: Request, exc: _RefusedError) -> Response:
        found = ui.users.session(request.cookies.get(ui.cookie))
        response = ui.page("error.html", request, found, status=exc.status, message=exc.message)
        response.status_code = exc.status
        return response

    @api.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/ui/", status_code=303)

    # ---- sign-in --------------------------------------------------------------------------
    @api.get("/ui/login")
    async def login_page(request: Request, next: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = ui.page(
            "login.html", request, None, login_csrf=token, next=_safe_next(next), error=None
        )
        response.set_cookie(
            ui.login_cookie,
            token,
            max_age=900,
            path="/",
            httponly=True,
            secure=config.secure_cookies,
            samesite="strict",
        )
        return response

    @api.post("/ui/login")
    async def login(request: Request) -> Response:
        fields = await ui.form(request, None)
        cookie = request.cookies.get(ui.login_cookie, "")
        if not cookie or not hmac.compare_digest(fields.get("csrf", "").encode(), cookie.encode()):
            raise _RefusedError(403, "this form expired; reload the page and try again")
        name = fields.get("name", "").strip()[:256]
        client = request.client.host if request.client else "?"
        now = ui.clock()
        locked = ui.users.locked(name, client, now=now)
        user = None
        if not locked:
            async with ui.password_checks:
                user = await asyncio.to_thread(
                    ui.users.authenticate, name, fields.get("password", "")
                )
        if user is None:
            if not locked:
                ui.users.failed(name, client, now=now)
            who = f"ui:{name[:64]}" if _USER_NAME.match(name) else "ui:?"
            service.state.audit(who, "sign-in-failed", {"client": client, "locked": locked}, now)
            token = secrets.token_urlsafe(24)
            message = (
                "too many failed attempts: wait 10 minutes and try again"
                if locked
                else "wrong name or password, or the account is disabled"
            )
            response = ui.page(
                "login.html",
                request,
                None,
                login_csrf=token,
                next=_safe_next(fields.get("next")),
                error=message,
            )
            response.status_code = 429 if locked else 401
            response.set_cookie(
                ui.login_cookie,
                token,
                max_age=900,
                path="/",
                httponly=True,
                secure=config.secure_cookies,
                samesite="strict",
            )
            return response
        ui.users.succeeded(name)
        old = request.cookies.get(ui.cookie)
        if old:  # a new session id at each sign-in: whatever the browser had ends here
            ui.users.close_session(old)
        token, _ = ui.users.open_session(user)
        ui.audit(user, "sign-in", {"client": client})
        response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
        response.set_cookie(
            ui.cookie,
            token,
            path="/",
            httponly=True,
            secure=config.secure_cookies,
            samesite="strict",
        )
        response.delete_cookie(
            ui.login_cookie,
            path="/",
            secure=config.secure_cookies,
            httponly=True,
            samesite="strict",
        )
        return _secure(response)

    @api.post("/ui/logout")
    async def logout(request: Request) -> Response:
        session = ui.session(request)
        await ui.form(request, session)
        token = request.cookies.get(ui.cookie)
        if token:
            ui.users.close_session(token)
        ui.audit(session.user, "sign-out", {})
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(
            ui.cookie, path="/", secure=config.secure_cookies, httponly=True, samesite="strict"
        )
        return _secure(response)

    # ---- overview ----------------------------------------------------------------------------
    @api.get("/ui/")
    async def overview(request: Request) -> Response:
        session = ui.session(request)
        ui.data.maybe_roll()
        snap = ui.live_snapshot()
        incidents = [dict(i) for i in ui.open_incidents() if i["open"]][:20]
        for inc in incidents:
            name = str(inc["incident"])
            windows = ui.memo(f"windows:{name}", partial(ui.data.incident_windows, name))
            inc["exposure"] = ui.data.exposure(inc["incident"], windows)
        sev = snap["severity"]
        day_ago = ui.data.data_now() - 86400
        sev_day = ui.data.severity_counts(since=day_ago)
        hourly = ui.data.hourly()
        activity = None
        if hourly:
            activity = charts.lines(
                "Requests per hour in the event store (last 7 days of data)",
                [ui.when(h, "%a %Hh") for h, _, _ in hourly],
                [
                    charts.Series("requests", "s-events", [e for _, e, _ in hourly], area=True),
                    charts.Series("records served", "s-records", [r for _, _, r in hourly]),
                ],
            )
        rate_chart = charts.lines(
            "Patient-data accesses per minute, last hour (live)",
            [f"-{60 - i} min" if i < 59 else "now" for i in range(60)],
            [charts.Series("accesses / min", "s-events", snap["rate"], area=True)],
            height=160,
        )
        active = ui.in_force()
        enforced = [d for d in active if not d.simulated][:100]
        simulated = [d for d in active if d.simulated]
        return ui.page(
            "overview.html",
            request,
            session,
            snap=snap,
            incidents=incidents,
            severity_chart=charts.bars(
                "Alerts by severity (all time)",
                [(s, sev[s], f"sev-{s}") for s in SEVERITY_ORDER],
            ),
            sev_day=sev_day,
            activity=activity,
            rate_chart=rate_chart,
            in_force=enforced,
            simulated=simulated[:30],
            simulated_total=len(simulated),
        )

    @api.get("/ui/live")
    async def live(request: Request) -> Response:
        ui.session(request)
        return _secure(Response(orjson.dumps(ui.live_snapshot()), media_type="application/json"))

    @api.get("/ui/live/stream")
    async def live_stream(request: Request) -> Response:
        ui.session(request)

        async def events() -> AsyncIterator[bytes]:
            last: bytes | None = None
            sent = 0.0
            while True:
                snap = ui.live_snapshot()
                snap.pop("server_time", None)
                body = orjson.dumps(snap)
                now = time.monotonic()
                if body != last or now - sent > 15:
                    yield b"data: " + body + b"\n\n"
                    last, sent = body, now
                if await request.is_disconnected():
                    return
                await service.wait_change(2.0)

        response = StreamingResponse(events(), media_type="text/event-stream")
        response.headers["x-accel-buffering"] = "no"
        return _secure(response)

    # ---- incident -------------------------------------------------------------------------------
    @api.get("/ui/incidents/{incident}")
    async def incident_page(request: Request, incident: str) -> Response:
        session = ui.session(request)
        ui.data.maybe_roll()
        data = ui.data
        members = ui.memo(f"members:{incident}", lambda: data.incident_accounts(incident))
        if not members:
            raise _RefusedError(404, "no such incident")
        alerts = ui.memo(f"alerts:{incident}", lambda: data.latest_incident_alerts(incident, 100))
        windows = [(m["tenant"], m["actor"], m["first_t"] - 7 * 86400) for m in members]
        accounts = [(t, a) for t, a, _ in windows]

        def account_rows() -> list[dict[str, Any]]:
            t0 = min(s for _, _, s in windows)
            end = data.data_now()
            first_day = datetime.fromtimestamp(t0 - 7 * 86400, UTC).date()
            last_day = datetime.fromtimestamp(end, UTC).date()
            days = data.account_days(accounts, first_day, last_day)
            active = _by_account(ui.in_force())
            rows = []
            for m in members:
                t, a = m["tenant"], m["actor"]
                series = days.get((t, a), [])
                cut = datetime.fromtimestamp(m["first_t"] - 7 * 86400, UTC).date()
                before = [p for d, _, _, p in series if d < cut and p > 0]
                base = statistics.median(before) if before else None
                concerning = active.get((t, a), [])
                rows.append(
                    {
                        "tenant": t,
                        "actor": a,
                        "role": data.role(t, a),
                        "first_alert": m["first"],
                        "alerts": m["alerts"],
                        "severity": m["severity"],
                        "decisions": [d for d in concerning if not d.simulated],
                        "simulated": sum(1 for d in concerning if d.simulated),
                        "spark": charts.spark(
                            f"{t}/{a}: patients per day",
                            [p for _, _, _, p in series],
                            baseline=base,
                            highlight=[d >= cut for d, _, _, _ in series],
                        )
                        if series
                        else None,
                        "baseline": base,
                        "peak": max((p for _, _, _, p in series), default=0),
                    }
                )
            return rows

        rows = ui.memo(
            f"rows:{incident}",
            account_rows,
            extra=(data.parts_key, service.state.last_seq(), int(time.time() // 30)),
        )
        exposure = data.exposure(incident, windows)
        growth = None
        if exposure["days"]:
            cum_x = cum_c = 0
            xs, cs, labels = [], [], []
            for d, x, c in _every_day(exposure["days"]):
                cum_x += x
                cum_c += c
                xs.append(cum_x)
                cs.append(cum_c)
                labels.append(d.strftime("%d/%m"))
            growth = charts.lines(
                "Patient files exposed so far (cumulative)",
                labels,
                [
                    charts.Series(
                        "extracted (read, exported, printed)", "s-extracted", xs, area=True
                    ),
                    charts.Series("consulted only (in lists or searches)", "s-consulted", cs),
                ],
            )
        sources = data.sources(incident, windows)
        decisions = ui.memo(
            f"decisions:{incident}",
            lambda: sorted(
                (
                    d
                    for t, a in accounts[:60]
                    for d in service.state.decisions(tenant=t, actor=a, limit=20)
                ),
                key=lambda d: -d.created,
            )[:100],
            extra=service.state.last_seq(),
        )
        closed = incident in ui.users.closed_incidents()
        return ui.page(
            "incident.html",
            request,
            session,
            incident=incident,
            alerts=alerts,
            accounts=rows,
            tenants=sorted({t for t, _ in accounts}),
            exposure=exposure,
            growth=growth,
            sources=sources,
            decisions=decisions,
            closed=closed,
            alert_total=sum(m["alerts"] for m in members),
            first=min(m["first_t"] for m in members),
            last=max(m["last_t"] for m in members),
            severity=data.worst([m["severity"] for m in members]),
        )

    @api.post("/ui/incidents/{incident}/status")
    async def incident_status(request: Request, incident: str) -> Response:
        session = ui.session(request, ("analyst", "admin"))
        fields = await ui.form(request, session)
        status = fields.get("status", "")
        note = fields.get("reason", "").strip()
        if len(note) < 3:
            raise _RefusedError(422, "give a reason (3 characters at least)")
        try:
            ui.users.set_incident(incident, status, note, session.user.name, now=time.time())
        except VigileError as exc:
            raise _RefusedError(422, str(exc)) from None
        return _secure(RedirectResponse(f"/ui/incidents/{quote(incident)}", status_code=303))

    # ---- account --------------------------------------------------------------------------------
    @api.get("/ui/accounts/{tenant}/{actor}")
    async def account_page(request: Request, tenant: str, actor: str) -> Response:
        session = ui.session(request)
        ui.data.maybe_roll()
        data = ui.data
        alerts = service.state.alerts(tenant=tenant, actor=actor, limit=200)
        decisions = service.state.decisions(tenant=tenant, actor=actor, limit=200)
        span = data.account_range(tenant, actor)
        chart = explained = None
        table: list[dict[str, Any]] = []
        if span is not None:
            first, last = span
            days = data.account_days([(tenant, actor)], first, last)[(tenant, actor)]
            first = days[0][0] if days else first
            peers = data.peers(tenant, actor, first, last)
            own_base: list[float | None] = []
            history: list[int] = []
            for _, _, _, p in days:
                worked = [h for h in history[-14:] if h > 0]
                own_base.append(statistics.median(worked) if worked else None)
                history.append(p)
            labels = [d.strftime("%d/%m") for d, _, _, _ in days]
            chart = charts.lines(
                "Patients whose files the account received, per day",
                labels,
                [
                    charts.Series("this account", "s-account", [p for *_, p in days], area=True),
                    charts.Series(
                        "its own baseline (median of its 14 previous days)",
                        "s-baseline",
                        own_base,
                        dashed=True,
                    ),
                    charts.Series(
                        f"peers ({data.role(tenant, actor) or 'same role'}, median)",
                        "s-peers",
                        [peers.get(d) for d, *_ in days],
                        dashed=True,
                    ),
                ],
            )
            table = [
                {
                    "day": d,
                    "events": e,
                    "records": r,
                    "patients": p,
                    "baseline": b,
                    "peers": peers.get(d),
                }
                for (d, e, r, p), b in zip(days, own_base, strict=True)
            ]
            recent = days[-28:]
            if recent:
                explained = data.explained(tenant, actor, recent[0][0], last)
        concerning = _concerning(ui.in_force(), tenant, actor)
        active = [d for d in concerning if not d.simulated]
        simulated = [d for d in concerning if d.simulated]
        return ui.page(
            "account.html",
            request,
            session,
            tenant=tenant,
            actor=actor,
            role=data.role(tenant, actor),
            alerts=alerts,
            decisions=decisions,
            chart=chart,
            table=table,
            explained=explained,
            active=active,
            simulated=simulated,
            labels=ui.users.labels([a["alert_id"] for a in alerts]),
        )

    # ---- alert ----------------------------------------------------------------------------------
    def _alert(alert_id: str) -> dict[str, Any]:
        item = service.state.alert(alert_id)
        if item is None:
            raise _RefusedError(404, "no such alert")
        return dict(item)

    def _evidence_events(alert: dict[str, Any]) -> list[dict[str, Any]]:
        keys = [str(k) for k in (alert.get("evidence") or {}).get("event_ids") or []][:200]
        t = datetime.fromisoformat(alert["ts"].replace("Z", "+00:00")).timestamp()
        return ui.data.events_by_key(keys, t)

    @api.get("/ui/alerts/{alert_id}")
    async def alert_page(request: Request, alert_id: str) -> Response:
        session = ui.session(request)
        alert = _alert(alert_id)
        events = _evidence_events(alert)
        evidence = {
            k: v
            for k, v in (alert.get("evidence") or {}).items()
            if k not in ("event_ids", "tags", "rule", "title")
        }
        doc = _rule_doc(ui.rules_dir, alert["detector"])
        label = ui.users.labels([alert_id]).get(alert_id)
        decisions = [
            d
            for d in (service.state.decision(i) for i in alert["outcome"].get("decisions", []))
            if d is not None
        ]
        return ui.page(
            "alert.html",
            request,
            session,
            alert=alert,
            events=events,
            evidence=evidence,
            evidence_json={
                k: orjson.dumps(v).decode() if isinstance(v, dict | list) else v
                for k, v in evidence.items()
            },
            doc=doc,
            label=label,
            decisions=decisions,
            title=(alert.get("evidence") or {}).get("title"),
        )

    @api.get("/ui/alerts/{alert_id}/identities")
    async def alert_identities(request: Request, alert_id: str) -> Response:
        session = ui.session(request)
        alert = _alert(alert_id)
        events = _evidence_events(alert)
        ids = sorted({p for e in events for p in (e["patient_ids"] or [])})
        ui.identity_view(session.user, "alert-evidence", {"alert": alert_id, "patients": len(ids)})
        people = await asyncio.to_thread(ui.data.identities, ids)
        return ui.page(
            "identities.html", request, session, alert=alert, people=people, asked=len(ids)
        )

    @api.post("/ui/alerts/{alert_id}/label")
    async def alert_label(request: Request, alert_id: str) -> Response:
        session = ui.session(request, ("analyst", "admin"))
        fields = await ui.form(request, session)
        _alert(alert_id)
        try:
            ui.users.label(
                alert_id,
                fields.get("label", ""),
                fields.get("note", "")[:1000],
                session.user.name,
                now=time.time(),
            )
        except VigileError as exc:
            raise _RefusedError(422, str(exc)) from None
        return _secure(RedirectResponse(f"/ui/alerts/{quote(alert_id)}", status_code=303))

    @api.get("/ui/labels.csv")
    async def labels_csv(request: Request) -> Response:
        ui.session(request)
        labels = ui.users.labels()
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(
            [
                "alert_id",
                "ts",
                "tenant",
                "actor",
                "detector",
                "severity",
                "score",
                "incident",
                "label",
                "note",
                "labelled_by",
                "labelled_at",
            ]
        )
        for alert_id, lab in sorted(labels.items()):
            a = service.state.alert(alert_id)
            if a is None:
                continue
            out.writerow(
                _cell(v)
                for v in [
                    alert_id,
                    a["ts"],
                    a["tenant"],
                    a["actor"],
                    a["detector"],
                    a["severity"],
                    a["score"],
                    a.get("incident") or "",
                    lab["label"],
                    lab["note"],
                    lab["by"],
                    ui.when(lab["at"], "%Y-%m-%dT%H:%M:%S%z"),
                ]
            )
        return _secure(
            Response(
                buf.getvalue().encode(),
                media_type="text/csv",
                headers={"content-disposition": 'attachment; filename="vigile-alert-labels.csv"'},
            )
        )

    # ---- decisions ------------------------------------------------------------------------------
    @api.get("/ui/decisions")
    async def decisions_page(request: Request) -> Response:
        session = ui.session(request)
        history = service.state.decisions(limit=200)
        return ui.page(
            "decisions.html",
            request,
            session,
            in_force=ui.in_force(),
            history=history,
            policy=service.policy,
            prefill={k: request.query_params.get(k, "") for k in ("scope", "value")},
        )

    @api.post("/ui/decisions")
    async def decide(request: Request) -> Response:
        session = ui.session(request, ("analyst", "admin"))
        f = await ui.form(request, session)
        kind, scope, value = f.get("decision", "block"), f.get("scope", ""), f.get("value", "")
        reason = f.get("reason", "").strip()
        value = value.strip()
        if kind not in ("block", "throttle") or scope not in ("account", "session", "ip", "tenant"):
            raise _RefusedError(
                422, "a decision is block or throttle on an account, session, ip or tenant"
            )
        if not value or len(value) > 400:
            raise _RefusedError(422, "say what to act on")
        if scope == "account" and "/" not in value:
            raise _RefusedError(422, "an account is written practice/actor")
        if len(reason) < 3:
            raise _RefusedError(
                422, "give a reason (3 characters at least): it goes to the audit log"
            )
        try:
            duration = parse_duration(f["duration"]) if f.get("duration") else None
            rate = parse_rate(f["rate"]) if f.get("rate") else None
        except ValueError as exc:
            raise _RefusedError(422, str(exc)) from None
        if kind == "throttle" and rate is None:
            raise _RefusedError(422, "a throttle needs a rate, e.g. 20/min")
        rec = service.guard.block(
            scope,
            value,
            reason=reason,
            by=f"ui:{session.user.name}",
            duration=duration,
            decision=kind,
            rate=(rate.count, rate.per) if rate else None,
            simulated=f.get("simulated") == "on",
            except_places=f.get("except_known_places") == "on",
        )
        back = _safe_next(f.get("next") or "/ui/decisions")
        sep = "&" if "?" in back else "?"
        return _secure(RedirectResponse(f"{back}{sep}done={quote(rec.id)}", status_code=303))

    @api.post("/ui/decisions/{decision_id}/revoke")
    async def revoke(request: Request, decision_id: str) -> Response:
        session = ui.session(request, ("analyst", "admin"))
        f = await ui.form(request, session)
        reason = f.get("reason", "").strip()
        if len(reason) < 3:
            raise _RefusedError(
                422, "give a reason (3 characters at least): it goes to the audit log"
            )
        try:
            allow_for = parse_duration(f["allow_for"]) if f.get("allow_for") else None
        except ValueError as exc:
            raise _RefusedError(422, str(exc)) from None
        lifted = service.guard.unblock(
            decision_id=decision_id,
            reason=reason,
            by=f"ui:{session.user.name}",
            allow_for=allow_for,
        )
        if not lifted:
            raise _RefusedError(404, "no such decision in force")
        return _secure(
            RedirectResponse(_safe_next(f.get("next") or "/ui/decisions"), status_code=303)
        )

    # ---- breach --------------------------------------------------------------------------
    def _breach_alerts(incident: str) -> list[dict[str, Any]]:
        """The incident's accounts (404 when there is no such incident)."""
        try:
            ui.jobs.folder(incident)
        except ValueError:
            raise _RefusedError(404, "no such incident") from None
        members = ui.data.incident_accounts(incident)
        if not members:
            raise _RefusedError(404, "no such incident")
        return members

    @api.get("/ui/breach/{incident}")
    async def breach_page(request: Request, incident: str) -> Response:
        session = ui.session(request)
        alerts = _breach_alerts(incident)
        status = ui.jobs.status(incident)
        summary = ui.jobs.summary(incident)
        cats = ui.jobs.categories(incident)
        persons: tuple[list[str], list[list[str]], int] = ([], [], 0)
        if summary and session.user.sees_identities:
            persons = ui.jobs.persons(incident, limit=50)
            ui.identity_view(
                session.user, "breach-persons", {"incident": incident, "shown": len(persons[1])}
            )
        return ui.page(
            "breach.html",
            request,
            session,
            incident=incident,
            alerts=alerts,
            status=status,
            summary=summary,
            practices=ui.jobs.practices(incident),
            categories=charts.bars(
                "Patient files exposed per category of data",
                [(c, n, "s-extracted") for c, n in cats[:15]],
                width=640,
                left=220,
            )
            if cats
            else None,
            persons=persons,
            has_store=service.config.store is not None,
            files={
                n: ui.jobs.file(incident, n) is not None
                for n in (
                    "report.pdf",
                    "report.en.pdf",
                    "notifications.csv",
                    "exposed_patients.csv",
                )
            },
        )

    @api.post("/ui/breach/{incident}/run")
    async def breach_run(request: Request, incident: str) -> Response:
        session = ui.session(request)
        await ui.form(request, session)
        _breach_alerts(incident)
        job = ui.jobs.start(incident, ui.data.incident_alerts(incident))
        ui.audit(session.user, "breach-scope", {"incident": incident, "status": job.status})
        if job.status == "failed" and job.error:
            raise _RefusedError(409, job.error)
        return _secure(RedirectResponse(f"/ui/breach/{quote(incident)}", status_code=303))

    @api.get("/ui/breach/{incident}/status")
    async def breach_status(request: Request, incident: str) -> Response:
        ui.session(request)
        _breach_alerts(incident)
        return _secure(
            Response(orjson.dumps(ui.jobs.status(incident)), media_type="application/json")
        )

    def _download(incident: str, name: str, media: str) -> Response:
        path = ui.jobs.file(incident, name)
        if path is None:
            raise _RefusedError(404, "not generated yet: run the scope first")
        return _secure(FileResponse(path, media_type=media, filename=f"{incident}-{name}"))

    @api.get("/ui/breach/{incident}/report.pdf")
    async def report_pdf(request: Request, incident: str) -> Response:
        session = ui.session(request)
        _breach_alerts(incident)
        ui.audit(session.user, "breach-report", {"incident": incident, "file": "report.pdf"})
        return _download(incident, "report.pdf", "application/pdf")

    @api.get("/ui/breach/{incident}/report.en.pdf")
    async def report_en_pdf(request: Request, incident: str) -> Response:
        session = ui.session(request)
        _breach_alerts(incident)
        ui.audit(session.user, "breach-report", {"incident": incident, "file": "report.en.pdf"})
        return _download(incident, "report.en.pdf", "application/pdf")

    @api.get("/ui/breach/{incident}/notifications.csv")
    async def notifications_csv(request: Request, incident: str) -> Response:
        session = ui.session(request)
        _breach_alerts(incident)
        ui.identity_view(session.user, "notifications.csv", {"incident": incident})
        return _download(incident, "notifications.csv", "text/csv")

    @api.get("/ui/breach/{incident}/packs/{practice}.zip")
    async def pack(request: Request, incident: str, practice: str) -> Response:
        session = ui.session(request)
        if not session.user.sees_identities:  # before any work: the role decides first
            raise _RefusedError(
                403, "patient identities are shown to the data-protection officer only"
            )
        _breach_alerts(incident)
        data = ui.jobs.pack(incident, practice)
        if data is None:
            raise _RefusedError(404, "no such practice pack")
        # audited once the pack is known to exist, before a byte of it is sent
        ui.identity_view(
            session.user, "practice-pack", {"incident": incident, "practice": practice}
        )
        return _secure(
            Response(
                data,
                media_type="application/zip",
                headers={
                    "content-disposition": f'attachment; filename="{incident}-{practice}.zip"'
                },
            )
        )

    # ---- audit ----------------------------------------------------------------------------------
    @api.get("/ui/audit")
    async def audit_page(request: Request) -> Response:
        session = ui.session(request, ("dpo", "admin"))
        return ui.page("audit.html", request, session, entries=service.state.audit_log(500))


def _rule_doc(rules: Path | None, detector: str) -> Markup | None:
    """The rule's ``.md`` documentation rendered to HTML (raw HTML in it is escaped)."""
    if rules is None or not detector.replace("-", "").replace("_", "").isalnum():
        return None
    path = rules / f"{detector}.md"
    if not path.is_file():
        return None
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(md.render(path.read_text(encoding="utf-8")))
