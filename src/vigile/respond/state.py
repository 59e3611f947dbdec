"""Decision state behind one seam: SQLite by default, PostgreSQL by URL.

What the response stage must remember across restarts and share between
replicas lives here: decisions (with a change counter ``seq`` that polling
enforcers follow), the alerts that led to them and what the policy made of each,
the dynamic allowlist, the service's API tokens (hashed) and an audit trail of
manual actions. The hot path never reads this store: :class:`~vigile.respond.cache.DecisionCache`
holds the active decisions in memory.

``open_state(url)`` takes ``sqlite:///path/state.db`` (or a plain path),
``sqlite:///:memory:``, or ``postgresql://user@host/db`` (libpq syntax; add
``?options=-csearch_path%3Dmyschema`` to use a schema). Migrations are numbered
``.sql`` files per dialect under ``migrations/``; each runs once, in a
transaction, recorded in ``schema_migrations`` (PostgreSQL takes an advisory lock
so that replicas starting together migrate once).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import orjson

from vigile.errors import VigileError
from vigile.events import Alert, Decision

__all__ = [
    "AllowRecord",
    "DecisionRecord",
    "StateStore",
    "TokenRecord",
    "iso",
    "open_state",
]

MIGRATIONS: Final = Path(__file__).parent / "migrations"
Dialect = Literal["sqlite", "postgres"]


def iso(t: float | None) -> str | None:
    """Epoch seconds → RFC 3339 UTC with milliseconds (``None`` stays ``None``)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DecisionRecord(msgspec.Struct, kw_only=True):
    """A decision as stored: the interface's :class:`Decision` plus its bookkeeping."""

    id: str
    decision: Literal["allow", "throttle", "block"]
    scope: Literal["account", "session", "ip", "tenant"]
    value: str
    created: float
    until: float | None
    reason: str
    origin: str
    alert_id: str | None = None
    simulated: bool = False
    tenant: str | None = None
    actor: str | None = None
    rate_count: int | None = None
    rate_per: float | None = None
    revoked: float | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    #: an account decision that spares the account's established networks
    except_places: bool = False
    seq: int = 0

    def active(self, now: float) -> bool:
        """In force at ``now``: not revoked, not expired."""
        return self.revoked is None and (self.until is None or self.until > now)

    def to_decision(self) -> Decision:
        """The interface's :class:`~vigile.events.Decision` view."""
        return Decision(
            decision=self.decision,
            scope=self.scope,
            value=self.value,
            until=iso(self.until),
            reason=self.reason,
            alert_id=self.alert_id,
            simulated=self.simulated,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON for the API: times as RFC 3339, the rate as ``20/60s``."""
        out: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "decision": self.decision,
            "scope": self.scope,
            "value": self.value,
            "created": iso(self.created),
            "until": iso(self.until),
            "reason": self.reason,
            "alert_id": self.alert_id,
            "simulated": self.simulated,
            "origin": self.origin,
            "tenant": self.tenant,
            "actor": self.actor,
            "revoked": iso(self.revoked),
            "revoked_by": self.revoked_by,
            "revoke_reason": self.revoke_reason,
            "except_known_places": self.except_places,
        }
        if self.rate_count is not None:
            out["rate"] = {"count": self.rate_count, "per_seconds": self.rate_per}
        return out


class TokenRecord(msgspec.Struct, kw_only=True):
    """An API token as stored: never the token itself, only its keyed digest."""

    id: str
    name: str
    scopes: list[str]
    digest: str
    pepper_id: str
    created: float
    expires: float | None = None
    revoked: float | None = None
    last_used: float | None = None


class AllowRecord(msgspec.Struct, kw_only=True):
    """An allowlist entry added at run time (the policy file has its own)."""

    id: str
    scope: Literal["account", "session", "ip", "tenant"]
    value: str
    until: float
    reason: str
    created: float
    created_by: str
    revoked: float | None = None


_DECISION_COLS: Final = (
    "id, seq, decision, scope, value, created, until, reason, alert_id, simulated, origin, "
    "tenant, actor, rate_count, rate_per, revoked, revoked_by, revoke_reason, except_places"
)


def _decision(row: Sequence[Any]) -> DecisionRecord:
    return DecisionRecord(
        id=row[0],
        seq=int(row[1]),
        decision=row[2],
        scope=row[3],
        value=row[4],
        created=float(row[5]),
        until=None if row[6] is None else float(row[6]),
        reason=row[7],
        alert_id=row[8],
        simulated=bool(row[9]),
        origin=row[10],
        tenant=row[11],
        actor=row[12],
        rate_count=row[13],
        rate_per=row[14],
        revoked=row[15],
        revoked_by=row[16],
        revoke_reason=row[17],
        except_places=bool(row[18]),
    )


def new_id(prefix: str) -> str:
    """A random id with a readable prefix: ``d-3f9c...`` (decisions), ``al-`` ..."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class StateStore:
    """SQLite or PostgreSQL, one connection guarded by a lock (see the module docstring)."""

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        self.dialect: Dialect
        self._lock = threading.RLock()
        self._conn: Any
        text = self.url
        if text.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgres"
            self._conn = self._connect_postgres(text)
        else:
            self.dialect = "sqlite"
            # sqlite:///relative.db, sqlite:////absolute.db (SQLAlchemy's spelling), or a path
            path = text.removeprefix("sqlite:///") if text.startswith("sqlite:///") else text
            if path in ("", ":memory:"):
                path = ":memory:"
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    @staticmethod
    def _connect_postgres(url: str) -> Any:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - the service extra installs it
            raise VigileError(
                "PostgreSQL state needs psycopg: pip install 'vigile[service]'"
            ) from None
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise VigileError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from None
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            conn.close()
            raise VigileError(
                "PostgreSQL: the connection's search_path names no existing schema; "
                "create the schema first (CREATE SCHEMA ...)"
            )
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- plumbing --------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return list(self._exec(sql, params).fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._exec(sql, params).fetchone()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One transaction (writes take the lock for its whole duration)."""
        with self._lock:
            if self.dialect == "postgres":
                with self._conn.transaction():
                    yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied."""
        applied: list[int] = []
        files = sorted(
            (int(p.name.split("_", 1)[0]), p) for p in (MIGRATIONS / self.dialect).glob("*.sql")
        )
        with self._tx():
            if self.dialect == "postgres":
                self._exec("SELECT pg_advisory_xact_lock(7295310)")
            self._exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
            )
            row = self._exec("SELECT max(version) FROM schema_migrations").fetchone()
            current = int(row[0] or 0)
            for version, path in files:
                if version <= current:
                    continue
                for statement in _statements(path.read_text(encoding="utf-8")):
                    self._exec(statement)
                self._exec(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (version, iso(datetime.now(UTC).timestamp())),
                )
                applied.append(version)
        return applied

    def schema_version(self) -> int:
        row = self._one("SELECT max(version) FROM schema_migrations")
        return int(row[0] or 0)

    # ---- decisions -------------------------------------------------------------------------
    def _next_seq(self) -> int:
        row = self._exec(
            "UPDATE counters SET value = value + 1 WHERE name = 'decision_seq' RETURNING value"
        ).fetchone()
        return int(row[0])

    def add_decision(self, rec: DecisionRecord) -> DecisionRecord:
        """Store a new decision; returns it with its change number ``seq``."""
        with self._tx():
            rec.seq = self._next_seq()
            self._exec(
                f"INSERT INTO decisions ({_DECISION_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    rec.seq,
                    rec.decision,
                    rec.scope,
                    rec.value,
                    rec.created,
                    rec.until,
                    rec.reason,
                    rec.alert_id,
                    int(rec.simulated),
                    rec.origin,
                    rec.tenant,
                    rec.actor,
                    rec.rate_count,
                    rec.rate_per,
                    rec.revoked,
                    rec.revoked_by,
                    rec.revoke_reason,
                    int(rec.except_places),
                ),
            )
        return rec

    def revoke_decision(
        self, decision_id: str, *, at: float, by: str, reason: str
    ) -> DecisionRecord | None:
        """Lift a decision (a new ``seq``, so pollers see it); ``None`` if unknown or lifted."""
        with self._tx():
            row = self._exec(
                f"SELECT {_DECISION_COLS} FROM decisions WHERE id = ?", (decision_id,)
            ).fetchone()
            if row is None or row[15] is not None:
                return None
            seq = self._next_seq()
            self._exec(
                "UPDATE decisions SET revoked = ?, revoked_by = ?, revoke_reason = ?, seq = ? "
                "WHERE id = ?",
                (at, by, reason, seq, decision_id),
            )
        rec = _decision(row)
        rec.revoked, rec.revoked_by, rec.revoke_reason, rec.seq = at, by, reason, seq
        return rec

    def decision(self, decision_id: str) -> DecisionRecord | None:
        row = self._one(f"SELECT {_DECISION_COLS} FROM decisions WHERE id = ?", (decision_id,))
        return None if row is None else _decision(row)

    def active_decisions(self, now: float) -> list[DecisionRecord]:
        """Every decision in force at ``now`` (simulated ones included)."""
        rows = self._all(
            f"SELECT {_DECISION_COLS} FROM decisions "
            "WHERE revoked IS NULL AND (until IS NULL OR until > ?) ORDER BY seq",
            (now,),
        )
        return [_decision(r) for r in rows]

    def changes(self, since: int, limit: int = 1000) -> list[DecisionRecord]:
        """Decisions created or lifted after change number ``since``, in order."""
        rows = self._all(
            f"SELECT {_DECISION_COLS} FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, limit),
        )
        return [_decision(r) for r in rows]

    def last_seq(self) -> int:
        row = self._one("SELECT value FROM counters WHERE name = 'decision_seq'")
        return int(row[0])

    def decisions(
        self,
        *,
        active_at: float | None = None,
        scope: str | None = None,
        value: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        limit: int = 500,
    ) -> list[DecisionRecord]:
        """Decisions, newest first, filtered."""
        where: list[str] = []
        params: list[Any] = []
        if active_at is not None:
            where.append("revoked IS NULL AND (until IS NULL OR until > ?)")
            params.append(active_at)
        for col, val in (("scope", scope), ("value", value), ("tenant", tenant), ("actor", actor)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if since is not None:
            where.append("created >= ?")
            params.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT {_DECISION_COLS} FROM decisions {clause} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_decision(r) for r in rows]

    def count_recent(self, origin: str, tenant: str, actor: str, since: float) -> int:
        """Decisions made by ``origin`` about this account since ``since`` (for escalation)."""
        row = self._one(
            "SELECT count(*) FROM decisions WHERE origin = ? AND tenant = ? AND actor = ? "
            "AND created >= ?",
            (origin, tenant, actor, since),
        )
        return int(row[0])

    # ---- alerts ----------------------------------------------------------------------------
    def add_alert(
        self, alert: Alert, *, t: float, received: float, outcome: dict[str, Any]
    ) -> bool:
        """Store an alert and what the policy made of it; ``False`` if already stored."""
        body = msgspec.json.encode(alert).decode()
        with self._tx():
            found = self._exec("SELECT 1 FROM alerts WHERE alert_id = ?", (alert.alert_id,))
            if found.fetchone() is not None:
                return False
            self._exec(
                "INSERT INTO alerts (alert_id, ts, t, tenant, actor, severity, detector, incident,"
                " received, outcome, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.alert_id,
                    alert.ts,
                    t,
                    alert.tenant,
                    alert.actor,
                    alert.severity,
                    alert.detector,
                    alert.incident,
                    received,
                    orjson.dumps(outcome).decode(),
                    body,
                ),
            )
        return True

    def alerts(
        self,
        *,
        since: float | None = None,
        tenant: str | None = None,
        actor: str | None = None,
        severities: Sequence[str] | None = None,
        incident: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Alerts (INTERFACE §3) newest first, each with its ``outcome``."""
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("t >= ?")
            params.append(since)
        for col, val in (("tenant", tenant), ("actor", actor), ("incident", incident)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if severities:
            where.append(f"severity IN ({', '.join('?' for _ in severities)})")
            params.extend(severities)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._all(
            f"SELECT body, outcome FROM alerts {clause} ORDER BY t DESC, alert_id LIMIT ?",
            (*params, limit),
        )
        out = []
        for body, outcome in rows:
            item = orjson.loads(body)
            item["outcome"] = orjson.loads(outcome)
            out.append(item)
        return out

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT body, outcome FROM alerts WHERE alert_id = ?", (alert_id,))
        if row is None:
            return None
        item: dict[str, Any] = orjson.loads(row[0])
        item["outcome"] = orjson.loads(row[1])
        return item

    def incidents(self, *, since: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Campaign incidents: the alerts grouped by ``incident``, newest activity first."""
        clause = "WHERE incident IS NOT NULL" + (" AND t >= ?" if since is not None else "")
        params: tuple[Any, ...] = (since,) if since is not None else ()
        rows = self._all(
            "SELECT incident, min(t), max(t), count(*), min(ts), max(ts) FROM alerts "
            f"{clause} GROUP BY incident ORDER BY max(t) DESC LIMIT ?",
            (*params, limit),
        )
        out = []
        rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
        for incident, _t0, _t1, n, ts0, ts1 in rows:
            members = self._all(
                "SELECT DISTINCT tenant, actor, severity FROM alerts WHERE incident = ?",
                (incident,),
            )
            accounts = sorted({f"{t}/{a}" for t, a, _ in members})
            tenants = sorted({t for t, _, _ in members})
            worst = max((s for _, _, s in members), key=lambda s: rank.get(s, 0))
            out.append(
                {
                    "incident": incident,
                    "first": ts0,
                    "last": ts1,
                    "alerts": int(n),
                    "severity": worst,
                    "accounts": accounts,
                    "tenants": tenants,
                }
            )
        return out

    # ---- allowlist -------------------------------------------------------------------------
    def add_allow(self, rec: AllowRecord) -> AllowRecord:
        with self._tx():
            self._exec(
                "INSERT INTO allowlist (id, scope, value, until, reason, created, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec.id, rec.scope, rec.value, rec.until, rec.reason, rec.created, rec.created_by),
            )
        return rec

    def allowlist(self, now: float | None = None) -> list[AllowRecord]:
        """Run-time allowlist entries (in force at ``now`` when given)."""
        clause = "WHERE revoked IS NULL AND until > ?" if now is not None else ""
        rows = self._all(
            "SELECT id, scope, value, until, reason, created, created_by, revoked FROM allowlist "
            f"{clause} ORDER BY created",
            (now,) if now is not None else (),
        )
        return [
            AllowRecord(
                id=r[0],
                scope=r[1],
                value=r[2],
                until=float(r[3]),
                reason=r[4],
                created=float(r[5]),
                created_by=r[6],
                revoked=r[7],
            )
            for r in rows
        ]

    def revoke_allow(self, allow_id: str, at: float) -> bool:
        with self._tx():
            cur = self._exec(
                "UPDATE allowlist SET revoked = ? WHERE id = ? AND revoked IS NULL", (at, allow_id)
            )
            return bool(cur.rowcount)

    # ---- tokens ----------------------------------------------------------------------------
    def add_token(self, rec: TokenRecord) -> None:
        with self._tx():
            self._exec(
                "INSERT INTO tokens (id, name, scopes, digest, pepper_id, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    rec.name,
                    ",".join(rec.scopes),
                    rec.digest,
                    rec.pepper_id,
                    rec.created,
                    rec.expires,
                ),
            )

    def tokens(self) -> list[TokenRecord]:
        rows = self._all(
            "SELECT id, name, scopes, digest, pepper_id, created, expires, revoked, last_used "
            "FROM tokens ORDER BY created"
        )
        return [
            TokenRecord(
                id=r[0],
                name=r[1],
                scopes=[s for s in r[2].split(",") if s],
                digest=r[3],
                pepper_id=r[4],
                created=float(r[5]),
                expires=r[6],
                revoked=r[7],
                last_used=r[8],
            )
            for r in rows
        ]

    def revoke_token(self, token_id: str, at: float) -> bool:
        with self._tx():
            cur = self._exec(
                "UPDATE tokens SET revoked = ? WHERE (id = ? OR name = ?) AND revoked IS NULL",
                (at, token_id, token_id),
            )
            return bool(cur.rowcount)

    def touch_token(self, token_id: str, at: float) -> None:
        with self._tx():
            self._exec("UPDATE tokens SET last_used = ? WHERE id = ?", (at, token_id))

    # ---- audit -----------------------------------------------------------------------------
    def audit(self, who: str, action: str, detail: dict[str, Any], at: float) -> None:
        """Record a manual action (block, unblock, token...): who, what, when."""
        with self._tx():
            self._exec(
                "INSERT INTO audit (t, who, action, detail) VALUES (?, ?, ?, ?)",
                (at, who, action, orjson.dumps(detail).decode()),
            )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT t, who, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            {"ts": iso(float(t)), "who": who, "action": action, "detail": orjson.loads(detail)}
            for t, who, action, detail in rows
        ]


def open_state(url: str | Path | None) -> StateStore:
    """The decision state at ``url`` (default ``sqlite:///vigile-state.db``), migrated."""
    return StateStore(url if url is not None else "sqlite:///vigile-state.db")


def _statements(text: str) -> list[str]:
    """A migration file's statements (``--`` comments dropped, split on ``;``)."""
    body = "\n".join(re.sub(r"--.*$", "", line) for line in text.splitlines())
    return [s.strip() for s in body.split(";") if s.strip()]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
