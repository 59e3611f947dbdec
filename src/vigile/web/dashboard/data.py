"""What the dashboard shows, read from where it already is.

* alerts, incidents, decisions, the audit trail: the service's state
  (:class:`~vigile.respond.state.StateStore`);
* decisions in force and the live event rate: the running service, in memory
  (:class:`LiveRate` counts every batch the service processes);
* activity over days, sources, records exposed: the event store (``--store``),
  read through DuckDB. Per-account daily figures are rolled up once (and again
  when the store gains parts, at most every ``refresh`` seconds, in a thread),
  so that pages read a few thousand rows instead of the month's events;
* who the patients are (DPO only): the context's ``patients.csv`` and the breach
  scope's output files.

Wiring only: nothing here decides anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import duckdb

from vigile.events import AccessEvent

__all__ = ["DashboardData", "LiveRate"]

log = logging.getLogger("vigile.web")

SEVERITY_ORDER: Final = ("critical", "high", "medium", "low")
_RANK: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}
#: exposures of these actions delivered the file itself (docs/scope.md)
EXTRACTING: Final = ("read", "export", "print")
#: an account's window opens this long before its first alert (the scope's default)
LOOKBACK: Final = timedelta(days=7)


class LiveRate:
    """Per-second counts of what the service processed over the last hour (wall clock).

    Fed by the service after each batch; read by the overview. Bounded: one
    small tuple per second that saw events, at most an hour of them.
    """

    def __init__(self, horizon: int = 3600) -> None:
        self.horizon = horizon
        self._buckets: deque[list[int]] = deque()  # [second, events, patient events, records]
        self._lock = threading.Lock()
        self.total_events = 0

    def add(self, events: Sequence[AccessEvent], now: float | None = None) -> None:
        if not events:
            return
        second = int(time.time() if now is None else now)
        patient = records = 0
        for ev in events:
            if ev.patient_ids and ev.status < 400:
                patient += 1
                records += ev.records or 0
        with self._lock:
            self.total_events += len(events)
            if self._buckets and self._buckets[-1][0] == second:
                b = self._buckets[-1]
                b[1] += len(events)
                b[2] += patient
                b[3] += records
            else:
                self._buckets.append([second, len(events), patient, records])
            while self._buckets and self._buckets[0][0] < second - self.horizon:
                self._buckets.popleft()

    def per_minute(self, minutes: int = 60, now: float | None = None) -> list[tuple[int, int]]:
        """(patient-data accesses, records served) for each of the last ``minutes`` minutes."""
        end = int(time.time() if now is None else now)
        start = end - minutes * 60
        out = [[0, 0] for _ in range(minutes)]
        with self._lock:
            for second, _, patient, records in self._buckets:
                if second <= start:
                    continue
                i = min((second - start - 1) // 60, minutes - 1)
                out[i][0] += patient
                out[i][1] += records
        return [(a, b) for a, b in out]


@dataclass
class _Cached:
    at: float
    key: Any
    value: Any


@dataclass
class DashboardData:
    """Read side of the dashboard (see the module docstring)."""

    state: Any
    store: Path | None
    context: Path | None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    refresh: float = 30.0
    ttl: float = 20.0

    def __post_init__(self) -> None:
        self.con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
        self._lock = threading.RLock()
        self._parts_key: tuple[int, float] | None = None
        self._rolled_at = 0.0
        self._rolling = False
        self._cache: dict[str, _Cached] = {}
        self._roles: dict[tuple[str, str], str] = {}
        self._appointments = False
        self._load_context()

    # ---- context -------------------------------------------------------------------------
    def _load_context(self) -> None:
        if self.context is None:
            return
        actors = self.context / "actors.csv"
        if actors.is_file():
            rows = self.con.sql(
                f"SELECT tenant, actor, coalesce(role, '') FROM read_csv('{_q(actors)}', "
                "header=true, all_varchar=true)"
            ).fetchall()
            self._roles = {(t, a): r for t, a, r in rows}
        appointments = self.context / "appointments.csv"
        if appointments.is_file():
            self.con.execute(
                "CREATE OR REPLACE TABLE care AS SELECT DISTINCT tenant, actor, patient_id "
                f"FROM read_csv('{_q(appointments)}', header=true, all_varchar=true)"
            )
            self._appointments = True

    def role(self, tenant: str, actor: str) -> str:
        return self._roles.get((tenant, actor), "")

    # ---- the store ------------------------------------------------------------------------
    def _parts(self, kind: str) -> list[Path]:
        if self.store is None:
            return []
        return sorted((self.store / kind).glob("day=*/part-*.parquet"))

    def has_store(self) -> bool:
        return bool(self._parts("events"))

    def _sources(self) -> tuple[str, str] | None:
        events, exposures = self._parts("events"), self._parts("exposures")
        if not events:
            return None
        return _list_sql(events), _list_sql(exposures) if exposures else ""

    def maybe_roll(self, wait: bool = False) -> None:
        """Rebuild the daily roll-up if the store gained parts (in a thread unless ``wait``)."""
        if self.store is None:
            return
        now = time.monotonic()
        if not wait and (self._rolling or now - self._rolled_at < self.refresh):
            return
        parts = self._parts("events")
        key = (len(parts), max((p.stat().st_mtime for p in parts), default=0.0))
        if key == self._parts_key:
            self._rolled_at = now
            return
        if wait:
            self._roll(key)
            return
        self._rolling = True
        threading.Thread(target=self._roll, args=(key,), name="vigile-rollup", daemon=True).start()

    def _roll(self, key: tuple[int, float]) -> None:
        try:
            sources = self._sources()
            if sources is None:
                return
            events, exposures = sources
            started = time.perf_counter()
            con = self.con.cursor()
            tz = self.tz.key
            con.execute(
                "CREATE OR REPLACE TABLE daily_new AS SELECT tenant, actor, "
                f"CAST(timezone('{tz}', ts) AS DATE) AS day, count(*) AS events, "
                "count(*) FILTER (WHERE status >= 400) AS refused, "
                "coalesce(sum(records) FILTER (WHERE status < 400), 0) AS records "
                f"FROM read_parquet({events}) GROUP BY ALL"
            )
            if exposures:
                con.execute(
                    "CREATE OR REPLACE TABLE patients_new AS SELECT tenant, actor, "
                    f"CAST(timezone('{tz}', ts) AS DATE) AS day, "
                    "count(DISTINCT patient_id) AS patients "
                    f"FROM read_parquet({exposures}) WHERE status < 400 GROUP BY ALL"
                )
            else:
                con.execute(
                    "CREATE OR REPLACE TABLE patients_new (tenant VARCHAR, actor VARCHAR, "
                    "day DATE, patients BIGINT)"
                )
            con.execute(
                "CREATE OR REPLACE TABLE hourly_new AS SELECT date_trunc('hour', ts) AS hour, "
                "count(*) AS events, coalesce(sum(records) FILTER (WHERE status < 400), 0) "
                f"AS records FROM read_parquet({events}) GROUP BY ALL"
            )
            with self._lock:
                con.execute("BEGIN")
                for name in ("daily", "patients", "hourly"):
                    con.execute(f"DROP TABLE IF EXISTS {name}")
                    con.execute(f"ALTER TABLE {name}_new RENAME TO {name}")
                con.execute("COMMIT")
                self._parts_key = key
                self._cache.clear()
            con.close()
            log.info("dashboard roll-up rebuilt in %.1f s", time.perf_counter() - started)
        except Exception:
            log.exception("dashboard roll-up failed")
        finally:
            self._rolled_at = time.monotonic()
            self._rolling = False

    def _rolled(self) -> bool:
        return self._parts_key is not None

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        con = self.con.cursor()
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def _cached(self, name: str, key: Any, compute: Any) -> Any:
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is not None and hit.key == key and now - hit.at < self.ttl:
            return hit.value
        value = compute()
        self._cache[name] = _Cached(now, key, value)
        if len(self._cache) > 500:
            for old in sorted(self._cache, key=lambda k: self._cache[k].at)[:100]:
                self._cache.pop(old, None)
        return value

    # ---- the state -----------------------------------------------------------------------
    def severity_counts(self, since: float | None = None) -> dict[str, int]:
        clause, params = ("WHERE t >= ?", (since,)) if since is not None else ("", ())
        rows = self.state._all(
            f"SELECT severity, count(*) FROM alerts {clause} GROUP BY severity", params
        )
        counts = dict.fromkeys(SEVERITY_ORDER, 0)
        for sev, n in rows:
            counts[str(sev)] = int(n)
        return counts

    def latest_alert(self) -> tuple[str | None, float | None, int]:
        rows = self.state._all(
            "SELECT alert_id, t, (SELECT count(*) FROM alerts) FROM alerts "
            "ORDER BY received DESC, t DESC LIMIT 1"
        )
        if not rows:
            return None, None, 0
        return str(rows[0][0]), float(rows[0][1]), int(rows[0][2])

    def data_now(self) -> float:
        """The newest event time known: the last alert, else the store's last hour, else now."""
        rows = self.state._all("SELECT max(t) FROM alerts")
        best = float(rows[0][0]) if rows and rows[0][0] is not None else None
        if self._rolled():
            got = self._q("SELECT max(hour) FROM hourly")
            if got and got[0][0] is not None:
                t = got[0][0].timestamp() + 3600
                best = t if best is None else max(best, t)
        return best if best is not None else time.time()

    def incidents(self, closed: set[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.state.incidents(limit=200)
        for inc in items:
            inc["open"] = inc["incident"] not in closed
        return items

    def incident_alerts(self, incident: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.state.alerts(incident=incident, limit=10_000)
        return items

    # ---- exposures -------------------------------------------------------------------------
    def windows(self, alerts: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
        """Each alerted account with the start of its window (first alert − 7 days)."""
        first: dict[tuple[str, str], float] = {}
        for a in alerts:
            t = _ts(a["ts"])
            key = (a["tenant"], a["actor"])
            first[key] = min(first.get(key, t), t)
        return [(t, a, s - LOOKBACK.total_seconds()) for (t, a), s in sorted(first.items())]

    def exposure(self, name: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        """Files exposed by the accounts of ``alerts`` in their windows: extracted vs only
        consulted, in total and growing day by day (cached for ``ttl`` seconds)."""
        windows = self.windows(alerts)
        key = (tuple(windows), self._parts_key)
        return dict(self._cached("exposure:" + name, key, lambda: self._exposure(windows)))

    def _exposure(self, windows: list[tuple[str, str, float]]) -> dict[str, Any]:
        empty: dict[str, Any] = {"extracted": 0, "consulted": 0, "files": 0, "days": []}
        sources = self._sources()
        if sources is None or not sources[1] or not windows:
            return empty
        since = min(w[2] for w in windows)
        values = ", ".join("(?, ?, to_timestamp(?))" for _ in windows)
        params: list[Any] = [x for w in windows for x in w]
        parts = _list_sql(self._parts_since("exposures", since))
        if parts == "[]":
            return empty
        rows = self._q(
            f"WITH w(tenant, actor, since) AS (VALUES {values}), "
            "x AS (SELECT e.patient_id, e.tenant AS pt, min(e.ts) AS first, "
            f"bool_or(e.action IN {EXTRACTING}) AS extracted FROM read_parquet({parts}) e "
            "JOIN w ON e.tenant = w.tenant AND e.actor = w.actor AND e.ts >= w.since "
            "WHERE e.status < 400 GROUP BY e.patient_id, e.tenant) "
            f"SELECT CAST(timezone('{self.tz.key}', first) AS DATE) AS day, "
            "count(*) FILTER (WHERE extracted), count(*) FILTER (WHERE NOT extracted) "
            "FROM x GROUP BY day ORDER BY day",
            params,
        )
        days = [(d, int(x), int(c)) for d, x, c in rows]
        extracted = sum(x for _, x, _ in days)
        consulted = sum(c for _, _, c in days)
        return {
            "extracted": extracted,
            "consulted": consulted,
            "files": extracted + consulted,
            "days": days,
        }

    def _parts_since(self, kind: str, since: float) -> list[Path]:
        day = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d")
        return [p for p in self._parts(kind) if p.parent.name[4:] >= day]

    def sources(self, name: str, alerts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Source addresses and user agents of the accounts in their windows."""
        windows = self.windows(alerts)
        key = (tuple(windows), self._parts_key)
        return list(self._cached("sources:" + name, key, lambda: self._sources_of(windows)))

    def _sources_of(self, windows: list[tuple[str, str, float]]) -> list[tuple[Any, ...]]:
        if not windows or self._sources() is None:
            return []
        since = min(w[2] for w in windows)
        parts = _list_sql(self._parts_since("events", since))
        if parts == "[]":
            return []
        values = ", ".join("(?, ?, to_timestamp(?))" for _ in windows)
        params: list[Any] = [x for w in windows for x in w]
        return self._q(
            f"WITH w(tenant, actor, since) AS (VALUES {values}) "
            "SELECT coalesce(e.src_ip, '?') AS ip, coalesce(e.user_agent, '?') AS agent, "
            "count(*) AS events, count(DISTINCT e.tenant || '/' || e.actor) AS accounts, "
            "coalesce(sum(e.records) FILTER (WHERE e.status < 400), 0) AS records, "
            "min(e.ts), max(e.ts) "
            f"FROM read_parquet({parts}) e JOIN w ON e.tenant = w.tenant "
            "AND e.actor = w.actor AND e.ts >= w.since GROUP BY ALL "
            "ORDER BY events DESC LIMIT 60",
            params,
        )

    # ---- accounts --------------------------------------------------------------------------
    def account_days(
        self, accounts: list[tuple[str, str]], first: date, last: date
    ) -> dict[tuple[str, str], list[tuple[date, int, int, int]]]:
        """(day, events, records, patients) per account and day (zeros filled in)."""
        if not self._rolled() or not accounts:
            return {a: [] for a in accounts}
        values = ", ".join("(?, ?)" for _ in accounts)
        params: list[Any] = [x for a in accounts for x in a]
        rows = self._q(
            f"WITH w(tenant, actor) AS (VALUES {values}) "
            "SELECT d.tenant, d.actor, d.day, d.events, d.records, coalesce(p.patients, 0) "
            "FROM daily d JOIN w USING (tenant, actor) LEFT JOIN patients p "
            "USING (tenant, actor, day) WHERE d.day BETWEEN ? AND ?",
            [*params, first, last],
        )
        found: dict[tuple[str, str], dict[date, tuple[int, int, int]]] = {a: {} for a in accounts}
        for t, a, d, ev, rec, pat in rows:
            found[(t, a)][d] = (int(ev), int(rec), int(pat))
        span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return {k: [(d, *v.get(d, (0, 0, 0))) for d in span] for k, v in found.items()}

    def peers(self, tenant: str, actor: str, first: date, last: date) -> dict[date, float]:
        """The median patients per working day of accounts with the same role elsewhere."""
        role = self.role(tenant, actor)
        if not self._rolled():
            return {}
        peers = [k for k, r in self._roles.items() if r == role and k != (tenant, actor)]
        if not role or not peers:
            return {}
        key = (role, first, last, self._parts_key)

        def compute() -> dict[date, float]:
            values = ", ".join("(?, ?)" for _ in peers)
            params: list[Any] = [x for p in peers for x in p]
            rows = self._q(
                f"WITH w(tenant, actor) AS (VALUES {values}) SELECT p.day, "
                "median(p.patients) FROM patients p JOIN w USING (tenant, actor) "
                "WHERE p.day BETWEEN ? AND ? GROUP BY p.day",
                [*params, first, last],
            )
            return {d: float(m) for d, m in rows}

        return dict(self._cached("peers:" + role, key, compute))

    def account_range(self, tenant: str, actor: str) -> tuple[date, date] | None:
        if not self._rolled():
            return None
        rows = self._q(
            "SELECT min(day), max(day) FROM daily WHERE tenant = ? AND actor = ?", [tenant, actor]
        )
        if not rows or rows[0][0] is None:
            return None
        return rows[0][0], rows[0][1]

    def explained(self, tenant: str, actor: str, since: float) -> tuple[int, int] | None:
        """(patients read, of whom the account had a care relationship with), since ``since``."""
        if not self._appointments or self._sources() is None:
            return None
        parts = _list_sql(self._parts_since("exposures", since))
        if parts == "[]":
            return (0, 0)
        key = (tenant, actor, since, self._parts_key)

        def compute() -> tuple[int, int]:
            rows = self._q(
                "WITH r AS (SELECT DISTINCT patient_id FROM read_parquet(" + parts + ") "
                "WHERE tenant = ? AND actor = ? AND status < 400 AND ts >= to_timestamp(?)) "
                "SELECT count(*), count(c.patient_id) FROM r LEFT JOIN "
                "(SELECT DISTINCT patient_id FROM care WHERE tenant = ? AND actor = ?) c "
                "USING (patient_id)",
                [tenant, actor, since, tenant, actor],
            )
            return int(rows[0][0]), int(rows[0][1])

        result: tuple[int, int] = self._cached(f"explained:{tenant}/{actor}", key, compute)
        return result

    # ---- activity (overview) ------------------------------------------------------------------
    def hourly(self, hours: int = 7 * 24) -> list[tuple[datetime, int, int]]:
        """Events and records per hour over the last ``hours`` hours of stored data."""
        if not self._rolled():
            return []
        rows = self._q(
            "SELECT hour, events, records FROM hourly WHERE hour > "
            "(SELECT max(hour) FROM hourly) - ? * INTERVAL 1 HOUR ORDER BY hour",
            [hours],
        )
        return [(h, int(e), int(r)) for h, e, r in rows]

    # ---- evidence ------------------------------------------------------------------------------
    def events_by_key(self, keys: list[str], around: float) -> list[dict[str, Any]]:
        """The stored events with these keys (looked up in the days around ``around``)."""
        if not keys or self._sources() is None:
            return []
        days = {
            datetime.fromtimestamp(around + d * 86400, UTC).strftime("%Y-%m-%d") for d in (-1, 0, 1)
        }
        parts = [p for p in self._parts("events") if p.parent.name[4:] in days]
        if not parts:
            return []
        marks = ", ".join("?" for _ in keys)
        rows = self._q(
            "SELECT ts, tenant, actor, action, resource, session, src_ip, user_agent, route, "
            "status, len(patient_ids), records, patient_ids, query FROM read_parquet("
            f"{_list_sql(parts)}) WHERE event_key IN ({marks}) ORDER BY ts",
            keys,
        )
        cols = (
            "ts",
            "tenant",
            "actor",
            "action",
            "resource",
            "session",
            "src_ip",
            "user_agent",
            "route",
            "status",
            "patients",
            "records",
            "patient_ids",
            "query",
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def identities(self, patient_ids: list[str]) -> list[dict[str, Any]]:
        """Who these patients are (``patients.csv``): for the DPO only, audited by the caller."""
        if self.context is None or not patient_ids:
            return []
        path = self.context / "patients.csv"
        if not path.is_file():
            return []
        marks = ", ".join("?" for _ in patient_ids)
        con = self.con.cursor()
        try:
            rel = con.execute(
                f"SELECT * FROM read_csv('{_q(path)}', header=true, all_varchar=true) "
                f"WHERE patient_id IN ({marks}) ORDER BY patient_id",
                patient_ids[:500],
            )
            names = [d[0] for d in rel.description or []]
            return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
        finally:
            con.close()

    def worst(self, severities: list[str]) -> str:
        return max(severities, key=lambda s: _RANK.get(s, 0)) if severities else "low"


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def _list_sql(paths: list[Path]) -> str:
    return "[" + ", ".join(f"'{_q(p)}'" for p in paths) + "]"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
