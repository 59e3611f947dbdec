"""Fixtures of the response stage: a policy, a guard on SQLite, real PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vigile.events import Alert
from vigile.respond.guard import Guard
from vigile.respond.policy import load_policy
from vigile.respond.state import StateStore, open_state

PG_URL = "postgresql://postgres@localhost:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/15"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1_772_438_400.0) -> None:  # 2026-03-02T08:00:00Z
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_alert(**over: Any) -> Alert:
    """An alert (INTERFACE §3); keyword arguments override fields."""
    base: dict[str, Any] = {
        "alert_id": f"al-{uuid.uuid4().hex[:12]}",
        "ts": "2026-03-02T09:14:03.512+01:00",
        "tenant": "cab-0042",
        "actor": "dr.martin.0042",
        "session": "s-1",
        "src_ip": "82.64.12.7",
        "severity": "high",
        "score": 4.2,
        "detector": "unexplained-burst",
        "reasons": ["38 reads in 20 minutes that no appointment or care relationship explains"],
        "evidence": {"rule": "unexplained-burst"},
        "incident": None,
    }
    base.update(over)
    return Alert(**base)


@pytest.fixture
def alert() -> Callable[..., Alert]:
    return make_alert


@pytest.fixture
def make_guard(clock: Clock) -> Iterator[Callable[..., Guard]]:
    """Factory of started guards (state URL, policy, options); all closed at the end."""
    made: list[Guard] = []

    def make(url: str | None = "sqlite:///:memory:", policy: Any = None, **kw: Any) -> Guard:
        kw.setdefault("clock", clock)
        g = Guard(open_state(url) if url else None, policy or load_policy(), **kw).start()
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()
        if g.state is not None:
            g.state.close()


@pytest.fixture
def guard(make_guard: Callable[..., Guard]) -> Guard:
    return make_guard()


def _postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception:
        return None
    return PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL (skipped, saying so, when there is none)."""
    url = _postgres_url()
    if url is None:
        pytest.skip(f"no PostgreSQL at {PG_URL}: the PostgreSQL state is not tested here")
    import psycopg

    schema = f"vigile_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis, database 15, under a unique prefix (skipped when absent)."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception:
        pytest.skip(f"no Redis at {REDIS_URL}: the shared decision cache is not tested here")
    yield REDIS_URL
    client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StateStore]:
    """The decision state on SQLite, and on PostgreSQL when the machine has it."""
    if request.param == "sqlite":
        st = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        st = open_state(request.getfixturevalue("pg_url"))
    yield st
    st.close()
