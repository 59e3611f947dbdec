"""The reference application's database: SQLite by default, PostgreSQL by URL.

``Database("sqlite:///app.db")`` or ``Database("postgresql://user@host/db")``.
SQL is written once with ``?`` placeholders (turned into ``%s`` for psycopg);
each thread gets its own connection (FastAPI runs handlers in a thread pool), and
every statement that touches patient data names the practice (``tenant``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from vigile.errors import VigileError

__all__ = ["Database"]

SCHEMA: Final = Path(__file__).parent / "schema"


class Database:
    """A connection per thread to one SQLite file or one PostgreSQL database."""

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        self.url = text
        self.postgres = text.startswith(("postgresql://", "postgres://"))
        if not self.postgres:
            path = text.removeprefix("sqlite:///") if text.startswith("sqlite:///") else text
            self.path = path
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    # ---- connections ---------------------------------------------------------------------
    def conn(self) -> Any:
        found = getattr(self._local, "conn", None)
        if found is not None:
            return found
        conn: Any
        if self.postgres:
            try:
                import psycopg
            except ImportError:  # pragma: no cover - the service extra installs it
                raise VigileError(
                    "PostgreSQL needs psycopg: pip install 'vigile[service]'"
                ) from None
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as exc:
                raise VigileError(f"cannot connect to PostgreSQL: {exc}") from None
        else:
            conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    # ---- statements ----------------------------------------------------------------------
    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn().execute(self.sql(text), tuple(params)).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.conn().execute(self.sql(text), tuple(params)).fetchone()
        return None if row is None else tuple(row)

    def run(self, text: str, params: Sequence[Any] = ()) -> int:
        cur = self.conn().execute(self.sql(text), tuple(params))
        return int(cur.rowcount or 0)

    def many(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = self.conn()
        if self.postgres:
            with conn.cursor() as cur:
                cur.executemany(self.sql(text), rows)
        else:
            conn.executemany(text, rows)

    @contextmanager
    def tx(self) -> Iterator[None]:
        conn = self.conn()
        if self.postgres:
            with conn.transaction():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def create_schema(self) -> None:
        text = (SCHEMA / ("postgres.sql" if self.postgres else "sqlite.sql")).read_text()
        body = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        with self.tx():
            for statement in (s.strip() for s in body.split(";")):
                if statement:
                    self.conn().execute(statement)

    def next_value(self, name: str, start: int) -> int:
        """The next value of a named counter (created at ``start`` if new)."""
        with self.tx():
            row = self.one("SELECT value FROM counters WHERE name = ?", (name,))
            if row is None:
                self.run("INSERT INTO counters (name, value) VALUES (?, ?)", (name, start))
                return start
            value = int(row[0]) + 1
            self.run("UPDATE counters SET value = ? WHERE name = ?", (value, name))
            return value
