"""Sensitive notes encrypted at rest (AES-256-GCM), with the key from the environment.

For the reference practice application (issue 5), and for any store of notes:

>>> import os
>>> os.environ["VIGILE_NOTES_KEY"] = generate_key()
>>> cipher = NoteCipher.from_env()
>>> sealed = cipher.seal("VIH+ sous trithérapie", context="tenant-1/a42")
>>> is_sealed(sealed)
True
>>> cipher.open(sealed, context="tenant-1/a42")
'VIH+ sous trithérapie'

- The key is 32 random bytes, written in URL-safe base64 in ``VIGILE_NOTES_KEY``
  (never in a file of the repository, never in a log). ``VIGILE_NOTES_KEY_OLD``
  may hold the previous key during a rotation: notes sealed with it still open,
  and :meth:`NoteCipher.reseal` moves them to the current key.
- A sealed value is ``vgn1:<key id>:<base64(nonce + ciphertext + tag)>``: it says
  it is sealed, which key sealed it (the first 8 hex characters of the key's
  SHA-256, not the key), and carries a fresh 96-bit nonce.
- ``context`` is authenticated, not stored: pass the tenant and note id, so a
  sealed note copied onto another note's row does not open.

Requires the ``cryptography`` package; importing this module without it
raises ``ImportError`` only when a cipher is built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from vigile.errors import VigileError

ENV_KEY: Final[str] = "VIGILE_NOTES_KEY"
ENV_OLD_KEY: Final[str] = "VIGILE_NOTES_KEY_OLD"
PREFIX: Final[str] = "vgn1"


class NotesKeyError(VigileError):
    """The notes key is missing or malformed."""


def generate_key() -> str:
    """A new random key, as ``VIGILE_NOTES_KEY`` expects it (URL-safe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def is_sealed(value: str | None) -> bool:
    """Whether a stored value is a sealed note (rather than plain text)."""
    return bool(value) and str(value).startswith(PREFIX + ":")


def _decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raise NotesKeyError(f"{name}: not base64 (generate one with vigile.notes.crypto)") from None
    if len(raw) != 32:
        raise NotesKeyError(f"{name}: the key must be 32 bytes, got {len(raw)}")
    return raw


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass
class NoteCipher:
    """AES-256-GCM with a current key and, during a rotation, older ones."""

    key: bytes
    old_keys: tuple[bytes, ...] = ()
    _aeads: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        for k in (self.key, *self.old_keys):
            self._aeads[_key_id(k)] = AESGCM(k)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> NoteCipher:
        """The cipher of ``VIGILE_NOTES_KEY`` (and ``VIGILE_NOTES_KEY_OLD``, if set)."""
        env = os.environ if environ is None else environ
        text = env.get(ENV_KEY)
        if not text:
            raise NotesKeyError(f"{ENV_KEY} is not set: sensitive notes cannot be sealed or opened")
        old = env.get(ENV_OLD_KEY)
        return cls(
            _decode_key(text, ENV_KEY),
            (_decode_key(old, ENV_OLD_KEY),) if old else (),
        )

    @property
    def key_id(self) -> str:
        return _key_id(self.key)

    def seal(self, text: str, context: str = "") -> str:
        """Encrypt ``text``; ``context`` (tenant, note id) is bound to the result."""
        nonce = secrets.token_bytes(12)
        blob = self._aeads[self.key_id].encrypt(nonce, text.encode(), context.encode())
        return f"{PREFIX}:{self.key_id}:{base64.urlsafe_b64encode(nonce + blob).decode()}"

    def open(self, value: str, context: str = "") -> str:
        """Decrypt a sealed value (plain text is returned unchanged)."""
        from cryptography.exceptions import InvalidTag

        if not is_sealed(value):
            return value
        try:
            _, kid, data = value.split(":", 2)
            raw = base64.urlsafe_b64decode(data.encode())
        except (ValueError, binascii.Error):
            raise VigileError("sealed note is malformed") from None
        aead = self._aeads.get(kid)
        if aead is None:
            raise NotesKeyError(
                f"sealed with key {kid}, which is neither {ENV_KEY} nor {ENV_OLD_KEY}"
            )
        try:
            return str(aead.decrypt(raw[:12], raw[12:], context.encode()).decode())
        except InvalidTag:
            raise VigileError("sealed note does not open: wrong key or wrong context") from None

    def reseal(self, value: str, context: str = "") -> str:
        """Re-encrypt a value under the current key (key rotation)."""
        if is_sealed(value) and value.split(":", 2)[1] == self.key_id:
            return value
        return self.seal(self.open(value, context), context)


def protect(
    annotation_id: str, text: str, cipher: NoteCipher, tenant: str = ""
) -> tuple[str, bool, str]:
    """What the reference application stores for one note: ``(value, sensitive, categories)``.

    The note is read with :func:`vigile.notes.api.classify_texts`; a sensitive
    note is sealed, an administrative one is kept in clear (so the practice can
    still search its scheduling notes). A note already sealed is opened first, so
    the same call re-scans a store after the terminology improves.
    """
    from vigile.notes.api import classify_texts

    context = f"{tenant}/{annotation_id}"
    plain = cipher.open(text, context)
    result = next(iter(classify_texts([plain], names=False)))
    value = cipher.seal(plain, context) if result.sensitive else plain
    return value, result.sensitive, result.categories
