"""Compile an nginx ``log_format`` or an Apache ``LogFormat`` string into one regex.

A user pastes the format from their server's configuration, either bare::

    $remote_addr - $remote_user [$time_local] "$request" $status ...
    %h %l %u %t \\"%r\\" %>s %b

or as the whole directive (``log_format vigile '...' '...';`` or
``LogFormat "..." combined``); the directive, the format's name, the quoting and
nginx's ``escape=`` parameter are stripped. The result is a :class:`LogFormat`:
one compiled regex with a capturing group per field, and the field names in
group order.

Field names use nginx's vocabulary whatever the syntax, so one route map serves
both servers: Apache ``%h`` is ``remote_host``, ``%a`` ``remote_addr``, ``%t``
``time_local``, ``%r`` ``request``, ``%>s`` ``status``, ``%b`` ``body_bytes_sent``,
``%{Referer}i`` ``http_referer``, ``%{X-Vigile-Actor}o`` ``sent_http_x_vigile_actor``,
``%{sid}C`` ``cookie_sid``; the full table is :data:`APACHE_DIRECTIVES`.

How a field is matched: a field between double quotes matches anything but an
unescaped quote (Apache writes ``\\"``, nginx ``\\x22``); any other field matches
up to the first occurrence of the character that follows it in the format (a
space, ``]``, ...), or to the end of the line when it is last. Fields that hold
a space themselves (``$time_local`` outside brackets, an Apache ``%{...}t`` with
spaces) get a pattern with that many spaces. The patterns are deliberately
loose: a value of the wrong shape (a status ``2x0``) is reported by the parser
with the field's name, not as a line that "does not match".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from vigile.errors import ConfigError

__all__ = [
    "APACHE_DIRECTIVES",
    "PRESETS",
    "FormatField",
    "LogFormat",
    "Syntax",
    "compile_log_format",
    "strip_directive",
]

Syntax = Literal["nginx", "apache"]

#: Named formats a user may give instead of a format string.
PRESETS: Final[dict[Syntax, dict[str, str]]] = {
    "nginx": {
        "combined": (
            '$remote_addr - $remote_user [$time_local] "$request" '
            '$status $body_bytes_sent "$http_referer" "$http_user_agent"'
        ),
        "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
        "vigile": (
            '$remote_addr - $remote_user [$time_local] "$request" '
            '$status $body_bytes_sent "$http_referer" "$http_user_agent" '
            '"$upstream_http_x_vigile_actor" "$upstream_http_x_vigile_tenant" '
            '"$upstream_http_x_vigile_session" "$upstream_http_x_vigile_records" '
            '"$upstream_http_x_vigile_patients" $request_time'
        ),
    },
    "apache": {
        "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"',
        "common": '%h %l %u %t "%r" %>s %b',
        "vigile": (
            '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" '
            '"%{X-Vigile-Actor}o" "%{X-Vigile-Tenant}o" "%{X-Vigile-Session}o" '
            '"%{X-Vigile-Records}o" "%{X-Vigile-Patients}o" %D'
        ),
    },
}

#: Apache directive letter → field name (``{X}`` forms are handled apart).
APACHE_DIRECTIVES: Final[dict[str, str]] = {
    "a": "remote_addr",
    "A": "server_addr",
    "B": "body_bytes_sent",
    "b": "body_bytes_sent",
    "D": "request_time_us",
    "f": "request_filename",
    "h": "remote_host",
    "H": "server_protocol",
    "I": "bytes_received",
    "k": "keepalive_requests",
    "l": "remote_logname",
    "L": "log_id",
    "m": "request_method",
    "O": "bytes_sent",
    "p": "server_port",
    "P": "pid",
    "q": "query_string",
    "r": "request",
    "R": "handler",
    "s": "original_status",
    "S": "bytes_transferred",
    "t": "time_local",
    "T": "request_time_s",
    "u": "remote_user",
    "U": "uri",
    "v": "server_name",
    "V": "host",
    "X": "connection_status",
}

#: Apache ``%{X}?`` directive letter → field name prefix (``X`` lower-cased, ``-`` → ``_``).
_APACHE_BRACED: Final[dict[str, str]] = {
    "i": "http_",
    "o": "sent_http_",
    "C": "cookie_",
    "e": "env_",
    "n": "note_",
    "p": "server_port_",
    "P": "pid_",
    "T": "request_time_",
    "^ti": "trailer_in_",
    "^to": "trailer_out_",
}

_TIME_UNITS: Final[dict[str, str]] = {
    "sec": "time_sec",
    "msec": "time_msec",
    "usec": "time_usec",
    "msec_frac": "time_msec_frac",
    "usec_frac": "time_usec_frac",
}

_NGINX_VAR: Final = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_APACHE_DIRECTIVE: Final = re.compile(
    r"%(?P<cond>!?[0-9]{3}(?:,[0-9]{3})*)?(?P<mod>[<>])?"
    r"(?:\{(?P<arg>[^}]*)\})?(?P<letter>\^t[io]|[A-Za-z%])"
)
#: a quoted value that may hold backslash-escaped quotes (Apache writes ``\\"``)
_QUOTED_ESCAPED: Final = r'[^"\\]*(?:\\.[^"\\]*)*'
#: a quoted value without quotes (nginx writes a quote as ``\\x22``): twice as fast
_QUOTED_PLAIN: Final = r'[^"]*'
#: patterns of fields written right before another field (no separator to stop at)
_ADJACENT: Final[dict[str, str]] = {
    "uri": r"[^?\s]*",
    "document_uri": r"[^?\s]*",
    "request_method": r"[A-Z]*",
    "status": r"[0-9]{3}",
}
_ESCAPE_PARAM: Final = re.compile(r"^escape=\S+\s*")


@dataclass(frozen=True)
class FormatField:
    """One field of a log format: its name, how it was written, what extra it carries."""

    name: str
    spelling: str
    #: the strftime format of an Apache ``%{format}t`` field
    time_format: str | None = None


@dataclass(frozen=True)
class LogFormat:
    """A compiled log format: one regex whose groups are ``fields``, in order.

    ``fallback`` is the same format with quoted fields that may hold
    backslash-escaped quotes; nginx lines are tried with it only when the faster
    ``regex`` fails (nginx escapes a quote as ``\\x22``, so it rarely does).
    """

    syntax: Syntax
    source: str
    regex: re.Pattern[str]
    fallback: re.Pattern[str] | None
    fields: tuple[FormatField, ...]
    #: the format as a sequence of literal strings and fields, with each field's pattern
    tokens: tuple[str | tuple[FormatField, str], ...] = field(repr=False)

    def index(self, *names: str) -> int | None:
        """The 0-based group index of the first of ``names`` present in the format."""
        for name in names:
            for i, f in enumerate(self.fields):
                if f.name == name:
                    return i
        return None

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in group order."""
        return tuple(f.name for f in self.fields)

    def diagnose(self, text: str) -> str:
        """Why ``text`` does not match: the first literal or field that fails, and where."""
        tokens = self.tokens
        pattern = ""
        pos = 0
        previous = "the start of the line"
        for token in tokens:
            if isinstance(token, str):
                pattern += re.escape(token)
                what = f"{token!r}"
            else:
                pattern += "(" + token[1] + ")"
                what = f"field {token[0].spelling}"
            m = re.compile(pattern, re.DOTALL).match(text)
            if m is None:
                found = text[pos : pos + 30]
                shown = repr(found) + ("..." if len(text) > pos + 30 else "")
                if not found:
                    shown = "the end of the line"
                return (
                    f"line does not match the log format: expected {what} after {previous} "
                    f"at column {pos + 1}, found {shown}"
                )
            pos = m.end()
            previous = what
        rest = text[pos : pos + 30]
        return (
            f"line does not match the log format: unexpected text after {previous} "
            f"at column {pos + 1}: {rest!r}"
        )


def strip_directive(text: str, syntax: Syntax) -> str:
    """The bare format from a pasted ``log_format`` / ``LogFormat`` directive.

    A bare format is returned unchanged (apart from surrounding blanks).
    """
    stripped = text.strip()
    if syntax == "nginx":
        if not stripped.startswith("log_format") or stripped[10:11] not in (" ", "\t", "\n"):
            return stripped
        rest = stripped[10:].strip().rstrip(";").strip()
        _name, _, rest = rest.partition(" ")
        rest = _ESCAPE_PARAM.sub("", rest.strip())
        return _concat_quoted(rest)
    if stripped.startswith("LogFormat") and stripped[9:10] in (" ", "\t"):
        rest = stripped[9:].strip()
        if rest[:1] == '"':
            return _concat_quoted(rest, first_only=True)
    return stripped


def _concat_quoted(text: str, *, first_only: bool = False) -> str:
    """Concatenate the quoted strings of a directive (nginx splits formats over lines)."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    if nxt in ("'", '"', "\\"):
                        buf.append(nxt)
                        j += 2
                        continue
                buf.append(text[j])
                j += 1
            out.append("".join(buf))
            i = j + 1
            if first_only:
                break
        elif c.isspace():
            i += 1
        else:  # an unquoted word (nginx allows one)
            j = i
            while j < n and not text[j].isspace():
                j += 1
            out.append(text[i:j])
            i = j
            if first_only:
                break
    return "".join(out)


def compile_log_format(text: str, syntax: Syntax) -> LogFormat:
    """Compile a format string (or preset name, or pasted directive) of ``syntax``.

    Raises :class:`ConfigError` if the format has no field or uses an Apache
    directive vigile does not know.
    """
    source = PRESETS[syntax].get(text.strip(), text)
    bare = strip_directive(source, syntax)
    problems: list[str] = []
    raw = _tokenise_nginx(bare) if syntax == "nginx" else _tokenise_apache(bare, problems)
    if problems:
        raise ConfigError(problems)
    if not any(isinstance(t, FormatField) for t in raw):
        raise ConfigError([f"log format {bare!r} has no {syntax} field"])
    escaped = _tokens_with_patterns(raw, _QUOTED_ESCAPED)
    tokens = _tokens_with_patterns(raw, _QUOTED_PLAIN) if syntax == "nginx" else escaped
    regex, fields = _assemble(tokens)
    fallback = _assemble(escaped)[0] if tokens is not escaped else None
    return LogFormat(syntax, bare, regex, fallback, fields, tuple(escaped))


def _tokens_with_patterns(
    raw: list[str | FormatField], quoted: str
) -> list[str | tuple[FormatField, str]]:
    tokens: list[str | tuple[FormatField, str]] = []
    for i, token in enumerate(raw):
        if isinstance(token, str):
            tokens.append(token)
            continue
        before = raw[i - 1] if i > 0 else ""
        after = raw[i + 1] if i + 1 < len(raw) else None
        tokens.append((token, _field_pattern(token, before, after, quoted)))
    return tokens


def _assemble(
    tokens: list[str | tuple[FormatField, str]],
) -> tuple[re.Pattern[str], tuple[FormatField, ...]]:
    used: dict[str, int] = {}
    parts: list[str] = []
    fields: list[FormatField] = []
    for token in tokens:
        if isinstance(token, str):
            parts.append(re.escape(token))
            continue
        f, pattern = token
        base = re.sub(r"\W", "_", f.name) or "field"
        if base[0].isdigit():
            base = "f_" + base
        count = used.get(base, 0) + 1
        used[base] = count
        group = base if count == 1 else f"{base}_{count}"
        parts.append(f"(?P<{group}>{pattern})")
        fields.append(f)
    return re.compile("".join(parts), re.DOTALL), tuple(fields)


def _field_pattern(
    f: FormatField, before: str | FormatField, after: str | FormatField | None, quoted: str
) -> str:
    """The regex of one field, from the characters around it."""
    in_quotes = isinstance(before, str) and before.endswith('"')
    in_quotes = in_quotes and isinstance(after, str) and after.startswith('"')
    if in_quotes:
        return quoted
    if after is None:
        return ".*"
    if isinstance(after, FormatField):  # two fields side by side: %U%q
        return _ADJACENT.get(f.name, ".*?")
    stop = after[0]
    spaces = _inner_spaces(f) if stop == " " else 0
    if spaces:
        word = r"[^ ]*"
        return word + (" " + word) * spaces
    return "[^" + re.escape(stop) + "]*"


def _inner_spaces(f: FormatField) -> int:
    """How many spaces a well-formed value of ``f`` holds."""
    if f.name == "time_local":
        return 1
    if f.time_format is not None:
        return f.time_format.count(" ")
    return 0


def _tokenise_nginx(text: str) -> list[str | FormatField]:
    out: list[str | FormatField] = []
    pos = 0
    for m in _NGINX_VAR.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        name = (m.group(1) or m.group(2)).lower()
        out.append(FormatField(name, m.group(0)))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return _merge_literals(out)


def _tokenise_apache(text: str, problems: list[str]) -> list[str | FormatField]:
    out: list[str | FormatField] = []
    pos = 0
    while pos < len(text):
        j = text.find("%", pos)
        if j < 0:
            out.append(_apache_unescape(text[pos:]))
            break
        if j > pos:
            out.append(_apache_unescape(text[pos:j]))
        m = _APACHE_DIRECTIVE.match(text, j)
        if m is None:
            problems.append(f"log format: '%' at column {j + 1} starts no Apache directive")
            break
        pos = m.end()
        letter, arg, mod = m.group("letter"), m.group("arg"), m.group("mod")
        if letter == "%":
            out.append("%")
            continue
        made = _apache_field(letter, arg, mod, m.group(0))
        if made is None:
            problems.append(
                f"log format: unsupported Apache directive {m.group(0)!r} at column {j + 1}"
            )
            continue
        if letter == "t" and arg is None:
            out.extend(("[", made, "]"))  # %t writes its own brackets
        else:
            out.append(made)
    return _merge_literals(out)


def _apache_field(
    letter: str, arg: str | None, mod: str | None, spelling: str
) -> FormatField | None:
    if letter == "s":
        return FormatField("status" if mod == ">" else "original_status", spelling)
    if arg is None:
        name = APACHE_DIRECTIVES.get(letter)
        return FormatField(name, spelling) if name else None
    if letter == "t":
        fmt = arg
        for when in ("begin:", "end:"):
            fmt = fmt.removeprefix(when)
        unit = _TIME_UNITS.get(fmt)
        if unit is not None:
            return FormatField(unit, spelling)
        return FormatField("time", spelling, time_format=fmt)
    if letter == "a" and arg == "c":
        return FormatField("peer_addr", spelling)
    if letter == "T":
        if arg in ("s", "ms", "us"):
            return FormatField(f"request_time_{arg}", spelling)
        return None
    prefix = _APACHE_BRACED.get(letter)
    if prefix is None:
        return None
    suffix = arg.lower().replace("-", "_")
    if letter == "C":
        suffix = arg  # cookie names are case-sensitive, as nginx's $cookie_NAME
    return FormatField(prefix + suffix, spelling)


def _apache_unescape(text: str) -> str:
    """Apache format literals understand ``\\n``, ``\\t`` and ``\\"``."""
    if "\\" not in text:
        return text
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t")


def _merge_literals(tokens: list[str | FormatField]) -> list[str | FormatField]:
    out: list[str | FormatField] = []
    for token in tokens:
        if isinstance(token, str):
            if not token:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + token
                continue
        out.append(token)
    return out
