"""Policies as data: which alert leads to which decision (CrowdSec's profiles).

Detection only emits alerts; a *policy* file says what the protected application
is told to do about them. One YAML file, validated on load: every problem is
reported with its ``file:line`` in one :class:`~vigile.errors.ConfigError`::

    version: 1
    description: what this policy is for
    simulation: false            # true: every decision is made and logged, none enforced
    rules:                       # first match wins (``continue: true`` goes on)
      - id: block-critical
        match: {min_severity: critical}
        decision: block          # allow | throttle | block
        scope: session           # account | session | ip | tenant
        duration: 24h
      - id: throttle-medium
        match: {severity: [medium], detectors: ["bulk-*"], incident: false}
        decision: throttle
        rate: 20/min             # requests allowed per scope value while it lasts
        scope: account
        duration: 30m
        escalation:              # repeats on the same account within `within`
          within: 6h
          steps:
            - {after: 3, decision: block, duration: 2h}
    allowlist:                   # never decided against by a policy, until expiry
      - {scope: ip, value: 10.20.0.0/16, until: 2026-12-31, reason: vendor support VPN}

A rule matches an alert on its severity (``severity`` list or ``min_severity``),
its ``detectors`` (the alert's ``detector``, shell-style patterns), ``incident``
(grouped into a campaign or not) and ``tags`` (any of the rule's MITRE / OWASP
tags, as the alert's evidence carries them). A rule or a whole policy in
``simulation`` decides and logs without enforcing; so does every alert of a
detection rule that runs in simulation mode.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Final, Literal, cast

import yaml

from vigile import durations
from vigile.errors import ConfigError
from vigile.events import SEVERITIES, Alert

__all__ = [
    "DEFAULT_POLICY",
    "SCOPES",
    "AllowEntry",
    "Escalation",
    "Plan",
    "Policy",
    "PolicyRule",
    "Rate",
    "load_policy",
    "parse_duration",
    "parse_rate",
    "parse_until",
]

DecisionKind = Literal["allow", "throttle", "block"]
ScopeKind = Literal["account", "session", "ip", "tenant"]
DECISIONS: Final[tuple[str, ...]] = ("allow", "throttle", "block")
SCOPES: Final[tuple[str, ...]] = ("account", "session", "ip", "tenant")
SEVERITY_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(SEVERITIES)}
#: the policy shipped with vigile (``policies/default.yaml``)
DEFAULT_POLICY: Final = Path(__file__).resolve().parents[3] / "policies" / "default.yaml"

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_UNIT: Final[dict[str, float]] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


def parse_duration(value: object) -> float:
    """``30m`` → 1800.0 seconds; a plain number is seconds. ``ValueError`` otherwise."""
    return durations.parse_duration(value, positive=True)


@dataclass(frozen=True)
class Rate:
    """A throttle: ``count`` requests per ``per`` seconds (a token bucket of ``count``)."""

    count: int
    per: float

    @property
    def per_second(self) -> float:
        return self.count / self.per

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.per, f"{self.per:g}s")
        return f"{self.count}/{unit}"


def parse_rate(value: object) -> Rate:
    """``20/min`` → Rate(20, 60). ``ValueError`` when it is not a rate."""
    if isinstance(value, str):
        m = _RATE.match(value)
        if m and int(m.group(1)) > 0:
            return Rate(int(m.group(1)), _RATE_UNIT[m.group(2)])
    raise ValueError(f"not a rate: {value!r} (write e.g. 20/min, 2/s, 300/h)")


def parse_until(value: object) -> float:
    """An expiry: a date (end of that day, UTC) or an RFC 3339 time → epoch seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=UTC).timestamp()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return parse_until(date.fromisoformat(text))
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise ValueError(f"an expiry time needs its UTC offset: {value!r}")
            return moment.timestamp()
    raise ValueError(f"not a date or time: {value!r} (write 2026-12-31 or 2026-12-31T18:00:00Z)")


@dataclass(frozen=True)
class Escalation:
    """From the ``after``-th matching alert on one account within the window: this instead."""

    after: int
    decision: DecisionKind
    scope: ScopeKind
    duration: float
    rate: Rate | None
    line: int
    except_places: bool = False


@dataclass(frozen=True)
class PolicyRule:
    """One validated policy rule (see the module docstring)."""

    id: str
    line: int
    decision: DecisionKind
    scope: ScopeKind
    duration: float
    rate: Rate | None = None
    description: str = ""
    severities: frozenset[str] = frozenset()
    detectors: tuple[str, ...] = ()
    incident: bool | None = None
    tags: frozenset[str] = frozenset()
    simulation: bool = False
    within: float = 86400.0
    escalation: tuple[Escalation, ...] = ()
    cont: bool = False
    except_places: bool = False

    def matches(self, alert: Alert) -> bool:
        """True when the alert is one this rule is about."""
        if self.severities and alert.severity not in self.severities:
            return False
        if self.detectors and not any(
            fnmatch.fnmatchcase(alert.detector, p) for p in self.detectors
        ):
            return False
        if self.incident is not None and (alert.incident is not None) != self.incident:
            return False
        return not self.tags or bool(self.tags & _alert_tags(alert))

    def step(self, repeats: int) -> Plan:
        """The decision for the ``repeats``-th matching alert (1 = the first)."""
        chosen: Escalation | None = None
        for esc in self.escalation:
            if repeats >= esc.after:
                chosen = esc
        if chosen is None:
            return Plan(
                self, self.decision, self.scope, self.duration, self.rate, 0, self.except_places
            )
        return Plan(
            self,
            chosen.decision,
            chosen.scope,
            chosen.duration,
            chosen.rate,
            chosen.after,
            chosen.except_places,
        )


@dataclass(frozen=True)
class Plan:
    """What a policy rule decided for one alert, before the allowlist and the state."""

    rule: PolicyRule
    decision: DecisionKind
    scope: ScopeKind
    duration: float
    rate: Rate | None
    escalated_after: int
    except_places: bool = False

    @property
    def origin(self) -> str:
        return f"policy:{self.rule.id}"


@dataclass(frozen=True)
class AllowEntry:
    """An allowlist entry: no policy decision against this scope value until ``until``."""

    scope: ScopeKind
    value: str
    until: float
    reason: str
    line: int = 0
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def covers(self, scope: str, value: str | None, now: float) -> bool:
        """True when the entry is in force at ``now`` and names this scope value."""
        if value is None or scope != self.scope or now > self.until:
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(value) in self.network
            except ValueError:
                return False
        return value == self.value


@dataclass
class Policy:
    """A loaded policy: its rules in order, its allowlist, global simulation."""

    file: str
    rules: tuple[PolicyRule, ...]
    allowlist: tuple[AllowEntry, ...] = ()
    simulation: bool = False
    description: str = ""
    version: int = 1
    #: a network is one of an account's known places after this many days served there
    known_place_days: int = 2
    by_id: dict[str, PolicyRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {r.id: r for r in self.rules}

    def match(self, alert: Alert) -> list[PolicyRule]:
        """The rules that apply to an alert, in order (first match, unless ``continue``)."""
        out: list[PolicyRule] = []
        for rule in self.rules:
            if rule.matches(alert):
                out.append(rule)
                if not rule.cont:
                    break
        return out

    def allowed(self, scope: str, value: str | None, now: float) -> AllowEntry | None:
        """The allowlist entry covering this scope value at ``now``, if any."""
        for entry in self.allowlist:
            if entry.covers(scope, value, now):
                return entry
        return None


def _alert_tags(alert: Alert) -> frozenset[str]:
    tags = alert.evidence.get("tags") if isinstance(alert.evidence, dict) else None
    out: set[str] = set()
    if isinstance(tags, dict):
        for values in tags.values():
            if isinstance(values, list):
                out.update(str(v) for v in values)
    return frozenset(out)


# ---- loading ---------------------------------------------------------------------------
_TOP_KEYS: Final = (
    "version",
    "description",
    "simulation",
    "known_places",
    "rules",
    "allowlist",
)
_RULE_KEYS: Final = (
    "id",
    "description",
    "match",
    "decision",
    "scope",
    "duration",
    "rate",
    "simulation",
    "escalation",
    "continue",
    "except_known_places",
)
_MATCH_KEYS: Final = ("severity", "min_severity", "detectors", "incident", "tags")
_STEP_KEYS: Final = ("after", "decision", "scope", "duration", "rate", "except_known_places")
_ALLOW_KEYS: Final = ("scope", "value", "until", "reason")


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file (default: the shipped ``policies/default.yaml``).

    Raises :class:`ConfigError` listing every problem as ``file:line: message``.
    """
    target = Path(path) if path is not None else DEFAULT_POLICY
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{target}: cannot read the policy ({exc})"]) from None
    return parse_policy(text, str(target))


def parse_policy(text: str, file: str = "<policy>") -> Policy:
    """Validate a policy given as YAML text; ``file`` names it in messages."""
    return _Loader(file).load(text)


class _Loader:
    """Walks the YAML node tree and collects every problem with its line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def problem(self, node: yaml.Node | int, message: str) -> None:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        self.problems.append(f"{self.file}:{line}: {message}")

    @staticmethod
    def line(node: yaml.Node) -> int:
        return int(node.start_mark.line) + 1

    def value(self, node: yaml.Node) -> Any:
        return yaml.safe_load(yaml.serialize(node))

    def mapping(
        self, node: yaml.Node, where: str, allowed: Iterable[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where}: expected a mapping, got {_kind(node)}")
            return None
        allowed = tuple(allowed)
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, val in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if not isinstance(name, str) or name not in allowed:
                self.problem(
                    key, f"{where}: unknown key {name!r} (expected one of {', '.join(allowed)})"
                )
                continue
            if name in out:
                self.problem(key, f"{where}: {name} is given twice")
                continue
            out[name] = (key, val)
        return out

    def load(self, text: str) -> Policy:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            raise ConfigError([f"{self.file}:{line}: not valid YAML: {exc}"]) from None
        if root is None:
            raise ConfigError([f"{self.file}:1: the policy is empty"])
        top = self.mapping(root, "policy", _TOP_KEYS)
        if top is None:
            raise ConfigError(self.problems)
        version = 1
        if "version" in top:
            v = self.value(top["version"][1])
            if v != 1:
                self.problem(top["version"][1], f"version: only version 1 exists, got {v!r}")
        else:
            self.problem(root, "version: missing (write `version: 1`)")
        description = self.text(top.get("description"), "description") or ""
        simulation = self.flag(top.get("simulation"), "simulation")
        place_days = 2
        if "known_places" in top:
            kp = self.mapping(top["known_places"][1], "known_places", ("min_days",))
            if kp is not None and "min_days" in kp:
                value = self.value(kp["min_days"][1])
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    self.problem(kp["min_days"][1], "known_places.min_days: a whole number ≥ 1")
                else:
                    place_days = value
        rules: list[PolicyRule] = []
        if "rules" not in top:
            self.problem(root, "rules: missing (a policy needs at least one rule)")
        else:
            node = top["rules"][1]
            if not isinstance(node, yaml.SequenceNode):
                self.problem(node, f"rules: expected a list, got {_kind(node)}")
            else:
                seen: dict[str, int] = {}
                for n, item in enumerate(node.value, 1):
                    rid = _peek_id(item)
                    if rid is not None and rid in seen:
                        self.problem(
                            item, f"rules[{n}]: id {rid!r} already used at line {seen[rid]}"
                        )
                        continue
                    if rid is not None:
                        seen[rid] = self.line(item)
                    rule = self.rule(item, n)
                    if rule is not None:
                        rules.append(rule)
        allow: list[AllowEntry] = []
        if "allowlist" in top:
            node = top["allowlist"][1]
            if isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~"):
                pass
            elif not isinstance(node, yaml.SequenceNode):
                self.problem(node, f"allowlist: expected a list, got {_kind(node)}")
            else:
                for n, item in enumerate(node.value, 1):
                    entry = self.allow_entry(item, f"allowlist[{n}]")
                    if entry is not None:
                        allow.append(entry)
        if self.problems:
            raise ConfigError(sorted(self.problems, key=_line_of))
        return Policy(
            file=self.file,
            rules=tuple(rules),
            allowlist=tuple(allow),
            simulation=simulation,
            description=description,
            version=version,
            known_place_days=place_days,
        )

    # -- pieces ----------------------------------------------------------------------------
    def text(self, entry: tuple[yaml.Node, yaml.Node] | None, where: str) -> str | None:
        if entry is None:
            return None
        node = entry[1]
        if not isinstance(node, yaml.ScalarNode) or not isinstance(self.value(node), str):
            self.problem(node, f"{where}: expected text")
            return None
        return str(self.value(node))

    def flag(self, entry: tuple[yaml.Node, yaml.Node] | None, where: str) -> bool:
        if entry is None:
            return False
        value = self.value(entry[1])
        if not isinstance(value, bool):
            self.problem(entry[1], f"{where}: expected true or false, got {value!r}")
            return False
        return value

    def choice(
        self,
        entry: tuple[yaml.Node, yaml.Node] | None,
        where: str,
        options: tuple[str, ...],
        default: str | None,
        parent: yaml.Node,
    ) -> str | None:
        if entry is None:
            if default is None:
                self.problem(parent, f"{where}: missing (one of {', '.join(options)})")
            return default
        value = self.value(entry[1])
        if value not in options:
            self.problem(entry[1], f"{where}: {value!r} is not one of {', '.join(options)}")
            return None
        return str(value)

    def duration(
        self, entry: tuple[yaml.Node, yaml.Node] | None, where: str, parent: yaml.Node
    ) -> float | None:
        if entry is None:
            self.problem(parent, f"{where}: missing (e.g. 30m, 4h, 7d)")
            return None
        try:
            return parse_duration(self.value(entry[1]))
        except ValueError as exc:
            self.problem(entry[1], f"{where}: {exc}")
            return None

    def rate(self, entry: tuple[yaml.Node, yaml.Node] | None, where: str) -> Rate | None:
        if entry is None:
            return None
        try:
            return parse_rate(self.value(entry[1]))
        except ValueError as exc:
            self.problem(entry[1], f"{where}: {exc}")
            return None

    def rule(self, node: yaml.Node, n: int) -> PolicyRule | None:
        where = f"rules[{n}]"
        keys = self.mapping(node, where, _RULE_KEYS)
        if keys is None:
            return None
        before = len(self.problems)
        rid = self.text(keys.get("id"), f"{where}.id")
        if "id" not in keys:
            self.problem(node, f"{where}: id missing")
        elif rid is not None and not _ID.match(rid):
            self.problem(
                keys["id"][1], f"{where}.id: {rid!r} must be lower-case letters, digits, -"
            )
        where = f"rule {rid}" if rid else where
        decision = self.choice(keys.get("decision"), f"{where}: decision", DECISIONS, None, node)
        scope = self.choice(keys.get("scope"), f"{where}: scope", SCOPES, "account", node)
        duration: float | None = 0.0
        if decision in ("throttle", "block") or "duration" in keys:
            duration = self.duration(keys.get("duration"), f"{where}: duration", node)
        rate = self.rate(keys.get("rate"), f"{where}: rate")
        if decision == "throttle" and rate is None and "rate" not in keys:
            self.problem(node, f"{where}: a throttle needs a rate (e.g. rate: 20/min)")
        if decision != "throttle" and "rate" in keys:
            self.problem(keys["rate"][0], f"{where}: rate only applies to decision: throttle")
        severities: frozenset[str] = frozenset()
        detectors: tuple[str, ...] = ()
        tags: frozenset[str] = frozenset()
        incident: bool | None = None
        if "match" not in keys:
            self.problem(node, f"{where}: match missing (write `match: {{}}` to match every alert)")
        else:
            match = self.mapping(keys["match"][1], f"{where}: match", _MATCH_KEYS)
            if match is not None:
                severities = self.severities(match, where)
                detectors = tuple(self.names(match.get("detectors"), f"{where}: match.detectors"))
                tags = frozenset(self.names(match.get("tags"), f"{where}: match.tags"))
                if "incident" in match:
                    incident = self.flag(match["incident"], f"{where}: match.incident")
        simulation = self.flag(keys.get("simulation"), f"{where}: simulation")
        cont = self.flag(keys.get("continue"), f"{where}: continue")
        spare = self.flag(keys.get("except_known_places"), f"{where}: except_known_places")
        if spare and scope != "account":
            self.problem(
                keys["except_known_places"][0],
                f"{where}: except_known_places only applies to scope: account",
            )
        within: float = 86400.0
        steps: tuple[Escalation, ...] = ()
        if "escalation" in keys:
            within, steps = self.escalation(keys["escalation"][1], where, decision, scope)
        if len(self.problems) > before or rid is None or decision is None or scope is None:
            return None
        return PolicyRule(
            id=rid,
            line=self.line(node),
            decision=cast(DecisionKind, decision),
            scope=cast(ScopeKind, scope),
            duration=duration or 0.0,
            rate=rate,
            description=self.text(keys.get("description"), f"{where}: description") or "",
            severities=severities,
            detectors=detectors,
            incident=incident,
            tags=tags,
            simulation=simulation,
            within=within,
            escalation=steps,
            cont=cont,
            except_places=spare,
        )

    def severities(
        self, match: dict[str, tuple[yaml.Node, yaml.Node]], where: str
    ) -> frozenset[str]:
        out: set[str] = set()
        if "severity" in match and "min_severity" in match:
            self.problem(
                match["min_severity"][0], f"{where}: give severity or min_severity, not both"
            )
        if "severity" in match:
            for name in self.names(match["severity"], f"{where}: match.severity"):
                if name not in SEVERITY_RANK:
                    self.problem(
                        match["severity"][1],
                        f"{where}: match.severity: {name!r} is not one of {', '.join(SEVERITIES)}",
                    )
                out.add(name)
        if "min_severity" in match:
            name = self.value(match["min_severity"][1])
            if name not in SEVERITY_RANK:
                self.problem(
                    match["min_severity"][1],
                    f"{where}: match.min_severity: {name!r} is not one of {', '.join(SEVERITIES)}",
                )
            else:
                out.update(s for s in SEVERITIES if SEVERITY_RANK[s] >= SEVERITY_RANK[name])
        return frozenset(out)

    def names(self, entry: tuple[yaml.Node, yaml.Node] | None, where: str) -> list[str]:
        if entry is None:
            return []
        value = self.value(entry[1])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(entry[1], f"{where}: expected a list of names")
            return []
        return [str(v) for v in value]

    def escalation(
        self, node: yaml.Node, where: str, decision: str | None, scope: str | None
    ) -> tuple[float, tuple[Escalation, ...]]:
        keys = self.mapping(node, f"{where}: escalation", ("within", "steps"))
        if keys is None:
            return 86400.0, ()
        within = 86400.0
        if "within" in keys:
            within = self.duration(keys["within"], f"{where}: escalation.within", node) or within
        steps: list[Escalation] = []
        if "steps" not in keys:
            self.problem(node, f"{where}: escalation.steps missing")
            return within, ()
        seq = keys["steps"][1]
        if not isinstance(seq, yaml.SequenceNode) or not seq.value:
            self.problem(seq, f"{where}: escalation.steps: expected a non-empty list")
            return within, ()
        last_after = 1
        for n, item in enumerate(seq.value, 1):
            sw = f"{where}: escalation.steps[{n}]"
            sk = self.mapping(item, sw, _STEP_KEYS)
            if sk is None:
                continue
            after = self.value(sk["after"][1]) if "after" in sk else None
            if not isinstance(after, int) or isinstance(after, bool) or after <= last_after:
                self.problem(
                    sk["after"][1] if "after" in sk else item,
                    f"{sw}: after must be a whole number above {last_after} "
                    "(steps in increasing order; 1 is the rule itself)",
                )
                continue
            last_after = after
            dec = self.choice(sk.get("decision"), f"{sw}.decision", DECISIONS, decision, item)
            sc = self.choice(sk.get("scope"), f"{sw}.scope", SCOPES, scope, item)
            dur = self.duration(sk.get("duration"), f"{sw}.duration", item)
            rate = self.rate(sk.get("rate"), f"{sw}.rate")
            if dec == "throttle" and rate is None:
                self.problem(item, f"{sw}: a throttle step needs a rate")
            spare = self.flag(sk.get("except_known_places"), f"{sw}.except_known_places")
            if spare and sc != "account":
                self.problem(item, f"{sw}: except_known_places only applies to scope: account")
            if dec is None or sc is None or dur is None:
                continue
            steps.append(
                Escalation(
                    after=after,
                    decision=cast(DecisionKind, dec),
                    scope=cast(ScopeKind, sc),
                    duration=dur,
                    rate=rate,
                    line=self.line(item),
                    except_places=spare,
                )
            )
        return within, tuple(steps)

    def allow_entry(self, node: yaml.Node, where: str) -> AllowEntry | None:
        keys = self.mapping(node, where, _ALLOW_KEYS)
        if keys is None:
            return None
        before = len(self.problems)
        scope = self.choice(keys.get("scope"), f"{where}.scope", SCOPES, None, node)
        value = self.value(keys["value"][1]) if "value" in keys else None
        if not isinstance(value, str) or not value:
            self.problem(keys["value"][1] if "value" in keys else node, f"{where}.value: missing")
            value = None
        until = None
        if "until" not in keys:
            self.problem(node, f"{where}.until: missing (an allowlist entry must expire)")
        else:
            try:
                until = parse_until(self.value(keys["until"][1]))
            except ValueError as exc:
                self.problem(keys["until"][1], f"{where}.until: {exc}")
        reason = self.text(keys.get("reason"), f"{where}.reason")
        if not reason:
            self.problem(node, f"{where}.reason: missing (say why, for the audit)")
        network = None
        if scope == "ip" and value is not None:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                self.problem(keys["value"][1], f"{where}.value: {value!r} is not an IP or network")
        if scope == "account" and value is not None and "/" not in value:
            self.problem(keys["value"][1], f"{where}.value: an account is written tenant/actor")
        if len(self.problems) > before or scope is None or value is None or until is None:
            return None
        return AllowEntry(
            scope=cast(ScopeKind, scope),
            value=value,
            until=until,
            reason=reason or "",
            line=self.line(node),
            network=network,
        )


def _peek_id(node: yaml.Node) -> str | None:
    """The ``id`` of a rule node, before it is validated."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value == "id"
                and isinstance(value, yaml.ScalarNode)
            ):
                return str(value.value)
    return None


def _line_of(problem: str) -> int:
    """The line number in a ``file:line: message`` problem (for sorting)."""
    parts = problem.split(":")
    for part in parts[1:3]:
        if part.isdigit():
            return int(part)
    return 0


def _kind(node: yaml.Node | None) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node is None:
        return "nothing"
    return f"{node.value!r}"
