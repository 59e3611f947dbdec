"""The detection loop: events in time order → facts → detectors score → alerts → learn.

For every event, in this order (River's score-then-learn):

1. the event's time becomes the engine's clock (never the wall clock); every
   ``sweep_every`` seconds of event time, idle state is evicted;
2. the :class:`~vigile.detect.facts.Tracker` and :class:`~vigile.detect.facts.Explainer`
   fill the shared facts (new network? session moved? which patients are new to the
   account and unexplained by care?) without learning anything;
3. each detector subscribed to the event's action *scores* it;
4. findings go through the :class:`~vigile.detect.alerts.AlertSink` (severity,
   suppression, escalation); every alert written is offered to the correlators
   (account risk, campaign), whose findings go through the sink in turn;
5. only then does everything *learn* from the event: detectors, explainer, tracker.
   An event that raised a medium-or-higher alert does not teach the tracker a new
   "known" network nor the practice a new panel patient, and its day does not enter
   the baselines: an attack never trains its own baseline.

Same input, same rules, same context → byte-identical alerts, whether the events
come from a file replay, a store, or a live stream fed one event at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from msgspec.structs import astuple

from vigile.detect.alerts import AlertSink
from vigile.detect.context_index import ContextIndex
from vigile.detect.detectors.base import DetectorBase, Env, Finding, PeerStats, registry
from vigile.detect.facts import (
    CARE_ACTIONS,
    AccountState,
    EventClock,
    Explainer,
    Facts,
    Tracker,
)
from vigile.detect.reader import ReplayReader
from vigile.detect.rules import SEVERITY_RANK, RuleSet, load_rules
from vigile.detect.state import CHECKPOINT_VERSION, Checkpoint, load_checkpoint, save_checkpoint
from vigile.events import AccessEvent, Alert, ScheduleLine, event_key

__all__ = ["Engine", "EngineStats"]


def _overrides(det: Any, method: str) -> bool:
    """True when a detector defines ``method`` itself (not the base class's no-op)."""
    impl = getattr(type(det), method, None)
    return impl is not None and impl is not getattr(DetectorBase, method, None)


_MEDIUM: Final = SEVERITY_RANK["medium"]
#: where each field is in ``msgspec.structs.astuple(event)``
_FIELDS: Final = AccessEvent.__struct_fields__
_TENANT: Final = _FIELDS.index("tenant")
_ACTOR: Final = _FIELDS.index("actor")
_ACTION: Final = _FIELDS.index("action")
_RESOURCE: Final = _FIELDS.index("resource")
_STATUS: Final = _FIELDS.index("status")
_PATIENT_IDS: Final = _FIELDS.index("patient_ids")
_SRC_IP: Final = _FIELDS.index("src_ip")
_SESSION: Final = _FIELDS.index("session")
_USER_AGENT: Final = _FIELDS.index("user_agent")
#: the detectors that score a kind of event, and those of them that learn from it (typed
#: as the compiled base class: compiled, their methods are called natively)
_Targets = tuple[tuple[DetectorBase, ...], tuple[DetectorBase, ...]]
_DAY: Final = 86400.0


@dataclass
class EngineStats:
    """Counts of what the engine did."""

    events: int = 0
    alerts: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    by_detector: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped_before_watermark: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "alerts": self.alerts,
            "by_severity": dict(
                sorted(self.by_severity.items(), key=lambda kv: SEVERITY_RANK[kv[0]])
            ),
            "by_detector": dict(sorted(self.by_detector.items())),
            "by_rule": {k: dict(v) for k, v in sorted(self.by_rule.items())},
            "skipped_before_watermark": self.skipped_before_watermark,
        }


class Engine:
    """Streaming detection over access events (see the module docstring)."""

    def __init__(self, rules: RuleSet | None = None, index: ContextIndex | None = None) -> None:
        self.rules = rules if rules is not None else load_rules()
        self.index = index if index is not None else ContextIndex()
        s = self.rules.settings
        self.settings = s
        self.tracker = Tracker(self.index, s)
        self.explainer = Explainer(self.index, s)
        self.peers = PeerStats(s.peer_reservoir)
        self.sink = AlertSink()
        self.env = Env(
            self.index, s, self.peers, self.explainer.has_appointments, self.tracker, self.sink
        )
        self.detectors: list[DetectorBase] = []
        for name, cls in registry().items():
            mine = self.rules.for_detector(name)
            if mine:
                self.detectors.append(cls(mine, self.env))
        self.correlators = [d for d in self.detectors if hasattr(d, "observe")]
        #: by action: for any event, and for the practice's own schedule lists
        self._dispatch: dict[str, _Targets] = {}
        self._dispatch_schedule: dict[str, _Targets] = {}
        self.n_events = 0
        self._dispatch_quiet: dict[str, _Targets] = {}
        self.clock = EventClock()
        #: the local day of the event being processed
        self.day = 0
        self.facts = Facts()
        self.stats = EngineStats()
        self.next_sweep = -1.0
        self.next_daily = -1.0
        self.watermark = float("-inf")
        self.watermark_keys: set[str] = set()
        self._last_t = float("-inf")
        self._last_events: list[AccessEvent | ScheduleLine] = []
        self._longest_cooldown = max((r.cooldown for r in self.rules.rules.values()), default=0.0)

    # ---- dispatch ----------------------------------------------------------------------
    def _targets(self, action: str, schedule: bool) -> _Targets:
        """The detectors that score this kind of event, and those of them that learn."""
        table = self._dispatch_schedule if schedule else self._dispatch
        found = table.get(action)
        if found is None:
            scorers = tuple(
                d
                for d in self.detectors
                if (d.actions is None or action in d.actions)
                and (not schedule or getattr(d, "schedule", False))
            )
            learners = tuple(d for d in scorers if _overrides(d, "learn"))
            found = table[action] = (scorers, learners)
        return found

    def _quiet(self, action: str) -> _Targets:
        """The detectors that look at quiet events (those with ``counts_quiet``)."""
        found = self._dispatch_quiet.get(action)
        if found is None:
            scorers = tuple(
                d for d in self._targets(action, False)[0] if getattr(d, "counts_quiet", False)
            )
            learners = tuple(d for d in scorers if _overrides(d, "learn"))
            found = self._dispatch_quiet[action] = (scorers, learners)
        return found

    # ---- the loop ------------------------------------------------------------------------
    def run(self, events: Iterable[AccessEvent]) -> Iterator[Alert]:
        """Alerts as the events are processed (a generator: live and replay alike).

        From the replay reader, each event comes with its time already counted
        (:meth:`ReplayReader.timed`: the same seconds, day and hour as
        :meth:`process` computes from the event's ``datetime``)."""
        timed = events.timed() if isinstance(events, ReplayReader) else None
        if timed is not None:
            stream, now = timed
            for ev in stream:
                # self._process(...), not a bound method kept in a local: compiled, that
                # is a native call instead of a Python one
                alerts = self._process(ev, now.fields, now.t, now.day, now.hour)
                if alerts:
                    yield from alerts
            return
        for ev in events:
            alerts = self.process(ev)
            if alerts:
                yield from alerts

    def process(self, ev: AccessEvent) -> list[Alert] | None:
        """Score one event, emit its alerts, learn from it."""
        clock = self.clock
        t = clock.seconds(ev.ts)
        return self._process(ev, astuple(ev), t, clock.day, clock.hour)

    def _process(
        self,
        line: AccessEvent | ScheduleLine,
        fields: tuple[Any, ...],
        t: float,
        day: int,
        hour: int,
    ) -> list[Alert] | None:
        """:meth:`process` for an event of ``fields`` (``msgspec.structs.astuple(line)``,
        read once: every attribute read of a msgspec struct from compiled code is a
        generic lookup) at ``t`` seconds, on local ``day`` and ``hour``. The event may
        be a schedule poll with its ids still JSON (:class:`ScheduleLine`, from the
        replay reader): made whole only if it goes past the schedule's fast path."""
        f = self.facts
        self.day = day
        if t <= self.watermark and (t < self.watermark or event_key(line) in self.watermark_keys):
            self.stats.skipped_before_watermark += 1
            return None
        if t != self._last_t:
            self._last_t = t
            self._last_events.clear()
        self._last_events.append(line)
        self.n_events += 1
        if t >= self.next_sweep:
            self._sweep(t)
        tracker = self.tracker
        tenant: str = fields[_TENANT]
        actor: str = fields[_ACTOR]
        ip: str | None = fields[_SRC_IP]
        sid: str | None = fields[_SESSION]
        ua: str | None = fields[_USER_AGENT]
        action: str = fields[_ACTION]
        key = (tenant, actor)
        acc = tracker.accounts.data.get(key)
        if acc is None:
            if tracker.start < 0:
                tracker.start = t
            acc = tracker.account(key, t)
        elif (
            action == "list"
            and fields[_RESOURCE] == "appointment"
            and acc.last_day == day
            and ip == acc.last_ip
            and sid == acc.last_sid
            and ua == acc.last_ua
        ):
            # the practice's own schedule, polled from the same place as before: no
            # detector looks at it, only the entities' clocks move
            acc.last = t
            acc.net_t = t
            if acc.ten is not None:
                acc.ten.last = t
            ses = acc.last_ses
            if ses is not None:
                ses.last = t
            return None
        ev: AccessEvent
        if isinstance(line, AccessEvent):
            ev = line
        else:  # a schedule poll that the detectors will see: its ids made strings
            ev = line.whole()
            fields = astuple(ev)
        f.t = t
        f.day = day
        f.hour = hour
        f.key = acc.key  # the account's own tuple: every table keyed by it finds it by identity
        f.acc = acc
        f.tenant = tenant
        f.actor = actor
        f.action = action
        f.resource = fields[_RESOURCE]
        f.status = fields[_STATUS]
        f.ids = fields[_PATIENT_IDS]
        f.ip = ip
        f.sid = sid
        f.ua = ua
        ten = acc.ten
        if ten is None:
            ten = acc.ten = tracker.tenant(tenant, t)
        f.ten = ten
        f.alerted = -1
        f.mutes_known = False
        tracker.observe(ev, f, acc)  # the fingerprint facts (a native call, fast path first)
        explainer = self.explainer
        explainer.observe(ev, f, acc)
        if (
            not f.changed
            and acc.other_until < t
            and ((f.single and not f.new_ids and not f.uncared_ids) or action in CARE_ACTIONS)
        ):
            # a quiet event: the same place as before, and a patient the account already
            # cares for (a note after the file, a prescription) or a care action: only the
            # detectors that count every request look at it
            scorers, learners = self._quiet(action)
        else:
            scorers, learners = self._targets(action, f.schedule)
        out: list[Alert] | None = None
        for det in scorers:
            found = det.score(ev, f)
            if found:
                out = self._emit(found, ev, f, out)
        for det in learners:
            det.learn(ev, f)
        explainer.learn(ev, f, acc)
        acc.last = t
        ten.last = t
        if f.changed:
            tracker.learn(ev, f, acc)
        else:
            acc.net_t = t
            ses = acc.last_ses
            if ses is not None:
                ses.last = t
        return out

    def _emit(
        self, findings: list[Finding], ev: AccessEvent, f: Facts, out: list[Alert] | None
    ) -> list[Alert] | None:
        queue = list(findings)
        depth = 0
        while queue and depth < 1000:
            depth += 1
            finding = queue.pop(0)
            alert = self.sink.emit(finding, ev, f.t)
            f.mutes_known = False  # the sink may have muted this account
            if alert is None:
                for corr in self.correlators:
                    more = corr.observe(finding, None, ev, f)
                    if more:
                        queue.extend(more)
                continue
            if out is None:
                out = []
            out.append(alert)
            level = SEVERITY_RANK[alert.severity]
            st = self.stats
            st.alerts += 1
            st.by_severity[alert.severity] = st.by_severity.get(alert.severity, 0) + 1
            st.by_detector[alert.detector] = st.by_detector.get(alert.detector, 0) + 1
            per = st.by_rule.setdefault(alert.detector, {})
            per[alert.severity] = per.get(alert.severity, 0) + 1
            if alert.tenant == ev.tenant and alert.actor == ev.actor:
                f.alerted = max(f.alerted, level)
                if level >= _MEDIUM:
                    f.acc.flag_day = f.day
            else:
                other = self.tracker.accounts.data.get((alert.tenant, alert.actor))
                if other is not None and level >= _MEDIUM:
                    other.flag_day = f.day
            for corr in self.correlators:
                more = corr.observe(finding, alert, ev, f)
                if more:
                    queue.extend(more)
        return out

    def _sweep(self, t: float) -> None:
        s = self.settings
        if self.next_sweep < 0:
            self.next_sweep = t
            self.next_daily = t + _DAY
        self.explainer.advance(t)
        if t >= self.next_sweep:
            for table in self.tracker.tables():
                table.sweep(t)
            for det in self.detectors:
                det.sweep(t)
            if t >= self.next_daily:
                self.explainer.sweep(self.day, self.tracker.tenants, self.tracker.accounts)
                self.sink.sweep(t, self._longest_cooldown)
                self.next_daily = t + _DAY
            self.next_sweep = t + min(float(s.sweep_every), 3600.0)

    # ---- bounded state -----------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The engine's counts (events, alerts by severity and rule) as plain data."""
        self.stats.events = self.n_events
        return self.stats.as_dict()

    def state_sizes(self) -> dict[str, int]:
        """Entries held by every table and detector (what the memory cap bounds)."""
        sizes = {table.name: len(table) for table in self.tracker.tables()}
        sizes["relationships"] = sum(len(a.seen) for a in self.tracker.accounts.values())
        sizes["panels"] = sum(len(x.panel) for x in self.tracker.tenants.values())
        sizes["appointments_window"] = len(self.explainer.appts)
        sizes["budget_evictions"] = self.explainer.budget_evictions
        sizes["suppression"] = len(self.sink)
        for det in self.detectors:
            sizes[f"detector:{det.name}"] = det.size()
        return sizes

    # ---- checkpoints ---------------------------------------------------------------------
    def snapshot(self) -> Checkpoint:
        """Everything needed to resume (detectors, entities, baselines, suppression)."""
        state = {
            "tracker": {
                "accounts": self.tracker.accounts,
                "sessions": self.tracker.sessions,
                "sources": self.tracker.sources,
                "tenants": self.tracker.tenants,
                "start": self.tracker.start,
            },
            "explainer": self.explainer.state(),
            "peers": self.peers.state(),
            "sink": self.sink.state(),
            "detectors": {d.name: d.state() for d in self.detectors},
            "next_sweep": self.next_sweep,
            "next_daily": self.next_daily,
            "stats": self.stats,
            "n_events": self.n_events,
        }
        keys = {event_key(e) for e in self._last_events}
        self.stats.events = self.n_events
        if self._last_t == self.watermark:
            keys |= self.watermark_keys
        return Checkpoint(
            version=CHECKPOINT_VERSION,
            rules=self.rules.fingerprint(),
            watermark=max(self._last_t, self.watermark),
            last_keys=sorted(keys),
            state=state,
        )

    def save(self, path: str) -> None:
        save_checkpoint(path, self.snapshot())

    def restore(self, cp: Checkpoint) -> bool:
        """Load a snapshot; returns False when the rules differ from those that made it."""
        st = cp.state
        tr = st["tracker"]
        for name in ("accounts", "sessions", "sources", "tenants"):
            table = tr[name]
            mine = getattr(self.tracker, name)
            mine.data = table.data
            mine.evicted = table.evicted
        self.tracker.start = tr["start"]
        self.tracker.relink()
        self.explainer.load_state(st["explainer"])
        self.peers.load_state(st["peers"])
        self.sink.load_state(st["sink"])
        for det in self.detectors:
            if det.name in st["detectors"]:
                det.load_state(st["detectors"][det.name])
        self.next_sweep = st["next_sweep"]
        self.next_daily = st["next_daily"]
        self.n_events = st.get("n_events", 0)
        self.watermark = cp.watermark
        self.watermark_keys = set(cp.last_keys)
        return cp.rules == self.rules.fingerprint()

    def load(self, path: str) -> bool:
        return self.restore(load_checkpoint(path))

    def incidents(self) -> dict[str, dict[str, Any]]:
        """Incidents formed so far (id → formation time and members)."""
        for det in self.detectors:
            found = getattr(det, "incidents", None)
            if isinstance(found, dict):
                return found
        return {}

    def account(self, tenant: str, actor: str) -> AccountState | None:
        return self.tracker.accounts.get((tenant, actor))
