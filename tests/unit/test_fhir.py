"""The FHIR R4 AuditEvent parser: each BALP mapping, and a precise reason for each bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from vigile.errors import ParseError
from vigile.events import AccessEvent
from vigile.parsers import ParserOptions, make_parser
from vigile.parsers.fhir import FhirAuditParser, render_fhir

DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = "http://hl7.org/fhir/restful-interaction"
ROLE = "http://terminology.hl7.org/CodeSystem/object-role"


def _present(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the keys whose value is ``...`` (how a test removes an element)."""
    return {k: v for k, v in obj.items() if v is not ...}


def agent(who: dict[str, Any] | None = None, *, requestor: bool = False, code: str = "IRCP",
          **over: Any) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"type": {"coding": [{"code": code}]}, "requestor": requestor}
    if who is not None:
        out["who"] = who
    out.update(over)
    return _present(out)


def user(**over: Any) -> dict[str, Any]:
    """The BALP user agent: requestor, identified, with its token id as policy."""
    base = {
        "who": {"identifier": {"value": "dr.martin.0042"}},
        "requestor": True,
        "policy": ["jti-1"],
        **over,
    }
    return agent(**base)


def client(ip: str = "82.64.12.7", code: str = "110153", **over: Any) -> dict[str, Any]:
    """The client machine (Source Role ID) or app (Application) with its IP address."""
    base = {"who": {"display": "poste-01"}, "network": {"address": ip, "type": "2"}, **over}
    return agent(code=code, **base)


def patient(pid: str = "P0001234") -> dict[str, Any]:
    return {"what": {"reference": f"Patient/{pid}"}, "type": {"code": "1"}, "role": {"code": "1"}}


def data(ref: str) -> dict[str, Any]:
    return {"what": {"reference": ref}, "type": {"code": "2"}, "role": {"code": "4"}}


def query(raw: str | bytes) -> dict[str, Any]:
    raw = raw.encode() if isinstance(raw, str) else raw
    return {"type": {"code": "2"}, "role": {"code": "24"}, "query": base64.b64encode(raw).decode()}


def audit(**over: Any) -> dict[str, Any]:
    """A BALP PatientRead of P0001234 by dr.martin.0042 of cab-0042; overrides by keyword."""
    base: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": "ae-1",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "subtype": [{"system": REST, "code": "read"}],
        "action": "R",
        "recorded": "2026-03-02T09:14:03.512+01:00",
        "outcome": "0",
        "agent": [client(), user()],
        "source": {"site": "srv-01", "observer": {"reference": "Organization/cab-0042"}},
        "entity": [data("Patient/P0001234"), patient()],
    }
    base.update(over)
    return _present(base)


def parse(obj: object, parser: FhirAuditParser | None = None) -> AccessEvent | None:
    raw = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return (parser or FhirAuditParser()).parse(raw)


def accepted(obj: object, parser: FhirAuditParser | None = None) -> AccessEvent:
    event = parse(obj, parser)
    assert event is not None
    return event


def reason(obj: object, parser: FhirAuditParser | None = None) -> str:
    with pytest.raises(ParseError) as info:
        parse(obj, parser)
    return info.value.reason


# ------------------------------------------------------------------ the whole event


def test_when_balp_patient_read_then_every_field_is_mapped() -> None:
    e = accepted(audit())
    assert e.ts == datetime(2026, 3, 2, 8, 14, 3, 512000, tzinfo=UTC)
    assert e.ts.utcoffset() == timedelta(hours=1)
    assert (e.tenant, e.actor) == ("cab-0042", "dr.martin.0042")
    assert (e.action, e.resource) == ("read", "patient")
    assert e.patient_ids == ["P0001234"] and e.records == 1  # data + patient entity: counted once
    assert (e.event_id, e.session, e.src_ip, e.status) == ("ae-1", "jti-1", "82.64.12.7", 200)
    assert e.query is None and e.method is None and e.extra is None


def test_when_the_format_is_asked_for_by_name_then_the_registry_builds_this_parser() -> None:
    parser = make_parser("fhir", ParserOptions(default_tenant="cab-0107"))
    assert isinstance(parser, FhirAuditParser) and parser.name == "fhir"
    assert parser.default_tenant == "cab-0107"


def test_when_a_line_starts_with_a_byte_order_mark_then_it_is_still_read() -> None:
    assert accepted(b"\xef\xbb\xbf" + orjson.dumps(audit())).actor == "dr.martin.0042"


# ---------------------------------------------------------------------------- time


def test_when_recorded_is_absent_then_period_start_is_the_time() -> None:
    e = accepted(audit(recorded=..., period={"start": "2026-03-02T10:00:00Z"}))
    assert e.ts == datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_when_recorded_and_period_are_both_given_then_recorded_wins() -> None:
    e = accepted(audit(period={"start": "2026-03-02T10:00:00Z"}))
    assert e.ts.hour == 9


# ----------------------------------------------------------------------------- who


def test_when_requestor_is_a_practitioner_reference_then_actor_is_its_id() -> None:
    e = accepted(audit(agent=[user(who={"reference": "Practitioner/sec.durand.0042"})]))
    assert e.actor == "sec.durand.0042"


def test_when_requestor_is_an_absolute_versioned_reference_then_actor_is_its_id() -> None:
    who = {"reference": "https://fhir.example/r4/Practitioner/dr.petit.0200/_history/3"}
    assert accepted(audit(agent=[user(who=who)])).actor == "dr.petit.0200"


def test_when_requestor_has_identifier_and_reference_then_identifier_wins() -> None:
    who = {"identifier": {"value": "dr.martin.0042"}, "reference": "Practitioner/prac-77"}
    assert accepted(audit(agent=[user(who=who)])).actor == "dr.martin.0042"


def test_when_requestor_has_only_alt_id_or_a_display_then_that_is_the_actor() -> None:
    assert accepted(audit(agent=[user(who=..., altId="jmartin")])).actor == "jmartin"
    assert accepted(audit(agent=[user(who={"display": "Dr Jeanne Martin"})])).actor == (
        "Dr Jeanne Martin"
    )


def test_when_no_agent_is_requestor_then_the_source_role_agent_is_the_actor() -> None:
    who = {"reference": "Device/outil-import"}
    e = accepted(audit(agent=[agent(who, code="110152"), agent(who, code="110153")]))
    assert e.actor == "outil-import"


def test_when_no_agent_made_the_request_then_the_line_is_bad() -> None:
    assert reason(audit(agent=[agent({"display": "srv"}, code="110152")])).startswith(
        "agent: no agent made the request"
    )
    assert reason(audit(agent=[])).startswith("agent: no agent made the request")


def test_when_the_requestor_has_no_identity_then_the_reason_names_its_path() -> None:
    assert reason(audit(agent=[client(), user(who=...)])) == (
        "agent[1].who: the requesting agent has no identifier, reference or name"
    )


# --------------------------------------------------------------------------- tenant


def test_when_an_agent_is_an_organization_then_it_is_the_tenant() -> None:
    org = agent({"reference": "Organization/cab-0107"})
    assert accepted(audit(agent=[user(), org])).tenant == "cab-0107"
    typed = agent({"type": "Organization", "identifier": {"value": "cab-0200"}})
    assert accepted(audit(agent=[user(), typed])).tenant == "cab-0200"


def test_when_no_organization_agent_then_observer_organization_then_site() -> None:
    assert accepted(audit()).tenant == "cab-0042"  # observer beats site
    source = {"site": "cab-0107", "observer": {"reference": "Device/srv-01"}}
    assert accepted(audit(source=source)).tenant == "cab-0107"


def test_when_the_events_name_no_organization_then_the_default_tenant_is_used() -> None:
    source = {"observer": {"reference": "Device/srv-01"}}
    parser = FhirAuditParser(default_tenant="cab-0042")
    assert accepted(audit(source=source), parser).tenant == "cab-0042"
    assert accepted(audit(source=source)).tenant == "srv-01"  # last resort: the observer


def test_when_nothing_names_a_tenant_then_the_line_is_bad() -> None:
    assert reason(audit(source=...)).startswith("source: no organisation")


# ----------------------------------------------------------------------- from where


def test_when_the_client_address_is_typed_ip_then_it_is_normalised() -> None:
    assert accepted(audit(agent=[client("::ffff:82.64.12.7"), user()])).src_ip == "82.64.12.7"
    v6 = "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
    assert accepted(audit(agent=[client(v6), user()])).src_ip == "2001:db8:85a3::8a2e:370:7334"


def test_when_the_requestor_has_its_own_network_then_it_beats_the_client_agent() -> None:
    me = user(network={"address": "90.12.34.56", "type": "2"})
    assert accepted(audit(agent=[client(), me])).src_ip == "90.12.34.56"


def test_when_an_address_is_a_machine_name_or_the_server_then_it_is_not_src_ip() -> None:
    name = client(network={"address": "poste-01.cab.local", "type": "1"})
    assert accepted(audit(agent=[name, user()])).src_ip is None
    untyped = client(network={"address": "poste-01.cab.local"})
    assert accepted(audit(agent=[untyped, user()])).src_ip is None
    server = client("10.0.0.5", code="110152")  # Destination Role ID: the FHIR server
    assert accepted(audit(agent=[server, user()])).src_ip is None


def test_when_an_ip_typed_address_is_not_an_ip_then_the_reason_names_its_path() -> None:
    assert reason(audit(agent=[client("82.64.12.999"), user()])) == (
        "agent[0].network.address: '82.64.12.999' is not an IPv4/IPv6 address"
    )


# ----------------------------------------------------------- session and user agent


def test_when_a_session_extension_is_present_then_it_beats_the_token_id() -> None:
    ext = [
        {"url": "https://editeur.example/fhir/StructureDefinition/session-id", "valueString": "s-9"}
    ]
    assert accepted(audit(extension=ext)).session == "s-9"
    assert accepted(audit(agent=[user(extension=ext)])).session == "s-9"
    assert accepted(audit(agent=[user(policy=...)])).session is None


def test_when_the_application_agent_is_present_then_it_is_the_user_agent() -> None:
    app = client(code="110150", who={"identifier": {"value": "MedPratic/7.4.2"}})
    assert accepted(audit(agent=[app, user()])).user_agent == "MedPratic/7.4.2"
    ext = [{"url": "https://editeur.example/fhir/user-agent", "valueString": "Firefox/125"}]
    assert accepted(audit(agent=[app, user()], extension=ext)).user_agent == "Firefox/125"


# ----------------------------------------------------------------------------- action


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("read", "read"),
        ("vread", "read"),
        ("history-instance", "read"),
        ("search-type", "search"),
        ("search-system", "search"),
        ("search", "search"),
        ("create", "create"),
        ("update", "update"),
        ("patch", "update"),
        ("delete", "delete"),
        ("access", "read"),
        ("amend", "update"),
        ("disclose", "export"),
    ],
)
def test_when_subtype_is_a_rest_or_lifecycle_code_then_it_gives_the_action(
    code: str, action: str
) -> None:
    assert accepted(audit(subtype=[{"code": code}])).action == action


@pytest.mark.parametrize(
    ("crude", "entities", "action"),
    [
        ("C", [patient()], "create"),
        ("R", [patient()], "read"),
        ("U", [patient()], "update"),
        ("D", [patient()], "delete"),
        ("E", [patient()], "read"),
        ("E", [query("family=DUPONT"), patient()], "search"),
    ],
)
def test_when_there_is_no_subtype_then_the_action_code_decides(
    crude: str, entities: list[dict[str, Any]], action: str
) -> None:
    e = accepted(audit(type={"code": "110110"}, subtype=..., action=crude, entity=entities))
    assert e.action == action


def test_when_type_is_dicom_export_then_the_action_is_export_whatever_the_subtype() -> None:
    e = accepted(audit(type={"system": DCM, "code": "110106"}, subtype=[{"code": "read"}]))
    assert e.action == "export" and e.resource == "patient"


def test_when_a_bulk_export_names_no_patient_then_it_is_still_an_export_of_patients() -> None:
    e = accepted(
        audit(
            subtype=[{"code": "operation"}],
            action="E",
            entity=[query("GET /r4/Group/g1/$export?_type=Patient HTTP/1.1"), data("Group/g1")],
        )
    )
    assert (e.action, e.resource, e.patient_ids, e.records) == ("export", "patient", [], 0)


def test_when_type_is_dicom_query_then_the_action_is_search() -> None:
    e = accepted(audit(type={"code": "110112"}, subtype=[{"code": "ITI-67"}], action="E"))
    assert e.action == "search"


# ----------------------------------------------------------------------------- logins


def login(subtype: str = "110122", **over: Any) -> dict[str, Any]:
    return audit(
        type={"system": DCM, "code": "110114"},
        subtype=[{"system": DCM, "code": subtype}],
        action="E",
        entity=...,
        **over,
    )


def test_when_user_authentication_succeeds_then_it_is_a_login_on_the_session() -> None:
    e = accepted(login())
    assert (e.action, e.resource, e.status, e.patient_ids) == ("login", "session", 200, [])


def test_when_user_authentication_fails_then_it_is_login_failed_401() -> None:
    e = accepted(login(outcome="4", outcomeDesc="invalid password"))
    assert (e.action, e.status) == ("login_failed", 401)
    assert accepted(login(outcome="4", outcomeDesc="HTTP 423 Locked")).status == 423
    assert accepted(login(outcome="8")).action == "login_failed"


def test_when_subtype_is_logout_then_it_is_a_logout() -> None:
    assert accepted(login("110123")).action == "logout"


def test_when_user_authentication_has_neither_login_nor_logout_then_the_line_is_bad() -> None:
    assert reason(login("110127")).startswith("subtype: a User Authentication (110114) event")


# ----------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("outcome", "desc", "status"),
    [
        ("0", None, 200),
        (None, None, 200),
        ("0", "HTTP 201 Created", 201),
        ("4", None, 400),
        ("4", "Access denied by consent", 403),
        ("4", "Accès refusé : hors relation de soins", 403),
        ("4", "Patient/P0001234 not found", 404),
        ("4", "Unauthorized: token expired", 401),
        ("4", "HTTP/1.1 429 Too Many Requests", 429),
        ("8", None, 500),
        ("8", "status=502 from upstream", 502),
        ("12", None, 503),
        (4, None, 400),
    ],
)
def test_when_outcome_and_description_are_given_then_the_status_follows(
    outcome: str | int | None, desc: str | None, status: int
) -> None:
    e = accepted(audit(outcome=outcome if outcome is not None else ..., outcomeDesc=desc or ...))
    assert e.status == status


# --------------------------------------------------------------------------- resource


@pytest.mark.parametrize(
    ("reference", "resource"),
    [
        ("Observation/obs-1", "document"),
        ("DocumentReference/doc-1", "document"),
        ("DiagnosticReport/dr-1", "document"),
        ("MedicationRequest/rx-1", "prescription"),
        ("Appointment/rdv-1", "appointment"),
        ("Communication/note-1", "annotation"),
        ("Encounter/enc-1", "encounter"),
        ("Patient/P0001234", "patient"),
    ],
)
def test_when_the_data_entity_has_a_fhir_type_then_it_gives_the_resource(
    reference: str, resource: str
) -> None:
    assert accepted(audit(entity=[data(reference), patient()])).resource == resource


def test_when_the_data_type_is_only_an_entity_type_code_then_it_is_used() -> None:
    entity = {"type": {"system": "http://hl7.org/fhir/resource-types", "code": "MedicationRequest"}}
    assert accepted(audit(entity=[entity, patient()])).resource == "prescription"


def test_when_only_a_query_names_the_type_then_the_query_gives_the_resource() -> None:
    entities = [query("GET /r4/Observation?patient=P0001234 HTTP/1.1"), patient()]
    e = accepted(audit(subtype=[{"code": "search-type"}], action="E", entity=entities))
    assert (e.action, e.resource) == ("search", "document")


# ---------------------------------------------------------------- patients and queries


def test_when_a_query_returned_three_patients_then_balp_gives_three_events_of_one() -> None:
    raw = "GET /r4/Patient?family=DUPONT HTTP/1.1\nAuthorization: Bearer synthetic\n"
    request = {
        "what": {"identifier": {"value": "req-100"}},
        "type": {
            "system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
            "code": "XrequestId",
        },
    }
    found = [
        accepted(
            audit(
                id=f"ae-100-{k}",
                subtype=[{"code": "search-type"}],
                action="E",
                entity=[query(raw), patient(pid), request],
            )
        )
        for k, pid in enumerate(["P0001234", "P0002345", "P0003456"])
    ]
    assert [e.patient_ids for e in found] == [["P0001234"], ["P0002345"], ["P0003456"]]
    assert {e.records for e in found} == {1}
    assert {e.query for e in found} == {"/r4/Patient?family=DUPONT"}  # headers dropped
    assert {(e.extra or {})["request_id"] for e in found} == {"req-100"}
    assert len({e.event_id for e in found}) == 3  # distinct ids: never de-duplicated


def test_when_a_patient_is_named_by_identifier_then_its_value_is_the_patient_id() -> None:
    who = {"what": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "P0005678"}},
           "role": {"system": ROLE, "code": "1"}}  # fmt: skip
    assert accepted(audit(entity=[who])).patient_ids == ["P0005678"]


def test_when_a_query_is_posted_then_its_form_body_joins_the_query() -> None:
    raw = "POST /r4/Patient/_search HTTP/1.1\r\nContent-Type: x\r\n\r\nfamily=DUPONT&_count=50\r\n"
    e = accepted(audit(subtype=[{"code": "search-type"}], action="E", entity=[query(raw)]))
    assert (e.method, e.query) == ("POST", "/r4/Patient/_search?family=DUPONT&_count=50")


def test_when_a_query_is_not_an_http_request_then_it_is_kept_verbatim() -> None:
    e = accepted(audit(entity=[query("family=DUPONT\n&given=Jeanne"), patient()]))
    assert e.query == "family=DUPONT\n&given=Jeanne" and e.method is None


def test_when_a_query_is_url_safe_base64_without_padding_then_it_is_decoded() -> None:
    encoded = base64.urlsafe_b64encode(b"name=\xc3\xa9lo\xef\xbf\xbe").decode().rstrip("=")
    entity = {"role": {"code": "24"}, "query": encoded}
    assert accepted(audit(entity=[entity, patient()])).query == "name=élo\ufffe"


def test_when_a_query_has_only_a_description_then_the_description_is_the_query() -> None:
    entity = {"role": {"code": "24"}, "description": "DocumentReference?patient=P0002345"}
    e = accepted(audit(subtype=[{"code": "search-type"}], entity=[entity]))
    assert (e.query, e.resource) == ("DocumentReference?patient=P0002345", "document")


# ------------------------------------------------------------------------- skipped


@pytest.mark.parametrize(
    "obj",
    [
        audit(entity=[data("CapabilityStatement/base")]),
        audit(entity=[data("Practitioner/dr.martin.0042")]),
        audit(subtype=[{"code": "search-type"}], entity=[query("GET /r4/ValueSet?x=1 HTTP/1.1")]),
        audit(type={"code": "110100"}, subtype=[{"code": "110120"}], action="E", entity=...),
        {"resourceType": "Patient", "id": "P0001234"},
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]},
    ],
    ids=["metadata", "practitioner", "valueset-search", "app-start", "patient", "outcome"],
)
def test_when_the_resource_is_not_an_access_to_patient_data_then_it_is_skipped(
    obj: dict[str, Any],
) -> None:
    assert parse(obj) is None


# ------------------------------------------------------------------------ bad lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{", "invalid JSON: line ends before the JSON value does"),
        (b"AuditEvent read", "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        (b"[1, 2]", "line is a JSON array, not an object"),
        (b"42", "line is a JSON number, not an object"),
        (b'{"resourceType": 5}', "resourceType: expected a string, got number"),
        (b'{"resourceType": "AuditEvent", "agent": [}', "invalid JSON"),
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{}, {}, {}]},
         "resourceType: Bundle of 3 entries; split it into one AuditEvent per line"),
        (audit(resourceType=...), "resourceType: missing"),
        (audit(recorded=...), "recorded: missing (and no period.start)"),
        (audit(recorded="2026-03-02T09:14:03"), "recorded: expected `datetime` with a timezone"),
        (audit(recorded="2026-02-30T09:14:03Z"), "recorded: invalid RFC3339"),
        (audit(recorded=..., period={"start": "2026-03-02"}), "period.start: invalid RFC3339"),
        (audit(outcome="3"), "outcome: '3' is not one of 0, 4, 8, 12"),
        (audit(outcome=True), "outcome: expected `int | str | null`, got `bool`"),
        (audit(action="X"), "action: 'X' is not one of C, R, U, D, E"),
        (audit(subtype={"code": "read"}), "subtype: expected `array`, got `object`"),
        (audit(agent=[user(who={"reference": 42})]), "agent[0].who.reference: expected `str"),
        (audit(agent=[user(requestor="yes")]), "agent[0].requestor: expected `bool`"),
        (audit(entity=[{"what": {"display": "DUPONT"}, "role": {"code": "1"}}]),
         "entity[0].what: a patient entity needs a reference (Patient/<id>) or an identifier"),
        (audit(entity=[{"what": {"reference": "Patient/"}, "role": {"code": "1"}}]),
         "entity[0].what: a patient entity needs"),
        (audit(entity=[patient(), {"role": {"code": "24"}, "query": "R0VU!!"}]),
         "entity[1].query: not valid base64"),
        (audit(type={"code": "110100"}, subtype=..., action=...),
         "type/subtype/action: cannot tell what was done to the patient data "
         "(type 110100, subtype none, action none)"),
        (audit(subtype=[{"system": "urn:vigile:fhir:action", "code": "steal"}]),
         "subtype: 'steal' is not a vigile action"),
        (audit(extension=[{"url": "urn:vigile:fhir:records", "valueInteger": -5}]),
         "extension[0]: urn:vigile:fhir:records = -5 is out of range"),
        (audit(extension=[{"url": "urn:vigile:fhir:records", "valueString": "5"}]),
         "extension[0]: urn:vigile:fhir:records needs a valueUnsignedInt"),
        (audit(extension=[{"valueString": "x"}]),
         "extension[0]: object missing required field `url`"),
    ],
)  # fmt: skip
def test_when_a_line_is_bad_then_the_reason_names_the_fhir_path(
    line: object, expected: str
) -> None:
    assert reason(line).startswith(expected)


# ------------------------------------------------------------------------ rendering


def event(**over: Any) -> AccessEvent:
    base: dict[str, Any] = {
        "ts": datetime(2026, 3, 2, 9, 14, 3, 512000, tzinfo=timezone(timedelta(hours=1))),
        "tenant": "cab-0042",
        "actor": "dr.martin.0042",
        "action": "read",
        "resource": "patient",
        "event_id": "ev-1",
        "session": "jti-1",
        "src_ip": "82.64.12.7",
        "user_agent": "MedPratic/7.4.2",
        "patient_ids": ["P0001234"],
    }
    base.update(over)
    return AccessEvent(**base)


def test_when_a_read_is_rendered_then_it_is_a_balp_patient_read() -> None:
    doc = orjson.loads(render_fhir(event()))
    assert doc["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"
    ]
    assert doc["type"]["code"] == "rest" and doc["subtype"][0]["code"] == "read"
    assert doc["action"] == "R" and doc["outcome"] == "0" and "outcomeDesc" not in doc
    assert doc["agent"][0]["who"] == {"identifier": {"value": "dr.martin.0042"}}
    assert doc["agent"][1]["network"] == {"address": "82.64.12.7", "type": "2"}
    assert doc["source"]["observer"] == {"reference": "Organization/cab-0042"}
    assert doc["entity"][-1]["what"] == {"reference": "Patient/P0001234"}


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"action": "list", "patient_ids": ["P1", "P2"], "records": 50, "query": "page=2"},
        {"action": "print"},
        {"action": "search", "patient_ids": [], "query": "nom=DUPONT", "method": "GET"},
        {"action": "export", "resource": "document", "bytes": 1_048_576},
        {"action": "login", "resource": "session", "patient_ids": [], "status": 401},
        {"action": "login_failed", "resource": "session", "patient_ids": [], "status": 200},
        {"action": "logout", "resource": "session", "patient_ids": [], "src_ip": None},
        {"action": "update", "resource": "allergie", "status": 409, "route": "/api/v1/x"},
        {"tenant": "Cabinet Martin & associés", "patient_ids": ["NIR 1 84 12 75 123 456"]},
        {"extra": {"request_id": "req-1"}, "user_agent": None, "session": None},
    ],
)
def test_when_an_event_is_rendered_then_parsing_gives_it_back(over: dict[str, Any]) -> None:
    e = event(**over)
    assert FhirAuditParser().parse(render_fhir(e)) == e


def test_when_list_or_print_is_rendered_then_vigile_says_it_with_its_own_code() -> None:
    doc = orjson.loads(render_fhir(event(action="list")))
    assert {"system": "urn:vigile:fhir:action", "code": "list"} in doc["subtype"]
    assert doc["subtype"][0]["code"] == "search-type"  # what a FHIR reader understands


def test_when_a_query_or_reference_is_very_long_then_it_is_decoded_all_the_same() -> None:
    criteria = "family=" + "DUPONT," * 2000
    who = {"reference": "Practitioner/" + "x" * 5000}
    e = accepted(audit(agent=[user(who=who)], entity=[query(criteria), patient()]))
    assert e.query == criteria and e.actor == "x" * 5000
