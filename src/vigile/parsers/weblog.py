"""nginx and Apache access logs → access events, through a route map.

A line is matched by the compiled ``log_format`` (:mod:`vigile.parsers.logformat`);
its request is matched against the route map's routes
(:mod:`vigile.parsers.routemap`) with one alternation regex per HTTP method; the
matched route gives the ``action``, ``resource``, recorded ``route`` template
and where the patient ids come from; the map's ``fields`` give the account,
practice, session and record count.

What a line becomes:

* a route that matches → an :class:`~vigile.events.AccessEvent`;
* no route, or a ``skip: true`` route (static assets, health checks) → ``None``,
  counted as skipped; with ``unmatched: quarantine`` a URL that no route and no
  ``skip`` entry matches is a bad line instead; a request line that is not one
  (nginx's ``"-"`` for a refused connection, TLS bytes sent to the HTTP port)
  is always skipped: the server served nothing;
* ``records`` is the map's record-count field; without it, 0 when the status is
  400 or more (a refused request carried nothing), else the number of patient ids;
* a line the format does not match, a bad time, status, address or count, a
  patient route without an account → :class:`~vigile.errors.ParseError` naming
  the field and the value. ``parse`` raises nothing else, whatever the bytes.

Which format and map: ``--log-format`` (a format string, a pasted directive or
a preset name: ``combined``, ``common``, ``vigile``) overrides the route map's
``log_format``, which overrides ``combined``; ``--route-map`` (a file or a
shipped map's name: ``reference``, ``generic``) defaults to ``reference``;
``--default-tenant`` is the practice when the log does not name one;
``--parser-option unmatched=skip|quarantine`` overrides the map's ``unmatched``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Final, Self
from urllib.parse import unquote, unquote_plus

from vigile.errors import ConfigError, ParseError
from vigile.events import AccessEvent, normalise_ip
from vigile.parsers.base import ParserOptions
from vigile.parsers.logformat import LogFormat, Syntax, compile_log_format
from vigile.parsers.routemap import FieldRef, IdSource, Route, RouteMap, load_route_map

__all__ = ["ApacheParser", "NginxParser", "WebLogParser"]

_MONTHS: Final[dict[str, int]] = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_TIME_LOCAL: Final = re.compile(
    r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-][0-9]{4})"
)
_STATUSES: Final[dict[str, int]] = {str(i): i for i in range(100, 600)}
_ABSENT: Final = frozenset({"-", ""})
#: time fields, best first; ``msec``-like fields also refine a seconds-only time
_TIME_FIELDS: Final = (
    "time_local",
    "time_iso8601",
    "time",
    "msec",
    "time_sec",
    "time_msec",
    "time_usec",
)
_EPOCH_SCALE: Final[dict[str, int]] = {
    "msec": 1,
    "time_sec": 1,
    "time_msec": 1_000,
    "time_usec": 1_000_000,
}
#: kept fields that are numbers: seconds with decimals (float) or counts (int)
_NUMERIC_KEEP: Final[dict[str, type]] = {
    "request_time": float,
    "request_time_s": int,
    "request_time_ms": int,
    "request_time_us": int,
    "upstream_response_time": float,
    "upstream_connect_time": float,
    "upstream_header_time": float,
    "msec": float,
    "request_length": int,
    "bytes_sent": int,
    "body_bytes_sent": int,
    "bytes_received": int,
    "connection_requests": int,
}

_CACHE_SIZE: Final = 65_536

# id source kinds, as small ints for the hot loop
_PATH, _QUERY, _FIELD = 0, 1, 2


def _show(value: str) -> str:
    """A value for a message: quoted, cut at 60 characters."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


@dataclass(frozen=True, slots=True)
class _Ref:
    """A resolved :class:`FieldRef`: the group indices of the fields the format has.

    The value is the first of those fields that is not ``-`` on the line, with
    the server's escapes undone (and ``regex`` applied, when there is one).
    ``simple`` refs (one field, no regex) are read inline by the hot loop.
    """

    indices: tuple[int, ...]
    regex: re.Pattern[str] | None
    spelling: str

    @property
    def index(self) -> int:
        return self.indices[0]

    @property
    def simple(self) -> bool:
        return self.regex is None and len(self.indices) == 1

    def get(self, groups: tuple[str, ...]) -> str | None:
        for i in self.indices:
            value = groups[i]
            if value in _ABSENT:
                continue
            if "\\" in value:
                value = _unescape(value)
            if self.regex is not None:
                m = self.regex.search(value)
                if m is None:
                    continue
                value = m.group(1) if self.regex.groups else m.group(0)
                if not value:
                    continue
            return value
        return None


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    """A route ready for the hot loop."""

    route: Route
    skip: bool
    action: str
    resource: str
    template: str
    by_status: dict[int, str]
    #: (kind, group index in the route regex or log field index, or query name)
    ids: tuple[tuple[int, Any], ...]
    query: str | None
    #: ids come from more than one source, so may repeat
    many_sources: bool
    actor_default: str | None
    tenant_default: str | None
    session_default: str | None


class _RouteRegex:
    """Routes → one alternation regex, sharing the prefixes of consecutive templates.

    ``/a/{p}``, ``/a/{p}/x``, ``/b`` become
    ``/a(?:/(?:(?P<_g0>[^/]+)(?:/?(?P<_r0>)|/x/?(?P<_r1>))))|/b/?(?P<_r2>)``.
    Each route ends in an empty group ``_r<n>``: it closes last, so a match's
    ``lastindex`` is the route's. Only *consecutive* routes are merged, so the
    first route (in file order) that matches a path still wins, as with a plain
    alternation; the regex engine just stops re-reading ``/api/v1/patients`` for
    every route. Regex routes are kept whole, their groups renamed.
    """

    def __init__(self) -> None:
        #: route number → parameter name → group name
        self.params: dict[int, dict[str, str]] = {}
        self._count = 0

    def build(self, routes: list[tuple[int, Route]]) -> str:
        """The regex of ``routes`` (numbered), in order."""
        items: list[tuple[int, tuple[str, ...], Route]] = []
        for n, route in routes:
            self.params[n] = {}
            items.append((n, route.atoms if route.atoms is not None else ("",), route))
        return self._level(items)

    def _group(self) -> str:
        name = f"_g{self._count}"
        self._count += 1
        return name

    def _level(self, items: list[tuple[int, tuple[str, ...], Route]]) -> str:
        out: list[str] = []
        i = 0
        while i < len(items):
            n, atoms, route = items[i]
            if not atoms:  # the template ends here
                out.append(f"/?(?P<_r{n}>)")
                i += 1
                continue
            head = atoms[0]
            if route.atoms is None:  # a regex route, whole
                pattern = route.pattern
                for param in route.params:
                    group = self.params[n][param] = self._group()
                    pattern = pattern.replace(f"(?P<{param}>", f"(?P<{group}>")
                    pattern = pattern.replace(f"(?P={param})", f"(?P={group})")
                out.append(f"(?:{pattern})(?P<_r{n}>)")
                i += 1
                continue
            j = i + 1
            while j < len(items) and items[j][2].atoms is not None and items[j][1][:1] == (head,):
                j += 1
            if head.startswith("{"):
                group = self._group()
                for k in range(i, j):
                    self.params[items[k][0]][head[1:-1]] = group
                prefix = f"(?P<{group}>[^/]+)"
            else:
                prefix = re.escape(head)
            rest = self._level([(m, a[1:], r) for m, a, r in items[i:j]])
            out.append(f"{prefix}(?:{rest})")
            i = j
        return "|".join(out)


class WebLogParser:
    """Shared machinery of :class:`NginxParser` and :class:`ApacheParser`."""

    name: ClassVar[str] = "weblog"
    syntax: ClassVar[Syntax] = "nginx"

    @classmethod
    def from_options(cls, options: ParserOptions) -> Self:
        """Build from ``--log-format``, ``--route-map`` and ``--default-tenant``."""
        route_map = load_route_map(options.route_map)
        text = options.log_format or route_map.log_format.get(cls.syntax) or "combined"
        try:
            log_format = compile_log_format(text, cls.syntax)
        except ConfigError as exc:
            where = "--log-format" if options.log_format else route_map.at("log_format")
            raise ConfigError([f"{where}: {p}" for p in exc.problems]) from None
        unmatched = options.extra.get("unmatched")
        if unmatched is not None:
            if unmatched not in ("skip", "quarantine"):
                raise ConfigError(
                    [f"--parser-option unmatched={unmatched}: use skip or quarantine"]
                )
            route_map = replace(route_map, unmatched=unmatched)  # type: ignore[arg-type]
        return cls(log_format, route_map, default_tenant=options.default_tenant)

    def __init__(
        self, log_format: LogFormat, route_map: RouteMap, *, default_tenant: str | None = None
    ) -> None:
        self.log_format = log_format
        self.route_map = route_map
        self.default_tenant = default_tenant or route_map.default_tenant
        problems: list[str] = []
        fmt = log_format
        self._match = fmt.regex.fullmatch
        self._fallback = fmt.fallback.fullmatch if fmt.fallback is not None else None
        self._spelling = tuple(f.spelling for f in fmt.fields)
        names = fmt.names

        def ref(key: str, required: str | None = None) -> _Ref | None:
            field_ref = route_map.fields.get(key)
            if field_ref is None:
                return None
            resolved = self._resolve(field_ref)
            if resolved is None and required is not None:
                problems.append(
                    f"{route_map.at('fields.' + key)}: fields.{key}: the log format has none of "
                    f"{', '.join(field_ref.names)} {required} "
                    f"(its fields: {', '.join(names)})"
                )
            return resolved

        self._actor = ref("actor", "(the account is required; try --route-map generic)")
        need_tenant = None if self.default_tenant else "and no default tenant is set"
        self._tenant = ref("tenant", need_tenant)
        if "tenant" not in route_map.fields and not self.default_tenant:
            problems.append(
                f"{route_map.file}: no fields.tenant and no default tenant: "
                "set default_tenant in the route map or give --default-tenant"
            )
        self._session = ref("session")
        self._records = ref("records")
        self._event_id = ref("event_id")
        self._src_ip = ref("src_ip")
        self._user_agent = ref("user_agent")
        self._status = ref("status")
        self._bytes = ref("bytes")
        self._ids_field = ref("patient_ids")
        # caches of validated values: a log has far fewer distinct values than lines
        self._ips: dict[str, str] = {}  # raw address → canonical form
        self._counts: dict[str, int] = {}  # records and sizes
        self._numbers: dict[tuple[type, str], int | float | str] = {}  # kept numeric fields
        # a simple field is read at its index; any other (several fields, a regex)
        # has index -2 and is read through its ref
        self._actor_i = _hot_index(self._actor)
        self._tenant_i = _hot_index(self._tenant)
        self._session_i = _hot_index(self._session)
        self._status_i = _hot_index(self._status)
        self._records_i = _hot_index(self._records)
        self._bytes_i = _hot_index(self._bytes)
        self._src_ip_i = _hot_index(self._src_ip)
        self._user_agent_i = _hot_index(self._user_agent)
        self._keep = tuple(
            (r.names[0], i, _NUMERIC_KEEP.get(r.names[0], str))
            for r in route_map.keep
            if (i := fmt.index(*r.names)) is not None
        )

        # the request: "$request", or method + target fields
        self._request_i = fmt.index("request")
        self._method_i = fmt.index("request_method")
        self._target_i = fmt.index("request_uri")
        self._path_i = fmt.index("uri", "document_uri")
        self._args_i = fmt.index("args", "query_string")
        has_target = self._target_i is not None or self._path_i is not None
        if self._request_i is None and (self._method_i is None or not has_target):
            problems.append(
                "log format: no request field: it needs $request (%r), or $request_method (%m) "
                "with $request_uri or $uri (%U)"
            )

        # the time: the best field, refined to sub-second by $msec / %{msec_frac}t
        self._time_kind = ""
        self._time_i = -1
        for kind in _TIME_FIELDS:
            i = fmt.index(kind)
            if i is not None:
                self._time_kind, self._time_i = kind, i
                break
        else:
            problems.append(
                "log format: no time field: it needs $time_local, $time_iso8601 or $msec "
                "(Apache: %t or %{format}t)"
            )
        self._time_format = fmt.fields[self._time_i].time_format if self._time_i >= 0 else None
        msec_i = fmt.index("msec")
        self._precise_i = (
            msec_i if self._time_kind in ("time_local", "time_iso8601", "time") else None
        )
        self._frac_i = fmt.index("time_usec_frac", "time_msec_frac")
        self._frac_scale = 1
        if self._frac_i is not None:
            self._frac_scale = 1 if fmt.fields[self._frac_i].name == "time_usec_frac" else 1000
        self._last_time: tuple[str | None, datetime] = (None, _EPOCH)

        # routes: one alternation regex per method, in file order
        compiled = [self._compile_route(r) for r in route_map.routes]
        methods = sorted({m for r in route_map.routes if r.methods for m in r.methods})
        self._by_method: dict[str, tuple[re.Pattern[str], dict[int, _CompiledRoute]]] = {}
        for method in methods:
            chosen = [
                (r, c)
                for r, c in zip(route_map.routes, compiled, strict=True)
                if r.methods is None or method in r.methods
            ]
            self._by_method[method] = self._alternation(chosen)
        anyone = [
            (r, c) for r, c in zip(route_map.routes, compiled, strict=True) if r.methods is None
        ]
        self._any = self._alternation(anyone) if anyone else None
        self._skip = route_map.skip.match if route_map.skip is not None else None
        self._quarantine_unmatched = route_map.unmatched == "quarantine"
        if problems:
            raise ConfigError(problems)

    # -- construction helpers ---------------------------------------------------

    def _resolve(self, field_ref: FieldRef) -> _Ref | None:
        indices = tuple(
            i for name in field_ref.names if (i := self.log_format.index(name)) is not None
        )
        if not indices:
            return None
        spelling = "/".join(self._spelling[i] for i in indices)
        return _Ref(indices, field_ref.regex, spelling)

    def _compile_route(self, route: Route) -> _CompiledRoute:
        ids: list[tuple[int, Any]] = []
        for source in route.patient_ids:
            resolved = self._id_source(source)
            if resolved is not None:
                ids.append(resolved)
        defaults = route.defaults
        return _CompiledRoute(
            route=route,
            skip=route.skip,
            action=route.action,
            resource=route.resource,
            template=route.route,
            by_status=route.action_by_status,
            ids=tuple(ids),
            query=route.query,
            many_sources=len(ids) > 1 or any(kind == _QUERY for kind, _ in ids),
            actor_default=defaults.get("actor"),
            tenant_default=defaults.get("tenant"),
            session_default=defaults.get("session"),
        )

    def _id_source(self, source: IdSource) -> tuple[int, Any] | None:
        if source.kind == "path":
            return (_PATH, source.name)  # the name becomes a group index in _alternation
        if source.kind == "query":
            return (_QUERY, source.name)
        if source.kind == "default":
            return (_FIELD, self._ids_field.index) if self._ids_field is not None else None
        i = self.log_format.index(source.name)
        return (_FIELD, i) if i is not None else None

    @staticmethod
    def _alternation(
        chosen: list[tuple[Route, _CompiledRoute]],
    ) -> tuple[re.Pattern[str], dict[int, _CompiledRoute]]:
        """One regex for ``chosen`` routes, in order; ``lastindex`` names the route."""
        builder = _RouteRegex()
        pattern = builder.build(list(enumerate(r for r, _ in chosen)))
        regex = re.compile(pattern, re.DOTALL)
        table: dict[int, _CompiledRoute] = {}
        for n, (_, c) in enumerate(chosen):
            groups = builder.params[n]
            ids = tuple(
                (kind, regex.groupindex[groups[arg]]) if kind == _PATH else (kind, arg)
                for kind, arg in c.ids
            )
            table[regex.groupindex[f"_r{n}"]] = _CompiledRoute(
                route=c.route,
                skip=c.skip,
                action=c.action,
                resource=c.resource,
                template=c.template,
                by_status=c.by_status,
                ids=ids,
                query=c.query,
                many_sources=c.many_sources,
                actor_default=c.actor_default,
                tenant_default=c.tenant_default,
                session_default=c.session_default,
            )
        return regex, table

    # -- the hot path -------------------------------------------------------------

    def parse(self, line: bytes) -> AccessEvent | None:
        """Parse one access-log line; ``None`` for a request that is not a patient access."""
        try:
            try:
                text = line.decode()
            except UnicodeDecodeError:
                text = line.decode("utf-8", "backslashreplace")
            m = self._match(text)
            if m is None:
                if self._fallback is not None:
                    m = self._fallback(text)
                if m is None:
                    raise ParseError(self.log_format.diagnose(text))
            g: tuple[str, ...] = m.groups()

            # the request
            if self._request_i is not None:
                request = g[self._request_i]
                parts = request.split(" ")
                if len(parts) == 3 or len(parts) == 2:
                    method, target = parts[0], parts[1]
                else:
                    return None  # "-" or junk the server refused: no route, no patient data
            else:
                method = g[self._method_i] if self._method_i is not None else "-"
                if self._target_i is not None:
                    target = g[self._target_i]
                else:
                    target = g[self._path_i] if self._path_i is not None else "-"
                    if self._args_i is not None:
                        args = g[self._args_i]
                        if args not in _ABSENT:
                            target = target + ("" if args[0] == "?" else "?") + args
            path, _, qs = target.partition("?")

            entry = self._by_method.get(method) or self._any
            rm = entry[0].fullmatch(path) if entry is not None else None
            if rm is None:
                if self._skip is not None and self._skip(path):
                    return None
                return self._unmatched(f"route: no route matches {method} {_show(path)}")
            route = entry[1][rm.lastindex]  # type: ignore[index]
            if route.skip:
                return None

            # status, action
            status = 200
            if self._status_i != -1:
                raw = g[self._status_i] if self._status_i >= 0 else _get(self._status, g)
                found = _STATUSES.get(raw)
                if found is None:
                    raise ParseError(self._bad("status", raw, self._status))
                status = found
            by = route.by_status
            action = (
                (by.get(status) or by.get(status // 100) or route.action) if by else route.action
            )

            # who
            i = self._actor_i
            actor = g[i] if i >= 0 else _get(self._actor, g)
            if actor in _ABSENT:
                if route.actor_default is None:
                    raise ParseError(self._missing("actor", self._actor, route, g))
                actor = route.actor_default
            elif i >= 0 and "\\" in actor:
                actor = _unescape(actor)
            i = self._tenant_i
            tenant = g[i] if i >= 0 else _get(self._tenant, g)
            if tenant in _ABSENT:
                fallback = self.default_tenant or route.tenant_default
                if fallback is None:
                    raise ParseError(self._missing("tenant", self._tenant, route, g))
                tenant = fallback
            elif i >= 0 and "\\" in tenant:
                tenant = _unescape(tenant)
            i = self._session_i
            session: str | None = g[i] if i >= 0 else _get(self._session, g)
            if session in _ABSENT:
                session = route.session_default
            elif i >= 0 and "\\" in session:  # type: ignore[operator]
                session = _unescape(session)  # type: ignore[arg-type]

            # when
            raw = g[self._time_i]
            last = self._last_time
            ts = last[1] if raw == last[0] else self._time(raw, g)

            # which patients
            ids: list[str] = []
            if route.ids:
                for kind, arg in route.ids:
                    if kind == _PATH:
                        value = rm.group(arg)
                        ids.append(unquote(value) if "%" in value else value)
                    elif kind == _FIELD:
                        value = g[arg]
                        if value in _ABSENT:
                            continue
                        if "\\" in value:
                            value = _unescape(value)
                        if "," not in value and " " not in value:  # one id: the usual case
                            if value not in ids:
                                ids.append(value)
                            continue
                        items = value.split(",")
                        if " " in value:
                            items = [item.strip() for item in items]
                        if "" in items:
                            items = [item for item in items if item]
                        if ids:
                            ids.extend(items)
                        else:
                            ids = items
                    else:
                        for value in _param(qs, arg):
                            ids.extend(v for v in (s.strip() for s in value.split(",")) if v)
                if route.many_sources and len(ids) > 1:
                    ids = list(dict.fromkeys(ids))

            records = None
            if self._records_i != -1:
                raw = g[self._records_i] if self._records_i >= 0 else _get(self._records, g)
                records = self._counts.get(raw)
                if records is None and raw not in _ABSENT:
                    records = self._count("records", raw, self._records)
            if records is None and status >= 400:
                records = 0  # a refused or failed request carried no record
            size = None
            if self._bytes_i != -1:
                raw = g[self._bytes_i] if self._bytes_i >= 0 else _get(self._bytes, g)
                size = self._counts.get(raw)
                if size is None and raw not in _ABSENT:
                    size = self._count("bytes", raw, self._bytes)

            src_ip = None
            if self._src_ip_i != -1:
                raw = g[self._src_ip_i] if self._src_ip_i >= 0 else _get(self._src_ip, g)
                if raw not in _ABSENT:
                    src_ip = self._ips.get(raw) or self._ip(raw)

            user_agent = None
            if self._user_agent_i != -1:
                user_agent = (
                    g[self._user_agent_i] if self._user_agent_i >= 0 else _get(self._user_agent, g)
                )
                if user_agent in _ABSENT:
                    user_agent = None
                elif "\\" in user_agent:
                    user_agent = _unescape(user_agent)

            # at most 15 keyword arguments: msgspec takes a much slower path above that
            event = AccessEvent(
                ts=ts,
                tenant=tenant,
                actor=actor,
                action=action,  # type: ignore[arg-type]  # validated when the map was loaded
                resource=route.resource,
                session=session,
                src_ip=src_ip,
                user_agent=user_agent,
                method=method,
                route=route.template,
                status=status,
                patient_ids=ids,
                records=records,
                bytes=size,
            )
            if route.query is not None and qs:
                event.query = self._query(route.query, qs)
            if self._event_id is not None:
                event.event_id = self._event_id.get(g)
            if self._keep:
                extra: dict[str, Any] = {}
                numbers = self._numbers
                for name, i, kind in self._keep:
                    value = g[i]
                    if value in _ABSENT:
                        continue
                    if kind is not str:
                        number = numbers.get((kind, value))
                        extra[name] = self._number(kind, value) if number is None else number
                    else:
                        extra[name] = value
                if extra:
                    event.extra = extra
            return event
        except ParseError:
            raise
        except Exception as exc:  # the contract: nothing but ParseError leaves parse()
            raise ParseError(f"internal error on this line: {type(exc).__name__}: {exc}") from None

    # -- the slower paths ---------------------------------------------------------

    def _unmatched(self, reason: str) -> AccessEvent | None:
        """A request no route matches: skipped, or a bad line under ``unmatched: quarantine``."""
        if self._quarantine_unmatched:
            raise ParseError(reason)
        return None

    def _missing(
        self, what: str, ref: _Ref | None, route: _CompiledRoute, g: tuple[str, ...]
    ) -> str:
        """Why ``actor`` / ``tenant`` is missing, naming the log field and its value."""
        if ref is None:
            source = "the log format has no field for it"
        elif ref.regex is not None and g[ref.index] not in _ABSENT:
            source = f"{ref.spelling} {_show(g[ref.index])} does not match {ref.regex.pattern!r}"
        else:
            source = f"{ref.spelling} is {_show(g[ref.index])}"
        if what == "tenant":
            source += " and no default tenant is set (--default-tenant)"
        needs = "an account" if what == "actor" else "a practice"
        return f"{what}: missing ({source}); route {route.route.describe()} needs {needs}"

    def _count(self, what: str, raw: str, ref: _Ref | None) -> int:
        """A record count or a size: validated once per distinct text, then cached."""
        if not (raw.isdigit() and raw.isascii() and len(raw) < 19):
            raise ParseError(self._bad(what, raw, ref))
        value = int(raw)
        if len(self._counts) >= _CACHE_SIZE:
            self._counts.clear()
        self._counts[raw] = value
        return value

    def _number(self, kind: type, raw: str) -> int | float | str:
        """A kept numeric field (``0.012``) as a number when it is one; cached."""
        value = _number(raw, kind)
        if len(self._numbers) >= _CACHE_SIZE:
            self._numbers.clear()
        self._numbers[(kind, raw)] = value
        return value

    @staticmethod
    def _bad(what: str, raw: str, ref: _Ref | None) -> str:
        """A bad status or count: which field, what value."""
        spelling = ref.spelling if ref is not None else what
        if what == "status":
            return f"status: {_show(raw)} in {spelling} is not an HTTP status (100-599)"
        return (
            f"{what}: {_show(raw)} in {spelling} is not a non-negative integer (at most 18 digits)"
        )

    @staticmethod
    def _query(spec: str, qs: str) -> str | None:
        """The whole query string (``*``) or one parameter's decoded value."""
        if spec == "*":
            return qs
        values = _param(qs, spec)
        return values[0] if values else None

    def _ip(self, raw: str) -> str | None:
        """A client address in canonical form (``None`` for a Unix socket); cached."""
        first = raw.partition(",")[0].strip()  # X-Forwarded-For: the client comes first
        if first.startswith("unix:"):
            return None
        try:
            address = normalise_ip(first)
        except ValueError:
            spelling = self._src_ip.spelling if self._src_ip is not None else "src_ip"
            raise ParseError(
                f"src_ip: {_show(raw)} in {spelling} is not an IPv4/IPv6 address"
            ) from None
        if len(self._ips) >= _CACHE_SIZE:
            self._ips.clear()
        self._ips[raw] = address
        return address

    def _time(self, raw: str, g: tuple[str, ...]) -> datetime:
        kind = self._time_kind
        spelling = self._spelling[self._time_i]
        if raw in _ABSENT:
            raise ParseError(f"ts: {spelling} is {raw!r}: every event needs its time")
        ts = _TIME_PARSERS[kind](raw, self._time_format)
        if ts is None:
            raise ParseError(
                f"ts: {_show(raw)} in {spelling} is not a valid time ({_EXPECTED[kind]})"
            )
        if self._precise_i is None and self._frac_i is None:
            self._last_time = (raw, ts)  # a seconds-only time: the next line often repeats it
            return ts
        if self._precise_i is not None:
            precise = _epoch(g[self._precise_i], 1)
            if precise is not None and abs(precise.timestamp() - ts.timestamp()) < 2:
                with contextlib.suppress(OverflowError):  # within a day of year 1 or 9999
                    ts = precise.astimezone(ts.tzinfo)
        if self._frac_i is not None:
            frac = g[self._frac_i]
            if frac.isascii() and frac.isdigit():
                ts = ts.replace(microsecond=int(frac) * self._frac_scale % 1_000_000)
        return ts


class NginxParser(WebLogParser):
    """nginx access logs (``--format nginx``); ``log_format`` in nginx syntax."""

    name: ClassVar[str] = "nginx"
    syntax: ClassVar[Syntax] = "nginx"


class ApacheParser(WebLogParser):
    """Apache httpd access logs (``--format apache``); ``LogFormat`` in Apache syntax."""

    name: ClassVar[str] = "apache"
    syntax: ClassVar[Syntax] = "apache"


_ESCAPE: Final = re.compile(rb'\\x([0-9A-Fa-f]{2})|\\(["\\])')


def _unescape(value: str) -> str:
    """Undo the server's escaping: nginx ``\\x22``, Apache ``\\"`` and ``\\\\``."""
    raw = value.encode("utf-8", "surrogateescape")
    out = _ESCAPE.sub(lambda m: bytes.fromhex(m[1].decode()) if m[1] else m[2], raw)
    return out.decode("utf-8", "backslashreplace")


def _param(qs: str, name: str) -> list[str]:
    """The decoded values of query parameter ``name`` (as ``parse_qsl``, only faster)."""
    out = []
    for part in qs.split("&"):
        key, _, value = part.partition("=")
        if not value:
            continue
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if key == name:
            out.append(unquote_plus(value) if "%" in value or "+" in value else value)
    return out


def _hot_index(ref: _Ref | None) -> int:
    """-1: no such field; -2: read through the ref; else the group index to read."""
    if ref is None:
        return -1
    return ref.index if ref.simple else -2


def _get(ref: _Ref | None, groups: tuple[str, ...]) -> str:
    """A non-simple ref's value, ``-`` when absent."""
    value = ref.get(groups) if ref is not None else None
    return "-" if value is None else value


# -- time parsing -------------------------------------------------------------------

_TZ_CACHE: dict[str, timezone] = {}


def _tz(offset: str) -> timezone | None:
    """``+0100`` / ``+01:00`` / ``Z`` → a fixed-offset timezone (cached)."""
    tz = _TZ_CACHE.get(offset)
    if tz is not None:
        return tz
    text = offset.replace(":", "")
    if text in ("Z", "+0000", "-0000"):
        tz = UTC
    elif len(text) == 5 and text[0] in "+-" and text[1:].isascii() and text[1:].isdigit():
        hours, minutes = int(text[1:3]), int(text[3:5])
        if hours > 23 or minutes > 59:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if text[0] == "-" else delta)
    else:
        return None
    if len(_TZ_CACHE) < 1024:
        _TZ_CACHE[offset] = tz
    return tz


def _time_local(raw: str, _fmt: str | None) -> datetime | None:
    """``02/Mar/2026:09:14:03 +0100`` (nginx ``$time_local``, Apache ``%t``)."""
    m = _TIME_LOCAL.fullmatch(raw)
    if m is None:
        return None
    day, mon, year, hh, mm, ss, offset = m.groups()
    month = _MONTHS.get(mon)
    tz = _tz(offset)
    if month is None or tz is None:
        return None
    try:
        return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError:
        return None


def _iso8601(raw: str, _fmt: str | None) -> datetime | None:
    """``2026-03-02T09:14:03+01:00`` (nginx ``$time_iso8601``); no offset → invalid."""
    if not raw.isascii():
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _strftime(raw: str, fmt: str | None) -> datetime | None:
    """An Apache ``%{format}t`` time; a format without ``%z`` is read as UTC."""
    if fmt is None or not raw.isascii():
        return None
    try:
        ts = datetime.strptime(raw, fmt)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(raw: str, scale: int) -> datetime | None:
    """Seconds (``$msec``: ``1772439243.512``) or milli/microseconds since the epoch, UTC."""
    if not raw.isascii():
        return None
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(whole) > 19:
        return None
    try:
        if scale == 1:
            micros = int(whole) * 1_000_000 + int((frac + "000000")[:6] or 0)
        elif frac:
            return None
        else:
            micros = int(whole) * (1_000_000 // scale)
        return _EPOCH + timedelta(microseconds=micros)
    except (OverflowError, ValueError):
        return None


def _epoch_parser(scale: int) -> Callable[[str, str | None], datetime | None]:
    def parse(raw: str, _fmt: str | None) -> datetime | None:
        return _epoch(raw, scale)

    return parse


_TIME_PARSERS: Final[dict[str, Callable[[str, str | None], datetime | None]]] = {
    "time_local": _time_local,
    "time_iso8601": _iso8601,
    "time": _strftime,
    **{kind: _epoch_parser(scale) for kind, scale in _EPOCH_SCALE.items()},
}
_EXPECTED: Final[dict[str, str]] = {
    "time_local": "expected dd/Mon/yyyy:HH:MM:SS +hhmm",
    "time_iso8601": "expected yyyy-mm-ddTHH:MM:SS+hh:mm",
    "time": "expected the %{...}t format of the log format",
    "msec": "expected seconds since 1970, as 1772439243.512",
    "time_sec": "expected seconds since 1970",
    "time_msec": "expected milliseconds since 1970",
    "time_usec": "expected microseconds since 1970",
}


def _number(value: str, kind: type) -> int | float | str:
    """A kept numeric field as a number of ``kind`` when it is one (``0.012``), else the text."""
    if kind is int and value.isdigit() and value.isascii():
        return int(value)
    try:
        number = float(value)
    except ValueError:
        return value
    return number if number - number == 0 else value  # nan and inf: JSON has no such numbers
