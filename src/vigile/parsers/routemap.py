"""Route maps: how a web-server access log line becomes an access event.

A route map is a YAML file (``docs/howto-route-map.md``) that says which log
fields carry the account, the practice, the session, the record count and the
patient ids, and which routes (method + path template or regex) are patient
data accesses, with their ``action``, ``resource`` and where their patient ids
come from. Two maps ship with vigile, under :data:`SHIPPED_DIR`:

``reference``
    the reference practice API (``docs/reference-api.md``), with its
    ``log_format vigile``; the default of ``--format nginx`` / ``apache``.
``generic``
    the same routes for plain ``combined`` logs: the account is
    ``$remote_user``, the practice ``--default-tenant`` (or the part after
    ``@`` in ``$remote_user``).

:func:`load_route_map` validates the whole file and raises one
:class:`~vigile.errors.ConfigError` listing every problem with its ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from vigile.errors import ConfigError
from vigile.events import ACTIONS

__all__ = [
    "FIELD_KEYS",
    "SHIPPED_DIR",
    "FieldRef",
    "IdSource",
    "Route",
    "RouteMap",
    "load_route_map",
    "resolve_route_map",
]

SHIPPED_DIR: Final = Path(__file__).parent / "routemaps"

#: ``fields:`` keys and the log fields used when a map does not name them.
FIELD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "actor": (),
    "tenant": (),
    "session": (),
    "records": (),
    "patient_ids": (),
    "event_id": (),
    "src_ip": ("remote_addr", "remote_host"),
    "user_agent": ("http_user_agent",),
    "status": ("status", "original_status"),
    "bytes": ("body_bytes_sent", "bytes_sent"),
}

_TOP_KEYS: Final = (
    "version",
    "description",
    "log_format",
    "default_tenant",
    "fields",
    "keep",
    "unmatched",
    "skip",
    "routes",
)
_ROUTE_KEYS: Final = (
    "method",
    "path",
    "regex",
    "action",
    "resource",
    "route",
    "action_by_status",
    "patient_ids",
    "query",
    "defaults",
    "skip",
)
_DEFAULTABLE: Final = ("actor", "tenant", "session")
_METHOD: Final = re.compile(r"[A-Z][A-Z0-9_-]*")
_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT: Final = re.compile(r"/[^/]*|[^/]+")
_STATUS_KEY: Final = re.compile(r"([1-5])(?:xx|XX)|([1-5][0-9][0-9])")

Unmatched = Literal["skip", "quarantine"]


@dataclass(frozen=True)
class FieldRef:
    """Where an event field comes from: the first of ``names`` the log format has.

    With ``regex``, the value is the regex's first group (or whole match) searched
    in the field's text; no match means absent.
    """

    names: tuple[str, ...]
    regex: re.Pattern[str] | None = None
    line: int = 0


@dataclass(frozen=True)
class IdSource:
    """One place a route's patient ids come from.

    ``kind``: ``path`` (a path parameter), ``query`` (a query parameter, may
    repeat), ``field`` (a log field holding a comma-separated list), ``default``
    (the map's ``fields.patient_ids``).
    """

    kind: Literal["path", "query", "field", "default"]
    name: str
    line: int = 0


@dataclass(frozen=True)
class Route:
    """One route: which requests it matches and what event they make."""

    line: int
    methods: frozenset[str] | None
    #: the path regex (from the template, or as written), with named parameter groups
    pattern: str
    params: tuple[str, ...]
    #: a template route's atoms (``/api``, ``/``, ``{patient_id}``); ``None`` for a regex route
    atoms: tuple[str, ...] | None
    route: str
    action: str
    resource: str
    action_by_status: dict[int, str] = field(default_factory=dict)
    patient_ids: tuple[IdSource, ...] = ()
    query: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    skip: bool = False

    def describe(self) -> str:
        """``GET /api/v1/patients/{patient_id}``, for messages."""
        methods = "|".join(sorted(self.methods)) if self.methods else "*"
        return f"{methods} {self.route}"


@dataclass(frozen=True)
class RouteMap:
    """A loaded, validated route map."""

    file: str
    log_format: dict[str, str]
    default_tenant: str | None
    fields: dict[str, FieldRef]
    keep: tuple[FieldRef, ...]
    unmatched: Unmatched
    skip: re.Pattern[str] | None
    routes: tuple[Route, ...]
    #: ``file:line`` of each top-level key and ``fields.<key>``, for later messages
    where: dict[str, str] = field(default_factory=dict)

    def at(self, key: str) -> str:
        """``file:line`` of ``key`` (``fields.actor``), or just the file."""
        return self.where.get(key, self.file)


def resolve_route_map(spec: str | Path | None) -> Path:
    """A route map path from ``--route-map``: a file, or a shipped map's name."""
    if spec is None:
        return SHIPPED_DIR / "reference.yaml"
    path = Path(spec)
    if path.exists():
        return path
    shipped = SHIPPED_DIR / f"{spec}.yaml"
    if "/" not in str(spec) and shipped.exists():
        return shipped
    names = ", ".join(sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml")))
    raise ConfigError([f"{spec}: no such route map file (shipped maps: {names})"])


def load_route_map(spec: str | Path | None) -> RouteMap:
    """Load and validate a route map (a path or a shipped map's name).

    Raises :class:`ConfigError` with every problem, each as ``file:line: message``.
    """
    path = resolve_route_map(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read route map ({exc})"]) from None
    return _Loader(str(path), text).load()


class _Loader:
    """Walks the YAML node tree, collecting every problem with its line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.problems: list[str] = []
        self.where: dict[str, str] = {}
        self._yaml: yaml.SafeLoader | None = None

    def problem(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(f"{self.file}:{line}: {message}")

    def _at(self, node: yaml.Node) -> str:
        return f"{self.file}:{node.start_mark.line + 1}"

    # -- YAML helpers ---------------------------------------------------------

    def value(self, node: yaml.Node) -> Any:
        assert self._yaml is not None
        return self._yaml.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping node's entries by key; unknown and duplicate keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{where}: expected a mapping, found {_kind(node)}")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, f"{where}: keys must be plain words")
                continue
            key = str(key_node.value)
            if key in out:
                self.problem(key_node, f"{where}: duplicate key {key!r}")
                continue
            if allowed is not None and key not in allowed:
                known = ", ".join(allowed)
                self.problem(key_node, f"{where}: unknown key {key!r} (known keys: {known})")
                continue
            out[key] = (key_node, value_node)
        return out

    def string(self, node: yaml.Node, where: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self.problem(node, f"{where}: expected a string, found {_kind(node)}")
            return None
        text = str(node.value)
        if not text:
            self.problem(node, f"{where}: must not be empty")
            return None
        return text

    def strings(self, node: yaml.Node, where: str) -> list[tuple[str, yaml.Node]]:
        """A string or a list of strings, each with its node."""
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                self.problem(node, f"{where}: must not be an empty list")
            out = []
            for item in node.value:
                text = self.string(item, where)
                if text is not None:
                    out.append((text, item))
            return out
        text = self.string(node, where)
        return [(text, node)] if text is not None else []

    def regex(self, node: yaml.Node, where: str) -> re.Pattern[str] | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            self.problem(node, f"{where}: invalid regex {text!r}: {exc}")
            return None

    # -- the map --------------------------------------------------------------

    def load(self) -> RouteMap:
        try:
            self._yaml = yaml.SafeLoader(self.text)
            root = self._yaml.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            what = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([f"{self.file}:{line}: invalid YAML: {what}"]) from None
        if root is None:
            raise ConfigError([f"{self.file}:1: route map is empty"])
        top = self.mapping(root, "route map", _TOP_KEYS)
        for key, (key_node, _) in top.items():
            self.where[key] = self._at(key_node)

        if "version" in top:
            version = self.value(top["version"][1])
            if version != 1:
                self.problem(top["version"][1], f"version: {version!r} is not supported (use 1)")
        log_format = self._log_format(top.get("log_format"))
        default_tenant = None
        if "default_tenant" in top:
            node = top["default_tenant"][1]
            if node.tag != "tag:yaml.org,2002:null":
                default_tenant = self.string(node, "default_tenant")
        fields = self._fields(top.get("fields"), root)
        keep: tuple[FieldRef, ...] = ()
        if "keep" in top:
            keep = tuple(
                FieldRef((name,), line=n.start_mark.line + 1)
                for name, n in self.strings(top["keep"][1], "keep")
                if self._field_name(name, n, "keep")
            )
        unmatched: Unmatched = "skip"
        if "unmatched" in top:
            node = top["unmatched"][1]
            text = self.string(node, "unmatched")
            if text in ("skip", "quarantine"):
                unmatched = "skip" if text == "skip" else "quarantine"
            elif text is not None:
                self.problem(node, f"unmatched: {text!r} is not 'skip' or 'quarantine'")
        skip = self._skip(top["skip"][1]) if "skip" in top else None
        routes: list[Route] = []
        if "routes" not in top:
            self.problem(root, "route map has no 'routes' list")
        else:
            node = top["routes"][1]
            if not isinstance(node, yaml.SequenceNode):
                self.problem(node, f"routes: expected a list, found {_kind(node)}")
            else:
                for i, item in enumerate(node.value):
                    route = self._route(item, i + 1, fields)
                    if route is not None:
                        routes.append(route)
        if self.problems:
            raise ConfigError(self.problems)
        return RouteMap(
            file=self.file,
            log_format=log_format,
            default_tenant=default_tenant,
            fields=fields,
            keep=keep,
            unmatched=unmatched,
            skip=skip,
            routes=tuple(routes),
            where=self.where,
        )

    def _field_name(self, name: str, node: yaml.Node, where: str) -> bool:
        if _FIELD_NAME.fullmatch(name):
            return True
        self.problem(
            node,
            f"{where}: {name!r} is not a log field name "
            "(write nginx names without '$': remote_user, upstream_http_x_vigile_actor)",
        )
        return False

    def _log_format(self, entry: tuple[yaml.Node, yaml.Node] | None) -> dict[str, str]:
        if entry is None:
            return {}
        node = entry[1]
        if isinstance(node, yaml.MappingNode):
            out = {}
            for key, (_, value) in self.mapping(node, "log_format", ("nginx", "apache")).items():
                text = self.string(value, f"log_format.{key}")
                if text is not None:
                    out[key] = text
            return out
        text = self.string(node, "log_format")
        return {"nginx": text, "apache": text} if text is not None else {}

    def _fields(
        self, entry: tuple[yaml.Node, yaml.Node] | None, root: yaml.Node
    ) -> dict[str, FieldRef]:
        out = {key: FieldRef(names) for key, names in FIELD_KEYS.items() if names}
        if entry is None:
            self.problem(root, "route map has no 'fields' mapping (at least fields.actor)")
            return out
        node = entry[1]
        items = self.mapping(node, "fields", tuple(FIELD_KEYS))
        for key, (key_node, value) in items.items():
            self.where[f"fields.{key}"] = self._at(key_node)
            ref = self._field_ref(value, f"fields.{key}")
            if ref is not None:
                out[key] = ref
        if "actor" not in items and isinstance(node, yaml.MappingNode):
            self.problem(node, "fields: 'actor' is required (the log field holding the account)")
        return out

    def _field_ref(self, node: yaml.Node, where: str) -> FieldRef | None:
        line = node.start_mark.line + 1
        regex = None
        if isinstance(node, yaml.MappingNode):
            items = self.mapping(node, where, ("field", "regex"))
            if "field" not in items:
                self.problem(node, f"{where}: 'field' is required")
                return None
            if "regex" in items:
                regex = self.regex(items["regex"][1], f"{where}.regex")
                if regex is not None and regex.groups > 1:
                    self.problem(items["regex"][1], f"{where}.regex: use at most one group")
            node = items["field"][1]
        names = [n for n, item in self.strings(node, where) if self._field_name(n, item, where)]
        if not names:
            return None
        return FieldRef(tuple(n.lower() for n in names), regex, line)

    def _skip(self, node: yaml.Node) -> re.Pattern[str] | None:
        """``skip:`` matchers, compiled into one regex matched at the path's start."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"skip: expected a list, found {_kind(node)}")
            return None
        parts: list[str] = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                text = self.string(item, "skip")
                if text is not None:
                    parts.append(re.escape(text))
                continue
            entries = self.mapping(item, "skip", ("prefix", "path", "suffix", "regex"))
            if len(entries) != 1:
                self.problem(item, "skip: each entry is one of prefix, path, suffix, regex")
                continue
            ((kind, (_, value)),) = entries.items()
            if kind == "regex":
                compiled = self.regex(value, "skip.regex")
                if compiled is not None:
                    parts.append(f".*?(?:{compiled.pattern})")
                continue
            text = self.string(value, f"skip.{kind}")
            if text is None:
                continue
            if kind == "prefix":
                parts.append(re.escape(text))
            elif kind == "path":
                parts.append(re.escape(text) + r"\Z")
            else:
                parts.append(".*" + re.escape(text) + r"\Z")
        if not parts:
            return None
        return re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL)

    def _route(self, node: yaml.Node, n: int, fields: dict[str, FieldRef]) -> Route | None:
        where = f"routes[{n}]"
        items = self.mapping(node, where, _ROUTE_KEYS)
        if not items and not isinstance(node, yaml.MappingNode):
            return None
        before = len(self.problems)
        line = node.start_mark.line + 1

        methods: frozenset[str] | None = None
        if "method" in items:
            names = self.strings(items["method"][1], f"{where}.method")
            if any(m == "*" for m, _ in names):
                methods = None
            else:
                for m, item in names:
                    if not _METHOD.fullmatch(m):
                        self.problem(
                            item, f"{where}.method: {m!r} is not an HTTP method (GET, POST...)"
                        )
                methods = frozenset(m for m, _ in names)

        pattern, template = "", ""
        params: tuple[str, ...] = ()
        atoms: tuple[str, ...] | None = None
        has_path, has_regex = "path" in items, "regex" in items
        if has_path == has_regex:
            self.problem(node, f"{where}: give exactly one of 'path' (a template) or 'regex'")
        elif has_path:
            value = items["path"][1]
            text = self.string(value, f"{where}.path")
            if text is not None:
                pattern, params, template, atoms = self._template(text, value, f"{where}.path")
        else:
            value = items["regex"][1]
            compiled = self.regex(value, f"{where}.regex")
            if compiled is not None:
                try:  # the parser puts every route in one alternation
                    re.compile(f"/|(?:{compiled.pattern})")
                except re.error as exc:
                    self.problem(
                        value,
                        f"{where}.regex: cannot be combined with the other routes ({exc}); "
                        "write flags locally, as (?i:...)",
                    )
                pattern = compiled.pattern
                params = tuple(compiled.groupindex)
                if compiled.groups != len(compiled.groupindex):
                    self.problem(value, f"{where}.regex: use named groups (?P<name>...) only")
                if "route" not in items:
                    self.problem(
                        node, f"{where}: a regex route needs 'route' (the template to record)"
                    )
        if "route" in items:
            template = self.string(items["route"][1], f"{where}.route") or template

        skip = False
        if "skip" in items:
            flag = self.value(items["skip"][1])
            if not isinstance(flag, bool):
                self.problem(items["skip"][1], f"{where}.skip: expected true or false")
            skip = flag is True

        action = resource = ""
        if not skip:
            for key in ("action", "resource"):
                if key not in items:
                    self.problem(node, f"{where}: '{key}' is required (or 'skip: true')")
            if "action" in items:
                action = self._action(items["action"][1], f"{where}.action") or ""
            if "resource" in items:
                resource = self.string(items["resource"][1], f"{where}.resource") or ""

        by_status: dict[int, str] = {}
        if "action_by_status" in items:
            entries = self.mapping(items["action_by_status"][1], f"{where}.action_by_status", None)
            for key, (key_node, value) in entries.items():
                code = _STATUS_KEY.fullmatch(key)
                if code is None:
                    self.problem(
                        key_node,
                        f"{where}.action_by_status: {key!r} is not a status (401) or class (4xx)",
                    )
                    continue
                act = self._action(value, f"{where}.action_by_status.{key}")
                if act is not None:
                    by_status[int(code.group(1)) if code.group(1) else int(key)] = act

        ids: tuple[IdSource, ...]
        if "patient_ids" in items:
            ids = self._id_sources(items["patient_ids"][1], f"{where}.patient_ids", params)
        else:
            auto: list[IdSource] = []
            if "patient_id" in params:
                auto.append(IdSource("path", "patient_id", line))
            if "patient_ids" in fields:
                auto.append(IdSource("default", "", line))
            ids = tuple(auto)
        if "patient_ids" not in fields:
            for source in ids:
                if source.kind == "default" and "patient_ids" in items:
                    self.problems.append(
                        f"{self.file}:{source.line}: "
                        f"{where}.patient_ids: 'default' needs fields.patient_ids"
                    )

        query = None
        if "query" in items:
            value = items["query"][1]
            flag = self.value(value)
            if flag is True:
                query = "*"
            elif flag is not False:
                query = self.string(value, f"{where}.query")

        defaults: dict[str, str] = {}
        if "defaults" in items:
            entries = self.mapping(items["defaults"][1], f"{where}.defaults", _DEFAULTABLE)
            for key, (_, value) in entries.items():
                text = self.string(value, f"{where}.defaults.{key}")
                if text is not None:
                    defaults[key] = text

        if len(self.problems) > before:
            return None
        return Route(
            line=line,
            methods=methods,
            pattern=pattern,
            params=params,
            atoms=atoms,
            route=template,
            action=action,
            resource=resource,
            action_by_status=by_status,
            patient_ids=ids,
            query=query,
            defaults=defaults,
            skip=skip,
        )

    def _action(self, node: yaml.Node, where: str) -> str | None:
        text = self.string(node, where)
        if text is not None and text not in ACTIONS:
            self.problem(node, f"{where}: {text!r} is not one of {', '.join(ACTIONS)}")
            return None
        return text

    def _template(
        self, text: str, node: yaml.Node, where: str
    ) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
        """``/api/v1/patients/{patient_id}`` → regex, parameter names, template, atoms.

        Atoms are the template cut at each ``/`` and around each parameter
        (``/api``, ``/v1``, ``/patients``, ``/``, ``{patient_id}``), without a
        trailing ``/``: the parser shares the atoms that consecutive routes have
        in common.
        """
        path = text.partition("?")[0]  # a template copied with its query: keep the path
        if not path.startswith("/"):
            self.problem(node, f"{where}: {text!r} must start with '/'")
        params: list[str] = []
        parts: list[str] = []
        atoms: list[str] = []
        pos = 0
        for m in _PARAM.finditer(path):
            name = m.group(1)
            if name in params:
                self.problem(node, f"{where}: parameter {{{name}}} appears twice")
            params.append(name)
            literal = path[pos : m.start()]
            parts.append(re.escape(literal))
            parts.append(f"(?P<{name}>[^/]+)")
            atoms.extend(_SEGMENT.findall(literal))
            atoms.append(m.group(0))
            pos = m.end()
        rest = path[pos:]
        if "{" in rest or "}" in rest or any("{" in a for a in atoms if a[0] != "{"):
            self.problem(
                node, f"{where}: {text!r}: parameters are written {{name}} (letters, digits, _)"
            )
        rest = rest.rstrip("/")
        parts.append(re.escape(rest))
        atoms.extend(_SEGMENT.findall(rest))
        return "".join(parts) + "/?", tuple(params), path, tuple(atoms)

    def _id_sources(
        self, node: yaml.Node, where: str, params: tuple[str, ...]
    ) -> tuple[IdSource, ...]:
        if isinstance(node, yaml.SequenceNode) and not node.value:
            return ()
        out: list[IdSource] = []
        for text, item in self.strings(node, where):
            line = item.start_mark.line + 1
            if text == "default":
                out.append(IdSource("default", "", line))
                continue
            kind, sep, name = text.partition(":")
            if not sep or kind not in ("path", "query", "field") or not name:
                self.problem(
                    item,
                    f"{where}: {text!r} is not path:NAME, query:NAME, field:NAME or default",
                )
                continue
            if kind == "path" and name not in params:
                known = ", ".join(params) or "none"
                self.problem(item, f"{where}: the path has no parameter {name!r} (it has: {known})")
                continue
            if kind == "field" and not self._field_name(name, item, where):
                continue
            out.append(IdSource(kind, name.lower() if kind == "field" else name, line))  # type: ignore[arg-type]
        return tuple(out)


def _kind(node: yaml.Node | None) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node is None or node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return f"{node.value!r}"
