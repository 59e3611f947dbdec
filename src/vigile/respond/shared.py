"""Redis as the shared decision cache: several protected servers, one decision.

Optional. When ``--redis redis://host:6379/0`` is given, every decision the
service makes or lifts is written to a Redis hash (``<prefix>:decisions``) and
published on ``<prefix>:changes``. Each :class:`~vigile.respond.guard.Guard` that
uses the same Redis (another ``vigile serve`` replica, or an application server
running the in-process middleware as an enforcer only) loads the hash at start
and applies what is published, in a background thread, to its in-memory
:class:`~vigile.respond.cache.DecisionCache`; the ``decide`` hot path never waits
for Redis. After a lost connection the listener reconnects and reloads the hash,
so nothing published meanwhile is missed for good.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from vigile.errors import VigileError
from vigile.respond.state import DecisionRecord

__all__ = ["RedisShared"]

log = logging.getLogger("vigile.respond")
_DECODER = msgspec.json.Decoder(DecisionRecord)
_ENCODER = msgspec.json.Encoder()


class RedisShared:
    """Publish decisions to Redis and follow what others publish."""

    def __init__(self, url: str, prefix: str = "vigile") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the service extra installs it
            raise VigileError(
                "the Redis cache needs redis: pip install 'vigile[service]'"
            ) from None
        self.url = url
        self.prefix = prefix
        self.hash = f"{prefix}:decisions"
        self.channel = f"{prefix}:changes"
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise VigileError(f"cannot reach Redis at {_safe(url)}: {exc}") from None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub: Any = None
        self.received = 0
        self.errors = 0

    def publish(self, rec: DecisionRecord, now: float) -> None:
        """Write a decision (or its revocation) and tell the others."""
        data = _ENCODER.encode(rec)
        pipe = self._redis.pipeline(transaction=False)
        if rec.revoked is not None or not rec.active(now):
            pipe.hdel(self.hash, rec.id)
        else:
            pipe.hset(self.hash, rec.id, data)
        pipe.publish(self.channel, data)
        try:
            pipe.execute()
        except Exception as exc:  # Redis down: the state still has it; log and go on
            self.errors += 1
            log.warning("redis publish failed for decision %s: %s", rec.id, type(exc).__name__)

    def snapshot(self, now: float) -> list[DecisionRecord]:
        """Every decision in the hash that is still in force (expired ones are removed)."""
        raw: dict[bytes, bytes] = self._redis.hgetall(self.hash)
        out, stale = [], []
        for key, value in raw.items():
            try:
                rec = _DECODER.decode(value)
            except msgspec.DecodeError:
                stale.append(key)
                continue
            if rec.active(now):
                out.append(rec)
            else:
                stale.append(key)
        if stale:
            self._redis.hdel(self.hash, *stale)
        return sorted(out, key=lambda r: r.seq)

    def follow(
        self,
        on_change: Callable[[DecisionRecord], None],
        on_resync: Callable[[list[DecisionRecord]], None],
        clock: Callable[[], float],
    ) -> None:
        """Apply published changes in a daemon thread until :meth:`close`."""
        if self._thread is not None:
            return

        def run() -> None:
            backoff = 0.2
            while not self._stop.is_set():
                try:
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.channel)
                    self._pubsub = pubsub
                    on_resync(self.snapshot(clock()))  # after subscribing: nothing falls between
                    backoff = 0.2
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=0.5)
                        if message is None or message.get("type") != "message":
                            continue
                        try:
                            rec = _DECODER.decode(message["data"])
                        except msgspec.DecodeError:
                            continue
                        self.received += 1
                        on_change(rec)
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    self.errors += 1
                    log.warning("redis follower: %s; reconnecting", type(exc).__name__)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            try:
                if self._pubsub is not None:
                    self._pubsub.close()
            except Exception:  # pragma: no cover - closing a dead connection
                pass

        self._thread = threading.Thread(target=run, name="vigile-redis-follower", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
        with contextlib.suppress(Exception):
            self._redis.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
