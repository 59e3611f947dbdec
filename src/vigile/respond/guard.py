"""The response stage in one object: alerts in, decisions out, ``decide`` in microseconds.

A :class:`Guard` ties together

* a detection engine, seen through the narrow :class:`AlertSource` protocol
  (``process(event) -> alerts``): the guard feeds it every access event and
  never looks inside;
* a :class:`~vigile.respond.policy.Policy` turning each alert into a decision
  (with escalation on repeats, simulation mode and allowlists);
* the :class:`~vigile.respond.state.StateStore` where decisions, alerts and manual
  actions are kept;
* the in-memory :class:`~vigile.respond.cache.DecisionCache` that ``decide``
  reads, kept in step with the state (and optionally with Redis, so that several
  servers see one decision).

In-process use (the middleware does exactly this)::

    guard = Guard(open_state("sqlite:///var/vigile.db"), load_policy(), detector=engine)
    guard.start()
    verdict = guard.decide(tenant="cab-0042", actor="dr.martin.0042", session="s-1",
                           src_ip="82.64.12.7")
    if not verdict.allowed: ...          # 403, or 429 with verdict.retry_after
    guard.process(event)                 # after serving: detect, decide, remember

A decision is made when an alert arrives, never on the request path: ``decide``
only reads memory.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import msgspec

from vigile.events import AccessEvent, Alert
from vigile.respond.cache import ALLOW, DecisionCache, SessionMap, Verdict, account_key
from vigile.respond.clock import Clock, wall_clock
from vigile.respond.places import KnownPlaces
from vigile.respond.policy import AllowEntry, Plan, Policy, PolicyRule, load_policy
from vigile.respond.shared import RedisShared
from vigile.respond.state import AllowRecord, DecisionRecord, StateStore, iso, new_id

__all__ = ["AlertOutcome", "AlertSource", "Guard", "GuardStats"]

log = logging.getLogger("vigile.respond")
_REASON_MAX: Final = 300


class AlertSource(Protocol):
    """What the guard needs from detection: one event in, its alerts out."""

    def process(self, ev: AccessEvent) -> Sequence[Alert] | None: ...


@dataclass
class GuardStats:
    """Counters read by the metrics endpoint (plain integers: free on the hot path)."""

    events: int = 0
    alerts: int = 0
    alerts_by_severity: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    simulated: int = 0
    allowlisted: int = 0
    covered: int = 0
    verdicts: dict[str, int] = field(
        default_factory=lambda: {"allow": 0, "throttle": 0, "block": 0}
    )
    would_have: int = 0


@dataclass
class AlertOutcome:
    """What the policy made of one alert (stored with it, shown by the API)."""

    alert: Alert
    rules: list[str] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    covered_by: list[str] = field(default_factory=list)
    allowlisted: str | None = None
    stored: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "decisions": [d.id for d in self.decisions],
            "covered_by": self.covered_by,
            "allowlisted": self.allowlisted,
        }


Listener = Callable[[str, Any], None]


class Guard:
    """Detection → policy → decisions → ``decide`` (see the module docstring)."""

    def __init__(
        self,
        state: StateStore | None,
        policy: Policy | None = None,
        *,
        detector: AlertSource | None = None,
        clock: Clock = wall_clock,
        shared: RedisShared | None = None,
        max_sessions: int = 200_000,
    ) -> None:
        self.state = state
        self.policy = policy if policy is not None else load_policy()
        self.detector = detector
        self.clock = clock
        self.shared = shared
        self.cache = DecisionCache()
        self.sessions = SessionMap(max_sessions)
        self.places = KnownPlaces()
        self.stats = GuardStats()
        self.listeners: list[Listener] = []
        self._repeats: dict[tuple[str, str, str], deque[float]] = {}
        self._allow: list[AllowRecord] = []
        self._state_cursor = 0
        self._lock = threading.RLock()
        self._started = False

    # ---- life cycle ------------------------------------------------------------------------
    def start(self) -> Guard:
        """Load the decisions in force, the allowlist and recent repeats; follow Redis."""
        if self._started:
            return self
        now = self.clock()
        if self.state is not None:
            self._state_cursor = self.state.last_seq()
            self.cache.load(self.state.active_decisions(now))
            self._allow = self.state.allowlist(now)
            self._restore_repeats(now)
        if self.shared is not None:
            self.shared.follow(self._apply_remote, self._resync_remote, self.clock)
        self._started = True
        return self

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()

    def _restore_repeats(self, now: float) -> None:
        assert self.state is not None
        horizon = max((r.within for r in self.policy.rules), default=0.0)
        if horizon <= 0:
            return
        for item in reversed(self.state.alerts(since=now - horizon, limit=100_000)):
            for rule_id in item.get("outcome", {}).get("rules", []):
                key = (rule_id, item["tenant"], item["actor"])
                self._repeats.setdefault(key, deque()).append(_alert_time(item["ts"], now))

    def _apply_remote(self, rec: DecisionRecord) -> None:
        self.cache.apply(rec)
        self._notify("decision", rec)

    def _resync_remote(self, records: list[DecisionRecord]) -> None:
        for rec in records:
            self.cache.apply(rec)

    def sync(self) -> int:
        """Apply decisions other replicas wrote to the shared state; returns how many."""
        if self.state is None:
            return 0
        changes = self.state.changes(self._state_cursor)
        for rec in changes:
            self._state_cursor = max(self._state_cursor, rec.seq)
            self.cache.apply(rec)
        if changes:
            self._allow = self.state.allowlist(self.clock())
        return len(changes)

    # ---- the request path ----------------------------------------------------------------
    def decide(
        self,
        tenant: str | None = None,
        actor: str | None = None,
        session: str | None = None,
        src_ip: str | None = None,
        method: str | None = None,
        uri: str | None = None,
    ) -> Verdict:
        """Allow (200), throttle (429) or block (403) this request.

        Any of the four identities may be missing; an unknown account is looked up
        from the session (learnt from the events). ``method`` and ``uri`` are
        accepted for enforcers that pass them and reserved for per-route policies.
        """
        resolved = False
        if session and not actor:
            found = self.sessions.account(session)
            if found is not None:
                tenant, actor = found
                resolved = True
        now = self.clock()
        verdict = self.cache.verdict(now, tenant, actor, session, src_ip, self._spare)
        if verdict is not ALLOW and verdict.decision_id is not None:
            verdict = self._exempt(verdict, now, tenant, actor, session, src_ip)
            if resolved and not verdict.allowed:
                verdict = msgspec.structs.replace(verdict, tenant=tenant, actor=actor)
        st = self.stats
        st.verdicts[verdict.decision] += 1
        if verdict.simulated is not None and verdict.status < 400:
            st.would_have += 1
        return verdict

    def _exempt(
        self,
        verdict: Verdict,
        now: float,
        tenant: str | None,
        actor: str | None,
        session: str | None,
        src_ip: str | None,
    ) -> Verdict:
        """A policy-made decision never applies to an allowlisted identity (manual ones do)."""
        if not verdict.allowed and (self.policy.allowlist or self._allow):
            rec = self._record(verdict.decision_id)
            if rec is not None and rec.origin.startswith("policy:"):
                keys = _keys(tenant, actor, session, src_ip)
                if self._allowlisted(keys, now) is not None:
                    return ALLOW
        return verdict

    def _spare(self, rec: DecisionRecord, src_ip: str | None) -> bool:
        """An ``except_places`` decision leaves the account's known places alone."""
        if rec.tenant is None or rec.actor is None:
            return False
        return self.places.known(rec.tenant, rec.actor, src_ip, self.policy.known_place_days)

    def _record(self, decision_id: str | None) -> DecisionRecord | None:
        return None if decision_id is None else self.cache.get(decision_id)

    # ---- events and alerts ---------------------------------------------------------------
    def observe(self, ev: AccessEvent, *, trusted: bool = True) -> None:
        """Learn from a served request: its session's account, and (``trusted``) its place."""
        if ev.status >= 400:
            return
        if ev.session:
            self.sessions.remember(ev.session, ev.tenant, ev.actor)
        if trusted and ev.src_ip:
            self.places.see(ev.tenant, ev.actor, ev.src_ip, ev.ts.toordinal())

    def process(self, ev: AccessEvent) -> list[AlertOutcome]:
        """One served request: run detection, act on its alerts, remember what is safe to.

        A request's address becomes one of the account's known places only when
        nothing was said against it: no alert above ``low`` on this request and no
        decision in force on the account (an attacker's network never becomes known).
        """
        self.stats.events += 1
        outcomes: list[AlertOutcome] = []
        if self.detector is not None:
            alerts = self.detector.process(ev)
            if alerts:
                outcomes = [self.handle_alert(a) for a in alerts]
        suspicious = any(
            o.alert.severity != "low" and o.alert.tenant == ev.tenant and o.alert.actor == ev.actor
            for o in outcomes
        ) or self._under_decision(ev)
        self.observe(ev, trusted=not suspicious)
        return outcomes

    def _under_decision(self, ev: AccessEvent) -> bool:
        return self.cache.concerns(ev.tenant, ev.actor, ev.session, self.clock())

    def handle_alert(self, alert: Alert) -> AlertOutcome:
        """Apply the policy to one alert: decisions made, stored, published."""
        with self._lock:
            return self._handle_alert(alert)

    def _handle_alert(self, alert: Alert) -> AlertOutcome:
        now = self.clock()
        st = self.stats
        st.alerts += 1
        st.alerts_by_severity[alert.severity] = st.alerts_by_severity.get(alert.severity, 0) + 1
        outcome = AlertOutcome(alert)
        simulated_alert = bool(
            isinstance(alert.evidence, dict) and alert.evidence.get("simulation") is True
        )
        keys = _keys(alert.tenant, alert.actor, alert.session, alert.src_ip)
        for rule in self.policy.match(alert):
            outcome.rules.append(rule.id)
            plan = rule.step(self._repeat(rule, alert, now))
            if plan.decision == "allow":
                continue
            allowed = self._allowlisted(keys, now)
            if allowed is not None:
                outcome.allowlisted = allowed
                st.allowlisted += 1
                continue
            simulated = self.policy.simulation or rule.simulation or simulated_alert
            rec = self._decision(plan, alert, now, simulated)
            existing = self.cache.strongest(rec.scope, rec.value, now, simulated)
            if existing is not None and _covers(existing, rec):
                outcome.covered_by.append(existing.id)
                st.covered += 1
                continue
            self._commit(rec, now)
            outcome.decisions.append(rec)
        if self.state is not None:
            outcome.stored = self.state.add_alert(
                alert, t=_alert_time(alert.ts, now), received=now, outcome=outcome.as_dict()
            )
        self._notify("alert", outcome)
        return outcome

    def _repeat(self, rule: PolicyRule, alert: Alert, now: float) -> int:
        """How many times this rule matched this account within its window (this one included)."""
        times = self._repeats.setdefault((rule.id, alert.tenant, alert.actor), deque())
        while times and times[0] < now - rule.within:
            times.popleft()
        times.append(now)
        if len(self._repeats) > 100_000:  # bounded: forget accounts with no recent repeat
            for key in [k for k, v in self._repeats.items() if not v or v[-1] < now - 86400 * 7]:
                del self._repeats[key]
        return len(times)

    def _decision(self, plan: Plan, alert: Alert, now: float, simulated: bool) -> DecisionRecord:
        scope: str = plan.scope
        value: str | None = {
            "account": account_key(alert.tenant, alert.actor),
            "session": alert.session,
            "ip": alert.src_ip,
            "tenant": alert.tenant,
        }[scope]
        note = ""
        spare = plan.except_places
        if value is None:  # the alert names no session / address: the account, spared at home
            note = f" ({scope} unknown: the account, except its known places)"
            scope, value = "account", account_key(alert.tenant, alert.actor)
            spare = True
        first = alert.reasons[0] if alert.reasons else ""
        step = f", repeat {plan.escalated_after}+" if plan.escalated_after else ""
        reason = f"{alert.severity} {alert.detector}{step}: {first}{note}"
        if len(reason) > _REASON_MAX:
            reason = reason[: _REASON_MAX - 1] + "…"
        return DecisionRecord(
            id=new_id("d"),
            decision=plan.decision,
            scope=scope,  # type: ignore[arg-type]
            value=value,
            created=now,
            until=now + plan.duration,
            reason=reason,
            origin=plan.origin,
            alert_id=alert.alert_id,
            simulated=simulated,
            tenant=alert.tenant,
            actor=alert.actor,
            rate_count=plan.rate.count if plan.rate else None,
            rate_per=plan.rate.per if plan.rate else None,
            except_places=spare,
        )

    def _commit(self, rec: DecisionRecord, now: float) -> DecisionRecord:
        if self.state is not None:
            self.state.add_decision(rec)
            self._state_cursor = max(self._state_cursor, rec.seq)
        self.cache.apply(rec)
        if self.shared is not None:
            self.shared.publish(rec, now)
        kind = f"{rec.decision}{' (simulated)' if rec.simulated else ''}"
        self.stats.decisions[kind] = self.stats.decisions.get(kind, 0) + 1
        if rec.simulated:
            self.stats.simulated += 1
        # no patient data in vigile's own logs: ids, scopes and accounts only
        log.info(
            "decision %s: %s %s %s until %s (%s, alert %s)",
            rec.id,
            kind,
            rec.scope,
            rec.value,
            iso(rec.until),
            rec.origin,
            rec.alert_id,
        )
        self._notify("decision", rec)
        return rec

    def _allowlisted(self, keys: list[tuple[str, str]], now: float) -> str | None:
        for scope, value in keys:
            entry = self.policy.allowed(scope, value, now)
            if entry is not None:
                return f"{entry.reason} ({self.policy.file}:{entry.line})"
            for rec in self._allow:
                if _entry(rec).covers(scope, value, now):
                    return f"{rec.reason} (allowlist {rec.id} by {rec.created_by})"
        return None

    def _notify(self, kind: str, payload: Any) -> None:
        for listener in self.listeners:
            try:
                listener(kind, payload)
            except Exception:  # a listener never breaks the decision path
                log.exception("decision listener failed")

    # ---- manual actions ------------------------------------------------------------------
    def block(
        self,
        scope: str,
        value: str,
        *,
        reason: str,
        by: str,
        duration: float | None = None,
        decision: str = "block",
        rate: tuple[int, float] | None = None,
        simulated: bool = False,
        except_places: bool = False,
    ) -> DecisionRecord:
        """A manual decision (block, or throttle with ``rate=(count, per_seconds)``)."""
        now = self.clock()
        tenant = actor = None
        if scope == "account":
            tenant, _, actor = value.partition("/")
        elif scope == "tenant":
            tenant = value
        rec = DecisionRecord(
            id=new_id("d"),
            decision=decision,  # type: ignore[arg-type]
            scope=scope,  # type: ignore[arg-type]
            value=value,
            created=now,
            until=None if duration is None else now + duration,
            reason=reason,
            origin=f"manual:{by}",
            simulated=simulated,
            tenant=tenant,
            actor=actor or None,
            rate_count=rate[0] if rate else None,
            rate_per=rate[1] if rate else None,
            except_places=except_places and scope == "account",
        )
        with self._lock:
            self._commit(rec, now)
            if self.state is not None:
                self.state.audit(
                    by,
                    decision,
                    {
                        "decision": rec.id,
                        "scope": scope,
                        "value": value,
                        "reason": reason,
                        "duration": duration,
                    },
                    now,
                )
        return rec

    def unblock(
        self,
        *,
        reason: str,
        by: str,
        decision_id: str | None = None,
        scope: str | None = None,
        value: str | None = None,
        allow_for: float | None = None,
    ) -> list[DecisionRecord]:
        """Lift one decision, or every decision in force on a scope value.

        With ``allow_for``, the scope value is also allowlisted for that long, so
        that the same detection does not block it again at once (a confirmed false
        positive).
        """
        now = self.clock()
        targets: list[DecisionRecord] = []
        for rec in self.cache.active(now):
            if decision_id is not None:
                if rec.id == decision_id:
                    targets.append(rec)
            elif rec.scope == scope and rec.value == value:
                targets.append(rec)
        if decision_id is not None and not targets and self.state is not None:
            found = self.state.decision(decision_id)
            if found is not None and found.revoked is None:
                targets.append(found)
        lifted: list[DecisionRecord] = []
        with self._lock:
            for rec in targets:
                done = (
                    self.state.revoke_decision(rec.id, at=now, by=f"manual:{by}", reason=reason)
                    if self.state is not None
                    else _revoked(rec, now, by, reason)
                )
                if done is None:
                    continue
                self._state_cursor = max(self._state_cursor, done.seq)
                self.cache.apply(done)
                if self.shared is not None:
                    self.shared.publish(done, now)
                lifted.append(done)
                log.info("decision %s lifted by %s", done.id, by)
                self._notify("decision", done)
            if allow_for and (scope or lifted):
                a_scope = scope or lifted[0].scope
                a_value = value or lifted[0].value
                self.allow(a_scope, a_value, until=now + allow_for, reason=reason, by=by)
            if self.state is not None:
                self.state.audit(
                    by,
                    "unblock",
                    {
                        "decisions": [d.id for d in lifted],
                        "scope": scope,
                        "value": value,
                        "reason": reason,
                        "allow_for": allow_for,
                    },
                    now,
                )
        return lifted

    def allow(self, scope: str, value: str, *, until: float, reason: str, by: str) -> AllowRecord:
        """Add a run-time allowlist entry (expiring at ``until``)."""
        now = self.clock()
        rec = AllowRecord(
            id=new_id("a"),
            scope=scope,  # type: ignore[arg-type]
            value=value,
            until=until,
            reason=reason,
            created=now,
            created_by=by,
        )
        if self.state is not None:
            self.state.add_allow(rec)
            self.state.audit(
                by,
                "allow",
                {"allow": rec.id, "scope": scope, "value": value, "until": until, "reason": reason},
                now,
            )
        self._allow = [a for a in self._allow if a.until > now] + [rec]
        return rec

    def disallow(self, allow_id: str, *, by: str) -> bool:
        """Withdraw a run-time allowlist entry; ``False`` if there is no such entry in force."""
        now = self.clock()
        if self.state is None:
            before = len(self._allow)
            self._allow = [a for a in self._allow if a.id != allow_id]
            return len(self._allow) < before
        if not self.state.revoke_allow(allow_id, now):
            return False
        self._allow = self.state.allowlist(now)
        self.state.audit(by, "disallow", {"allow": allow_id}, now)
        return True

    def allowlist(self) -> list[dict[str, Any]]:
        """The policy file's and the run-time allowlist entries in force."""
        now = self.clock()
        out: list[dict[str, Any]] = [
            {
                "id": f"policy:{e.line}",
                "scope": e.scope,
                "value": e.value,
                "until": iso(e.until),
                "reason": e.reason,
                "source": f"{self.policy.file}:{e.line}",
            }
            for e in self.policy.allowlist
            if e.until > now
        ]
        out.extend(
            {
                "id": a.id,
                "scope": a.scope,
                "value": a.value,
                "until": iso(a.until),
                "reason": a.reason,
                "source": f"added by {a.created_by}",
            }
            for a in self._allow
            if a.until > now and a.revoked is None
        )
        return out


def _entry(rec: AllowRecord) -> AllowEntry:
    """A run-time allowlist record as a policy allowlist entry (networks parsed)."""
    network = None
    if rec.scope == "ip":
        try:
            network = ipaddress.ip_network(rec.value, strict=False)
        except ValueError:
            network = None
    return AllowEntry(
        scope=rec.scope, value=rec.value, until=rec.until, reason=rec.reason, network=network
    )


def _keys(
    tenant: str | None, actor: str | None, session: str | None, src_ip: str | None
) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if tenant and actor:
        keys.append(("account", account_key(tenant, actor)))
    if session:
        keys.append(("session", session))
    if src_ip:
        keys.append(("ip", src_ip))
    if tenant:
        keys.append(("tenant", tenant))
    return keys


_RANK: Final[dict[str, int]] = {"allow": 0, "throttle": 1, "block": 2}


def _covers(existing: DecisionRecord, new: DecisionRecord) -> bool:
    """True when a decision in force already does at least what the new one would."""
    if _RANK[existing.decision] < _RANK[new.decision]:
        return False
    if existing.until is None:
        return True
    return new.until is not None and existing.until >= new.until


def _revoked(rec: DecisionRecord, now: float, by: str, reason: str) -> DecisionRecord:
    import msgspec

    return msgspec.structs.replace(
        rec, revoked=now, revoked_by=f"manual:{by}", revoke_reason=reason
    )


def _alert_time(ts: str, default: float) -> float:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default
