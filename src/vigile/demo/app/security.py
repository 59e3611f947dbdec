"""Passwords, session tokens and note encryption for the reference application.

* passwords: scrypt (``n=2**14, r=8, p=1``, 16-byte salt), compared in constant time;
* sessions: a token ``<session id>.<secret>``; the session id is public (it goes
  into the access log as ``X-Vigile-Session``), the secret never leaves the client;
  the database keeps ``sha256(token)``;
* free-text notes: AES-256-GCM with a key from ``$VIGILE_APP_NOTE_KEY`` (32 bytes,
  base64), each note bound to its id and patient as associated data, so a
  ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigile.errors import VigileError

__all__ = [
    "NOTE_KEY_ENV",
    "NoteCipher",
    "dummy_hash",
    "hash_password",
    "new_note_key",
    "new_session_token",
    "session_id_of",
    "token_hash",
    "verify_password",
]

NOTE_KEY_ENV: Final = "VIGILE_APP_NOTE_KEY"
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(got, base64.b64decode(digest))


@functools.cache
def dummy_hash() -> str:
    """A hash that matches nothing, checked when the account is unknown (same timing)."""
    return hash_password(secrets.token_urlsafe(16))


def new_session_token() -> tuple[str, str]:
    """A new session: ``(session id, token)``."""
    sid = "s-" + secrets.token_hex(8)
    return sid, f"{sid}.{secrets.token_urlsafe(32)}"


def session_id_of(token: str) -> str | None:
    sid, dot, _ = token.partition(".")
    return sid if dot and sid.startswith("s-") and len(sid) <= 40 else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_note_key() -> str:
    """A fresh key for ``$VIGILE_APP_NOTE_KEY``."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class NoteCipher:
    """AES-256-GCM for notes; the key comes from the environment."""

    def __init__(self, key: str | None = None) -> None:
        text = key if key is not None else os.environ.get(NOTE_KEY_ENV, "")
        if not text:
            raise VigileError(
                f"{NOTE_KEY_ENV} is not set: notes are encrypted at rest with it "
                "(make one with `vigile app key`)"
            )
        try:
            raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise VigileError(f"{NOTE_KEY_ENV} must be 32 bytes in base64")
        self._aead = AESGCM(raw)

    def encrypt(self, text: str, annotation_id: str, patient_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, text.encode(), f"{annotation_id}|{patient_id}".encode())
        return base64.b64encode(nonce + sealed).decode()

    def decrypt(self, blob: str, annotation_id: str, patient_id: str) -> str:
        raw = base64.b64decode(blob)
        plain = self._aead.decrypt(raw[:12], raw[12:], f"{annotation_id}|{patient_id}".encode())
        return plain.decode()
