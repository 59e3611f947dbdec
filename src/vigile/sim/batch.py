"""Columnar event batches: what generators emit and the writer serialises.

Generators add whole arrays of events at once (`EventBatch.add`); a batch is turned into
`Columns` (one numpy array per field, patient ids flattened with per-event counts),
sorted by time and written.  Strings (tenants, accounts, sessions, addresses, user
agents, queries) are interned in `Tables` and referred to by index.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
IArr = npt.NDArray[np.integer[Any]]  # narrow integer columns


class Kind(IntEnum):
    """Request kinds of the reference practice API (docs/reference-api.md)."""

    LOGIN = 0
    LOGIN_FAILED = 1
    LOGOUT = 2
    READ_PATIENT = 3
    LIST_PATIENT = 4
    SEARCH_PATIENT = 5
    CREATE_PATIENT = 6
    UPDATE_PATIENT = 7
    DELETE_PATIENT = 8
    READ_ANNOTATION = 9
    CREATE_ANNOTATION = 10
    READ_DOCUMENT = 11
    READ_PRESCRIPTION = 12
    CREATE_PRESCRIPTION = 13
    PRINT_PATIENT = 14
    LIST_APPOINTMENT = 15
    CREATE_APPOINTMENT = 16
    EXPORT_PATIENT = 17


# method, route, action, resource, base bytes, bytes per record
ROUTES: dict[Kind, tuple[str, str, str, str, int, int]] = {
    Kind.LOGIN: ("POST", "/api/v1/auth/login", "login", "session", 310, 0),
    Kind.LOGIN_FAILED: ("POST", "/api/v1/auth/login", "login_failed", "session", 96, 0),
    Kind.LOGOUT: ("POST", "/api/v1/auth/logout", "logout", "session", 0, 0),
    Kind.READ_PATIENT: ("GET", "/api/v1/patients/{patient_id}", "read", "patient", 180, 1250),
    Kind.LIST_PATIENT: ("GET", "/api/v1/patients", "list", "patient", 120, 410),
    Kind.SEARCH_PATIENT: ("GET", "/api/v1/patients/search", "search", "patient", 110, 290),
    Kind.CREATE_PATIENT: ("POST", "/api/v1/patients", "create", "patient", 140, 1150),
    Kind.UPDATE_PATIENT: ("PUT", "/api/v1/patients/{patient_id}", "update", "patient", 140, 1200),
    Kind.DELETE_PATIENT: ("DELETE", "/api/v1/patients/{patient_id}", "delete", "patient", 0, 0),
    Kind.READ_ANNOTATION: (
        "GET",
        "/api/v1/patients/{patient_id}/annotations",
        "read",
        "annotation",
        40,
        60,
    ),
    Kind.CREATE_ANNOTATION: (
        "POST",
        "/api/v1/patients/{patient_id}/annotations",
        "create",
        "annotation",
        160,
        0,
    ),
    Kind.READ_DOCUMENT: (
        "GET",
        "/api/v1/patients/{patient_id}/documents/{document_id}",
        "read",
        "document",
        2000,
        60000,
    ),
    Kind.READ_PRESCRIPTION: (
        "GET",
        "/api/v1/patients/{patient_id}/prescriptions",
        "read",
        "prescription",
        90,
        700,
    ),
    Kind.CREATE_PRESCRIPTION: (
        "POST",
        "/api/v1/patients/{patient_id}/prescriptions",
        "create",
        "prescription",
        220,
        0,
    ),
    Kind.PRINT_PATIENT: (
        "GET",
        "/api/v1/patients/{patient_id}/print",
        "print",
        "patient",
        9000,
        30000,
    ),
    Kind.LIST_APPOINTMENT: ("GET", "/api/v1/appointments", "list", "appointment", 90, 240),
    Kind.CREATE_APPOINTMENT: ("POST", "/api/v1/appointments", "create", "appointment", 180, 0),
    Kind.EXPORT_PATIENT: ("GET", "/api/v1/exports/patients", "export", "patient", 200, 1900),
}


@dataclass
class Tables:
    """Interned strings shared by a whole generation run (queries are per day)."""

    seed: int
    tenants: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    uas: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    # bumped by every reset: a query table is only the same table within one epoch
    query_epoch: int = 0
    _ip_index: dict[str, int] = field(default_factory=dict)
    _ua_index: dict[str, int] = field(default_factory=dict)
    _q_index: dict[str, int] = field(default_factory=dict)
    _tokens: random.Random | None = None

    def ip(self, text: str) -> int:
        """Index of an address."""
        return _intern(self._ip_index, self.ips, text)

    def ua(self, text: str) -> int:
        """Index of a user agent."""
        return _intern(self._ua_index, self.uas, text)

    def query(self, text: str) -> int:
        """Index of a query string (table reset every day)."""
        return _intern(self._q_index, self.queries, text)

    def reset_queries(self) -> None:
        """Forget the day's queries (events that still refer to them must be re-interned:
        `requery`)."""
        self.queries = []
        self._q_index = {}
        self.query_epoch += 1

    def requery(self, old: list[str], query: IArr) -> IArr:
        """Query indices into an earlier table `old`, interned again in today's table."""
        out = np.asarray(query).copy()
        used = out >= 0
        if used.any():
            uniq, inv = np.unique(out[used], return_inverse=True)
            new = np.asarray([self.query(old[int(i)]) for i in uniq.tolist()], dtype=out.dtype)
            out[used] = new[inv.ravel()]
        return out

    def new_session(self) -> int:
        """A fresh session id (opaque hex token, deterministic for the seed)."""
        if self._tokens is None:
            self._tokens = random.Random(self.seed * 1_000_003 + 77)
        self.sessions.append(f"s-{self._tokens.getrandbits(96):024x}")
        return len(self.sessions) - 1


def _intern(index: dict[str, int], values: list[str], text: str) -> int:
    i = index.get(text)
    if i is None:
        i = index[text] = len(values)
        values.append(text)
    return i


Scalar = int | I64


@dataclass
class Columns:
    """A block of events as parallel arrays (patient ids flattened)."""

    ts: I64
    kind: IArr
    tenant: IArr
    actor: IArr
    session: IArr  # -1 none
    ip: IArr
    ua: IArr
    status: IArr
    query: IArr  # -1 none
    tag: IArr  # 0 genuine, > 0 attack id, < 0 benign case id
    counts: IArr  # patient ids per event
    values: I64  # numeric patient ids (P + digits)
    records: IArr
    # identity of an event's patient list: events with the same key >= 0 carry the same
    # list (the writer renders it once); -1 unknown
    lkey: IArr

    def __len__(self) -> int:
        return len(self.ts)

    def starts(self) -> I64:
        """Offset of each event's first patient id in `values`."""
        out = np.zeros(len(self.counts), dtype=np.int64)
        if len(self.counts) > 1:
            np.cumsum(self.counts[:-1], out=out[1:])
        return out

    def slice(self, a: int, b: int) -> Columns:
        """Events a..b as views (no copy)."""
        starts = self.starts()
        v0 = int(starts[a]) if a < len(self) else len(self.values)
        v1 = int(starts[b]) if b < len(self) else len(self.values)
        return Columns(
            self.ts[a:b], self.kind[a:b], self.tenant[a:b], self.actor[a:b],
            self.session[a:b], self.ip[a:b], self.ua[a:b], self.status[a:b], self.query[a:b],
            self.tag[a:b], self.counts[a:b], self.values[v0:v1], self.records[a:b],
            self.lkey[a:b],
        )  # fmt: skip

    def take(self, order: I64) -> Columns:
        """Events reordered (or selected) by index."""
        starts = self.starts()[order]
        counts = self.counts[order]
        total = int(counts.sum())
        if total:
            new_starts = np.zeros(len(counts), dtype=np.int64)
            np.cumsum(counts[:-1], out=new_starts[1:])
            idx = np.repeat(starts - new_starts, counts) + np.arange(total, dtype=np.int64)
            values = self.values[idx]
        else:
            values = np.zeros(0, dtype=np.int64)
        return Columns(
            self.ts[order],
            self.kind[order],
            self.tenant[order],
            self.actor[order],
            self.session[order],
            self.ip[order],
            self.ua[order],
            self.status[order],
            self.query[order],
            self.tag[order],
            counts,
            values,
            self.records[order],
            self.lkey[order],
        )

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        """Concatenate blocks."""
        if not parts:
            return empty_columns()
        names = (
            "ts",
            "kind",
            "tenant",
            "actor",
            "session",
            "ip",
            "ua",
            "status",
            "query",
            "tag",
            "counts",
            "values",
            "records",
            "lkey",
        )
        return Columns(*[np.concatenate([getattr(p, n) for p in parts]) for n in names])


def empty_columns() -> Columns:
    """A block with no events."""
    z = np.zeros(0, dtype=np.int64)
    return Columns(z, z, z, z, z, z, z, z, z, z, z, z, z, z)


# narrow storage per field (a day of the seed preset holds millions of events)
_DTYPES: dict[str, type[np.integer[Any]]] = {
    "ts": np.int64,
    "lkey": np.int64,
    "kind": np.int16,
    "ua": np.int16,
    "status": np.int16,
}
_FIELDS = (
    "ts",
    "kind",
    "tenant",
    "actor",
    "session",
    "ip",
    "ua",
    "status",
    "query",
    "tag",
    "records",
    "lkey",
)


class EventBatch:
    """Accumulates arrays of events for one practice-day (or any unit).

    Scalar fields are kept as scalars until `columns()` fills the output arrays."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, dict[str, Scalar], I64, I64]] = []

    def add(
        self,
        ts: I64,
        kind: Scalar,
        tenant: Scalar,
        actor: Scalar,
        session: Scalar,
        ip: Scalar,
        ua: Scalar,
        pids: I64 | None = None,
        *,
        counts: I64 | None = None,
        status: Scalar = 200,
        query: Scalar = -1,
        tag: Scalar = 0,
        records: I64 | None = None,
        lkey: Scalar = -1,
    ) -> None:
        """Add len(ts) events.  `pids` holds one id per event, or the flattened lists when
        `counts` is given; `records` defaults to the id count of served (2xx) events;
        `lkey` identifies the patient lists (equal keys, equal lists; -1 unknown)."""
        n = len(ts)
        if n == 0:
            return
        if pids is None:
            cnt: I64 = _ZERO_COUNTS[:n] if n <= len(_ZERO_COUNTS) else np.zeros(n, np.int64)
            vals = _EMPTY
        elif counts is None:
            cnt = _ONE_COUNTS[:n] if n <= len(_ONE_COUNTS) else np.ones(n, np.int64)
            vals = pids
        else:
            cnt, vals = counts, pids
        if records is None:
            if isinstance(status, np.ndarray):
                records = np.where(status < 300, cnt, 0)
            else:
                records = cnt if status < 300 else np.zeros(n, dtype=np.int64)
        f: dict[str, Scalar] = {
            "ts": ts,
            "kind": kind,
            "tenant": tenant,
            "actor": actor,
            "session": session,
            "ip": ip,
            "ua": ua,
            "status": status,
            "query": query,
            "tag": tag,
            "records": records,
            "lkey": lkey,
        }
        self.parts.append((n, f, cnt, vals))

    def columns(self) -> Columns:
        """All events added so far, in insertion order."""
        if not self.parts:
            return empty_columns()
        total = sum(p[0] for p in self.parts)
        out: dict[str, IArr] = {}
        for name in _FIELDS:
            arr = np.empty(total, dtype=_DTYPES.get(name, np.int32))
            pos = 0
            for n, f, _, _ in self.parts:
                arr[pos : pos + n] = f[name]
                pos += n
            out[name] = arr
        counts = np.concatenate([p[2] for p in self.parts]).astype(np.int32, copy=False)
        values = np.concatenate([p[3] for p in self.parts]).astype(np.int64, copy=False)
        ts: I64 = out["ts"].astype(np.int64, copy=False)
        return Columns(
            ts,
            out["kind"],
            out["tenant"],
            out["actor"],
            out["session"],
            out["ip"],
            out["ua"],
            out["status"],
            out["query"],
            out["tag"],
            counts,
            values,
            out["records"],
            out["lkey"],
        )


_EMPTY = np.zeros(0, dtype=np.int64)
_ZERO_COUNTS = np.zeros(4096, dtype=np.int64)
_ONE_COUNTS = np.ones(4096, dtype=np.int64)
