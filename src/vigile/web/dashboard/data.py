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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import duckdb
import orjson

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
        self._days: dict[str, tuple[int, float]] = {}
        self._pending: set[str] = set()
        #: called in the roll-up's thread once it is up to date (pages warm their figures)
        self.after_roll: Callable[[], None] | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="vigile-figures")
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
        """Bring the daily roll-up up to date with the store (in a thread unless ``wait``).

        Incremental: only the days whose parts changed are rolled up again (live
        ingest touches today's), at most every ``refresh`` seconds.
        """
        if self.store is None:
            return
        now = time.monotonic()
        if not wait and (self._rolling or now - self._rolled_at < self.refresh):
            return
        if wait:
            self._roll()
            return
        self._rolling = True
        threading.Thread(target=self._roll, name="vigile-rollup", daemon=True).start()

    def _day_keys(self) -> dict[str, tuple[int, float]]:
        keys: dict[str, tuple[int, float]] = {}
        for p in self._parts("events"):
            day = p.parent.name[4:]
            n, m = keys.get(day, (0, 0.0))
            keys[day] = (n + 1, max(m, p.stat().st_mtime))
        return keys

    def _roll(self) -> None:
        try:
            keys = self._day_keys()
            changed = sorted(d for d, k in keys.items() if self._days.get(d) != k)
            gone = sorted(d for d in self._days if d not in keys)
            if not changed and not gone and self._parts_key is not None:
                return
            started = time.perf_counter()
            con = self.con.cursor()
            con.execute(
                "CREATE TABLE IF NOT EXISTS daily (day DATE, tenant VARCHAR, actor VARCHAR, "
                "events BIGINT, refused BIGINT, records BIGINT)"
            )
            con.execute(
                "CREATE TABLE IF NOT EXISTS patients (day DATE, tenant VARCHAR, actor VARCHAR, "
                "patients BIGINT, explained BIGINT)"
            )
            con.execute(
                "CREATE TABLE IF NOT EXISTS hourly (day DATE, hour TIMESTAMPTZ, events BIGINT, "
                "records BIGINT)"
            )
            care = (
                "LEFT JOIN care c ON c.tenant = e.tenant AND c.actor = e.actor "
                "AND c.patient_id = e.patient_id"
                if self._appointments
                else "LEFT JOIN (SELECT NULL::VARCHAR AS patient_id) c ON false"
            )
            for day in changed + gone:
                events = [p for p in self._parts("events") if p.parent.name[4:] == day]
                exposures = [p for p in self._parts("exposures") if p.parent.name[4:] == day]
                staged = []
                if events:
                    src = _list_sql(events)
                    staged.append(
                        "INSERT INTO daily SELECT CAST(ts AS DATE), tenant, actor, count(*), "
                        "count(*) FILTER (WHERE status >= 400), "
                        "coalesce(sum(records) FILTER (WHERE status < 400), 0) "
                        f"FROM read_parquet({src}) GROUP BY ALL"
                    )
                    staged.append(
                        "INSERT INTO hourly SELECT CAST(ts AS DATE), date_trunc('hour', ts), "
                        "count(*), coalesce(sum(records) FILTER (WHERE status < 400), 0) "
                        f"FROM read_parquet({src}) GROUP BY ALL"
                    )
                if exposures:
                    staged.append(
                        "INSERT INTO patients SELECT CAST(e.ts AS DATE), e.tenant, e.actor, "
                        "count(DISTINCT e.patient_id), count(DISTINCT c.patient_id) "
                        f"FROM read_parquet({_list_sql(exposures)}) e {care} "
                        "WHERE e.status < 400 GROUP BY ALL"
                    )
                with self._lock:
                    con.execute("BEGIN")
                    for table in ("daily", "patients", "hourly"):
                        con.execute(f"DELETE FROM {table} WHERE day = CAST(? AS DATE)", [day])
                    for sql in staged:
                        con.execute(sql)
                    con.execute("COMMIT")
                if day in keys:
                    self._days[day] = keys[day]
                else:
                    self._days.pop(day, None)
            con.close()
            self._parts_key = (len(keys), max((k[1] for k in keys.values()), default=0.0))
            if self.after_roll is not None:
                self.after_roll()
            log.info(
                "dashboard roll-up: %d day(s) in %.1f s",
                len(changed),
                time.perf_counter() - started,
            )
        except Exception:
            log.exception("dashboard roll-up failed")
        finally:
            self._rolled_at = time.monotonic()
            self._rolling = False

    @property
    def parts_key(self) -> tuple[int, float] | None:
        """Changes whenever the roll-up took new events in."""
        return self._parts_key

    def _rolled(self) -> bool:
        return self._parts_key is not None

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        con = self.con.cursor()
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def _cached(self, name: str, key: Any, compute: Any) -> Any:
        """A cached figure: computed at once the first time, then served while a worker
        thread brings it up to date when its inputs (the store's parts) changed, at most
        every ``ttl`` seconds."""
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is None:
            value = compute()
            self._cache[name] = _Cached(now, key, value)
            return value
        if hit.key != key and now - hit.at > self.ttl and name not in self._pending:
            self._pending.add(name)
            hit.at = now  # one refresh per ttl, even if it fails

            def refresh() -> None:
                try:
                    self._cache[name] = _Cached(time.monotonic(), key, compute())
                except Exception:
                    log.exception("dashboard figure %s could not be refreshed", name)
                finally:
                    self._pending.discard(name)

            self._worker.submit(refresh)
        return hit.value

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

    def incident_accounts(self, incident: str) -> list[dict[str, Any]]:
        """Per account of an incident: its first and last alert, alert count, worst severity."""
        rows = self.state._all(
            "SELECT tenant, actor, min(t), max(t), min(ts), count(*), "
            "max(CASE severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 "
            "ELSE 0 END) FROM alerts WHERE incident = ? GROUP BY tenant, actor "
            "ORDER BY min(t)",
            (incident,),
        )
        return [
            {"tenant": t, "actor": a, "first_t": float(t0), "last_t": float(t1), "first": ts0,
             "alerts": int(n), "severity": SEVERITY_ORDER[3 - int(w)]}
            for t, a, t0, t1, ts0, n, w in rows
        ]  # fmt: skip

    def incident_windows(self, incident: str) -> list[tuple[str, str, float]]:
        """Each account of the incident with the start of its window (first alert − 7 days)."""
        return [
            (r["tenant"], r["actor"], r["first_t"] - LOOKBACK.total_seconds())
            for r in self.incident_accounts(incident)
        ]

    def latest_incident_alerts(self, incident: str, limit: int = 200) -> list[dict[str, Any]]:
        """The newest alerts of an incident (ids sorted first: the bodies are read last)."""
        rows = self.state._all(
            "SELECT body, outcome FROM alerts WHERE alert_id IN (SELECT alert_id FROM alerts "
            "WHERE incident = ? ORDER BY t DESC LIMIT ?) ORDER BY t DESC, alert_id",
            (incident, limit),
        )
        out = []
        for body, outcome in rows:
            item = orjson.loads(body)
            item["outcome"] = orjson.loads(outcome)
            out.append(item)
        return out

    def incident_alerts(self, incident: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.state.alerts(incident=incident, limit=1_000_000)
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

    def exposure(self, name: str, windows: list[tuple[str, str, float]]) -> dict[str, Any]:
        """Files exposed by these accounts in their windows: extracted vs only consulted,
        in total and growing day by day (see :meth:`_cached`)."""
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

    def sources(self, name: str, windows: list[tuple[str, str, float]]) -> list[tuple[Any, ...]]:
        """Source addresses and user agents of the accounts in their windows."""
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
        span = self.data_days(first, last)
        return {k: [(d, *v.get(d, (0, 0, 0))) for d in span] for k, v in found.items()}

    def data_days(self, first: date, last: date, limit: int = 60) -> list[date]:
        """The last ``limit`` days between ``first`` and ``last`` on which the store holds
        events (a chart's time axis: a gap with no data at all is not drawn as zeros)."""
        rows = self._q(
            "SELECT DISTINCT day FROM daily WHERE day BETWEEN ? AND ? ORDER BY day DESC LIMIT ?",
            [first, last, limit],
        )
        return sorted(r[0] for r in rows)

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

    def explained(self, tenant: str, actor: str, first: date, last: date) -> tuple[int, int] | None:
        """(patients received, of whom with a care relationship), summed over the days."""
        if not self._appointments or not self._rolled():
            return None
        rows = self._q(
            "SELECT coalesce(sum(patients), 0), coalesce(sum(explained), 0) FROM patients "
            "WHERE tenant = ? AND actor = ? AND day BETWEEN ? AND ?",
            [tenant, actor, first, last],
        )
        return int(rows[0][0]), int(rows[0][1])

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
