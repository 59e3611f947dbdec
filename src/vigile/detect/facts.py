"""What every detector wants to know about an event, computed once per event.

The engine keeps four kinds of entities, each in a :class:`~vigile.detect.state.BoundedTable`:
accounts (tenant, actor), sessions, sources (networks: IPv4 /24, IPv6 /48 by
default) and tenants (practices). For each event it fills one reusable
:class:`Facts` object *before* any detector scores the event, and updates the
entities only *after* every detector has scored it (score, then learn):

* **fingerprint facts** – is this network new for the account, for its practice;
  is the user agent new; is the session new, or suddenly used from another
  network (one session, two places); is the account active from another network at
  the same time (two places at once);
* **explanation facts** (Fabbri & LeFevre's explanation-based auditing) – for a
  read of a few patients: which patients are *new* to the account, and which of
  those no care relationship explains. A patient is explained by an appointment at
  the practice near in time, by the account's own earlier access (a repeat), by a
  note the account or a colleague wrote, by a file the account created, or by the
  practice's panel (patients a colleague accessed with an explanation, or cared
  for: appointment booked, prescription, update, new file).

Time is the event's own: :class:`EventClock` turns the event's timestamp into
seconds and a local day (the event's own UTC offset decides what "a day" is).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Hashable
from datetime import datetime
from typing import Any, Final

from vigile.detect.context_index import ContextIndex, size_bucket
from vigile.detect.state import (
    BoundedTable,
    Settings,
    budget_cutoff,
    prune_floor,
    prune_times,
)
from vigile.events import AccessEvent

__all__ = [
    "AccountState",
    "EventClock",
    "Explainer",
    "Facts",
    "SessionState",
    "SourceState",
    "TenantState",
    "Tracker",
    "is_filtered",
    "parse_query",
]

#: actions whose response carries patient data (INTERFACE READ_ACTIONS) for a few patients
_SINGLE_MAX: Final = 3
#: patients of one list or export remembered as "already received" by the account
_BULK_MAX: Final = 2000
#: patients remembered as "just read" for an account under alert
_RECENT_MAX: Final = 32
_BULK_ACTIONS: Final = frozenset({"list", "search", "export"})
#: actions that establish or show care (a relationship, not an access to explain)
CARE_ACTIONS: Final = frozenset({"create", "update"})
_SCHEDULE: Final = "appointment"

#: query parameters that only page or sort: a query made of these alone selects everything
PAGING_KEYS: Final = frozenset(
    {
        "page",
        "size",
        "limit",
        "offset",
        "per_page",
        "page_size",
        "pagesize",
        "cursor",
        "sort",
        "order",
        "start",
        "count",
        "from",
        "skip",
        "take",
        "_count",
        "_offset",
        "_sort",
        "_page",
        "format",
    }
)


def parse_query(query: str | None) -> dict[str, str]:
    """``a=1&b=x`` → ``{"a": "1", "b": "x"}`` (no decoding: only keys and lengths matter)."""
    if not query:
        return {}
    out = {}
    for part in query.lstrip("?").split("&"):
        key, _, value = part.partition("=")
        if key:
            out[key.lower()] = value
    return out


def is_filtered(q: dict[str, str]) -> bool:
    """A list or export with selection criteria (``age_min=65``), not just paging."""
    return any(k not in PAGING_KEYS and v for k, v in q.items())


class EventClock:
    """Event timestamp → seconds since the epoch, local day number and local hour.

    ``datetime.timestamp()`` costs ~0.6 µs on an aware datetime; events come in time
    order, so the start of the current hour is computed once and the rest added.
    """

    __slots__ = ("base", "day", "hour", "key_d", "key_h", "key_m", "key_tz", "key_y")

    def __init__(self) -> None:
        self.key_d = self.key_h = self.key_m = self.key_y = -1
        self.key_tz: Any = None
        self.base = 0.0
        self.day = 0
        self.hour = 0

    def seconds(self, ts: datetime) -> float:
        """Seconds since the Unix epoch; also sets ``day`` and ``hour`` (local to the event)."""
        if (
            ts.hour != self.key_h
            or ts.day != self.key_d
            or ts.tzinfo is not self.key_tz
            or ts.month != self.key_m
            or ts.year != self.key_y
        ):
            top = ts.replace(minute=0, second=0, microsecond=0)
            self.base = top.timestamp()
            self.key_h, self.key_d, self.key_m, self.key_y = ts.hour, ts.day, ts.month, ts.year
            self.key_tz = ts.tzinfo
            self.day = ts.toordinal()
            self.hour = ts.hour
        return self.base + ts.minute * 60 + ts.second + ts.microsecond * 1e-6


class TenantState:
    """A practice: its known networks and its care panel.

    The entity classes' arguments all have defaults: compiled (mypyc), they are
    unpickled from a checkpoint through a call without arguments.
    """

    __slots__ = ("days", "first", "last", "last_day", "nets", "panel", "panel_floor")

    def __init__(self, t: float = 0.0) -> None:
        #: a lower bound of the panel's days (see :func:`prune_floor`)
        self.panel_floor = 0.0
        self.first = t
        self.last = t
        self.last_day = -1
        self.days = 0
        self.nets: dict[str, float] = {}
        #: patients the practice cares for -> day number (see Explainer)
        self.panel: dict[str, int] = {}


class SessionState:
    """A session id: where it started (network, user agent), where it is used now."""

    __slots__ = (
        "cur",
        "first",
        "key",
        "last",
        "login",
        "moved",
        "net",
        "prev",
        "switch_t",
        "ua",
        "unfamiliar",
    )

    def __init__(
        self,
        key: Hashable = None,
        net: str = "",
        ua: str | None = None,
        t: float = 0.0,
        login: bool = False,
        unfamiliar: bool = False,
    ) -> None:
        self.key = key
        #: begun (or continued) from a network or client new to the account
        self.unfamiliar = unfamiliar
        self.net = net
        self.ua = ua
        self.first = t
        self.last = t
        self.login = login
        self.moved: dict[str, float] = {}
        #: the network in use now, the one before it, and when the session switched
        self.cur = net
        self.prev = ""
        self.switch_t = -1.0


class SourceState:
    """A network: which accounts and practices used it recently."""

    __slots__ = ("accounts", "last", "tenants")

    def __init__(self, t: float = 0.0) -> None:
        self.last = t
        self.accounts: dict[Hashable, float] = {}
        self.tenants: dict[str, float] = {}


class AccountState:
    """An account (tenant, actor): fingerprint, relationships and day bookkeeping."""

    __slots__ = (
        "actor",
        "alt_net",
        "created",
        "days",
        "first",
        "flag_day",
        "is_established",
        "is_new",
        "key",
        "last",
        "last_day",
        "last_ip",
        "last_net",
        "last_ses",
        "last_sid",
        "last_ua",
        "net_t",
        "nets",
        "other_net",
        "other_until",
        "peer",
        "prev_net",
        "recent",
        "role",
        "seen",
        "seen_floor",
        "switch_t",
        "ten",
        "tenant",
        "uas",
    )

    def __init__(
        self,
        key: tuple[str, str] = ("", ""),
        t: float = 0.0,
        role: str = "",
        peer: str = "",
        created: float | None = None,
    ) -> None:
        self.key = key
        self.tenant, self.actor = key
        self.role = role
        self.peer = peer
        self.created = created
        self.first = t
        self.last = t
        self.last_day = -1
        self.days = 0
        self.flag_day = -1
        self.last_ip: str | None = None
        self.last_sid: str | None = None
        self.last_ua: str | None = None
        self.last_net = ""
        self.last_ses: SessionState | None = None
        self.nets: dict[str, float] = {}
        self.uas: dict[str, float] = {}
        self.other_until = -1.0
        self.other_net = ""
        self.prev_net = ""
        self.switch_t = -1.0
        self.alt_net = ""
        self.net_t = t
        self.is_new = False
        self.is_established = False
        #: patient -> day number of the relationship (+d: care, -d: data received only,
        #: -(d + 0.5): only selected by a filtered list or export, see Explainer); the
        #: value's type tells a day (int) from a selection (float): ``int | float``, not
        #: ``float``, so that compiled code (mypyc) keeps ints as ints
        self.seen: dict[str, int | float] = {}
        #: a lower bound of the days in ``seen`` (see :func:`prune_floor`)
        self.seen_floor = 0.0
        #: the last patients of an account under alert (whose reads are not remembered),
        #: oldest first (a dict: membership is a hash lookup, not a scan)
        self.recent: dict[str, None] = {}
        self.ten: TenantState | None = None


class Facts:
    """The shared per-event facts (one object, refilled for every event; never keep it).

    They begin with the event's own fields that every stage reads (``tenant``,
    ``actor``, ``action``, ``resource``, ``status``, ``ids`` for ``patient_ids``, ``ip``,
    ``sid`` and ``ua`` for ``src_ip``, ``session`` and ``user_agent``): read once by the
    engine, then native attribute reads, where each read of the event (a msgspec struct)
    from compiled code is a generic attribute lookup.
    """

    __slots__ = (
        "acc",
        "action",
        "actor",
        "alerted",
        "bulk",
        "changed",
        "day",
        "dirty",
        "established",
        "explained_by",
        "filtered",
        "hour",
        "ids",
        "ip",
        "key",
        "mutes",
        "mutes_known",
        "net",
        "net_new_acc",
        "net_new_tenant",
        "new_account",
        "new_ids",
        "query",
        "records",
        "resource",
        "schedule",
        "ses",
        "session_moved",
        "session_new",
        "session_shared",
        "sid",
        "single",
        "status",
        "t",
        "ten",
        "tenant",
        "ua",
        "ua_new",
        "uncared_ids",
        "unexplained_ids",
    )

    def __init__(self) -> None:
        self.tenant = ""
        self.actor = ""
        self.action = ""
        self.resource = ""
        self.status = 0
        self.ids: list[str] = []
        self.ip: str | None = None
        self.sid: str | None = None
        self.ua: str | None = None
        self.t = 0.0
        self.day = 0
        self.hour = 0
        self.key: tuple[str, str] = ("", "")
        self.acc: AccountState = None  # type: ignore[assignment]
        self.ten: TenantState = None  # type: ignore[assignment]
        self.ses: SessionState | None = None
        self.net = ""
        self.net_new_acc = False
        self.net_new_tenant = False
        self.ua_new = False
        self.session_new = False
        self.session_moved = False
        self.session_shared = False
        self.changed = False
        self.dirty = False
        self.established = False
        self.new_account = False
        self.single = False
        self.bulk = False
        #: a list or export with selection criteria (see :func:`is_filtered`)
        self.filtered = False
        #: the parsed query of a list, export or search (else empty)
        self.query: dict[str, str] = {}
        self.schedule = False
        self.records = 0
        self.new_ids: list[str] = []
        self.unexplained_ids: list[str] = []
        self.uncared_ids: list[str] = []
        self.explained_by: dict[str, str] = {}
        self.alerted = -1
        #: the alert sink's mutes of this account (rule id -> until, level), and whether
        #: they were looked up for this event (DetectorBase.muted; reset by the engine
        #: for every event and after every alert)
        self.mutes: dict[str, tuple[float, int]] | None = None
        self.mutes_known = False


def network_of(ip: str, v4: int, v6: int) -> str:
    """The network an address belongs to (``a.b.c.0/24`` style), or the text itself if not an IP."""
    if ip.count(".") == 3 and v4 == 24 and ":" not in ip:
        return ip.rpartition(".")[0] + ".0/24"
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return ip
    prefix = v4 if addr.version == 4 else v6
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class Tracker:
    """Entity tables and fingerprint facts (networks, user agents, sessions, concurrency)."""

    def __init__(self, index: ContextIndex, settings: Settings) -> None:
        self.index = index
        self.s = settings
        self.accounts: BoundedTable[AccountState] = BoundedTable(
            "accounts", settings.account_idle, settings.max_accounts
        )
        self.sessions: BoundedTable[SessionState] = BoundedTable(
            "sessions", settings.session_idle, settings.max_sessions
        )
        self.sources: BoundedTable[SourceState] = BoundedTable(
            "sources", settings.source_idle, settings.max_sources
        )
        self.tenants: BoundedTable[TenantState] = BoundedTable(
            "tenants", settings.account_idle, settings.max_tenants
        )
        self._net_cache: dict[str, str] = {}
        self.start = -1.0

    def tables(self) -> list[BoundedTable[Any]]:
        return [self.accounts, self.sessions, self.sources, self.tenants]

    def relink(self) -> None:
        """After loading a checkpoint: point each account at the practice and session
        objects of the tables (a checkpoint written in parts holds copies of those an
        account refers to); one evicted from its table keeps its copy, as it kept the
        original."""
        tenants, sessions = self.tenants.data, self.sessions.data
        for acc in self.accounts.data.values():
            ten = acc.ten
            if ten is not None:
                twin = tenants.get(acc.tenant)
                if twin is not None and twin.first == ten.first:
                    acc.ten = twin
            ses = acc.last_ses
            if ses is not None and acc.last_sid:
                other = sessions.get(acc.last_sid)
                if other is not None and other.key == ses.key and other.first == ses.first:
                    acc.last_ses = other

    def net(self, ip: str) -> str:
        n = self._net_cache.get(ip)
        if n is None:
            if len(self._net_cache) > 200_000:
                self._net_cache.clear()
            n = self._net_cache[ip] = network_of(ip, self.s.ipv4_prefix, self.s.ipv6_prefix)
        return n

    def account(self, key: tuple[str, str], t: float) -> AccountState:
        acc = self.accounts.data.get(key)
        if acc is None:
            tenant = key[0]
            role = self.index.roles.get(key, "") or "unknown"
            peer = f"{role}/{size_bucket(self.index.doctors.get(tenant, 1))}"
            acc = self.accounts.put(
                key, AccountState(key, t, role, peer, self.index.created_s.get(key))
            )
        return acc

    def tenant(self, tenant: str, t: float) -> TenantState:
        ten = self.tenants.data.get(tenant)
        if ten is None:
            ten = self.tenants.put(tenant, TenantState(t))
        return ten

    def observe(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        """Fill the fingerprint facts (no learning).

        The fast path: the same address, session and client as the account's previous
        event on the same day - nothing new to say, only the network and session carry
        over. ``concurrent`` (another network of the account active within the
        concurrency window) is left to :meth:`concurrent`, computed on demand.
        """
        if acc.last_day != f.day:
            self._new_day(acc, f)
        f.new_account = acc.is_new
        f.established = acc.is_established
        if f.dirty:
            f.net_new_acc = f.net_new_tenant = f.ua_new = False
            f.session_new = f.session_moved = f.session_shared = False
            f.dirty = False
        if f.ip == acc.last_ip and f.sid == acc.last_sid and f.ua == acc.last_ua:
            f.changed = False
            f.net = acc.last_net
            f.ses = acc.last_ses
            return
        self._slow(ev, f, acc)

    def _new_day(self, acc: AccountState, f: Facts) -> None:
        s = self.s
        t = f.t
        if acc.last_day >= 0:
            acc.days += 1
        else:
            acc.days = 1
        acc.last_day = f.day
        ten = f.ten
        if ten.last_day != f.day:
            ten.last_day = f.day
            ten.days += 1
        if acc.created is not None and acc.created <= t:
            acc.is_new = t - acc.created < s.new_account_age
        else:  # no creation date (or one in the future: a context error)
            acc.is_new = acc.first - self.start > s.warmup and t - acc.first < s.new_account_age
        # the first active day does not count as history yet
        acc.is_established = acc.days > s.min_history_days
        acc.last_ip = None  # the first event of a day takes the slow path

    def _slow(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        ip, sid, ua = f.ip, f.sid, f.ua
        s = self.s
        net = self.net(ip) if ip else ""
        f.changed = True
        f.net = net
        ten = f.ten
        established = acc.is_established
        if net:
            f.net_new_acc = established and net not in acc.nets
            f.net_new_tenant = ten.days > s.min_history_days and net not in ten.nets
        f.ua_new = ua is not None and established and ua not in acc.uas
        ses = None
        if sid:
            ses = self.sessions.data.get(sid)
            if ses is None:
                f.session_new = True
            elif ses.key != f.key:
                f.session_moved = f.session_shared = True  # one token, two accounts
            elif net and ses.cur and net != ses.cur:
                # the session changes network: a handover (home broadband, mobile) or a
                # replayed token; back and forth between two networks is a shared token
                if net == ses.prev and f.t - ses.switch_t <= s.concurrency_window:
                    f.session_shared = True
                elif net not in ses.moved and net != ses.net:
                    f.session_moved = True
            elif ua is not None and ses.ua is not None and ua != ses.ua:
                f.session_moved = True
        f.ses = ses
        f.dirty = True

    def concurrent(self, f: Facts) -> str:
        """The other network of an alternation (A -> B -> A within the concurrency window)
        the account is in, or "" - the account is in two places at once."""
        acc = f.acc
        if acc.other_until < f.t:
            return ""
        if acc.other_net != f.net:
            return acc.other_net
        return acc.alt_net if acc.alt_net != f.net else ""

    def learn(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        """Remember where the account was (no new place is trusted from a medium+ alert)."""
        t = f.t
        acc.last = t
        f.ten.last = t
        if not f.changed:
            acc.net_t = t
            ses = acc.last_ses
            if ses is not None:
                ses.last = t
            return
        self._learn_slow(ev, f, acc)

    def _learn_slow(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        t = f.t
        s = self.s
        ten = f.ten
        ip, sid, ua = f.ip, f.sid, f.ua
        net = f.net
        # a place is learnt from requests that were served and raised nothing above low
        trusted = f.alerted < 1 and f.status < 400
        acc_prev_net = acc.last_net
        # the network we leave: remember when it was last used
        if acc.last_net and acc.last_net in acc.nets:
            acc.nets[acc.last_net] = max(acc.nets[acc.last_net], acc.net_t)
        if sid:
            ses = f.ses
            if ses is None:
                ses = self.sessions.put(
                    sid,
                    SessionState(f.key, net, ua, t, f.action == "login", f.net_new_acc or f.ua_new),
                )
            elif net and net != ses.cur:
                if net != ses.net:
                    ses.moved[net] = t
                ses.prev, ses.cur, ses.switch_t = ses.cur, net, t
                if f.net_new_acc:
                    ses.unfamiliar = True
            ses.last = t
            acc.last_ses = ses
        else:
            acc.last_ses = None
        acc.last_ip, acc.last_sid, acc.last_ua, acc.last_net = ip, sid, ua, net
        acc.net_t = t
        if net:
            if trusted or net in acc.nets:
                acc.nets[net] = t
                if len(acc.nets) > 64:
                    prune_times(acc.nets, t - s.account_idle, 48)
            if trusted:
                ten.nets[net] = t
                if len(ten.nets) > 512:
                    prune_times(ten.nets, t - s.account_idle, 400)
            src = self.sources.data.get(net)
            if src is None:
                src = self.sources.put(net, SourceState(t))
            src.last = t
            src.accounts[f.key] = t
            src.tenants[f.tenant] = t
            if len(src.accounts) > 256:
                prune_times(src.accounts, t - s.source_idle, 200)
                prune_times(src.tenants, t - s.source_idle, 200)
        if ua is not None and (trusted or ua in acc.uas):
            acc.uas[ua] = t
            if len(acc.uas) > 32:
                prune_times(acc.uas, t - s.account_idle, 24)
        # two places at once: the account goes back to the network it just left (an
        # A -> B -> A alternation within the window); a single move is a handover
        old = acc_prev_net
        if net and old and net != old:
            if net == acc.prev_net and t - acc.switch_t <= s.concurrency_window:
                # the pair of places the account alternates between
                acc.other_until = t + s.concurrency_window
                acc.other_net = old
                acc.alt_net = net
            acc.prev_net, acc.switch_t = old, t


class Explainer:
    """Explains reads by care relationships; learns relationships after detectors scored."""

    def __init__(self, index: ContextIndex, settings: Settings) -> None:
        self.index = index
        self.s = settings
        self.before = float(settings.appointment_before)
        self.after = float(settings.appointment_after)
        # sliding window of appointments: patient id -> [(start, tenant), ...]
        self.appts: dict[str, list[tuple[float, str]]] = {}
        self._appt_queue: deque[tuple[float, str]] = deque()
        self.loaded_until = -1.0
        #: appointments starting before this were dropped from the window (last advance)
        self.cutoff = -1.0
        self.has_appointments = index.appt_frame is not None and len(index.appt_start) > 0
        self.has_notes = bool(index.note_authors)
        #: relationships are dated in days since the replay began (day0 + 1 is day 1)
        self.day0 = -1
        self.horizon_days = max(1, round(float(settings.relationship_horizon) / 86400))
        #: the caps on relationships per account and per practice, read on every event:
        #: held as native ints (a field of the settings struct is a generic attribute
        #: lookup from compiled code), and used by the daily sweep too
        self.max_per_account: int = settings.max_patients_per_account
        self.max_per_tenant: int = settings.max_patients_per_tenant
        self.panel_days = max(1, round(float(settings.panel_horizon) / 86400))
        self.panel_s = float(settings.panel_horizon)
        #: daily sweeps that had to forget relationships to stay within the memory cap
        self.budget_evictions = 0
        self._neg_day = 0
        self._neg = 0

    # ---- appointments window -----------------------------------------------------------
    def advance(self, t: float) -> None:
        """Load appointments starting before ``t + after + 1 day``; drop those before
        ``t - before``."""
        if not self.has_appointments:
            return
        if t + self.after > self.loaded_until:
            lo = self.loaded_until if self.loaded_until > 0 else t - self.before
            self._load(lo, t + self.after + 86400.0)
        cutoff = self.cutoff = t - self.before
        queue = self._appt_queue
        while queue and queue[0][0] < cutoff:
            _, pid = queue.popleft()
            lst = self.appts.get(pid)
            if lst is not None:
                lst2 = [e for e in lst if e[0] >= cutoff]
                if lst2:
                    self.appts[pid] = lst2
                else:
                    del self.appts[pid]

    def _load(self, lo: float, hi: float) -> None:
        """Add the context's appointments starting in ``[lo, hi)`` to the window."""
        appts, queue = self.appts, self._appt_queue
        for start, tenant, pid in self.index.appointments_between(lo, hi):
            entry = (float(start), tenant)
            lst = appts.get(pid)
            if lst is None:
                appts[pid] = [entry]
            else:
                lst.append(entry)
            queue.append((float(start), pid))
        self.loaded_until = hi

    def _why(self, pid: str, tenant: str, actor: str, t: float, ten: TenantState) -> str | None:
        lst = self.appts.get(pid)
        if lst is not None:
            lo, hi = t - self.before, t + self.after
            for start, tn in lst:
                if tn == tenant and lo <= start <= hi:
                    return "appointment"
        if pid in ten.panel:
            return "panel"
        authors = self.index.note_authors.get(pid)
        if authors is not None:
            # the account's own note explains, however old (it cared for the patient); a
            # colleague's only while recent, like the panel (an old note in the file is
            # not a reason for everyone in the practice to open it); undated notes do
            why: str | None = None
            lo, hi = t - self.panel_s, t + self.after
            for tn, author, created in authors:
                if tn == tenant:
                    if author == actor:
                        return "own note"
                    if created < 0 or lo <= created <= hi:
                        why = "practice note"
            return why
        return None

    def observe(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        """Fill the explanation facts for reads (no learning).

        ``new_ids``: patients whose data the account had not received yet (not read,
        not in a list or export it got); ``unexplained_ids``: those of them no care
        relationship explains; ``uncared_ids``: every patient of the read with no
        care relationship, new or not (protected files are judged on this).
        """
        ids = f.ids
        n = len(ids)
        action = f.action
        f.records = ev.records or 0
        f.schedule = f.resource == _SCHEDULE
        f.single = f.bulk = f.filtered = False
        if f.query:
            f.query = {}
        if f.new_ids:
            f.new_ids = []
        if f.unexplained_ids:
            f.unexplained_ids = []
        if f.uncared_ids:
            f.uncared_ids = []
        if f.explained_by:
            f.explained_by = {}
        if f.status >= 400 or f.schedule:
            return
        if action in _BULK_ACTIONS:
            f.bulk = True
            if ev.query:
                f.query = q = parse_query(ev.query)
                f.filtered = action != "search" and is_filtered(q)
            return
        if n == 0:
            return
        if action in ("read", "print"):
            if n <= _SINGLE_MAX:
                f.single = True
                seen = acc.seen
                for pid in ids:
                    v = seen.get(pid)
                    if v is not None:
                        if v > 0:
                            continue  # a care relationship of the account: explained repeat
                        if v.__class__ is float and action != "print":
                            # only selected by a filtered list or export: that explains
                            # the recall letter printed for it, never a read of the file
                            v = None
                    why = self._why(pid, f.tenant, f.actor, f.t, f.ten)
                    if v is None and acc.recent and pid in acc.recent:
                        v = 0  # read moments ago by a flagged account: not new
                    if v is None:
                        f.new_ids.append(pid)
                    if why is None:
                        f.uncared_ids.append(pid)
                        if v is None:
                            f.unexplained_ids.append(pid)
                    else:
                        f.explained_by[pid] = why
                return
            f.bulk = True

    def learn(self, ev: AccessEvent, f: Facts, acc: AccountState) -> None:
        """Remember relationships: care (``+d``) and mere exposure (``-d``) per account, and
        the practice panel from explained care; ``d`` is the day number since the replay
        began (a small integer: no float per entry).

        An account with a medium-or-higher alert today builds no relationship from its
        unexplained reads (an attack neither trains its baseline nor fills memory)."""
        if self.day0 < 0:
            self.day0 = f.day - 1
        d = f.day - self.day0
        if d != self._neg_day:
            # one int object per day for every exposure entry (``-d`` would allocate one
            # per entry: small ints are shared, negative ones are not)
            self._neg_day, self._neg = d, -d
        trusted = f.alerted < 1
        flagged = not trusted or acc.flag_day == f.day
        if f.single:
            seen = acc.seen
            explained = f.explained_by
            for pid in f.ids:
                v = seen.get(pid)
                if (v is not None and v > 0) or (pid in explained and trusted):
                    seen[pid] = d
                elif not flagged:
                    seen[pid] = self._neg
                elif pid not in acc.recent:
                    # a flagged account: only its last few patients
                    recent = acc.recent
                    recent[pid] = None
                    if len(recent) > _RECENT_MAX:
                        del recent[next(iter(recent))]
            if len(seen) > self.max_per_account:
                prune_times(seen, d - self.horizon_days, self.max_per_account)
            if explained and trusted:
                panel = f.ten.panel
                for pid in explained:
                    panel[pid] = d
                if len(panel) > self.max_per_tenant:
                    prune_times(panel, d - self.panel_days, self.max_per_tenant)
            return
        ids = f.ids
        if not ids or f.status >= 400:
            return
        if f.bulk and f.action != "search":
            if flagged or not f.filtered:
                # being listed explains nothing: an unfiltered list or export (the file
                # base, page after page) leaves its patients new to the account, so a
                # list-then-read extraction cannot launder its reads
                return
            # a selection by criteria (a recall list): its patients may get a letter
            # (a print), marked with a half day (a float) apart from reads
            seen = acc.seen
            sel = -(d + 0.5)
            for pid in ids[:_BULK_MAX]:
                if pid not in seen:
                    seen[pid] = sel
            if len(seen) > self.max_per_account:
                prune_times(seen, d - self.horizon_days, self.max_per_account)
        elif f.action in CARE_ACTIONS and trusted and not f.schedule:
            # care creates a relationship for the account and the practice
            seen, panel = acc.seen, f.ten.panel
            for pid in ids[:_SINGLE_MAX]:
                seen[pid] = d
                panel[pid] = d
        elif f.action in CARE_ACTIONS and f.schedule and trusted:
            # an appointment booked: the practice now cares for the patient
            panel = f.ten.panel
            for pid in ids[:_SINGLE_MAX]:
                panel[pid] = d

    def sweep(
        self, day: int, tenants: BoundedTable[TenantState], accounts: BoundedTable[AccountState]
    ) -> None:
        """Forget relationships older than their horizons (run about once a day)."""
        if self.day0 < 0:
            return
        d = day - self.day0
        s = self.s
        # relationships only go in at the current day: a dict whose oldest day is within
        # the horizon has nothing to forget, and is not scanned
        cut = d - self.panel_days
        for ten in tenants.values():
            if ten.panel:
                ten.panel_floor = prune_floor(ten.panel, ten.panel_floor, cut, self.max_per_tenant)
        cut = d - self.horizon_days
        for acc in accounts.values():
            if acc.seen:
                acc.seen_floor = prune_floor(acc.seen, acc.seen_floor, cut, self.max_per_account)
        # the memory cap: over all accounts (practices), the oldest days go first
        panels = [ten for ten in tenants.values() if ten.panel]
        cut_at = budget_cutoff([ten.panel for ten in panels], s.max_panel_entries)
        if cut_at is not None:
            self.budget_evictions += 1
            for ten in panels:
                ten.panel_floor = prune_floor(
                    ten.panel, ten.panel_floor, cut_at, self.max_per_tenant
                )
        seen = [acc for acc in accounts.values() if acc.seen]
        cut_at = budget_cutoff([acc.seen for acc in seen], s.max_relationships)
        if cut_at is not None:
            self.budget_evictions += 1
            for acc in seen:
                acc.seen_floor = prune_floor(acc.seen, acc.seen_floor, cut_at, self.max_per_account)

    def state(self) -> dict[str, Any]:
        """The explainer's own state. The appointments window is not saved: it is the
        context's appointments from ``cutoff`` to ``loaded_until``, loaded again by
        :meth:`load_state` (a month at the seed case's scale: 0.85 M appointments, a
        quarter of a checkpoint, and copies of strings the live state shares)."""
        return {"loaded_until": self.loaded_until, "cutoff": self.cutoff, "day0": self.day0}

    def load_state(self, st: dict[str, Any]) -> None:
        self.day0 = st["day0"]
        self.appts = {}
        self._appt_queue = deque()
        self.loaded_until = -1.0
        self.cutoff = st["cutoff"]
        until = st["loaded_until"]
        if self.has_appointments and until > 0:
            self._load(self.cutoff, until)
