"""From findings to alerts (INTERFACE §3): severity, suppression, escalation, ids.

* **severity** – the finding's own, else the rule's (fixed, or the band its score
  reached); a finding below every band is dropped;
* **suppression** – per rule and key (the account, narrowed by the finding's key: a
  session, a source), a repeat inside the rule's ``cooldown`` is counted, not
  written, unless its severity is higher than the last one written (the detector's
  evidence got worse: it goes out at once);
* **escalation** – when the rule keeps firing after its cool-down (within two
  cool-downs of the last alert), the repeat alert is written again at no less than
  the last level, and after ``escalate_after`` repeats one level higher (capped by
  ``max_severity``): a condition that continues gets louder; after two quiet
  cool-downs the next alert starts a new episode;
* **ids** – ``al-`` + a 64-bit hash of (rule, account, event time, sequence):
  deterministic, so a replay gives byte-identical alerts;
* **incident** – the campaign correlator's incident of the account, if any.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

import xxhash

from vigile.detect.detectors.base import Finding
from vigile.detect.rules import SEVERITY_RANK
from vigile.events import SEVERITIES, AccessEvent, Alert, event_key

__all__ = ["AlertSink", "SuppressionState"]

_MAX_SAMPLE: Final = 20


class SuppressionState:
    """Per (rule, key): when the last alert went out, at which level, repeats since."""

    __slots__ = ("last", "level", "repeats", "suppressed")

    def __init__(self, t: float = 0.0, level: int = 0) -> None:  # defaults: see TenantState
        self.last = t
        self.level = level
        self.repeats = 0
        self.suppressed = 0


class AlertSink:
    """Turns findings into alerts; remembers what it wrote (bounded by the rules' cool-downs)."""

    def __init__(self) -> None:
        self.keys: dict[Hashable, SuppressionState] = {}
        self.seq = 0
        self.suppressed = 0
        self.written = 0
        self.incident_of: dict[tuple[str, str], str] = {}
        #: account -> rule id -> (event time until which, level up to which) a finding of
        #: that rule is a suppressed repeat
        self.mutes: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}

    def emit(self, finding: Finding, ev: AccessEvent, t: float) -> Alert | None:
        """The alert for a finding, or ``None`` when it is suppressed or below every band."""
        rule = finding.rule
        sev = finding.severity or rule.severity_for(finding.score)
        if sev is None:
            return None
        level = SEVERITY_RANK[sev]
        cap = SEVERITY_RANK[rule.max_severity]
        level = min(level, cap)
        tenant = finding.tenant or ev.tenant
        actor = finding.actor or ev.actor
        skey = (rule.id, tenant, actor, finding.key)
        st = self.keys.get(skey)
        escalated = False
        if st is not None and t - st.last >= 2 * rule.cooldown:
            st = None  # quiet for two cool-downs: a new episode, judged afresh
        if st is not None:
            if t - st.last < rule.cooldown:
                if level <= st.level:
                    st.suppressed += 1
                    self.suppressed += 1
                    return None
            else:
                st.repeats += 1
                if rule.escalate_after and st.repeats >= rule.escalate_after:
                    if max(level, st.level) + 1 <= cap:
                        escalated = True
                        level = max(level, st.level) + 1
                        st.repeats = 0
                    else:
                        level = max(level, st.level)
                else:
                    level = max(level, st.level)
            st.last = t
            st.level = level
        else:
            st = self.keys[skey] = SuppressionState(t, level)
        if finding.key is None:
            # further findings of this rule on this account, up to this level, are repeats
            # until the end of the cool-down
            mutes = self.mutes.get((tenant, actor))
            if mutes is None:
                mutes = self.mutes[(tenant, actor)] = {}
            mutes[rule.id] = (t + rule.cooldown, level)
        finding.resolve()
        assert isinstance(finding.reasons, list) and isinstance(finding.evidence, dict)
        self.seq += 1
        self.written += 1
        ts = ev.ts.isoformat(timespec="milliseconds")
        alert_id = "al-" + xxhash.xxh3_64_hexdigest(
            f"{rule.id}|{tenant}|{actor}|{ts}|{self.seq}".encode()
        )
        evidence: dict[str, Any] = {
            "rule": rule.id,
            "title": rule.title,
            **finding.evidence,
        }
        samples = finding.event_ids[-_MAX_SAMPLE:] if finding.event_ids else []
        if not samples and tenant == ev.tenant and actor == ev.actor:
            samples = [event_key(ev)]
        evidence["event_ids"] = samples
        if rule.window:
            evidence.setdefault("window_s", rule.window)
        if st.repeats or escalated:
            evidence["repeats"] = {"repeat": st.repeats, "escalated": escalated}
        if rule.simulation:
            evidence["simulation"] = True
        evidence["tags"] = {k: list(v) for k, v in rule.tags.items()}
        reasons = list(finding.reasons)
        if escalated:
            reasons.append(
                f"still firing after the {rule.cooldown / 60:.0f}-minute cool-down "
                f"(repeat alert): severity raised to {SEVERITIES[level]}"
            )
        same_account = tenant == ev.tenant and actor == ev.actor
        incident = evidence.get("incident")
        if isinstance(incident, str):
            self.incident_of[(tenant, actor)] = incident
        else:
            incident = self.incident_of.get((tenant, actor))
        if finding.place is not None:
            session, src_ip = finding.place
        else:
            session, src_ip = (ev.session, ev.src_ip) if same_account else (None, None)
        return Alert(
            alert_id=alert_id,
            ts=ts,
            tenant=tenant,
            actor=actor,
            session=session,
            src_ip=src_ip,
            severity=SEVERITIES[level],  # type: ignore[arg-type]
            score=round(float(finding.score), 4),
            detector=rule.id,
            reasons=reasons,
            evidence=evidence,
            incident=incident,
        )

    def sweep(self, now: float, longest_cooldown: float) -> None:
        """Forget suppression keys idle for longer than any cool-down (times three)."""
        cutoff = now - 3 * longest_cooldown - 86400
        for k in [k for k, st in self.keys.items() if st.last < cutoff]:
            del self.keys[k]
        for acc in [
            a for a, m in self.mutes.items() if max((u for u, _ in m.values()), default=0.0) < now
        ]:
            del self.mutes[acc]

    def state(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "seq": self.seq,
            "suppressed": self.suppressed,
            "written": self.written,
            "incident_of": self.incident_of,
            "mutes": self.mutes,
        }

    def load_state(self, st: dict[str, Any]) -> None:
        self.keys = st["keys"]
        self.seq = st["seq"]
        self.suppressed = st["suppressed"]
        self.written = st["written"]
        self.incident_of = st["incident_of"]
        self.mutes = st.get("mutes", {})

    def __len__(self) -> int:
        return len(self.keys)
