"""Properties of the nginx / Apache parsers.

* Whatever the bytes (random, or a real line with random damage), ``parse``
  returns an event or ``None`` or raises :class:`ParseError`, and never with an
  internal-error reason.
* Render → parse round-trips: an access event written as an nginx (or Apache)
  line in the reference format, with the server's own escaping, parses back to
  the same fields.
* The fast query-parameter reader agrees with ``urllib.parse.parse_qsl``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigile.errors import ParseError
from vigile.events import AccessEvent, normalise_ip
from vigile.parsers import ParserOptions
from vigile.parsers.weblog import ApacheParser, NginxParser, WebLogParser, _param

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def parsers() -> dict[str, WebLogParser]:
    """Parsers over the shipped maps and a few formats (built once)."""
    return {
        "nginx_reference": NginxParser.from_options(ParserOptions()),
        "apache_reference": ApacheParser.from_options(ParserOptions()),
        "nginx_generic": NginxParser.from_options(
            ParserOptions(route_map=Path("generic"), default_tenant="cab-0042")
        ),
        "nginx_custom": NginxParser.from_options(
            ParserOptions(
                log_format="$time_iso8601 $msec $remote_addr $request_method $request_uri "
                '$status "$http_x_forwarded_for" "$upstream_http_x_vigile_actor" '
                '"$upstream_http_x_vigile_tenant" "$upstream_http_x_vigile_patients" '
                "$request_time",
                extra={"unmatched": "quarantine"},
            )
        ),
        "apache_custom": ApacheParser.from_options(
            ParserOptions(
                log_format="%a [%{%d/%b/%Y:%H:%M:%S %z}t.%{msec_frac}t] %m %U%q %>s %B "
                '"%{X-Vigile-Actor}o" "%{X-Vigile-Tenant}o" %{sec}t',
                route_map=Path("reference"),
            )
        ),
    }


def parse_safely(parser: WebLogParser, line: bytes) -> AccessEvent | None:
    """Parse, allowing only ParseError, and never an internal one."""
    try:
        return parser.parse(line)
    except ParseError as exc:
        assert not exc.reason.startswith("internal error"), exc.reason
        assert exc.reason
        return None


# -- arbitrary and damaged bytes ---------------------------------------------------------


@SETTINGS
@given(line=st.binary(max_size=1500), name=st.sampled_from(sorted(parsers())))
def test_when_bytes_are_arbitrary_then_only_parse_error_is_raised(line: bytes, name: str) -> None:
    parse_safely(parsers()[name], line)


GOOD = (
    b'10.42.0.17 - - [02/Mar/2026:09:14:03 +0100] "GET /api/v1/patients/P0001234?x=1 HTTP/1.1" '
    b'200 1834 "-" "Mozilla/5.0 \\x22x\\x22" "dr.martin.0042" "cab-0042" "s-0042a1b2c3" "1" '
    b'"P0001234" 0.012'
)
PIECES = [
    b" ",
    b'"',
    b"\\",
    b"\\x22",
    b'\\"',
    b"-",
    b",",
    b"[",
    b"]",
    b"%",
    b"?",
    b"/",
    b"\xff",
    b"\xc3\xa9",
    b"::ffff:",
    b"999",
    b"+2500",
    b"0000",
    b"\x00",
]


@st.composite
def damaged_lines(draw: st.DrawFn) -> bytes:
    """A real reference line with a few random insertions, deletions and replacements."""
    line = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(line)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(PIECES), st.binary(min_size=1, max_size=8)))
        if kind == "insert":
            line[at:at] = piece
        elif kind == "delete":
            line[at : at + len(piece)] = b""
        else:
            line[at : at + len(piece)] = piece
    return bytes(line)


@SETTINGS
@given(line=damaged_lines(), name=st.sampled_from(sorted(parsers())))
def test_when_a_real_line_is_damaged_then_only_parse_error_is_raised(
    line: bytes, name: str
) -> None:
    parse_safely(parsers()[name], line)


# -- render -> parse -------------------------------------------------------------------

#: (method, path template, action, resource, whether a query belongs to it)
ROUTES = [
    ("POST", "/api/v1/auth/login", "login", "session", None),
    ("POST", "/api/v1/auth/logout", "logout", "session", None),
    ("GET", "/api/v1/patients/{patient_id}", "read", "patient", None),
    ("GET", "/api/v1/patients", "list", "patient", "*"),
    ("GET", "/api/v1/patients/search", "search", "patient", "q"),
    ("POST", "/api/v1/patients", "create", "patient", None),
    ("PUT", "/api/v1/patients/{patient_id}", "update", "patient", None),
    ("DELETE", "/api/v1/patients/{patient_id}", "delete", "patient", None),
    ("GET", "/api/v1/patients/{patient_id}/annotations", "read", "annotation", None),
    ("POST", "/api/v1/patients/{patient_id}/annotations", "create", "annotation", None),
    ("GET", "/api/v1/patients/{patient_id}/documents/{document_id}", "read", "document", None),
    ("GET", "/api/v1/patients/{patient_id}/prescriptions", "read", "prescription", None),
    ("POST", "/api/v1/patients/{patient_id}/prescriptions", "create", "prescription", None),
    ("GET", "/api/v1/patients/{patient_id}/print", "print", "patient", None),
    ("GET", "/api/v1/appointments", "list", "appointment", "*"),
    ("POST", "/api/v1/appointments", "create", "appointment", None),
    ("GET", "/api/v1/exports/patients", "export", "patient", "*"),
]

names = st.text(min_size=1, max_size=30).filter(lambda s: s not in ("-",))
patient_id = st.from_regex(r"P[0-9]{7}", fullmatch=True) | st.text(
    st.characters(blacklist_characters=",", blacklist_categories=("Zs", "Cc", "Cs")),
    min_size=1,
    max_size=12,
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.replace(microsecond=0)
    ),
    offsets,
)
addresses = st.ip_addresses().map(str)


@st.composite
def events(draw: st.DrawFn) -> tuple[AccessEvent, str]:
    """A reference-API access event, and the URL it was requested with."""
    method, template, action, resource, query_kind = draw(st.sampled_from(ROUTES))
    ids = draw(st.lists(patient_id, max_size=6, unique=True)) if resource != "session" else []
    path = template
    if "{patient_id}" in template:
        first = draw(patient_id)
        ids = [first, *(i for i in ids if i != first)]
        path = path.replace("{patient_id}", quote(first, safe=""))
    path = path.replace("{document_id}", "D" + str(draw(st.integers(0, 10**6))))
    status = draw(st.integers(100, 599))
    if action == "login" and status in (401, 403):
        action = "login_failed"
    query = None
    url = path
    if query_kind == "q":
        query = draw(st.text(min_size=1, max_size=40))
        url += "?q=" + quote_plus(query)
    elif query_kind == "*" and draw(st.booleans()):
        query = f"page={draw(st.integers(1, 99))}&size={draw(st.integers(1, 500))}"
        url += "?" + query
    event = AccessEvent(
        ts=draw(times),
        tenant=draw(names),
        actor=draw(names),
        action=action,
        resource=resource,
        session=draw(st.none() | names),
        src_ip=draw(st.none() | addresses),
        user_agent=draw(st.none() | st.text(min_size=1, max_size=80).filter(lambda s: s != "-")),
        method=method,
        route=template,
        status=status,
        patient_ids=ids,
        records=draw(st.integers(0, 10**9)),
        bytes=draw(st.integers(0, 10**15)),
        query=query,
    )
    return event, url


def escape(value: str | None, style: str) -> str:
    """A value as the server writes it: ``-`` when absent, special bytes escaped.

    nginx writes ``"``, ``\\``, control and non-ASCII bytes as ``\\xHH``; Apache
    writes ``\\"`` and ``\\\\`` and the others as ``\\xhh``.
    """
    if value is None:
        return "-"
    out = []
    for byte in value.encode():
        char = chr(byte)
        if style == "apache" and char in '"\\':
            out.append("\\" + char)
        elif byte < 0x20 or byte >= 0x7F or char in '"\\':
            out.append(f"\\x{byte:02X}" if style == "nginx" else f"\\x{byte:02x}")
        else:
            out.append(char)
    return "".join(out)


def render(event: AccessEvent, url: str, style: str, request_time: float) -> bytes:
    """The event as one line of the reference format (nginx ``vigile`` or its Apache twin)."""
    e = lambda v: escape(v, style)  # noqa: E731
    tail = f"{request_time:.3f}" if style == "nginx" else str(round(request_time * 1e6))
    stamp = event.ts.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        f'{event.src_ip or "-"} - - [{stamp}] "{event.method} {url} HTTP/1.1" '
        f'{event.status} {event.bytes} "-" "{e(event.user_agent)}" "{e(event.actor)}" '
        f'"{e(event.tenant)}" "{e(event.session)}" "{event.records}" '
        f'"{e(",".join(event.patient_ids)) if event.patient_ids else "-"}" {tail}'
    ).encode()


@SETTINGS
@given(
    drawn=events(),
    style=st.sampled_from(["nginx", "apache"]),
    request_time=st.floats(0, 1000),
)
def test_when_an_event_is_rendered_in_the_reference_format_then_it_parses_back(
    drawn: tuple[AccessEvent, str], style: str, request_time: float
) -> None:
    event, url = drawn
    parser = parsers()[f"{style}_reference"]
    line = render(event, url, style, request_time)
    parsed = parser.parse(line)
    assert parsed is not None, line
    expected = event.to_dict()
    if event.src_ip is not None:
        expected["src_ip"] = normalise_ip(event.src_ip)
    got = parsed.to_dict()
    extra_key = "request_time" if style == "nginx" else "request_time_us"
    kept = got.pop(extra_key)
    assert kept == (round(request_time, 3) if style == "nginx" else round(request_time * 1e6))
    assert got == expected, line


@SETTINGS
@given(
    qs=st.text(alphabet="ab=&%+;20419AF é\x00", max_size=40),
    name=st.sampled_from(["a", "b", "a b", "é"]),
)
def test_when_a_query_parameter_is_read_then_it_agrees_with_parse_qsl(qs: str, name: str) -> None:
    assert _param(qs, name) == [v for k, v in parse_qsl(qs) if k == name]
