"""Rules as data: YAML files validated on load, every problem reported with ``file:line``.

A rule says *what* to look for and *how strongly to react*; a detector (see
:mod:`vigile.detect.detectors`) says *how* to compute it. One rule per file,
``rules/<id>.yaml``, with a ``rules/<id>.md`` beside it (intent, known false
positives, tuning)::

    id: unexplained-burst
    title: A run of reads that no care relationship explains
    detector: unexplained
    mode: burst                     # detector-specific variant (optional)
    severity: low                   # or bands on the score: {medium: 2, high: 4}
    risk: 30                        # points toward the account-risk correlation
    simulation: false               # true: alerts are marked, never enforced
    scope: {exclude_roles: [service]}
    window: 30m
    cooldown: 1h
    escalate_after: 3               # suppressed repeats before one severity level up
    max_severity: high
    params: {min_count: 15, peer_quantile: 0.99, peer_multiplier: 2.0}
    tags: {mitre: [T1530], owasp_api: ["API6:2023"]}

Thresholds live only here: detectors declare their ``params`` as a
:class:`msgspec.Struct` without defaults, so a rule that forgets one is an
error, not a silent fallback to a number buried in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import msgspec
import yaml

from vigile import durations
from vigile.detect.rule import SEVERITY_RANK, Rule, Scope
from vigile.errors import ConfigError
from vigile.events import SEVERITIES

__all__ = [
    "SEVERITY_RANK",
    "Rule",
    "RuleSet",
    "Scope",
    "Seconds",
    "default_rules_dir",
    "load_rules",
    "parse_duration",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_MITRE = re.compile(r"^(T\d{4}(\.\d{3})?|TA\d{4})$")
_OWASP = re.compile(r"^API(10|[1-9]):20(19|23)$")


class Seconds(float):
    """A duration in seconds; in YAML a number of seconds or ``90s``, ``30m``, ``4h``, ``7d``."""


def parse_duration(value: object) -> Seconds:
    """``30m`` → 1800.0; plain numbers are seconds. Raises ``ValueError`` otherwise."""
    return Seconds(durations.parse_duration(value))


def _dec_hook(tp: type, obj: object) -> object:
    if tp is Seconds:
        return parse_duration(obj)
    raise NotImplementedError(tp)


@dataclass
class RuleSet:
    """The rules of a directory, by id, and the engine settings (``settings.yaml``)."""

    rules: dict[str, Rule] = field(default_factory=dict)
    directory: str = ""
    settings: Any = None
    settings_path: str = ""

    def for_detector(self, name: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.detector == name]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def fingerprint(self) -> str:
        """A stable digest of the rule set (a checkpoint remembers which rules made it)."""
        import xxhash

        h = xxhash.xxh3_64()
        for rid in sorted(self.rules):
            r = self.rules[rid]
            h.update(repr((rid, r.detector, r.mode, r.bands, r.severity, r.params)).encode())
        h.update(repr(self.settings).encode())
        return h.hexdigest()


# ---- YAML with line numbers -------------------------------------------------------------
class _LineDict(dict[str, Any]):
    """A mapping that remembers the line of each key (and its own first line)."""

    line: int = 1
    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        value = loader.construct_object(value_node, deep=True)
        skey = str(key)
        if skey in out:
            out.lines.setdefault("__dup__", key_node.start_mark.line + 1)
            out.setdefault("__duplicates__", []).append((skey, key_node.start_mark.line + 1))
        out[skey] = value
        out.lines[skey] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _line(d: Any, key: str | None = None) -> int:
    if isinstance(d, _LineDict):
        if key is not None and key in d.lines:
            return d.lines[key]
        return d.line
    return 1


# ---- loading ----------------------------------------------------------------------------
_TOP_KEYS: Final = frozenset(
    {
        "id",
        "title",
        "detector",
        "mode",
        "severity",
        "risk",
        "simulation",
        "enabled",
        "scope",
        "window",
        "cooldown",
        "escalate_after",
        "max_severity",
        "params",
        "tags",
        "description",
    }
)
_SCOPE_KEYS: Final = frozenset({"roles", "exclude_roles", "tenants", "exclude_tenants"})


def default_rules_dir() -> Path:
    """The shipped rules: ``$VIGILE_RULES``, else the ``rules/`` folder of the source tree."""
    import os

    env = os.environ.get("VIGILE_RULES")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "rules"
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return Path("rules")


def load_rules(
    paths: Sequence[str | Path] | str | Path | None = None,
    *,
    detectors: Mapping[str, Any] | None = None,
    include_disabled: bool = False,
) -> RuleSet:
    """Load and validate rule files (a directory, files, or the shipped rules).

    Every problem of every file is collected, each as ``file:line: message``, and
    raised together as one :class:`ConfigError`.
    """
    if detectors is None:
        from vigile.detect.detectors import registry

        detectors = registry()
    if paths is None:
        paths = [default_rules_dir()]
    elif isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    problems: list[str] = []
    directory = ""
    settings_file: Path | None = None
    for p in paths:
        path = Path(p)
        if path.is_dir():
            directory = directory or str(path)
            for f in sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")):
                if f.stem == SETTINGS_STEM:
                    settings_file = settings_file or f
                else:
                    files.append(f)
        elif path.is_file():
            if path.stem == SETTINGS_STEM:
                settings_file = path
            else:
                files.append(path)
        else:
            problems.append(f"{path}:1: no such rule file or directory")
    if not files and not problems:
        problems.append(f"{paths[0]}:1: no rule files (*.yaml) found")
    ruleset = RuleSet(directory=directory)
    seen: dict[str, str] = {}
    for path in files:
        loaded = _load_file(path, detectors, problems)
        if loaded is None:
            continue
        rule, enabled = loaded
        if rule.id in seen:
            problems.append(
                f"{rule.location}: duplicate rule id {rule.id!r} (also {seen[rule.id]})"
            )
            continue
        seen[rule.id] = rule.location
        if enabled or include_disabled:
            ruleset.rules[rule.id] = rule
    if settings_file is None:
        fallback = default_rules_dir() / f"{SETTINGS_STEM}.yaml"
        if fallback.is_file():
            settings_file = fallback
    if settings_file is None:
        problems.append(f"{directory or paths[0]}:1: no {SETTINGS_STEM}.yaml (engine settings)")
    else:
        ruleset.settings = _load_settings(settings_file, problems)
        ruleset.settings_path = str(settings_file)
    if problems:
        raise ConfigError(problems)
    return ruleset


SETTINGS_STEM: Final = "settings"


def _load_settings(path: Path, problems: list[str]) -> Any:
    """Engine settings: every field of :class:`vigile.detect.state.Settings`, by line."""
    from vigile.detect.state import Settings

    where = str(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(f"{where}:{mark.line + 1 if mark else 1}: cannot read settings ({exc})")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{where}:1: settings must be a mapping")
        return None
    return _convert_struct(Settings, doc, where, problems, doc, "settings")


def _load_file(
    path: Path, detectors: Mapping[str, Any], problems: list[str]
) -> tuple[Rule, bool] | None:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{where}:1: cannot read ({exc})")
        return None
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.append(f"{where}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{where}:1: a rule file holds one mapping (id, title, detector, ...)")
        return None
    before = len(problems)

    def bad(key: str | None, message: str, node: Any = doc) -> None:
        problems.append(f"{where}:{_line(node, key)}: {message}")

    for skey, line in doc.get("__duplicates__", []):
        problems.append(f"{where}:{line}: key {skey!r} given twice")
    for key in doc:
        if key not in _TOP_KEYS and key != "__duplicates__":
            bad(key, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")

    def text_field(key: str, required: bool = True) -> str:
        value = doc.get(key)
        if value is None:
            if required:
                bad(None, f"missing required key {key!r}")
            return ""
        if not isinstance(value, str) or not value.strip():
            bad(key, f"{key} must be a non-empty string, got {value!r}")
            return ""
        return value.strip()

    rid = text_field("id")
    if rid and not _ID.match(rid):
        bad("id", f"id {rid!r} must be lowercase letters, digits and dashes")
    if rid and path.stem != rid:
        bad("id", f"id {rid!r} does not match the file name {path.name!r}")
    title = text_field("title")
    detector = text_field("detector")
    mode = doc.get("mode")
    det_cls = detectors.get(detector) if detector else None
    if detector and det_cls is None:
        bad("detector", f"unknown detector {detector!r} (known: {', '.join(sorted(detectors))})")
    if mode is not None:
        modes = getattr(det_cls, "modes", None)
        if not isinstance(mode, str):
            bad("mode", f"mode must be a string, got {mode!r}")
        elif det_cls is not None and modes is not None and mode not in modes:
            bad("mode", f"detector {detector!r} has no mode {mode!r} (known: {', '.join(modes)})")
    elif det_cls is not None and getattr(det_cls, "modes", None):
        bad(None, f"detector {detector!r} needs a mode (one of: {', '.join(det_cls.modes)})")

    # severity: fixed or bands
    severity = "low"
    bands: tuple[tuple[float, str], ...] = ()
    raw_sev = doc.get("severity")
    if raw_sev is None:
        bad(None, "missing required key 'severity'")
    elif isinstance(raw_sev, str):
        if raw_sev not in SEVERITY_RANK:
            bad("severity", f"severity must be one of {', '.join(SEVERITIES)}, got {raw_sev!r}")
        else:
            severity = raw_sev
    elif isinstance(raw_sev, dict):
        pairs = []
        for sev, threshold in raw_sev.items():
            if sev == "__duplicates__":
                continue
            if sev not in SEVERITY_RANK:
                bad(sev, f"severity band {sev!r} is not one of {', '.join(SEVERITIES)}", raw_sev)
            elif isinstance(threshold, bool) or not isinstance(threshold, int | float):
                bad(sev, f"severity band {sev} needs a number (the minimum score)", raw_sev)
            else:
                pairs.append((float(threshold), sev))
        pairs.sort(key=lambda p: SEVERITY_RANK[p[1]], reverse=True)
        for (t_hi, s_hi), (t_lo, s_lo) in pairwise(pairs):
            if t_hi < t_lo:
                bad(s_hi, f"band {s_hi} ({t_hi:g}) is below band {s_lo} ({t_lo:g})", raw_sev)
        if not pairs:
            bad("severity", "severity bands are empty")
        else:
            bands = tuple(pairs)
            severity = pairs[-1][1]
    else:
        bad("severity", "severity is a level (low...critical) or a mapping of bands")

    risk = doc.get("risk", 0)
    if isinstance(risk, bool) or not isinstance(risk, int | float) or risk < 0:
        bad("risk", f"risk must be a number >= 0, got {risk!r}")
        risk = 0
    simulation = doc.get("simulation")
    if simulation is None:
        bad(None, "missing required key 'simulation' (true: log only, false: enforce)")
    elif not isinstance(simulation, bool):
        bad("simulation", f"simulation must be true or false, got {simulation!r}")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        bad("enabled", f"enabled must be true or false, got {enabled!r}")

    scope = Scope()
    raw_scope = doc.get("scope")
    if raw_scope is not None:
        if not isinstance(raw_scope, dict):
            bad("scope", "scope must be a mapping (roles, exclude_roles, tenants, exclude_tenants)")
        else:
            parts: dict[str, frozenset[str]] = {}
            for k, v in raw_scope.items():
                if k == "__duplicates__":
                    continue
                if k not in _SCOPE_KEYS:
                    bad(
                        k,
                        f"unknown scope key {k!r} (known: {', '.join(sorted(_SCOPE_KEYS))})",
                        raw_scope,
                    )
                elif not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    bad(k, f"scope.{k} must be a list of strings", raw_scope)
                else:
                    parts[k] = frozenset(v)
            scope = Scope(**parts)

    def duration(key: str, required: bool) -> float | None:
        if key not in doc:
            if required:
                bad(None, f"missing required key {key!r}")
            return None
        try:
            return float(parse_duration(doc[key]))
        except ValueError as exc:
            bad(key, f"{key}: {exc}")
            return None

    window = duration(
        "window", bool(det_cls is not None and getattr(det_cls, "needs_window", False))
    )
    cooldown = duration("cooldown", True) or 0.0
    escalate_after = doc.get("escalate_after", 0)
    if (
        isinstance(escalate_after, bool)
        or not isinstance(escalate_after, int)
        or escalate_after < 0
    ):
        bad("escalate_after", f"escalate_after must be an integer >= 0, got {escalate_after!r}")
        escalate_after = 0
    max_severity = doc.get("max_severity", "critical")
    if max_severity not in SEVERITY_RANK:
        bad("max_severity", f"max_severity must be one of {', '.join(SEVERITIES)}")
        max_severity = "critical"

    tags: dict[str, tuple[str, ...]] = {}
    raw_tags = doc.get("tags")
    if raw_tags is None:
        bad(None, "missing required key 'tags' (mitre: [...], owasp_api: [...])")
    elif not isinstance(raw_tags, dict):
        bad("tags", "tags must be a mapping: {mitre: [T1530], owasp_api: ['API6:2023']}")
    else:
        for k, v in raw_tags.items():
            if k == "__duplicates__":
                continue
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                bad(k, f"tags.{k} must be a list of strings", raw_tags)
                continue
            pattern = {"mitre": _MITRE, "owasp_api": _OWASP}.get(k)
            for tag in v:
                if pattern is not None and not pattern.match(tag):
                    bad(k, f"tags.{k}: {tag!r} is not a valid {k} identifier", raw_tags)
            tags[k] = tuple(v)
        if "mitre" not in tags:
            bad("tags", "tags need at least a mitre list")

    params: Any = None
    raw_params = doc.get("params", {})
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        bad("params", "params must be a mapping")
    elif det_cls is not None:
        params = _convert_params(det_cls, raw_params, where, problems, doc)
    description = doc.get("description", "")
    doc_path = path.with_suffix(".md")
    if len(problems) > before:
        return None
    rule = Rule(
        id=rid,
        title=title,
        detector=detector,
        severity=severity,
        bands=bands,
        risk=float(risk),
        simulation=bool(simulation),
        scope=scope,
        window=window,
        cooldown=cooldown,
        escalate_after=int(escalate_after),
        max_severity=str(max_severity),
        params=params,
        tags=tags,
        mode=mode if isinstance(mode, str) else None,
        description=str(description or ""),
        path=where,
        line=_line(doc),
        doc=str(doc_path) if doc_path.exists() else None,
    )
    return rule, bool(enabled)


def _convert_params(
    det_cls: Any, raw: dict[str, Any], where: str, problems: list[str], doc: Any
) -> Any:
    """Convert ``params`` field by field so that every bad field is reported."""
    by_mode = getattr(det_cls, "mode_params", None)
    mode = doc.get("mode")
    if by_mode and isinstance(mode, str) and mode in by_mode:
        struct = by_mode[mode]
    else:
        struct = getattr(det_cls, "Params", None)
    if struct is None:
        if raw:
            problems.append(f"{where}:{_line(doc, 'params')}: detector takes no params")
        return None
    return _convert_struct(struct, raw, where, problems, doc, "params")


def _convert_struct(
    struct: Any, raw: dict[str, Any], where: str, problems: list[str], doc: Any, label: str
) -> Any:
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    values: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        if key == "__duplicates__":
            continue
        line = _line(raw, key)
        f = fields.get(key)
        if f is None:
            problems.append(
                f"{where}:{line}: {label}: unknown parameter {key!r} "
                f"(known: {', '.join(sorted(fields))})"
            )
            ok = False
            continue
        try:
            values[key] = msgspec.convert(value, f.type, dec_hook=_dec_hook, strict=False)
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            msg = str(exc).replace(" - at `$`", "")
            problems.append(f"{where}:{line}: {label}.{key}: {msg}")
            ok = False
    for name, f in fields.items():
        if name not in raw and f.required:
            problems.append(f"{where}:{_line(doc, label)}: {label}: missing parameter {name!r}")
            ok = False
    if not ok:
        return None
    try:
        params = msgspec.convert(values, struct, dec_hook=_dec_hook, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        problems.append(f"{where}:{_line(doc, label)}: {label}: {exc}")
        return None
    check = getattr(params, "check", None)
    if check is not None:
        for message in check():
            problems.append(f"{where}:{_line(doc, label)}: {label}: {message}")
    return params
