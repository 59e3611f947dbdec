"""FHIR R4 ``AuditEvent`` resources (IHE BALP patterns), one per line, as access events.

A FHIR server that follows IHE *Basic Audit Log Patterns* (BALP) records one
``AuditEvent`` per RESTful interaction that touches a patient: PatientRead,
PatientQuery, PatientCreate / Update / Delete, exports, and DICOM "User
Authentication" events for logins. ``--format fhir`` reads them as NDJSON (one
resource per line, e.g. ``GET [base]/AuditEvent`` results split with
``jq -c '.entry[].resource'``) and maps each onto an :class:`AccessEvent`:

============================  ===================================================
access event                  AuditEvent
============================  ===================================================
``ts``                        ``recorded``, else ``period.start`` (offset required)
``actor``                     the requesting agent (``requestor = true``, else the
                              Source Role ID / Application agent): ``who.identifier
                              .value``, ``who.reference`` id, ``altId``, ``name``,
                              ``who.display``
``tenant``                    an agent whose ``who`` is an Organization, else
                              ``source.observer`` if an Organization, else
                              ``source.site``, else ``--default-tenant``, else
                              ``source.observer`` (any)
``action``                    ``type`` + ``subtype`` (restful-interaction, DICOM,
                              ISO 21089), else ``action`` (C/R/U/D/E)
``resource``                  the data entity's type (Observation → document, ...),
                              else the type in the query URL, else ``patient``
``patient_ids``               entities with ``role`` Patient (1) or a ``Patient/<id>``
``query``                     ``entity[role=24].query`` base64-decoded, request line
``status``                    ``outcome`` 0/4/8/12, refined by ``outcomeDesc``
``src_ip``                    requesting / client agent ``network.address`` (type 2)
``session``                   a ``*session*`` extension, else ``agent.policy[0]``
                              (BALP: the OAuth JWT ID or SAML assertion ID)
``user_agent``                a ``*user-agent*`` extension, else the Application
                              (DCM 110150) agent's ``who``
``event_id``                  ``id``
============================  ===================================================

``docs/howto-fhir.md`` has the full tables and the reasons behind them. BALP
writes one AuditEvent per patient a query returned, so a query that returned N
patients arrives as N events of one patient each (sharing the X-Request-Id, kept
as ``request_id``); vigile counts each patient once per event, which is exactly
what the distinct-patient detectors need.

Decoding goes straight into typed msgspec structs (unknown FHIR elements such as
the narrative are skipped in C), which both keeps the parser fast and turns any
wrongly-typed element into a reason that names its FHIR path.
"""

from __future__ import annotations

import binascii
import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Final, Self, cast

import msgspec

from vigile.errors import ParseError
from vigile.events import ACTIONS, AccessEvent, Action, normalise_ip
from vigile.parsers.base import ParserOptions
from vigile.parsers.jsonl import TOO_DEEP, malformed_reason, validation_reason

__all__ = ["FhirAuditParser", "render_fhir"]

# --------------------------------------------------------------------------- codes

DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION: Final = "http://hl7.org/fhir/restful-interaction"
AUDIT_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
RESOURCE_TYPES: Final = "http://hl7.org/fhir/resource-types"
SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
PARTICIPATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
BALP_ENTITY_TYPE: Final = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
BALP_PROFILE: Final = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."

#: vigile's own codes, for what FHIR cannot say (``list``, ``print``, a resource
#: word with no FHIR type, the records/bytes counts). Read by the parser,
#: written by :func:`render_fhir` only when the standard codes are not enough.
VIGILE: Final = "urn:vigile:fhir:"
VIGILE_ACTION: Final = VIGILE + "action"
VIGILE_RESOURCE: Final = VIGILE + "resource"

_LOGIN_TYPE: Final = "110114"  # DCM User Authentication
_LOGIN: Final = "110122"  # DCM Login
_LOGOUT: Final = "110123"  # DCM Logout
_EXPORT_TYPE: Final = "110106"  # DCM Export
_IMPORT_TYPE: Final = "110107"  # DCM Import
_QUERY_TYPE: Final = "110112"  # DCM Query
_APPLICATION: Final = "110150"  # DCM Application (BALP OAuth client slice)
_SOURCE_ROLE: Final = "110153"  # DCM Source Role ID (the client)
_ROLE_PATIENT: Final = "1"  # object-role Patient
_ROLE_QUERY: Final = "24"  # object-role Query
_NETWORK_IP: Final = "2"  # network-type IP Address
_LOGIN_ACTIONS: Final[frozenset[str]] = frozenset({"login", "login_failed", "logout"})
_INT64_MAX: Final = 2**63 - 1  # the event store keeps counts as int64
_CACHED_LEN: Final = 2048  # longest text the decoding caches keep

#: subtype code (restful-interaction, ISO 21089 lifecycle, operation name) → action
_SUBTYPE_ACTION: Final[dict[str, Action]] = {
    "read": "read",
    "vread": "read",
    "history-instance": "read",
    "search": "search",
    "search-type": "search",
    "search-system": "search",
    "search-compartment": "search",
    "history-type": "search",
    "history-system": "search",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
    "export": "export",
    "$export": "export",
    # ISO 21089-2017 health record lifecycle events
    "access": "read",
    "originate": "create",
    "amend": "update",
    "destroy": "delete",
    "disclose": "export",
    "transmit": "export",
    "extract": "export",
}
#: AuditEvent.action (C/R/U/D/E) → action; E is decided by the presence of a query.
_CRUDE: Final[dict[str, Action]] = {"C": "create", "R": "read", "U": "update", "D": "delete"}

#: FHIR resource type → vigile resource word (others: the type lower-cased)
_RESOURCE_OF: Final[dict[str, str]] = {
    "Patient": "patient",
    "Observation": "document",
    "DocumentReference": "document",
    "DiagnosticReport": "document",
    "Composition": "document",
    "Binary": "document",
    "Media": "document",
    "DocumentManifest": "document",
    "ImagingStudy": "document",
    "QuestionnaireResponse": "document",
    "MedicationRequest": "prescription",
    "Appointment": "appointment",
    "AppointmentResponse": "appointment",
    "Communication": "annotation",
    "CommunicationRequest": "annotation",
    "Flag": "annotation",
    "ClinicalImpression": "annotation",
}
#: vigile resource word → the FHIR type :func:`render_fhir` writes
_FHIR_TYPE_OF: Final[dict[str, str]] = {
    "patient": "Patient",
    "document": "DocumentReference",
    "prescription": "MedicationRequest",
    "appointment": "Appointment",
    "annotation": "Communication",
}
#: Resource types in the R4 Patient compartment (minus the audit trail itself):
#: touching one is touching patient data even when no patient entity is listed.
_PATIENT_COMPARTMENT: Final = frozenset(
    {
        "Account", "AdverseEvent", "AllergyIntolerance", "Appointment",
        "AppointmentResponse", "Basic", "Binary", "BodyStructure", "CarePlan",
        "CareTeam", "ChargeItem", "Claim", "ClaimResponse", "ClinicalImpression",
        "Communication", "CommunicationRequest", "Composition", "Condition",
        "Consent", "Coverage", "CoverageEligibilityRequest",
        "CoverageEligibilityResponse", "DetectedIssue", "DeviceRequest",
        "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
        "DocumentReference", "Encounter", "EnrollmentRequest", "EpisodeOfCare",
        "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
        "ImagingStudy", "Immunization", "ImmunizationEvaluation",
        "ImmunizationRecommendation", "Invoice", "List", "Media", "MeasureReport",
        "MedicationAdministration", "MedicationDispense", "MedicationRequest",
        "MedicationStatement", "MolecularSequence", "NutritionOrder", "Observation",
        "Patient", "Person", "Procedure", "QuestionnaireResponse", "RelatedPerson",
        "RequestGroup", "ResearchSubject", "RiskAssessment", "Schedule",
        "ServiceRequest", "Specimen", "SupplyDelivery", "SupplyRequest",
        "VisionPrescription",
    }
)  # fmt: skip
#: Resource types outside the compartment that may still appear in a query URL.
_OTHER_TYPES: Final = frozenset(
    {
        "AuditEvent", "Bundle", "CapabilityStatement", "CodeSystem", "Device",
        "Endpoint", "Group", "HealthcareService", "Location", "Medication",
        "Organization", "Practitioner", "PractitionerRole", "Provenance",
        "Questionnaire", "Slot", "StructureDefinition", "Subscription", "Task",
        "ValueSet",
    }
)  # fmt: skip
_KNOWN_TYPES: Final = _PATIENT_COMPARTMENT | _OTHER_TYPES
#: vigile resource words that are patient data
_PATIENT_DATA: Final = frozenset(
    {*(_RESOURCE_OF.values()), *(t.lower() for t in _PATIENT_COMPARTMENT)}
)

_HTTP_STATUS: Final = re.compile(r"\b(?:HTTP(?:/[\d.]+)?|status)[ :=]*([1-5]\d\d)\b", re.I)
_REQUEST_LINE: Final = re.compile(
    r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+)(?: HTTP/\d(?:\.\d)?)?\r?"
)
_ID_LIKE: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BASE64_LOOSE: Final = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
#: words of an outcomeDesc (English and French) → HTTP status, checked in order
_STATUS_WORDS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (401, ("unauthenticated", "unauthorized", "authentication", "authentifi", "password",
           "mot de passe", "credentials", "identifiants")),
    (403, ("forbidden", "denied", "not authorized", "not authorised", "permission",
           "consent", "interdit", "refus", "non autoris", "not allowed")),
    (404, ("not found", "unknown", "gone", "introuvable", "inconnu", "n'existe")),
)  # fmt: skip
_OUTCOME_STATUS: Final[dict[str | int, int]] = {
    "0": 200, 0: 200, "4": 400, 4: 400, "8": 500, 8: 500, "12": 503, 12: 503,
}  # fmt: skip

# ----------------------------------------------------------------- wire structs

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Coding(msgspec.Struct, gc=False):
    system: str | None = None
    code: str | None = None


class _Concept(msgspec.Struct, gc=False):
    coding: list[_Coding] = msgspec.field(default_factory=list)


class _Identifier(msgspec.Struct, gc=False):
    value: str | None = None


class _Reference(msgspec.Struct, gc=False):
    reference: str | None = None
    type: str | None = None
    identifier: _Identifier | None = None
    display: str | None = None


class _Network(msgspec.Struct, gc=False):
    address: str | None = None
    type: str | None = None


class _Extension(msgspec.Struct, rename="camel", gc=False):
    url: str
    value_string: str | None = None
    value_code: str | None = None
    value_unsigned_int: int | None = None
    value_integer: int | None = None


class _Agent(msgspec.Struct, rename="camel", gc=False):
    type: _Concept | None = None
    who: _Reference | None = None
    alt_id: str | None = None
    name: str | None = None
    requestor: bool = False
    policy: list[str] = msgspec.field(default_factory=list)
    network: _Network | None = None
    extension: list[_Extension] = msgspec.field(default_factory=list)


class _Source(msgspec.Struct, gc=False):
    site: str | None = None
    observer: _Reference | None = None


class _Entity(msgspec.Struct, gc=False):
    what: _Reference | None = None
    type: _Coding | None = None
    role: _Coding | None = None
    description: str | None = None
    query: str | None = None


class _Period(msgspec.Struct, gc=False):
    start: AwareDatetime | None = None


class _AuditEvent(msgspec.Struct, rename="camel", gc=False):
    resource_type: str
    id: str | None = None
    type: _Coding | None = None
    subtype: list[_Coding] = msgspec.field(default_factory=list)
    action: str | None = None
    period: _Period | None = None
    recorded: AwareDatetime | None = None
    outcome: str | int | None = None
    outcome_desc: str | None = None
    agent: list[_Agent] = msgspec.field(default_factory=list)
    source: _Source | None = None
    entity: list[_Entity] = msgspec.field(default_factory=list)
    extension: list[_Extension] = msgspec.field(default_factory=list)


_DECODER: Final = msgspec.json.Decoder(_AuditEvent)
_ANY: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()


# ----------------------------------------------------------------------- parser


class FhirAuditParser:
    """Parser for FHIR R4 ``AuditEvent`` NDJSON (``--format fhir``), IHE BALP aware.

    Returns ``None`` (skipped) for a resource that is not an AuditEvent and for an
    AuditEvent that neither touches patient data nor is a login/logout; raises
    :class:`ParseError` naming the FHIR path for anything malformed.
    """

    name: ClassVar[str] = "fhir"

    @classmethod
    def from_options(cls, options: ParserOptions) -> Self:
        return cls(default_tenant=options.default_tenant)

    def __init__(self, default_tenant: str | None = None) -> None:
        self.default_tenant = default_tenant or None

    def parse(self, line: bytes) -> AccessEvent | None:
        if line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark on the first line
            line = line[3:]
        try:
            doc = _DECODER.decode(line)
        except msgspec.ValidationError as exc:
            _not_audit_event(line, str(exc))
            return None
        except msgspec.DecodeError as exc:
            raise ParseError(malformed_reason(exc)) from None
        except RecursionError:  # arrays or objects nested a thousand deep
            raise ParseError(TOO_DEEP) from None
        if doc.resource_type != "AuditEvent":
            _not_audit_event(line, None)
            return None
        return self._convert(doc)

    def _convert(self, doc: _AuditEvent) -> AccessEvent | None:
        ts = doc.recorded
        if ts is None:
            ts = doc.period.start if doc.period is not None else None
            if ts is None:
                raise ParseError("recorded: missing (and no period.start): when did it happen?")

        # ---- entities: patients, the data touched, the query, the request id
        patient_ids: list[str] = []
        data_type: str | None = None
        vigile_resource: str | None = None
        query: str | None = None
        method: str | None = None
        query_type: str | None = None
        request_id: str | None = None
        has_query = False
        for i, ent in enumerate(doc.entity):
            what = ent.what
            role = ent.role.code if ent.role is not None else None
            etype = ent.type
            if role == _ROLE_QUERY or ent.query is not None:
                if has_query:
                    continue
                has_query = True
                query, method, query_type = _decode_query(ent, i)
                continue
            if etype is not None and etype.system is not None:
                if etype.system == VIGILE_RESOURCE:
                    if not etype.code:
                        raise ParseError(f"entity[{i}].type.code: empty vigile resource")
                    vigile_resource = etype.code
                    continue
                if etype.system == BALP_ENTITY_TYPE:
                    if etype.code == "XrequestId" and what is not None:
                        request_id = _identifier(what) or request_id
                    continue
            wtype: str | None = None
            wid: str | None = None
            if what is not None:
                ref = what.reference
                if ref:
                    if ref.startswith("Patient/") and ref.count("/") == 1:
                        wtype, wid = "Patient", ref[8:]  # the usual case, without the general split
                    else:
                        wtype, wid = _split_reference(ref)
                wtype = wtype or what.type or None
            if role == _ROLE_PATIENT or wtype == "Patient":
                pid = wid or _identifier(what)
                if not pid:
                    raise ParseError(
                        f"entity[{i}].what: a patient entity needs a reference "
                        "(Patient/<id>) or an identifier"
                    )
                patient_ids.append(pid)
                continue
            if data_type is None:
                if wtype is None and etype is not None and etype.code:
                    code = etype.code
                    if etype.system == RESOURCE_TYPES or code in _KNOWN_TYPES:
                        wtype = code
                data_type = wtype

        if len(patient_ids) > 1:  # PatientRead names its patient twice (data + patient)
            patient_ids = list(dict.fromkeys(patient_ids))

        # ---- outcome → status, type/subtype/action → action
        if doc.outcome_desc is None and (doc.outcome == "0" or doc.outcome is None):
            status, failed = 200, False  # the usual case, without the general mapping
        else:
            status, failed = _status(doc)
        action, explicit = _action(doc, has_query, query)
        if action is None:
            if patient_ids:
                subtypes = ", ".join(str(c.code) for c in doc.subtype) or "none"
                raise ParseError(
                    "type/subtype/action: cannot tell what was done to the patient data "
                    f"(type {_code(doc.type) or 'none'}, subtype {subtypes}, "
                    f"action {doc.action or 'none'})"
                )
            return None
        if not explicit and action == "login" and (failed or status >= 400):
            action = "login_failed"

        # ---- resource, and whether this is patient data at all
        if vigile_resource is not None:
            resource: str | None = vigile_resource
        elif action in _LOGIN_ACTIONS:
            resource = "session"
        elif data_type is not None:
            resource = _RESOURCE_OF.get(data_type) or data_type.lower()
        elif query_type is not None:
            resource = _RESOURCE_OF.get(query_type) or query_type.lower()
        elif patient_ids:
            resource = "patient"
        else:
            resource = None
        if action == "export" and vigile_resource is None and resource not in _PATIENT_DATA:
            resource = "patient"  # Group/$export, system $export: patient records leave
        if resource is None:
            return None
        if (
            not patient_ids
            and vigile_resource is None
            and action not in _LOGIN_ACTIONS
            and resource not in _PATIENT_DATA
        ):
            return None  # CapabilityStatement, ValueSet, Device...: not patient data

        # ---- agents: who, from where, for which organisation
        requestor: _Agent | None = None
        app: _Agent | None = None
        source_role: _Agent | None = None
        req_j = app_j = src_j = -1
        tenant: str | None = None
        for j, ag in enumerate(doc.agent):
            if ag.requestor and requestor is None:
                requestor, req_j = ag, j
            if ag.type is not None:
                for c in ag.type.coding:
                    if c.code == _APPLICATION and app is None:
                        app, app_j = ag, j
                    elif c.code == _SOURCE_ROLE and source_role is None:
                        source_role, src_j = ag, j
            who = ag.who
            if tenant is None and who is not None and _names_organization(who):
                tenant = _organization(who)
        actor_agent, actor_j = requestor, req_j
        if actor_agent is None:
            actor_agent, actor_j = (source_role, src_j) if source_role is not None else (app, app_j)
        if actor_agent is None:
            raise ParseError(
                "agent: no agent made the request (none has requestor = true, and "
                "there is no Source Role ID (110153) or Application (110150) agent)"
            )
        actor = _agent_name(actor_agent)
        if not actor:
            raise ParseError(
                f"agent[{actor_j}].who: the requesting agent has no identifier, reference or name"
            )
        tenant = tenant or self._tenant(doc.source)

        src_ip = None
        for client, j in ((requestor, req_j), (app, app_j), (source_role, src_j)):
            network = client.network if client is not None else None
            if network is not None and network.address:
                src_ip = _ip(network.address, network.type, j)
                if src_ip is not None:
                    break

        user_agent = None
        if app is not None and app is not actor_agent and app.who is not None:
            user_agent = app.who.display or _identifier(app.who)
        session = actor_agent.policy[0] if actor_agent.policy else None
        route = bytes_ = records = None
        if doc.extension or actor_agent.extension:
            found: dict[str, Any] = {}
            _read_extensions(doc.extension, "", found)
            _read_extensions(actor_agent.extension, f"agent[{actor_j}].", found)
            session = found.get("session", session)
            user_agent = found.get("user_agent", user_agent)
            method = found.get("method", method)
            route = found.get("route")
            records = found.get("records")
            bytes_ = found.get("bytes")

        return AccessEvent(
            ts=ts,
            tenant=tenant,
            actor=actor,
            action=action,
            resource=resource,
            event_id=doc.id or None,
            session=session,
            src_ip=src_ip,
            user_agent=user_agent,
            method=method,
            route=route,
            status=status,
            patient_ids=patient_ids,
            records=records,
            bytes=bytes_,
            query=query,
            extra={"request_id": request_id} if request_id else None,
        )

    def _tenant(self, source: _Source | None) -> str:
        """The organisation when no agent names one: observer, site, default."""
        observer = source.observer if source is not None else None
        if observer is not None:
            org = _organization(observer)
            if org:
                return org
        if source is not None and source.site:
            return source.site
        if self.default_tenant:
            return self.default_tenant
        if observer is not None:
            name = _reference_name(observer)
            if name:
                return name
        raise ParseError(
            "source: no organisation (no Organization agent, source.observer or "
            "source.site) and no default tenant (--default-tenant) was given"
        )


# ---------------------------------------------------------------------- helpers


def _not_audit_event(line: bytes, validation: str | None) -> None:
    """Decide a line that is not a valid AuditEvent: skip it (None) or raise why."""
    try:
        obj: Any = _ANY.decode(line)
    except msgspec.DecodeError as exc:  # the typed decode stopped before the syntax error
        raise ParseError(malformed_reason(exc)) from None
    except RecursionError:
        raise ParseError(TOO_DEEP) from None
    if not isinstance(obj, dict):
        raise ParseError(
            f"line is a JSON {_json_kind(obj)}, not an object (expected one AuditEvent resource)"
        )
    kind = obj.get("resourceType")
    if kind is None:
        raise ParseError("resourceType: missing; each line must be one FHIR AuditEvent resource")
    if not isinstance(kind, str):
        raise ParseError(f"resourceType: expected a string, got {_json_kind(kind)}")
    if kind == "Bundle":
        entries = obj.get("entry")
        n = len(entries) if isinstance(entries, list) else 0
        raise ParseError(
            f"resourceType: Bundle of {n} entries; split it into one AuditEvent per line "
            "(e.g. jq -c '.entry[].resource')"
        )
    if kind == "AuditEvent" and validation is not None:
        raise ParseError(validation_reason(validation))
    # another resource type (Patient, OperationOutcome...): not an access, skipped


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "object"


def _code(coding: _Coding | None) -> str | None:
    return coding.code if coding is not None else None


def _split_reference(reference: str) -> tuple[str | None, str]:
    """``[base/]Type/id[/_history/v]`` → (Type, id); a bare or URN reference → (None, it).

    Cached: a log names the same practices and practitioners over and over (a
    huge reference is split without the cache, so it does not stay in memory).
    """
    if len(reference) > _CACHED_LEN:
        return _split(reference)
    return _split_cached(reference)


def _split(reference: str) -> tuple[str | None, str]:
    if "/_history/" in reference:
        reference = reference.split("/_history/", 1)[0]
    head, sep, tail = reference.rpartition("/")
    if not sep:
        return None, reference
    return head.rpartition("/")[2] or None, tail


_split_cached: Final = lru_cache(maxsize=16_384)(_split)


def _identifier(ref: _Reference | None) -> str | None:
    if ref is None or ref.identifier is None:
        return None
    return ref.identifier.value or None


def _names_organization(ref: _Reference) -> bool:
    """Cheap test: may this reference point to an Organization?"""
    return ref.type == "Organization" or (
        ref.reference is not None and "Organization/" in ref.reference
    )


def _organization(ref: _Reference) -> str | None:
    """The id of an Organization reference, else None."""
    if ref.reference and "Organization/" in ref.reference:
        rtype, rid = _split_reference(ref.reference)
        if rtype == "Organization" and rid:
            return rid
    if ref.type == "Organization":
        return _identifier(ref) or ref.display or None
    return None


def _reference_name(ref: _Reference) -> str | None:
    """Best stable name of whatever a reference points to: identifier, id, display."""
    value = _identifier(ref)
    if value:
        return value
    if ref.reference:
        rid = _split_reference(ref.reference)[1]
        if rid:
            return rid
    return ref.display or None


def _agent_name(agent: _Agent) -> str | None:
    """The account of an agent: who.identifier, who.reference id, altId, name, display."""
    who = agent.who
    if who is not None:
        value = _identifier(who)
        if value:
            return value
        if who.reference:
            rid = _split_reference(who.reference)[1]
            if rid:
                return rid
    return agent.alt_id or agent.name or (who.display if who is not None else None) or None


def _ip(address: str, kind: str | None, j: int) -> str | None:
    """The agent's address when it is an IP (type 2, or untyped and parseable)."""
    if kind == _NETWORK_IP:
        try:
            return normalise_ip(address)
        except ValueError:
            raise ParseError(
                f"agent[{j}].network.address: {address!r} is not an IPv4/IPv6 address"
            ) from None
    if kind is None:
        try:
            return normalise_ip(address)
        except ValueError:
            return None  # a machine name or URI without its type: not an IP
    return None


def _read_extensions(extensions: list[_Extension], where: str, found: dict[str, Any]) -> None:
    """Collect vigile's ``urn:vigile:fhir:*`` extensions and any ``*session*`` /
    ``*user-agent*`` extension (string-valued) into ``found``."""
    for k, ext in enumerate(extensions):
        url = ext.url
        if url.startswith(VIGILE):
            field = url[len(VIGILE) :]
            if field in ("records", "bytes"):
                found[field] = _count(ext, f"{where}extension[{k}]")
            elif field in ("method", "route", "session", "user-agent"):
                value = ext.value_code or ext.value_string
                if value is None:
                    raise ParseError(f"{where}extension[{k}]: {url} needs a valueString")
                found[field.replace("-", "_")] = value
            continue
        low = url.lower()
        if low.endswith(("user-agent", "useragent")) and ext.value_string is not None:
            found["user_agent"] = ext.value_string
        elif low.endswith(("session", "session-id", "sessionid")) and ext.value_string is not None:
            found["session"] = ext.value_string


def _count(ext: _Extension, where: str) -> int:
    value = ext.value_unsigned_int if ext.value_unsigned_int is not None else ext.value_integer
    if value is None:
        raise ParseError(f"{where}: {ext.url} needs a valueUnsignedInt")
    if not 0 <= value <= _INT64_MAX:
        raise ParseError(f"{where}: {ext.url} = {value} is out of range (0 to 2^63 - 1)")
    return value


def _status(doc: _AuditEvent) -> tuple[int, bool]:
    """HTTP-style status from ``outcome`` (and ``outcomeDesc``); and whether it failed."""
    outcome = doc.outcome
    if outcome is None:
        base = 200
    else:
        found = _OUTCOME_STATUS.get(outcome)
        if found is None:
            raise ParseError(
                f"outcome: {outcome!r} is not one of 0, 4, 8, 12 (R4 audit-event-outcome)"
            )
        base = found
    failed = base != 200
    desc = doc.outcome_desc
    if desc:
        match = _HTTP_STATUS.search(desc)
        if match:
            return int(match.group(1)), failed
    if base == 400:
        if doc.type is not None and doc.type.code == _LOGIN_TYPE:
            return 401, failed  # a refused login: bad credentials
        if desc:
            low = desc.lower()
            for status, words in _STATUS_WORDS:
                if any(w in low for w in words):
                    return status, failed
    return base, failed


def _action(doc: _AuditEvent, has_query: bool, query: str | None) -> tuple[Action | None, bool]:
    """The access action, and whether vigile's own code said so explicitly."""
    subtypes = doc.subtype
    for c in subtypes:
        if c.system == VIGILE_ACTION:
            if c.code not in ACTIONS:
                raise ParseError(
                    f"subtype: {c.code!r} is not a vigile action ({', '.join(ACTIONS)})"
                )
            return cast(Action, c.code), True
    crude = doc.action
    if crude is not None and crude not in ("C", "R", "U", "D", "E"):
        raise ParseError(f"action: {crude!r} is not one of C, R, U, D, E")
    type_code = doc.type.code if doc.type is not None else None
    if type_code == _LOGIN_TYPE:
        for c in subtypes:
            if c.code in (_LOGIN, "login"):
                return "login", False
            if c.code in (_LOGOUT, "logout"):
                return "logout", False
        raise ParseError(
            "subtype: a User Authentication (110114) event needs a Login (110122) "
            "or Logout (110123) subtype"
        )
    if type_code == _EXPORT_TYPE:
        return "export", False
    for c in subtypes:
        if c.code is not None:
            found = _SUBTYPE_ACTION.get(c.code)
            if found is not None:
                return found, False
    if query is not None and "$export" in query:
        return "export", False
    if type_code == _QUERY_TYPE:
        return "search", False
    if type_code == _IMPORT_TYPE:
        return "create", False
    if crude is None:
        return None, False
    if crude == "E":
        return ("search" if has_query else "read"), False
    return _CRUDE[crude], False


def _decode_query(ent: _Entity, i: int) -> tuple[str | None, str | None, str | None]:
    """(query, method, resource type) from a BALP query entity (``entity[i]``).

    ``query`` is base64 of the raw request. When it is an HTTP request, only its
    request target is kept (plus a form body, as for ``POST _search``): headers
    can carry credentials and are not search criteria.
    """
    if ent.query is not None:
        encoded = ent.query
        # the caches keep short texts only: a huge query must not stay in memory
        text = (_unbase64 if len(encoded) <= _CACHED_LEN else _unbase64.__wrapped__)(encoded)
        if text is None:
            raise ParseError(f"entity[{i}].query: not valid base64")
    elif ent.description is not None:
        text = ent.description
    else:
        return None, None, None
    return (_request if len(text) <= _CACHED_LEN else _request.__wrapped__)(text)


@lru_cache(maxsize=4096)
def _unbase64(encoded: str) -> str | None:
    """Decoded text (standard or URL-safe alphabet, padding optional), None if not base64.

    Cached: BALP repeats the query of a search in each of its per-patient events.
    """
    compact = "".join(encoded.split())
    try:
        raw = binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        # tolerate the URL-safe alphabet and missing padding, nothing else
        if _BASE64_LOOSE.fullmatch(compact) is None:
            return None
        unpadded = compact.rstrip("=")
        try:
            raw = binascii.a2b_base64(
                unpadded.replace("-", "+").replace("_", "/") + "=" * (-len(unpadded) % 4),
                strict_mode=True,
            )
        except (binascii.Error, ValueError):
            return None
    return raw.decode("utf-8", "backslashreplace")


@lru_cache(maxsize=4096)
def _request(text: str) -> tuple[str, str | None, str | None]:
    """(query, method, resource type) of a recorded request or plain criteria."""
    first, _, rest = text.partition("\n")
    match = _REQUEST_LINE.fullmatch(first)
    if match is None:
        return text, None, _type_in(text)
    method, target = match.group(1), match.group(2)
    body = rest.replace("\r\n", "\n").partition("\n\n")[2].strip()
    if body:
        target = f"{target}{'&' if '?' in target else '?'}{body}"
    return target, method, _type_in(target)


def _type_in(target: str) -> str | None:
    """The FHIR resource type named in a request URL (``.../Observation?...``)."""
    path = target.split("?", 1)[0]
    for segment in reversed(path.split("/")):
        if segment in _KNOWN_TYPES:
            return segment
    return None


# --------------------------------------------------------------------- renderer


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _ref(kind: str, value: str) -> dict[str, Any]:
    """``{"reference": "Kind/value"}`` when value is a FHIR id, else a typed identifier."""
    if _ID_LIKE.fullmatch(value):
        return {"reference": f"{kind}/{value}"}
    return {"type": kind, "identifier": {"value": value}}


_REST_CODE: Final[dict[str, tuple[str, str, str]]] = {
    # action → (restful-interaction code, AuditEvent.action, BALP profile suffix)
    "read": ("read", "R", "Read"),
    "print": ("read", "R", "Read"),
    "search": ("search-type", "E", "Query"),
    "list": ("search-type", "E", "Query"),
    "create": ("create", "C", "Create"),
    "update": ("update", "U", "Update"),
    "delete": ("delete", "D", "Delete"),
}


def render_fhir(event: AccessEvent) -> bytes:
    """One access event as a BALP-shaped FHIR R4 AuditEvent JSON line (no newline).

    The inverse of :class:`FhirAuditParser`: ``parse(render_fhir(e))`` gives back
    ``e`` (for queries not themselves shaped like an HTTP request line). What
    FHIR cannot say (``list``, ``print``, a resource word with no FHIR type,
    ``records`` differing from the patient count, ``bytes``, ``method``,
    ``route``) goes into ``urn:vigile:fhir:*`` codes and extensions.
    """
    action = event.action
    status = event.status
    doc: dict[str, Any] = {"resourceType": "AuditEvent"}
    if event.event_id is not None:
        doc["id"] = event.event_id
    # what the standard codes would say differently is said with vigile's own code
    if action == "login":
        vigile_action = status >= 400  # else read back as login_failed
    elif action == "login_failed":
        vigile_action = status < 400  # else read back as login
    else:
        vigile_action = action in ("list", "print")
    subtype: list[dict[str, str]] = []
    if action in _LOGIN_ACTIONS:
        doc["type"] = _coding(DCM, _LOGIN_TYPE, "User Authentication")
        subtype.append(
            _coding(DCM, _LOGOUT, "Logout") if action == "logout" else _coding(DCM, _LOGIN, "Login")
        )
        crude = "E"
    elif action == "export":
        doc["type"] = _coding(DCM, _EXPORT_TYPE, "Export")
        crude = "R"
    else:
        code, crude, profile = _REST_CODE[action]
        if event.patient_ids:
            doc["meta"] = {"profile": [f"{BALP_PROFILE}Patient{profile}"]}
        doc["type"] = _coding(AUDIT_EVENT_TYPE, "rest", "Restful Operation")
        subtype.append(_coding(RESTFUL_INTERACTION, code, code))
    if vigile_action:
        subtype.append(_coding(VIGILE_ACTION, action))
    doc["subtype"] = subtype
    doc["action"] = crude
    doc["recorded"] = event.ts.isoformat()
    doc["outcome"] = "0" if status < 400 else "4" if status < 500 else "8"
    if status != 200:
        doc["outcomeDesc"] = f"HTTP {status}"

    user: dict[str, Any] = {
        "type": {"coding": [_coding(PARTICIPATION_TYPE, "IRCP", "information recipient")]},
        "who": {"identifier": {"value": event.actor}},
        "requestor": True,
    }
    if event.session is not None:
        user["policy"] = [event.session]
    agents = [user]
    if event.src_ip is not None or event.user_agent is not None:
        client: dict[str, Any] = {
            "type": {"coding": [_coding(DCM, _APPLICATION, "Application")]},
            "requestor": False,
        }
        if event.user_agent is not None:
            client["who"] = {"display": event.user_agent}
        if event.src_ip is not None:
            client["network"] = {"address": event.src_ip, "type": _NETWORK_IP}
        agents.append(client)
    doc["agent"] = agents
    doc["source"] = {
        "observer": _ref("Organization", event.tenant),
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }

    entities: list[dict[str, Any]] = []
    resource = event.resource
    fhir_type = _FHIR_TYPE_OF.get(resource)
    if action in _LOGIN_ACTIONS:
        if resource != "session":
            entities.append({"type": _coding(VIGILE_RESOURCE, resource)})
    elif fhir_type is None:
        entities.append({"type": _coding(VIGILE_RESOURCE, resource)})
    else:
        entities.append(
            {
                "type": _coding(RESOURCE_TYPES, fhir_type, fhir_type),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    if event.query is not None:
        entities.append(
            {
                "type": _coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, _ROLE_QUERY, "Query"),
                "query": binascii.b2a_base64(event.query.encode(), newline=False).decode(),
            }
        )
    for pid in event.patient_ids:
        entities.append(
            {
                "what": _ref("Patient", pid),
                "type": _coding(AUDIT_ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, _ROLE_PATIENT, "Patient"),
            }
        )
    request_id = (event.extra or {}).get("request_id")
    if isinstance(request_id, str) and request_id:
        entities.append(
            {
                "what": {"identifier": {"value": request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId"),
            }
        )
    if entities:
        doc["entity"] = entities

    extensions: list[dict[str, Any]] = []
    if event.method is not None:
        extensions.append({"url": VIGILE + "method", "valueCode": event.method})
    if event.route is not None:
        extensions.append({"url": VIGILE + "route", "valueString": event.route})
    if event.records is not None and event.records != len(event.patient_ids):
        extensions.append({"url": VIGILE + "records", "valueUnsignedInt": event.records})
    if event.bytes is not None:
        extensions.append({"url": VIGILE + "bytes", "valueUnsignedInt": event.bytes})
    if extensions:
        doc["extension"] = extensions
    return _ENCODER.encode(doc)
