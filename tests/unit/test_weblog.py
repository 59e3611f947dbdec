"""nginx / Apache access logs: log_format compilation, route maps, every bad-input reason."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from vigile.errors import ConfigError, ParseError
from vigile.events import AccessEvent
from vigile.parsers import ParserOptions, make_parser
from vigile.parsers.logformat import compile_log_format, strip_directive
from vigile.parsers.routemap import SHIPPED_DIR, load_route_map
from vigile.parsers.weblog import ApacheParser, NginxParser

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
PARIS = timezone(timedelta(hours=1))


def ref_line(
    *,
    ip: str = "10.42.0.17",
    time: str = "02/Mar/2026:09:14:03 +0100",
    request: str = "GET /api/v1/patients/P0001234 HTTP/1.1",
    status: str = "200",
    size: str = "1834",
    ua: str = UA,
    actor: str = "dr.martin.0042",
    tenant: str = "cab-0042",
    session: str = "s-0042a1b2c3",
    records: str = "1",
    patients: str = "P0001234",
    request_time: str = "0.012",
) -> bytes:
    """One line in the reference ``log_format vigile``."""
    return (
        f'{ip} - - [{time}] "{request}" {status} {size} "-" "{ua}" '
        f'"{actor}" "{tenant}" "{session}" "{records}" "{patients}" {request_time}'
    ).encode()


@pytest.fixture(scope="module")
def nginx() -> NginxParser:
    return NginxParser.from_options(ParserOptions())


def write_map(tmp_path: Path, text: str, name: str = "map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def parser_for(
    tmp_path: Path, routes: str, log_format: str = "combined", **options: str
) -> NginxParser:
    path = write_map(tmp_path, routes)
    return NginxParser.from_options(
        ParserOptions(
            log_format=log_format, route_map=path, default_tenant="cab-0042", extra=options
        )
    )


def parse_ok(parser: NginxParser | ApacheParser, line: bytes) -> AccessEvent:
    event = parser.parse(line)
    assert event is not None
    return event


def reason(parser: NginxParser | ApacheParser, line: bytes) -> str:
    with pytest.raises(ParseError) as info:
        parser.parse(line)
    return info.value.reason


# -- log_format compilation ---------------------------------------------------------


def test_when_nginx_combined_is_compiled_then_its_fields_come_in_order() -> None:
    fmt = compile_log_format("combined", "nginx")
    assert fmt.names == (
        "remote_addr",
        "remote_user",
        "time_local",
        "request",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    )
    m = fmt.regex.fullmatch(
        '10.0.0.1 - - [02/Mar/2026:09:14:03 +0100] "GET / HTTP/1.1" 200 5 "-" "curl/8"'
    )
    assert m is not None
    assert m.groups()[2] == "02/Mar/2026:09:14:03 +0100"


def test_when_a_whole_nginx_directive_is_pasted_then_name_quotes_and_escape_are_stripped() -> None:
    pasted = """log_format main escape=json '$remote_addr [$time_local] '
                   '"$request" $status';"""
    assert strip_directive(pasted, "nginx") == '$remote_addr [$time_local] "$request" $status'
    fmt = compile_log_format(pasted, "nginx")
    assert fmt.names == ("remote_addr", "time_local", "request", "status")


def test_when_a_whole_apache_logformat_is_pasted_then_escaped_quotes_become_literal() -> None:
    pasted = r'LogFormat "%h %l %u %t \"%r\" %>s %b" common'
    assert strip_directive(pasted, "apache") == '%h %l %u %t "%r" %>s %b'


def test_when_apache_directives_are_compiled_then_they_take_nginx_names() -> None:
    fmt = compile_log_format(
        "%a %h %{c}a %u %l %t %{%Y-%m-%d}t %{msec}t %m %U%q %H %>s %s %b %B %O %D %{ms}T %T "
        '"%{User-Agent}i" "%{X-Vigile-Actor}o" %{sid}C %{UNIQUE_ID}e %v %p %P %%',
        "apache",
    )
    assert fmt.names == (
        "remote_addr",
        "remote_host",
        "peer_addr",
        "remote_user",
        "remote_logname",
        "time_local",
        "time",
        "time_msec",
        "request_method",
        "uri",
        "query_string",
        "server_protocol",
        "status",
        "original_status",
        "body_bytes_sent",
        "body_bytes_sent",
        "bytes_sent",
        "request_time_us",
        "request_time_ms",
        "request_time_s",
        "http_user_agent",
        "sent_http_x_vigile_actor",
        "cookie_sid",
        "env_unique_id",
        "server_name",
        "server_port",
        "pid",
    )
    assert fmt.fields[6].time_format == "%Y-%m-%d"
    assert fmt.source.endswith("%%")


def test_when_apache_status_conditions_are_written_then_they_are_ignored() -> None:
    fmt = compile_log_format("%h %400,501{User-agent}i %!200,304{Referer}i %<s %>s", "apache")
    assert fmt.names == (
        "remote_host",
        "http_user_agent",
        "http_referer",
        "original_status",
        "status",
    )


def test_when_an_apache_directive_is_unknown_then_config_error_names_it() -> None:
    with pytest.raises(ConfigError) as info:
        compile_log_format("%h %Z %{X}w", "apache")
    assert info.value.problems == [
        "log format: unsupported Apache directive '%Z' at column 4",
        "log format: unsupported Apache directive '%{X}w' at column 7",
    ]


def test_when_a_format_has_no_field_then_config_error() -> None:
    with pytest.raises(ConfigError, match="has no nginx field"):
        compile_log_format("just text", "nginx")


def test_when_nginx_variables_are_braced_or_upper_case_then_they_are_fields() -> None:
    fmt = compile_log_format("${status}s $HTTP_X_Real_IP", "nginx")
    assert fmt.names == ("status", "http_x_real_ip")
    assert fmt.regex.fullmatch("200s 10.0.0.1") is not None


def test_when_time_local_is_not_in_brackets_then_its_inner_space_still_matches() -> None:
    fmt = compile_log_format("$remote_addr $time_local $status", "nginx")
    m = fmt.regex.fullmatch("10.0.0.1 02/Mar/2026:09:14:03 +0100 200")
    assert m is not None
    assert m.groups() == ("10.0.0.1", "02/Mar/2026:09:14:03 +0100", "200")


def test_when_path_and_query_are_side_by_side_then_both_are_split() -> None:
    fmt = compile_log_format("%m %U%q %>s", "apache")
    m = fmt.regex.fullmatch("GET /api/v1/patients?page=2 200")
    assert m is not None
    assert m.groups() == ("GET", "/api/v1/patients", "?page=2", "200")


def test_when_nginx_quoted_field_holds_escaped_quote_then_fallback_regex_matches() -> None:
    fmt = compile_log_format('"$http_user_agent" $status', "nginx")
    assert fmt.regex.fullmatch(r'"a \"b\" c" 200') is None
    assert fmt.fallback is not None
    m = fmt.fallback.fullmatch(r'"a \"b\" c" 200')
    assert m is not None
    assert m.groups() == (r"a \"b\" c", "200")


def test_when_a_line_does_not_match_then_diagnosis_names_the_literal_and_column() -> None:
    fmt = compile_log_format("combined", "nginx")
    assert fmt.diagnose("10.0.0.1 - - 02/Mar/2026") == (
        "line does not match the log format: expected ' [' after field $remote_user "
        "at column 13, found ' 02/Mar/2026'"
    )


# -- route map validation -------------------------------------------------------------


BROKEN_MAP = """
version: 2
colour: blue
fields:
  actor: $remote_user
  tenant: {field: remote_user, regex: '('}
unmatched: drop
routes:
  - method: FETCH me
    path: /api/v1/patients/{patient_id}
    action: peek
    resource: patient
  - method: GET
    path: /a
    regex: /b
    action: read
    resource: patient
  - method: GET
    path: /api/v1/patients/{patient_id}
    action: read
    resource: patient
    patient_ids: [path:pid, header:x, default]
    action_by_status: {40x: read}
  - method: GET
    regex: '/x/(?P<id>[0-9]+)'
    action: read
  - method: GET
    path: /b
    action: read
    action: list
    resource: patient
"""


def test_when_a_route_map_has_many_problems_then_each_is_reported_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = write_map(tmp_path, BROKEN_MAP)
    with pytest.raises(ConfigError) as info:
        load_route_map(path)
    f = str(path)
    assert info.value.problems == [
        f"{f}:2: route map: unknown key 'colour' (known keys: version, description, log_format, "
        "default_tenant, fields, keep, unmatched, skip, routes)",
        f"{f}:1: version: 2 is not supported (use 1)",
        f"{f}:4: fields.actor: '$remote_user' is not a log field name (write nginx names "
        "without '$': remote_user, upstream_http_x_vigile_actor)",
        f"{f}:5: fields.tenant.regex: invalid regex '(': missing ), unterminated subpattern "
        "at position 0",
        f"{f}:6: unmatched: 'drop' is not 'skip' or 'quarantine'",
        f"{f}:8: routes[1].method: 'FETCH me' is not an HTTP method (GET, POST...)",
        f"{f}:10: routes[1].action: 'peek' is not one of login, login_failed, logout, read, "
        "search, list, export, print, create, update, delete",
        f"{f}:12: routes[2]: give exactly one of 'path' (a template) or 'regex'",
        f"{f}:22: routes[3].action_by_status: '40x' is not a status (401) or class (4xx)",
        f"{f}:21: routes[3].patient_ids: the path has no parameter 'pid' (it has: patient_id)",
        f"{f}:21: routes[3].patient_ids: 'header:x' is not path:NAME, query:NAME, field:NAME "
        "or default",
        f"{f}:21: routes[3].patient_ids: 'default' needs fields.patient_ids",
        f"{f}:23: routes[4]: a regex route needs 'route' (the template to record)",
        f"{f}:23: routes[4]: 'resource' is required (or 'skip: true')",
        f"{f}:29: routes[5]: duplicate key 'action'",
    ]


def test_when_a_route_map_is_not_yaml_then_the_error_has_its_line(tmp_path: Path) -> None:
    path = write_map(tmp_path, "fields:\n  actor: remote_user\nroutes: [\n  - {")
    with pytest.raises(ConfigError) as info:
        load_route_map(path)
    assert info.value.problems[0].startswith(f"{path}:4: invalid YAML:")


def test_when_a_route_map_has_no_fields_or_routes_then_both_are_reported(tmp_path: Path) -> None:
    path = write_map(tmp_path, "description: nothing\n")
    with pytest.raises(ConfigError) as info:
        load_route_map(path)
    assert info.value.problems == [
        f"{path}:1: route map has no 'fields' mapping (at least fields.actor)",
        f"{path}:1: route map has no 'routes' list",
    ]


def test_when_a_route_map_file_is_missing_then_the_shipped_maps_are_listed() -> None:
    with pytest.raises(
        ConfigError, match=r"no such route map file \(shipped maps: generic, reference\)"
    ):
        load_route_map("nowhere/map.yaml")


@pytest.mark.parametrize("name", ["reference", "generic"])
def test_when_a_shipped_map_is_named_then_it_loads(name: str) -> None:
    route_map = load_route_map(name)
    assert route_map.file == str(SHIPPED_DIR / f"{name}.yaml")
    assert len(route_map.routes) >= 17


def test_when_the_map_names_fields_the_format_lacks_then_construction_says_which(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        NginxParser.from_options(ParserOptions(log_format="combined"))
    actor, tenant = info.value.problems
    assert actor.startswith(f"{SHIPPED_DIR / 'reference.yaml'}:")
    assert "fields.actor: the log format has none of upstream_http_x_vigile_actor" in actor
    assert "try --route-map generic" in actor
    assert "fields.tenant: the log format has none of upstream_http_x_vigile_tenant" in tenant


def test_when_no_tenant_source_exists_then_construction_asks_for_a_default(tmp_path: Path) -> None:
    path = write_map(
        tmp_path,
        """
        fields: {actor: remote_user}
        routes: [{method: GET, path: "/p/{patient_id}", action: read, resource: patient}]
        """,
    )
    with pytest.raises(ConfigError, match="give --default-tenant"):
        NginxParser.from_options(ParserOptions(route_map=path))
    parser = NginxParser.from_options(ParserOptions(route_map=path, default_tenant="cab-0042"))
    assert parser.default_tenant == "cab-0042"


def test_when_the_format_has_no_time_or_request_then_construction_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        NginxParser.from_options(
            ParserOptions(log_format="$remote_user $status", route_map=Path("generic"))
        )
    assert len(info.value.problems) == 2
    assert "no request field" in info.value.problems[0]
    assert "no time field" in info.value.problems[1]


def test_when_log_format_is_bad_then_the_error_says_it_came_from_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^--log-format: log format: unsupported Apache"):
        ApacheParser.from_options(ParserOptions(log_format="%h %Z"))


def test_when_unmatched_option_is_bad_then_config_error() -> None:
    with pytest.raises(ConfigError, match="use skip or quarantine"):
        NginxParser.from_options(ParserOptions(extra={"unmatched": "drop"}))


# -- the registry ---------------------------------------------------------------------


def test_when_the_registry_builds_nginx_and_apache_then_they_default_to_the_reference_map() -> None:
    nginx = make_parser("nginx")
    apache = make_parser("apache")
    assert isinstance(nginx, NginxParser)
    assert isinstance(apache, ApacheParser)
    assert nginx.log_format.names[-1] == "request_time"
    assert apache.log_format.names[-1] == "request_time_us"


# -- good lines -----------------------------------------------------------------------


def test_when_a_reference_read_is_parsed_then_every_field_is_set(nginx: NginxParser) -> None:
    event = parse_ok(nginx, ref_line())
    assert event.to_dict() == {
        "ts": "2026-03-02T09:14:03+01:00",
        "tenant": "cab-0042",
        "actor": "dr.martin.0042",
        "action": "read",
        "resource": "patient",
        "session": "s-0042a1b2c3",
        "src_ip": "10.42.0.17",
        "user_agent": UA,
        "method": "GET",
        "route": "/api/v1/patients/{patient_id}",
        "status": 200,
        "patient_ids": ["P0001234"],
        "records": 1,
        "bytes": 1834,
        "request_time": 0.012,
    }


def test_when_search_comes_before_patient_id_then_first_match_wins(nginx: NginxParser) -> None:
    event = parse_ok(
        nginx,
        ref_line(
            request="GET /api/v1/patients/search?q=jean+dupont&page=2 HTTP/1.1",
            records="2",
            patients="P0000001,P0000002",
        ),
    )
    assert (event.action, event.route, event.query) == (
        "search",
        "/api/v1/patients/search",
        "jean dupont",
    )
    assert event.patient_ids == ["P0000001", "P0000002"]


def test_when_ids_repeat_across_path_and_header_then_each_is_kept_once(nginx: NginxParser) -> None:
    event = parse_ok(nginx, ref_line(patients="P0001234, P0001235,,P0001234"))
    assert event.patient_ids == ["P0001234", "P0001235"]
    assert event.records == 1  # the application's own count wins


def test_when_a_path_id_is_percent_encoded_then_it_is_decoded(nginx: NginxParser) -> None:
    event = parse_ok(
        nginx, ref_line(request="GET /api/v1/patients/P%C3%A9rez%2001/ HTTP/1.1", patients="-")
    )
    assert event.patient_ids == ["Pérez 01"]


def test_when_login_is_refused_then_action_is_login_failed_with_unknown_account(
    nginx: NginxParser,
) -> None:
    line = ref_line(
        request="POST /api/v1/auth/login HTTP/1.1",
        status="401",
        actor="-",
        tenant="-",
        session="-",
        records="-",
        patients="-",
    )
    event = parse_ok(nginx, line)
    assert (event.action, event.actor, event.tenant, event.records) == (
        "login_failed",
        "(unknown)",
        "(unknown)",
        0,
    )


def test_when_a_request_is_refused_without_a_count_then_records_is_zero(nginx: NginxParser) -> None:
    event = parse_ok(nginx, ref_line(status="404", records="-", patients="-"))
    assert (event.status, event.patient_ids, event.records) == (404, ["P0001234"], 0)


def test_when_ipv6_or_mapped_ipv4_then_src_ip_is_canonical(nginx: NginxParser) -> None:
    assert parse_ok(nginx, ref_line(ip="2001:DB8:0:0::25")).src_ip == "2001:db8::25"
    assert parse_ok(nginx, ref_line(ip="::ffff:10.42.0.31")).src_ip == "10.42.0.31"


def test_when_optional_fields_are_dashes_then_they_are_absent(nginx: NginxParser) -> None:
    event = parse_ok(
        nginx,
        ref_line(
            ip="-", ua="-", session="-", records="-", patients="-", size="-", request_time="-"
        ),
    )
    assert (event.src_ip, event.user_agent, event.session, event.bytes, event.extra) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert event.patient_ids == ["P0001234"]


@pytest.mark.parametrize(
    "target",
    ["/static/app.js", "/favicon.ico", "/", "/api/v1/health", "/patients/P0001234"],
)
def test_when_a_url_is_in_the_skip_list_then_the_line_is_skipped(
    nginx: NginxParser, target: str
) -> None:
    assert nginx.parse(ref_line(request=f"GET {target} HTTP/1.1", actor="-")) is None


@pytest.mark.parametrize("request_line", ["-", "", "\\x16\\x03\\x01\\x00", "GET"])
def test_when_the_request_line_is_junk_then_the_line_is_skipped(
    nginx: NginxParser, request_line: str
) -> None:
    assert nginx.parse(ref_line(request=request_line, status="400", actor="-")) is None


def test_when_unmatched_is_overridden_to_skip_then_unknown_api_urls_are_skipped() -> None:
    parser = NginxParser.from_options(ParserOptions(extra={"unmatched": "skip"}))
    assert parser.parse(ref_line(request="GET /api/v9/other HTTP/1.1")) is None


def test_when_the_user_agent_is_escaped_then_it_is_unescaped(nginx: NginxParser) -> None:
    event = parse_ok(nginx, ref_line(ua=r"Navigateur \x22sp\xC3\xA9cial\x22"))
    assert event.user_agent == 'Navigateur "spécial"'


def test_when_bytes_are_not_utf8_then_they_are_kept_escaped(nginx: NginxParser) -> None:
    event = parse_ok(nginx, ref_line(actor="dr.m@.0042").replace(b"@", b"\xe9"))
    assert event.actor == "dr.m\\xe9.0042"


def test_when_msec_refines_time_local_then_ts_has_milliseconds_and_the_offset() -> None:
    parser = NginxParser.from_options(
        ParserOptions(
            log_format='$msec [$time_local] "$request" $status "$remote_user"',
            route_map=Path("generic"),
            default_tenant="cab-0042",
        )
    )
    event = parse_ok(
        parser,
        b'1772439243.512 [02/Mar/2026:09:14:03 +0100] "GET /api/v1/patients/P1 HTTP/1.1" 200 '
        b'"dr.martin.0042"',
    )
    assert event.ts == datetime(2026, 3, 2, 9, 14, 3, 512000, tzinfo=PARIS)
    assert event.ts.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("log_format", "stamp", "expected"),
    [
        (
            "$time_iso8601",
            "2026-03-02T09:14:03+01:00",
            datetime(2026, 3, 2, 9, 14, 3, tzinfo=PARIS),
        ),
        ("$time_iso8601", "2026-03-02T08:14:03Z", datetime(2026, 3, 2, 8, 14, 3, tzinfo=UTC)),
        ("$msec", "1772439243.5", datetime(2026, 3, 2, 8, 14, 3, 500000, tzinfo=UTC)),
    ],
)
def test_when_the_time_is_iso_or_epoch_then_it_is_read(
    log_format: str, stamp: str, expected: datetime
) -> None:
    parser = NginxParser.from_options(
        ParserOptions(
            log_format=f'{log_format} "$request" $status $remote_user',
            route_map=Path("generic"),
            default_tenant="cab-0042",
        )
    )
    line = f'{stamp} "GET /api/v1/patients/P1 HTTP/1.1" 200 dr.martin.0042'.encode()
    assert parse_ok(parser, line).ts == expected


def test_when_apache_uses_strftime_and_frac_then_ts_has_microseconds() -> None:
    parser = ApacheParser.from_options(
        ParserOptions(
            log_format='[%{%d/%b/%Y:%H:%M:%S %z}t.%{usec_frac}t] "%r" %>s %u',
            route_map=Path("generic"),
            default_tenant="cab-0042",
        )
    )
    event = parse_ok(
        parser, b'[02/Mar/2026:09:14:03 +0100.000251] "GET /api/v1/patients/P1 HTTP/1.1" 200 dr.x'
    )
    assert event.ts == datetime(2026, 3, 2, 9, 14, 3, 251, tzinfo=PARIS)


def test_when_route_map_has_regex_query_ids_and_field_fallbacks_then_all_apply(
    tmp_path: Path,
) -> None:
    parser = parser_for(
        tmp_path,
        """
        fields:
          actor: remote_user
          src_ip: [http_x_forwarded_for, remote_addr]
          session: {field: http_cookie, regex: 'sid=([^;]+)'}
        keep: [http_x_forwarded_for, request_time]
        routes:
          - method: GET
            regex: '/v2/dossiers/(?P<nip>P[0-9]+)(?:/(?P<part>notes|docs))?'
            route: /v2/dossiers/{nip}[/{part}]
            action: read
            resource: patient
            patient_ids: [path:nip, query:also]
            action_by_status: {4xx: list, 404: search}
        """,
        log_format='$remote_addr $remote_user "$request" $status "$http_x_forwarded_for" '
        '"$http_cookie" [$time_local] $request_time',
    )

    def line(target: str, status: str = "200", xff: str = "-") -> bytes:
        return (
            f'10.0.0.9 dr.martin.0042 "GET {target} HTTP/1.1" {status} "{xff}" '
            f'"lang=fr; sid=abc123; theme=dark" [02/Mar/2026:09:14:03 +0100] 0.5'
        ).encode()

    event = parse_ok(
        parser, line("/v2/dossiers/P12/notes?also=P13,P12&also=P14", xff="203.0.113.5, 10.0.0.1")
    )
    assert event.patient_ids == ["P12", "P13", "P14"]
    assert (event.src_ip, event.session, event.route) == (
        "203.0.113.5",
        "abc123",
        "/v2/dossiers/{nip}[/{part}]",
    )
    assert event.extra == {"http_x_forwarded_for": "203.0.113.5, 10.0.0.1", "request_time": 0.5}
    assert parse_ok(parser, line("/v2/dossiers/P12")).src_ip == "10.0.0.9"
    assert parse_ok(parser, line("/v2/dossiers/P12", status="403")).action == "list"
    assert parse_ok(parser, line("/v2/dossiers/P12", status="404")).action == "search"
    assert parser.parse(line("/v2/dossiers/X12")) is None  # unmatched: skip by default


def test_when_a_route_is_marked_skip_or_any_method_then_it_applies(tmp_path: Path) -> None:
    parser = parser_for(
        tmp_path,
        """
        fields: {actor: remote_user}
        routes:
          - {method: '*', path: /metrics, skip: true}
          - {path: "/p/{patient_id}", action: read, resource: patient}
        unmatched: quarantine
        """,
    )

    def line(method: str, target: str) -> bytes:
        return (
            f'10.0.0.1 - dr.martin.0042 [02/Mar/2026:09:14:03 +0100] "{method} {target} HTTP/1.1" '
            f'200 5 "-" "curl/8"'
        ).encode()

    assert parser.parse(line("POST", "/metrics")) is None
    assert parse_ok(parser, line("PROPFIND", "/p/P1")).patient_ids == ["P1"]
    assert reason(parser, line("GET", "/q")) == "route: no route matches GET '/q'"


# -- bad lines: one reason each -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b"garbage",
            "line does not match the log format: expected ' - ' after field $remote_addr "
            "at column 8, found the end of the line",
        ),
        (
            ref_line(time="31/Feb/2026:09:14:03 +0100"),
            "ts: '31/Feb/2026:09:14:03 +0100' in $time_local is not a valid time "
            "(expected dd/Mon/yyyy:HH:MM:SS +hhmm)",
        ),
        (
            ref_line(time="02/Mar/2026:09:14:03"),
            "ts: '02/Mar/2026:09:14:03' in $time_local is not a valid time "
            "(expected dd/Mon/yyyy:HH:MM:SS +hhmm)",
        ),
        (ref_line(time="-"), "ts: $time_local is '-': every event needs its time"),
        (ref_line(status="2OO"), "status: '2OO' in $status is not an HTTP status (100-599)"),
        (ref_line(status="600"), "status: '600' in $status is not an HTTP status (100-599)"),
        (ref_line(status="-"), "status: '-' in $status is not an HTTP status (100-599)"),
        (
            ref_line(size="1e3"),
            "bytes: '1e3' in $body_bytes_sent is not a non-negative integer (at most 18 digits)",
        ),
        (
            ref_line(records="-1"),
            "records: '-1' in $upstream_http_x_vigile_records is not a non-negative integer "
            "(at most 18 digits)",
        ),
        (
            ref_line(records="9" * 19),
            "records: '9999999999999999999' in $upstream_http_x_vigile_records is not a "
            "non-negative integer (at most 18 digits)",
        ),
        (
            ref_line(ip="10.0.0.256"),
            "src_ip: '10.0.0.256' in $remote_addr is not an IPv4/IPv6 address",
        ),
        (
            ref_line(actor="-"),
            "actor: missing ($upstream_http_x_vigile_actor is '-'); "
            "route GET /api/v1/patients/{patient_id} needs an account",
        ),
        (
            ref_line(tenant=""),
            "tenant: missing ($upstream_http_x_vigile_tenant is '' and no default tenant is set "
            "(--default-tenant)); route GET /api/v1/patients/{patient_id} needs a practice",
        ),
        (
            ref_line(request="PATCH /api/v1/patients/P0001234 HTTP/1.1"),
            "route: no route matches PATCH '/api/v1/patients/P0001234'",
        ),
    ],
    ids=[
        "not_the_format",
        "impossible_date",
        "no_offset",
        "no_time",
        "status_letters",
        "status_range",
        "status_dash",
        "bytes",
        "records_negative",
        "records_huge",
        "ip",
        "no_account",
        "no_practice",
        "unknown_route",
    ],
)
def test_when_a_line_is_bad_then_parse_error_names_the_field_and_value(
    nginx: NginxParser, line: bytes, expected: str
) -> None:
    assert reason(nginx, line) == expected


def test_when_the_default_tenant_is_given_then_a_missing_practice_is_filled() -> None:
    parser = NginxParser.from_options(ParserOptions(default_tenant="cab-0042"))
    assert parse_ok(parser, ref_line(tenant="-")).tenant == "cab-0042"


def test_when_tenant_regex_does_not_match_then_the_reason_shows_value_and_regex() -> None:
    parser = NginxParser.from_options(ParserOptions(route_map=Path("generic")))
    line = (
        b"10.0.0.1 - dr.martin.0042 [02/Mar/2026:09:14:03 +0100] "
        b'"GET /api/v1/patients/P1 HTTP/1.1" 200 5 "-" "curl/8"'
    )
    assert reason(parser, line) == (
        "tenant: missing ($remote_user 'dr.martin.0042' does not match '@([^@/\\\\s]+)$' "
        "and no default tenant is set (--default-tenant)); "
        "route GET /api/v1/patients/{patient_id} needs a practice"
    )
    line = line.replace(b"dr.martin.0042", b"dr.martin.0042@cab-0042")
    assert parse_ok(parser, line).tenant == "cab-0042"


def test_when_the_time_repeats_then_the_cached_value_is_the_same(nginx: NginxParser) -> None:
    first = parse_ok(nginx, ref_line())
    second = parse_ok(nginx, ref_line(patients="P0001235"))
    assert first.ts is second.ts
    with pytest.raises(ParseError):
        nginx.parse(ref_line(time="32/Mar/2026:09:14:03 +0100"))
    assert parse_ok(nginx, ref_line()).ts == first.ts


def test_when_a_route_regex_has_global_flags_then_the_map_is_refused(tmp_path: Path) -> None:
    path = write_map(
        tmp_path,
        """
        fields: {actor: remote_user}
        routes:
          - {regex: '(?i)/p/(?P<id>[0-9]+)', route: '/p/{id}', action: read, resource: patient}
        """,
    )
    with pytest.raises(ConfigError, match=r":3: routes\[1\]\.regex: cannot be combined"):
        load_route_map(path)
