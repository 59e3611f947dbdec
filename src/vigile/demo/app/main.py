"""The reference practice application: the kind of software the seed case is about, built right.

Doctors, locums and secretaries log in to their practice (``POST /api/v1/auth/login``)
and work on its patients' administrative files, free-text notes (encrypted at
rest), documents, prescriptions, appointments, searches, paged lists and
exports — the routes of ``docs/reference-api.md``. Practices are strictly apart:
every query names the session's practice; another practice's file answers 403, a
missing one 404. Roles follow least privilege: medical content (notes, documents,
prescriptions) is for doctors and locums; service accounts (online booking,
migrations) only reach the schedule and exports.

Every response names the account, practice, session, record count and patient
ids in ``X-Vigile-*`` headers; :class:`~vigile.respond.asgi.VigileMiddleware`
(or nginx) turns each request into an access event, and asks vigile before
serving. :func:`create_app` wires it all.
"""

import re
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from vigile.demo.app.db import Database
from vigile.demo.app.security import (
    NoteCipher,
    dummy_hash,
    new_session_token,
    session_id_of,
    token_hash,
    verify_password,
)
from vigile.demo.app.seed import fold
from vigile.respond.clock import Clock, wall_clock
from vigile.respond.enforcer import Enforcer, RequestInfo

__all__ = ["AppConfig", "Sessions", "create_app"]

MEDICAL: Final = frozenset({"doctor", "locum"})
STAFF: Final = frozenset({"doctor", "locum", "secretary", "admin"})
EVERYONE: Final = STAFF | {"service"}
_LOGIN: Final = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_PATIENT_COLS: Final = (
    "patient_id", "tenant", "last_name", "birth_name", "first_name", "sex", "birth_date",
    "phone", "email", "address", "postcode", "city", "vip",
)  # fmt: skip
_SUMMARY_COLS: Final = ("patient_id", "last_name", "first_name", "birth_date")


@dataclass
class AppConfig:
    """How the application runs."""

    db: str = "sqlite:///practice.db"
    timezone: str = "Europe/Paris"
    session_ttl: float = 12 * 3600.0
    clock: Clock = wall_clock
    note_key: str | None = None


@dataclass(frozen=True)
class Session:
    """A logged-in account."""

    id: str
    actor: str
    tenant: str
    role: str
    expires: float


class Sessions:
    """Sessions by token hash, cached in memory in front of the database."""

    def __init__(self, db: Database, clock: Clock, ttl: float) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[str, Session | None] = {}
        self._lock = threading.Lock()

    def open(self, actor: str, tenant: str, role: str, src_ip: str | None) -> tuple[Session, str]:
        sid, token = new_session_token()
        now = self.clock()
        s = Session(sid, actor, tenant, role, now + self.ttl)
        with self.db.tx():
            self.db.run(
                "INSERT INTO sessions (id, token_hash, actor, tenant, created, expires, src_ip) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, token_hash(token), actor, tenant, now, s.expires, src_ip),
            )
        with self._lock:
            self._cache[token_hash(token)] = s
        return s, token

    def get(self, token: str | None) -> Session | None:
        if not token or session_id_of(token) is None:
            return None
        digest = token_hash(token)
        s: Session | None
        if digest in self._cache:
            s = self._cache[digest]
        else:
            row = self.db.one(
                "SELECT s.id, s.actor, s.tenant, u.role, s.expires FROM sessions s "
                "JOIN users u ON u.actor = s.actor "
                "WHERE s.token_hash = ? AND s.revoked IS NULL AND u.disabled = 0",
                (digest,),
            )
            s = Session(*row) if row else None
            with self._lock:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[digest] = s
        if s is None or s.expires <= self.clock():
            return None
        return s

    def close(self, token: str) -> Session | None:
        s = self.get(token)
        if s is None:
            return None
        with self.db.tx():
            self.db.run(
                "UPDATE sessions SET revoked = ? WHERE token_hash = ?",
                (self.clock(), token_hash(token)),
            )
        with self._lock:
            self._cache[token_hash(token)] = None
        return s

    def identify(self, scope: MutableMapping[str, Any]) -> RequestInfo | None:
        """For the middleware: who is asking, before the request is served."""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                text = value.decode("latin-1")
                if text[:7].lower() == "bearer ":
                    s = self.get(text[7:].strip())
                    if s is not None:
                        return RequestInfo(tenant=s.tenant, actor=s.actor, session=s.id)
                    sid = session_id_of(text[7:].strip())
                    return RequestInfo(session=sid) if sid else None
        return None


# ---- request bodies --------------------------------------------------------------------
class Login(BaseModel):
    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


class PatientIn(BaseModel):
    last_name: str = Field(min_length=1, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    birth_name: str | None = Field(default=None, max_length=100)
    sex: str | None = Field(default=None, max_length=1)
    birth_date: str | None = Field(default=None, max_length=10)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    postcode: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)


class PatientUpdate(BaseModel):
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    first_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    postcode: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class PrescriptionIn(BaseModel):
    lines: list[str] = Field(min_length=1, max_length=50)


class AppointmentIn(BaseModel):
    patient_id: str = Field(min_length=1, max_length=40)
    start: str = Field(min_length=10, max_length=40)
    actor: str | None = Field(default=None, max_length=64)


# ---- responses -------------------------------------------------------------------------
def _reply(
    s: Session | None,
    body: Any,
    *,
    ids: list[str] | tuple[str, ...] = (),
    status: int = 200,
    records: int | None = None,
    media_type: str = "application/json",
) -> Response:
    headers: dict[str, str] = {}
    if s is not None:
        headers["X-Vigile-Actor"] = s.actor
        headers["X-Vigile-Tenant"] = s.tenant
        headers["X-Vigile-Session"] = s.id
    headers["X-Vigile-Records"] = str(len(ids) if records is None else records)
    if ids:
        headers["X-Vigile-Patients"] = ",".join(ids)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=media_type)


class RefusedError(Exception):
    """A refusal that still names the account (so that the access log has it)."""

    def __init__(self, s: Session, status: int, message: str, patient_id: str | None = None):
        self.session = s
        self.status = status
        self.message = message
        self.patient_id = patient_id


def create_app(
    config: AppConfig,
    *,
    enforcer: Enforcer | None = None,
    strip_headers: bool = True,
) -> Any:
    """The ASGI application; protected by vigile's middleware when ``enforcer`` is given."""
    db = Database(config.db)
    cipher = NoteCipher(config.note_key)
    clock = config.clock
    tz = ZoneInfo(config.timezone)
    sessions = Sessions(db, clock, config.session_ttl)
    api = FastAPI(
        title="reference practice application", docs_url=None, redoc_url=None, openapi_url=None
    )
    api.state.sessions = sessions
    api.state.db = db

    def current(request: Request) -> Session:
        header = request.headers.get("authorization", "")
        s = sessions.get(header[7:].strip()) if header[:7].lower() == "bearer " else None
        if s is None:
            raise HTTPException(401, "not logged in", headers={"WWW-Authenticate": "Bearer"})
        return s

    Me = Annotated[Session, Depends(current)]  # noqa: N806 - a type alias

    def allow(s: Session, roles: frozenset[str], patient_id: str | None = None) -> None:
        if s.role not in roles:
            raise RefusedError(s, 403, f"the {s.role} role may not do this", patient_id)

    def own_patient(s: Session, patient_id: str) -> tuple[Any, ...]:
        row = db.one(
            f"SELECT {', '.join(_PATIENT_COLS)} FROM patients WHERE patient_id = ? AND deleted = 0",
            (patient_id,),
        )
        if row is None:
            raise RefusedError(s, 404, "no such patient", patient_id)
        if row[1] != s.tenant:
            raise RefusedError(s, 403, "this file belongs to another practice", patient_id)
        return row

    @api.exception_handler(RefusedError)
    async def _refused(_: Request, exc: RefusedError) -> Response:
        return _reply(exc.session, {"error": exc.message}, status=exc.status, records=0)

    @api.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> Response:
        return Response(
            orjson.dumps({"error": exc.detail}),
            status_code=exc.status_code,
            headers=dict(exc.headers or {}),
            media_type="application/json",
        )

    # ---- session -------------------------------------------------------------------------
    @api.get("/health")
    @api.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/api/v1/auth/login")
    def login(body: Login, request: Request) -> Response:
        row = db.one(
            "SELECT actor, tenant, role, password_hash, disabled FROM users WHERE actor = ?",
            (body.login,),
        )
        good = verify_password(body.password, row[3] if row else dummy_hash())
        if row is None or not good or row[4]:
            headers = {"X-Vigile-Records": "0"}
            if _LOGIN.match(body.login):
                headers["X-Vigile-Actor"] = body.login
            if row is not None:
                headers["X-Vigile-Tenant"] = row[1]
            return Response(
                orjson.dumps({"error": "invalid credentials"}),
                status_code=401,
                headers=headers,
                media_type="application/json",
            )
        client = request.client.host if request.client else None
        s, token = sessions.open(row[0], row[1], row[2], client)
        return _reply(
            s,
            {"token": token, "session": s.id, "actor": s.actor, "tenant": s.tenant,
             "role": s.role, "expires": s.expires},
        )  # fmt: skip

    @api.post("/api/v1/auth/logout")
    def logout(request: Request, s: Me) -> Response:
        sessions.close(request.headers.get("authorization", "")[7:].strip())
        return _reply(s, {"logged_out": True})

    # ---- patients --------------------------------------------------------------------------
    @api.get("/api/v1/patients/search")
    def search(
        s: Me,
        q: Annotated[str, Query(min_length=2, max_length=60)],
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> Response:
        allow(s, STAFF)
        key = fold(q.strip())
        rows = db.all(
            f"SELECT {', '.join(_SUMMARY_COLS)} FROM patients WHERE tenant = ? AND deleted = 0 "
            "AND last_name_key >= ? AND last_name_key < ? "
            "ORDER BY last_name_key, patient_id LIMIT ?",
            (s.tenant, key, key + "\uffff", limit),
        )
        items = [dict(zip(_SUMMARY_COLS, r, strict=True)) for r in rows]
        return _reply(s, {"q": q, "patients": items}, ids=[r[0] for r in rows])

    @api.get("/api/v1/patients")
    def list_patients(
        s: Me,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> Response:
        allow(s, STAFF)
        rows = db.all(
            f"SELECT {', '.join(_SUMMARY_COLS)} FROM patients WHERE tenant = ? AND deleted = 0 "
            "ORDER BY patient_id LIMIT ? OFFSET ?",
            (s.tenant, size + 1, (page - 1) * size),
        )
        more = len(rows) > size
        rows = rows[:size]
        items = [dict(zip(_SUMMARY_COLS, r, strict=True)) for r in rows]
        return _reply(
            s, {"page": page, "size": size, "more": more, "patients": items},
            ids=[r[0] for r in rows],
        )  # fmt: skip

    @api.post("/api/v1/patients")
    def create_patient(s: Me, body: PatientIn) -> Response:
        allow(s, STAFF)
        number = db.next_value("patient", 10_000_000)
        pid = f"P{number:08d}"
        values = body.model_dump()
        with db.tx():
            db.run(
                f"INSERT INTO patients ({', '.join(_PATIENT_COLS)}, last_name_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pid, s.tenant, values["last_name"], values["birth_name"],
                    values["first_name"], values["sex"], values["birth_date"], values["phone"],
                    values["email"], values["address"], values["postcode"], values["city"], 0,
                    fold(values["last_name"]),
                ),
            )  # fmt: skip
        return _reply(s, {"patient_id": pid, **values}, ids=[pid], status=201)

    @api.get("/api/v1/patients/{patient_id}")
    def read_patient(s: Me, patient_id: str) -> Response:
        allow(s, STAFF, patient_id)
        row = own_patient(s, patient_id)
        return _reply(s, dict(zip(_PATIENT_COLS, row, strict=True)), ids=[patient_id])

    @api.put("/api/v1/patients/{patient_id}")
    def update_patient(s: Me, patient_id: str, body: PatientUpdate) -> Response:
        allow(s, STAFF, patient_id)
        own_patient(s, patient_id)
        changes = {k: v for k, v in body.model_dump().items() if v is not None}
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            params: list[Any] = list(changes.values())
            if "last_name" in changes:
                sets += ", last_name_key = ?"
                params.append(fold(changes["last_name"]))
            with db.tx():
                db.run(
                    f"UPDATE patients SET {sets} WHERE patient_id = ? AND tenant = ?",
                    (*params, patient_id, s.tenant),
                )
        row = own_patient(s, patient_id)
        return _reply(s, dict(zip(_PATIENT_COLS, row, strict=True)), ids=[patient_id])

    @api.delete("/api/v1/patients/{patient_id}")
    def delete_patient(s: Me, patient_id: str) -> Response:
        allow(s, frozenset({"doctor", "admin"}), patient_id)
        own_patient(s, patient_id)
        with db.tx():
            db.run(
                "UPDATE patients SET deleted = 1 WHERE patient_id = ? AND tenant = ?",
                (patient_id, s.tenant),
            )
        return _reply(s, {"deleted": patient_id}, ids=[patient_id])

    @api.get("/api/v1/patients/{patient_id}/print")
    def print_patient(s: Me, patient_id: str) -> Response:
        allow(s, STAFF, patient_id)
        row = dict(zip(_PATIENT_COLS, own_patient(s, patient_id), strict=True))
        text = (
            f"{row['last_name']} {row['first_name'] or ''}\n"
            f"né(e) le {row['birth_date'] or '?'}\n{row['address'] or ''}\n"
            f"{row['postcode'] or ''} {row['city'] or ''}\n{row['phone'] or ''}\n"
        )
        return _reply(s, text.encode(), ids=[patient_id], media_type="text/plain; charset=utf-8")

    # ---- medical content -------------------------------------------------------------------
    @api.get("/api/v1/patients/{patient_id}/annotations")
    def read_notes(s: Me, patient_id: str) -> Response:
        allow(s, MEDICAL, patient_id)
        own_patient(s, patient_id)
        rows = db.all(
            "SELECT annotation_id, author, created, ciphertext FROM annotations "
            "WHERE tenant = ? AND patient_id = ? ORDER BY created",
            (s.tenant, patient_id),
        )
        notes = [
            {"annotation_id": a, "author": au, "created": c,
             "text": cipher.decrypt(ct, a, patient_id)}
            for a, au, c, ct in rows
        ]  # fmt: skip
        return _reply(s, {"patient_id": patient_id, "annotations": notes}, ids=[patient_id])

    @api.post("/api/v1/patients/{patient_id}/annotations")
    def create_note(s: Me, patient_id: str, body: NoteIn) -> Response:
        allow(s, MEDICAL, patient_id)
        own_patient(s, patient_id)
        aid = f"N{db.next_value('annotation', 90_000_000):08d}"
        created = datetime.fromtimestamp(clock(), tz).isoformat(timespec="seconds")
        with db.tx():
            db.run(
                "INSERT INTO annotations (annotation_id, patient_id, tenant, author, created, "
                "ciphertext) VALUES (?, ?, ?, ?, ?, ?)",
                (aid, patient_id, s.tenant, s.actor, created,
                 cipher.encrypt(body.text, aid, patient_id)),
            )  # fmt: skip
        return _reply(s, {"annotation_id": aid, "created": created}, ids=[patient_id], status=201)

    @api.get("/api/v1/patients/{patient_id}/documents/{document_id}")
    def read_document(s: Me, patient_id: str, document_id: str) -> Response:
        allow(s, MEDICAL, patient_id)
        own_patient(s, patient_id)
        row = db.one(
            "SELECT document_id, title, created FROM documents "
            "WHERE document_id = ? AND patient_id = ? AND tenant = ?",
            (document_id, patient_id, s.tenant),
        )
        if row is None:
            raise RefusedError(s, 404, "no such document", patient_id)
        doc = {"document_id": row[0], "title": row[1], "created": row[2], "patient_id": patient_id}
        return _reply(s, doc, ids=[patient_id])

    @api.get("/api/v1/patients/{patient_id}/prescriptions")
    def read_prescriptions(s: Me, patient_id: str) -> Response:
        allow(s, MEDICAL, patient_id)
        own_patient(s, patient_id)
        rows = db.all(
            "SELECT id, author, created, lines FROM prescriptions "
            "WHERE tenant = ? AND patient_id = ? ORDER BY id DESC LIMIT 50",
            (s.tenant, patient_id),
        )
        items = [
            {"id": i, "author": a, "created": c, "lines": orjson.loads(ls)} for i, a, c, ls in rows
        ]
        return _reply(s, {"patient_id": patient_id, "prescriptions": items}, ids=[patient_id])

    @api.post("/api/v1/patients/{patient_id}/prescriptions")
    def create_prescription(s: Me, patient_id: str, body: PrescriptionIn) -> Response:
        allow(s, MEDICAL, patient_id)
        own_patient(s, patient_id)
        created = datetime.fromtimestamp(clock(), tz).isoformat(timespec="seconds")
        with db.tx():
            db.run(
                "INSERT INTO prescriptions (patient_id, tenant, author, created, lines) "
                "VALUES (?, ?, ?, ?, ?)",
                (patient_id, s.tenant, s.actor, created, orjson.dumps(body.lines).decode()),
            )
        return _reply(s, {"patient_id": patient_id, "created": created}, ids=[patient_id],
                      status=201)  # fmt: skip

    # ---- schedule and exports --------------------------------------------------------------
    @api.get("/api/v1/appointments")
    def appointments(s: Me, day: Annotated[str | None, Query(alias="date")] = None) -> Response:
        allow(s, EVERYONE)
        when = day or datetime.fromtimestamp(clock(), tz).date().isoformat()
        try:
            date.fromisoformat(when)
        except ValueError:
            raise HTTPException(422, "date must be YYYY-MM-DD") from None
        rows = db.all(
            "SELECT actor, patient_id, start FROM appointments WHERE tenant = ? AND day = ? "
            "ORDER BY start",
            (s.tenant, when),
        )
        items = [{"actor": a, "patient_id": p, "start": st} for a, p, st in rows]
        ids = list(dict.fromkeys(r[1] for r in rows))
        return _reply(s, {"date": when, "appointments": items}, ids=ids)

    @api.post("/api/v1/appointments")
    def book(s: Me, body: AppointmentIn) -> Response:
        allow(s, EVERYONE, body.patient_id)
        own_patient(s, body.patient_id)
        try:
            start = datetime.fromisoformat(body.start)
        except ValueError:
            raise HTTPException(422, "start must be an ISO 8601 time") from None
        doctor = body.actor or (s.actor if s.role in MEDICAL else None)
        if doctor is None:
            raise HTTPException(422, "say which doctor the appointment is with (actor)")
        with db.tx():
            db.run(
                "INSERT INTO appointments (tenant, actor, patient_id, start, day) "
                "VALUES (?, ?, ?, ?, ?)",
                (s.tenant, doctor, body.patient_id, start.isoformat(), start.date().isoformat()),
            )
        return _reply(
            s, {"patient_id": body.patient_id, "start": start.isoformat(), "actor": doctor},
            ids=[body.patient_id], status=201,
        )  # fmt: skip

    @api.get("/api/v1/exports/patients")
    def export(
        s: Me,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        size: Annotated[int, Query(ge=1, le=500)] = 100,
        age_min: Annotated[int | None, Query(ge=0, le=130)] = None,
    ) -> Response:
        allow(s, EVERYONE)
        where = "tenant = ? AND deleted = 0"
        params: list[Any] = [s.tenant]
        if age_min is not None:
            today = datetime.fromtimestamp(clock(), tz).date()
            limit = today - timedelta(days=int(age_min * 365.25))
            where += " AND birth_date <= ?"
            params.append(limit.isoformat())
        rows = db.all(
            f"SELECT {', '.join(_PATIENT_COLS)} FROM patients WHERE {where} "
            "ORDER BY patient_id LIMIT ? OFFSET ?",
            (*params, size + 1, (page - 1) * size),
        )
        more = len(rows) > size
        rows = rows[:size]
        items = [dict(zip(_PATIENT_COLS, r, strict=True)) for r in rows]
        return _reply(
            s, {"page": page, "size": size, "more": more, "patients": items},
            ids=[r[0] for r in rows],
        )  # fmt: skip

    if enforcer is None:
        return api
    from vigile.respond.asgi import VigileMiddleware

    return VigileMiddleware(
        api,
        enforcer,
        identify=sessions.identify,
        timezone=tz,
        clock=clock,
        strip_headers=strip_headers,
    )


def default_db(path: Path) -> str:
    """``sqlite:///<path>`` for a file path."""
    return f"sqlite:///{path}"
