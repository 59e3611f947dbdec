"""API tokens: scoped, stored hashed, checked in microseconds.

A token is ``vgl_<id>_<secret>``; it is shown once, when created
(``vigile token create --name nginx-edge --scope decide``), and the state keeps
only ``HMAC-SHA256(pepper, token)``. The pepper comes from the environment
(``VIGILE_TOKEN_PEPPER``), never from the database, so a stolen copy of the
state does not let anyone test guessed tokens offline. The state also records a
short fingerprint of the pepper a token was made with, so that a service started
with another pepper says so instead of refusing everyone silently.

Scopes: ``ingest`` (push events and alerts), ``decide`` (ask for decisions,
follow the decision stream), ``read`` (alerts, incidents, decisions, metrics),
``admin`` (everything, including manual block / unblock and the allowlist).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from typing import Final

from vigile.errors import VigileError
from vigile.respond.state import StateStore, TokenRecord, new_id

__all__ = [
    "PEPPER_ENV",
    "SCOPES",
    "TokenAuth",
    "create_token",
    "pepper_from_env",
    "pepper_id",
    "token_digest",
]

log = logging.getLogger("vigile.web")

SCOPES: Final[tuple[str, ...]] = ("ingest", "decide", "read", "admin")
PEPPER_ENV: Final = "VIGILE_TOKEN_PEPPER"
_PREFIX: Final = "vgl_"


def pepper_from_env() -> bytes:
    """The token pepper (``$VIGILE_TOKEN_PEPPER``); empty when unset (a warning is logged)."""
    value = os.environ.get(PEPPER_ENV, "")
    return value.encode()


def pepper_id(pepper: bytes) -> str:
    """A short fingerprint of the pepper (not the pepper): which one made a token."""
    return hmac.new(pepper, b"vigile token pepper id", hashlib.sha256).hexdigest()[:12]


def token_digest(token: str, pepper: bytes) -> str:
    """What the state stores for a token."""
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def create_token(
    state: StateStore,
    name: str,
    scopes: list[str],
    *,
    now: float,
    expires: float | None = None,
    pepper: bytes | None = None,
) -> tuple[str, TokenRecord]:
    """Make a token; returns the token (to show once) and what was stored."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise VigileError(f"token scopes must be among {', '.join(SCOPES)} (got {scopes})")
    if not name or len(name) > 64:
        raise VigileError("a token needs a name of 1 to 64 characters")
    pep = pepper_from_env() if pepper is None else pepper
    token_id = new_id("t")[2:10]
    token = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    rec = TokenRecord(
        id=token_id,
        name=name,
        scopes=sorted(set(scopes)),
        digest=token_digest(token, pep),
        pepper_id=pepper_id(pep),
        created=now,
        expires=expires,
    )
    state.add_token(rec)
    state.audit(f"cli:{name}", "token-create", {"token": token_id, "scopes": rec.scopes}, now)
    return token, rec


class TokenAuth:
    """Checks ``Authorization: Bearer vgl_...`` against the stored digests.

    Digests are cached in memory and reloaded every ``refresh`` seconds (a revoked
    token stops working within that delay); an unknown digest triggers at most one
    reload per second, so a flood of bad tokens cannot hammer the database.
    """

    def __init__(self, state: StateStore, *, pepper: bytes | None = None, refresh: float = 5.0):
        self.state = state
        self.pepper = pepper_from_env() if pepper is None else pepper
        self.refresh = refresh
        self._by_digest: dict[str, TokenRecord] = {}
        self._loaded = -1e18
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}
        if not self.pepper:
            log.warning("%s is not set: tokens are hashed without a secret pepper", PEPPER_ENV)
        self._reload(0.0)
        mine = pepper_id(self.pepper)
        others = {t.pepper_id for t in self._by_digest.values() if t.pepper_id != mine}
        if others:
            log.warning(
                "%d token(s) were made with another %s: they will be refused",
                sum(1 for t in self._by_digest.values() if t.pepper_id != mine),
                PEPPER_ENV,
            )

    def _reload(self, now: float) -> None:
        with self._lock:
            self._by_digest = {t.digest: t for t in self.state.tokens() if t.revoked is None}
            self._loaded = now

    def verify(self, header: str | None, now: float) -> TokenRecord | None:
        """The token record for an ``Authorization`` header value, or ``None``."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(_PREFIX) or len(token) > 200:
            return None
        digest = token_digest(token.strip(), self.pepper)
        rec = self._by_digest.get(digest)
        if now - self._loaded > self.refresh or (rec is None and now - self._loaded > 1.0):
            self._reload(now)
            rec = self._by_digest.get(digest)
        if rec is None or (rec.expires is not None and rec.expires <= now):
            return None
        last = self._touched.get(rec.id, 0.0)
        if now - last > 60.0:
            self._touched[rec.id] = now
            try:
                self.state.touch_token(rec.id, now)
            except Exception:  # last_used is informative: never fail a request for it
                log.debug("could not record token use", exc_info=True)
        return rec

    @staticmethod
    def allows(rec: TokenRecord, scope: str) -> bool:
        """``admin`` may do everything; otherwise the scope must be granted."""
        return "admin" in rec.scopes or scope in rec.scopes
