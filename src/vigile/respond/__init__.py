"""Stopping it inline: alerts → policy → decisions → enforcement.

* :mod:`~vigile.respond.policy` — policies as data (YAML, ``file:line`` errors);
* :mod:`~vigile.respond.state` — decisions, alerts, tokens, audit (SQLite / PostgreSQL);
* :mod:`~vigile.respond.cache` — the decisions in force, in memory (``Verdict``);
* :mod:`~vigile.respond.shared` — Redis as a shared decision cache (optional);
* :mod:`~vigile.respond.guard` — :class:`Guard`: detection → policy → ``decide``;
* :mod:`~vigile.respond.asgi`, :mod:`~vigile.respond.wsgi` — middleware that asks
  before serving and emits the access event after.
"""

from __future__ import annotations

from vigile.respond.cache import Verdict
from vigile.respond.guard import AlertSource, Guard
from vigile.respond.policy import Policy, load_policy
from vigile.respond.state import StateStore, open_state

__all__ = ["AlertSource", "Guard", "Policy", "StateStore", "Verdict", "load_policy", "open_state"]
