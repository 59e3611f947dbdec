"""Local users of the dashboard: roles, scrypt-hashed passwords, server-side sessions.

Roles (``vigile users add NAME --role ROLE``):

* ``analyst`` — sees alerts, incidents, accounts and decisions; blocks, throttles,
  unblocks; labels alerts; runs a breach scope and reads its figures. Never sees
  who the patients are.
* ``dpo`` — the data-protection officer: everything an analyst reads, plus the
  patients' identities (persons exposed, notification lists, practice packs);
  every such view is written to the audit trail.
* ``admin`` — an analyst who may also act on users.

Passwords are hashed with scrypt (``hashlib.scrypt``, N=2^15, r=8, p=3, 16-byte
salt: one of OWASP's equivalent minimum settings, about 150 ms and 32 MiB per
check), stored as ``scrypt$N$r$p$salt$hash``; a hash made with weaker settings is
replaced at its next sign-in. Failed sign-ins are counted in the state, per name
and per client address: 5 failures of a name, or 20 from one address, within 10
minutes refuse further attempts until the window has passed (names that do not
exist are locked the same way, so the lock tells nothing about who exists).

A session is a random 256-bit token in a cookie; the state keeps only its SHA-256,
with its user, CSRF token, last use and expiry (idle 30 minutes, at most 12 hours);
a sign-in always opens a new one and ends the one the browser had. The tables live
in the service's state (SQLite or PostgreSQL) beside decisions and the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from vigile.errors import VigileError
from vigile.respond.state import StateStore

__all__ = [
    "ROLES",
    "Session",
    "User",
    "UserStore",
    "hash_password",
    "verify_password",
]

ROLES: Final[tuple[str, ...]] = ("analyst", "dpo", "admin")
IDLE_SECONDS: Final = 30 * 60
MAX_SECONDS: Final = 12 * 3600
_N, _R, _P = 2**15, 8, 3
LOCK_WINDOW: Final = 600.0
LOCK_PER_NAME: Final = 5
LOCK_PER_CLIENT: Final = 20
_MAXMEM: Final = 64 << 20
_NAME: Final = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
#: a hash checked when the user does not exist, so both cases take as long (random:
#: no password matches it; made without hashing, so the first unknown name is not slower)
_DUMMY: Final = (
    f"scrypt${_N}${_R}${_P}${base64.b64encode(secrets.token_bytes(16)).decode()}"
    f"${base64.b64encode(secrets.token_bytes(64)).decode()}"
)

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS dashboard_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
    "password TEXT NOT NULL, created REAL NOT NULL, disabled REAL, last_login REAL)",
    "CREATE TABLE IF NOT EXISTS dashboard_sessions (digest TEXT PRIMARY KEY, "
    "name TEXT NOT NULL, csrf TEXT NOT NULL, created REAL NOT NULL, seen REAL NOT NULL, "
    "expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS alert_labels (alert_id TEXT PRIMARY KEY, "
    "label TEXT NOT NULL, note TEXT NOT NULL, by_user TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dashboard_login_failures (who TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS incident_status (incident TEXT PRIMARY KEY, "
    "status TEXT NOT NULL, note TEXT NOT NULL, by_user TEXT NOT NULL, at REAL NOT NULL)",
)


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64) for ``password``."""
    if len(password) < 10:
        raise VigileError("a password needs at least 10 characters")
    if len(password) > 1024:
        raise VigileError("a password has at most 1024 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=64
    )
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant time in the digest)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode()[:1024],
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@dataclass(frozen=True)
class User:
    """A dashboard user (never its password)."""

    name: str
    role: str
    created: float
    disabled: float | None = None
    last_login: float | None = None

    @property
    def sees_identities(self) -> bool:
        """Only the data-protection officer sees who the patients are."""
        return self.role == "dpo"

    @property
    def acts(self) -> bool:
        """Analysts and admins block, throttle, unblock and label."""
        return self.role in ("analyst", "admin")


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its user, CSRF token and expiry."""

    user: User
    csrf: str
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users, sessions, alert labels and incident status in the service's state."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        with state._tx():
            for statement in _SCHEMA:
                state._exec(statement)

    # ---- plumbing (the state's own connection and lock) ---------------------------------
    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.state._tx():
            cur = self.state._exec(sql, params)
            return int(cur.rowcount or 0)

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.state._all(sql, params)

    # ---- users ---------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, *, now: float | None = None) -> User:
        """A new user (an existing name is refused)."""
        if not _NAME.match(name):
            raise VigileError("a user name is 2 to 64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise VigileError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
        if self.get(name) is not None:
            raise VigileError(f"user {name!r} exists already")
        at = time.time() if now is None else now
        self._write(
            "INSERT INTO dashboard_users (name, role, password, created) VALUES (?, ?, ?, ?)",
            (name, role, hash_password(password), at),
        )
        self.state.audit("cli", "user-add", {"user": name, "role": role}, at)
        return User(name, role, at)

    def get(self, name: str) -> User | None:
        rows = self._all(
            "SELECT name, role, created, disabled, last_login FROM dashboard_users WHERE name = ?",
            (name,),
        )
        return _user(rows[0]) if rows else None

    def all(self) -> list[User]:
        rows = self._all(
            "SELECT name, role, created, disabled, last_login FROM dashboard_users ORDER BY name"
        )
        return [_user(r) for r in rows]

    def disable(self, name: str, *, now: float | None = None) -> bool:
        """Disable a user and end its sessions; ``False`` when there is no such live user."""
        at = time.time() if now is None else now
        done = self._write(
            "UPDATE dashboard_users SET disabled = ? WHERE name = ? AND disabled IS NULL",
            (at, name),
        )
        if done:
            self._write("DELETE FROM dashboard_sessions WHERE name = ?", (name,))
            self.state.audit("cli", "user-disable", {"user": name}, at)
        return bool(done)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account enabled (same cost either way)."""
        rows = self._all(
            "SELECT name, role, created, disabled, last_login, password FROM dashboard_users "
            "WHERE name = ?",
            (name[:64],),
        )
        if not rows:
            verify_password(password, _DUMMY)
            return None
        stored = rows[0][5]
        ok = verify_password(password, stored)
        user = _user(rows[0][:5])
        if not ok or user.disabled is not None:
            return None
        if not stored.startswith(f"scrypt${_N}${_R}${_P}$") and len(password) >= 10:
            self._write(  # made with weaker settings: hashed again with today's
                "UPDATE dashboard_users SET password = ? WHERE name = ?",
                (hash_password(password), user.name),
            )
        return user

    # ---- failed sign-ins ---------------------------------------------------------------------
    def locked(self, name: str, client: str, *, now: float) -> bool:
        """Whether sign-in is refused for this name or from this client (too many failures)."""
        since = now - LOCK_WINDOW
        rows = self._all(
            "SELECT who, COUNT(*) FROM dashboard_login_failures WHERE at > ? AND who IN (?, ?) "
            "GROUP BY who",
            (since, _fail_key("name", name), _fail_key("client", client)),
        )
        counts = {str(r[0]): int(r[1]) for r in rows}
        return (
            counts.get(_fail_key("name", name), 0) >= LOCK_PER_NAME
            or counts.get(_fail_key("client", client), 0) >= LOCK_PER_CLIENT
        )

    def failed(self, name: str, client: str, *, now: float) -> None:
        """Count a failed sign-in against the name and the client (old failures dropped)."""
        with self.state._tx():
            self.state._exec(
                "DELETE FROM dashboard_login_failures WHERE at <= ?", (now - LOCK_WINDOW,)
            )
            for key in (_fail_key("name", name), _fail_key("client", client)):
                self.state._exec(
                    "INSERT INTO dashboard_login_failures (who, at) VALUES (?, ?)", (key, now)
                )

    def succeeded(self, name: str) -> None:
        """A right password: the name's failures are forgotten (the client's are kept)."""
        self._write(
            "DELETE FROM dashboard_login_failures WHERE who = ?", (_fail_key("name", name),)
        )

    # ---- sessions ------------------------------------------------------------------------
    def open_session(self, user: User, *, now: float | None = None) -> tuple[str, Session]:
        """A new session: the cookie's token (shown once) and the session."""
        at = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = at + MAX_SECONDS
        self._write(
            "INSERT INTO dashboard_sessions (digest, name, csrf, created, seen, expires) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), user.name, csrf, at, at, expires),
        )
        self._write("UPDATE dashboard_users SET last_login = ? WHERE name = ?", (at, user.name))
        self._write(
            "DELETE FROM dashboard_sessions WHERE expires < ? OR seen < ?", (at, at - IDLE_SECONDS)
        )
        return token, Session(user, csrf, expires)

    def session(self, token: str | None, *, now: float | None = None) -> Session | None:
        """The live session of a cookie token (its last use is refreshed), or ``None``."""
        if not token or len(token) > 128:
            return None
        at = time.time() if now is None else now
        rows = self._all(
            "SELECT s.csrf, s.seen, s.expires, u.name, u.role, u.created, u.disabled, "
            "u.last_login FROM dashboard_sessions s JOIN dashboard_users u ON u.name = s.name "
            "WHERE s.digest = ?",
            (_digest(token),),
        )
        if not rows:
            return None
        csrf, seen, expires, *user_row = rows[0]
        user = _user(tuple(user_row))
        if user.disabled is not None or at >= float(expires) or at - float(seen) > IDLE_SECONDS:
            self.close_session(token)
            return None
        if at - float(seen) > 30:  # refresh the idle clock at most every 30 s
            self._write(
                "UPDATE dashboard_sessions SET seen = ? WHERE digest = ?", (at, _digest(token))
            )
        return Session(user, str(csrf), float(expires))

    def close_session(self, token: str) -> None:
        self._write("DELETE FROM dashboard_sessions WHERE digest = ?", (_digest(token),))

    # ---- alert labels (true / false positive) ------------------------------------------------
    def label(self, alert_id: str, label: str, note: str, by: str, *, now: float) -> None:
        """Mark an alert ``true_positive`` or ``false_positive`` (the last word is kept)."""
        if label not in ("true_positive", "false_positive"):
            raise VigileError("label must be true_positive or false_positive")
        with self.state._tx():
            self.state._exec("DELETE FROM alert_labels WHERE alert_id = ?", (alert_id,))
            self.state._exec(
                "INSERT INTO alert_labels (alert_id, label, note, by_user, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (alert_id, label, note, by, now),
            )
        self.state.audit(by, "alert-label", {"alert": alert_id, "label": label, "note": note}, now)

    def labels(self, alert_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Labels by alert id (all of them, or those of ``alert_ids``)."""
        if alert_ids is not None and not alert_ids:
            return {}
        sql = "SELECT alert_id, label, note, by_user, at FROM alert_labels"
        params: tuple[Any, ...] = ()
        if alert_ids is not None:
            sql += f" WHERE alert_id IN ({', '.join('?' for _ in alert_ids)})"
            params = tuple(alert_ids)
        return {
            r[0]: {"label": r[1], "note": r[2], "by": r[3], "at": float(r[4])}
            for r in self._all(sql, params)
        }

    # ---- incident status (open / closed) -------------------------------------------------------
    def set_incident(self, incident: str, status: str, note: str, by: str, *, now: float) -> None:
        if status not in ("open", "closed"):
            raise VigileError("an incident is open or closed")
        with self.state._tx():
            self.state._exec("DELETE FROM incident_status WHERE incident = ?", (incident,))
            self.state._exec(
                "INSERT INTO incident_status (incident, status, note, by_user, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (incident, status, note, by, now),
            )
        self.state.audit(by, f"incident-{status}", {"incident": incident, "reason": note}, now)

    def closed_incidents(self) -> set[str]:
        rows = self._all("SELECT incident FROM incident_status WHERE status = 'closed'")
        return {r[0] for r in rows}


def _fail_key(kind: str, value: str) -> str:
    """What failures are counted against (a digest: no typed text is kept)."""
    return f"{kind}:" + hashlib.sha256(value[:256].encode("utf-8", "replace")).hexdigest()


def _user(row: Any) -> User:
    name, role, created, disabled, last_login = row
    return User(
        name=name,
        role=role,
        created=float(created),
        disabled=None if disabled is None else float(disabled),
        last_login=None if last_login is None else float(last_login),
    )
