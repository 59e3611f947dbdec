"""One scene per rule: normal days, then the behaviour the rule is about.

``SCENES[rule_id]()`` returns the :class:`World` of the golden case
``tests/detect/golden/<rule_id>/``. The scenes are deliberately small and plain; the
unit tests vary them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.detect.builders import HOME, PRACTICES, UA, World, pid

DAY = 4  # the scene happens on Friday, after four normal days
OFFICE1 = PRACTICES["cab-0001"][0]


def _base() -> World:
    """Four normal days of the three practices (shared by every golden case)."""
    w = World()
    w.normal_days()
    w.mark_base()
    return w


def canary_read() -> World:
    w = _base()
    w.canaries = [(pid("cab-0001", 590), "cab-0001"), (pid("cab-0002", 590), "cab-0002")]
    sid = w.login(w.at(DAY, 9.0), "cab-0001", "dr.martin.0001", OFFICE1)
    w.read(w.at(DAY, 9.1), "cab-0001", "dr.martin.0001", pid("cab-0001", 590), sid, OFFICE1)
    return w


def vip_unexplained_read() -> World:
    w = _base()
    star = pid("cab-0001", 480)
    w.vip.add(star)
    sid = w.login(w.at(DAY, 10.0), "cab-0001", "sec.durand.0001", OFFICE1)
    t = w.at(DAY, 10.2)
    w.read(t, "cab-0001", "sec.durand.0001", star, sid, OFFICE1)
    w.read(
        t + timedelta(seconds=15), "cab-0001", "sec.durand.0001", star, sid, OFFICE1, "annotation"
    )
    return w


def vip_file_opened() -> World:
    w = _base()
    star = pid("cab-0002", 470)
    w.vip.add(star)
    sid = w.login(w.at(DAY, 11.0), "cab-0002", "sec.moreau.0002", PRACTICES["cab-0002"][0])
    w.read(w.at(DAY, 11.1), "cab-0002", "sec.moreau.0002", star, sid, PRACTICES["cab-0002"][0])
    return w


#: notes of cab-0001 (synthetic): patient number, author, text, sensitive, categories
NOTES1 = [
    (
        610,
        "dr.lefevre.0001",
        "Suivi CMP, episode depressif, idees noires evoquees",
        1,
        "health;mental_health",
    ),
    (611, "dr.martin.0001", "HTA, DT2 sous metformine, bilan lipidique a refaire", 1, "health"),
    (612, "dr.martin.0001", "Rdv a decaler, patiente prefere le matin", 0, ""),
    (613, "dr.lefevre.0001", "Asthme, ventoline si besoin", 1, "health"),
]


def with_notes(w: World) -> World:
    """Every file of the practices in patients.csv (the share of sensitive notes is
    known), and the notes of cab-0001 with their labels (context/note_labels.csv)."""
    w.full_patients = True
    for i, (n, author, text, sensitive, cats) in enumerate(NOTES1, 1):
        note = f"N{i:07d}"
        w.notes.append((note, pid("cab-0001", n), "cab-0001", author, "2025-06-02", text))
        w.note_labels.append((note, sensitive, cats))
    return w


def sensitive_note_unexplained() -> World:
    w = with_notes(_base())
    # the secretary opens a file then its notes (mental health): no appointment, no care
    sid = w.login(w.at(DAY, 10.0), "cab-0001", "sec.durand.0001", OFFICE1)
    t = w.at(DAY, 10.2)
    p610 = pid("cab-0001", 610)
    w.read(t, "cab-0001", "sec.durand.0001", p610, sid, OFFICE1)
    w.read(
        t + timedelta(seconds=15), "cab-0001", "sec.durand.0001", p610, sid, OFFICE1, "annotation"
    )
    # a doctor reads the notes of another patient (health only), no appointment: medium
    sid2 = w.login(w.at(DAY, 11.0), "cab-0001", "dr.martin.0001", OFFICE1)
    w.read(
        w.at(DAY, 11.1),
        "cab-0001",
        "dr.martin.0001",
        pid("cab-0001", 613),
        sid2,
        OFFICE1,
        "annotation",
    )
    # the other doctor reads a patient's notes at an appointment: nothing
    p611 = pid("cab-0001", 611)
    p_at = w.at(DAY, 14.0)
    w.appointment("cab-0001", "dr.lefevre.0001", p611, p_at)
    sid3 = w.login(w.at(DAY, 13.9), "cab-0001", "dr.lefevre.0001", OFFICE1)
    w.read(p_at, "cab-0001", "dr.lefevre.0001", p611, sid3, OFFICE1)
    w.read(
        p_at + timedelta(seconds=20),
        "cab-0001",
        "dr.lefevre.0001",
        p611,
        sid3,
        OFFICE1,
        "annotation",
    )
    return w


def _unexplained_run(
    w: World,
    day: int,
    n: int,
    start: float,
    gap_s: float,
    actor: str = "dr.martin.0001",
    first: int = 420,
    step: int = 67,
) -> None:
    sid = w.login(w.at(day, start - 0.05), "cab-0001", actor, OFFICE1)
    for k in range(n):
        # a shuffled order: ids that do not walk upwards
        p = pid("cab-0001", first + (k * step) % 170)
        w.read(w.at(day, start) + timedelta(seconds=k * gap_s), "cab-0001", actor, p, sid, OFFICE1)


def unexplained_burst() -> World:
    w = _base()
    _unexplained_run(w, DAY, 35, 14.0, 30.0)
    return w


def unexplained_daily() -> World:
    w = _base()
    _unexplained_run(w, DAY, 60, 9.0, 400.0)
    return w


def unexplained_persistent() -> World:
    w = _base()
    for day in (1, 2, 3, 4):
        _unexplained_run(w, day, 28, 9.0, 900.0, actor="sec.durand.0001", first=200 + 40 * day)
    return w


def _filtered_export(
    w: World, actor: str, tenant: str, pages: int, size: int, query: str, ip: str
) -> None:
    sid = w.login(w.at(DAY, 10.0), tenant, actor, ip)
    for page in range(1, pages + 1):
        ids = [pid(tenant, 1 + ((page - 1) * size + k) % 790) for k in range(size)]
        w.ev(
            w.at(DAY, 10.0) + timedelta(seconds=30 * page),
            tenant,
            actor,
            "export",
            "patient",
            session=sid,
            src_ip=ip,
            route="/api/v1/exports/patients",
            patient_ids=ids,
            records=size,
            query=f"{query}&page={page}&size={size}",
        )


def volume_daily() -> World:
    w = _base()
    _filtered_export(
        w, "sec.durand.0001", "cab-0001", 6, 250, "age_min=65&campagne=grippe", OFFICE1
    )
    return w


def volume_hourly() -> World:
    w = _base()
    _filtered_export(w, "sec.durand.0001", "cab-0001", 3, 250, "age_min=75", OFFICE1)
    return w


def bulk_filtered() -> World:
    w = _base()
    _filtered_export(
        w, "sec.durand.0001", "cab-0001", 6, 500, "age_min=65&campagne=grippe", OFFICE1
    )
    return w


def _paging(
    w: World,
    ip: str,
    pages: int,
    size: int,
    ua: str = UA,
    hour: float = 1.5,
    first: int = 1,
    action: str = "list",
) -> None:
    """dr.martin.0001 logs in from ``ip`` and pages the unfiltered patient list (or
    exports it: ``action="export"``)."""
    sid = w.login(w.at(DAY, hour), "cab-0001", "dr.martin.0001", ip, ua)
    for page in range(1, pages + 1):
        ids = [pid("cab-0001", first + ((page - 1) * size + k) % 790) for k in range(size)]
        w.ev(
            w.at(DAY, hour) + timedelta(seconds=4 * page),
            "cab-0001",
            "dr.martin.0001",
            action,
            "patient",
            session=sid,
            src_ip=ip,
            user_agent=ua,
            route="/api/v1/patients",
            patient_ids=ids,
            records=size,
            query=f"page={page}&size={size}",
        )


def bulk_paging() -> World:
    """The whole list from the practice's own workstation (a familiar place)."""
    w = _base()
    _paging(w, OFFICE1, 5, 100)
    return w


def bulk_paging_unfamiliar() -> World:
    """A script with stolen credentials, from a data centre, pages of 50."""
    w = _base()
    _paging(w, "185.220.101.47", 4, 50, "python-httpx/0.28.1")
    return w


def list_then_read() -> World:
    """A script lists the file base from a new place, then reads the listed files."""
    w = _base()
    ip = "185.220.101.47"
    _paging(w, ip, 1, 100, hour=13.0, first=500)  # one page: below every paging rule
    sid = w.login(w.at(DAY, 14.0), "cab-0001", "dr.martin.0001", ip)
    for k in range(60):
        t = w.at(DAY, 14.0) + timedelta(seconds=20 * (k + 1))
        w.read(t, "cab-0001", "dr.martin.0001", pid("cab-0001", 500 + k), sid, ip)
    return w


def bulk_service_export() -> World:
    w = _base()
    w.extra_actors.append(("svc.migration.0001", "cab-0001", "service", "2026-03-04"))
    ip = "51.234.174.120"
    sid = w.login(
        w.at(DAY, 22.5), "cab-0001", "svc.migration.0001", ip, "MedPratic-Migration/2.1.4"
    )
    for page in range(1, 6):
        ids = [pid("cab-0001", 1 + ((page - 1) * 500 + k) % 790) for k in range(500)]
        w.ev(
            w.at(DAY, 22.5) + timedelta(seconds=3 * page),
            "cab-0001",
            "svc.migration.0001",
            "export",
            "patient",
            session=sid,
            src_ip=ip,
            route="/api/v1/exports/patients",
            user_agent="MedPratic-Migration/2.1.4",
            patient_ids=ids,
            records=500,
            query=f"page={page}&size=500",
        )
    return w


def search_scraping(query: str = "q=a{letter}") -> World:
    """Searches ``aa``, ``ab``... (``query`` formats each with its second ``letter``)."""
    w = _base()
    sid = w.login(w.at(DAY, 9.5), "cab-0001", "dr.lefevre.0001", OFFICE1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for k in range(26):
        ids = [pid("cab-0001", 1 + (k * 13 + j) % 790) for j in range(k % 5)]
        w.ev(
            w.at(DAY, 9.5) + timedelta(seconds=15 * k),
            "cab-0001",
            "dr.lefevre.0001",
            "search",
            "patient",
            session=sid,
            src_ip=OFFICE1,
            route="/api/v1/patients/search",
            patient_ids=ids,
            records=len(ids),
            query=query.format(letter=letters[k]),
        )
    return w


def new_network() -> World:
    w = _base()
    ip = "37.166.20.4"
    sid = w.login(w.at(DAY, 20.5), "cab-0001", "dr.martin.0001", ip)
    w.read(w.at(DAY, 20.6), "cab-0001", "dr.martin.0001", pid("cab-0001", 5), sid, ip)
    return w


def scripted_agent() -> World:
    """A doctor's password replayed by a script from a data centre, at night."""
    w = _base()
    ua = "python-requests/2.32.3"
    ip = "167.99.61.20"
    sid = w.login(w.at(DAY, 2.0), "cab-0002", "dr.bernard.0002", ip, ua)
    for k in range(3):
        t = w.at(DAY, 2.0) + timedelta(seconds=8 * (k + 1))
        w.read(t, "cab-0002", "dr.bernard.0002", pid("cab-0002", 30 + k), sid, ip, ua=ua)
    return w


def new_agent() -> World:
    w = _base()
    ua = "curl/8.5.0"
    sid = w.login(w.at(DAY, 9.0), "cab-0002", "dr.bernard.0002", PRACTICES["cab-0002"][0], ua)
    w.read(
        w.at(DAY, 9.1),
        "cab-0002",
        "dr.bernard.0002",
        pid("cab-0002", 5),
        sid,
        PRACTICES["cab-0002"][0],
        ua=ua,
    )
    return w


def session_moved() -> World:
    w = _base()
    home, mobile = HOME["dr.martin.0001"], "37.171.8.200"
    sid = w.login(w.at(DAY, 21.0), "cab-0001", "dr.martin.0001", home)
    w.read(w.at(DAY, 21.1), "cab-0001", "dr.martin.0001", pid("cab-0001", 37), sid, home)
    w.read(w.at(DAY, 21.2), "cab-0001", "dr.martin.0001", pid("cab-0001", 40), sid, mobile)
    w.read(w.at(DAY, 21.3), "cab-0001", "dr.martin.0001", pid("cab-0001", 43), sid, mobile)
    return w


def session_shared() -> World:
    w = _base()
    dc = "163.172.163.220"
    sid = w.login(w.at(DAY, 10.0), "cab-0001", "sec.durand.0001", OFFICE1)
    w.read(w.at(DAY, 10.05), "cab-0001", "sec.durand.0001", pid("cab-0001", 3), sid, OFFICE1)
    ids = [pid("cab-0001", 1 + k) for k in range(200)]
    w.ev(
        w.at(DAY, 10.1),
        "cab-0001",
        "sec.durand.0001",
        "export",
        "patient",
        session=sid,
        src_ip=dc,
        route="/api/v1/exports/patients",
        patient_ids=ids,
        records=200,
        query="page=1&size=200",
    )
    w.read(w.at(DAY, 10.12), "cab-0001", "sec.durand.0001", pid("cab-0001", 6), sid, OFFICE1)
    w.ev(
        w.at(DAY, 10.13),
        "cab-0001",
        "sec.durand.0001",
        "export",
        "patient",
        session=sid,
        src_ip=dc,
        route="/api/v1/exports/patients",
        patient_ids=ids,
        records=200,
        query="page=2&size=200",
    )
    return w


def concurrent_places() -> World:
    w = _base()
    away = "88.22.173.186"
    s_office = w.login(w.at(DAY, 9.0), "cab-0001", "dr.lefevre.0001", OFFICE1)
    s_away = w.login(w.at(DAY, 9.02), "cab-0001", "dr.lefevre.0001", away)
    for k in range(6):
        t = w.at(DAY, 9.05) + timedelta(seconds=60 * k)
        w.read(
            t, "cab-0001", "dr.lefevre.0001", pid("cab-0001", 1 + (97 * k) % 400), s_office, OFFICE1
        )
        w.read(
            t + timedelta(seconds=20),
            "cab-0001",
            "dr.lefevre.0001",
            pid("cab-0001", 2 + (131 * k) % 400),
            s_away,
            away,
        )
    return w


def shared_source() -> World:
    w = _base()
    shared = "45.123.126.137"
    s1 = w.login(w.at(DAY, 9.0), "cab-0001", "dr.martin.0001", shared)
    w.read(w.at(DAY, 9.1), "cab-0001", "dr.martin.0001", pid("cab-0001", 2), s1, shared)
    s2 = w.login(w.at(DAY, 11.0), "cab-0002", "dr.bernard.0002", shared)
    w.read(w.at(DAY, 11.1), "cab-0002", "dr.bernard.0002", pid("cab-0002", 2), s2, shared)
    return w


def _fail(w: World, day: int, hour: float, tenant: str, actor: str, ip: str) -> None:
    w.ev(
        w.at(day, hour),
        tenant,
        actor,
        "login_failed",
        "session",
        src_ip=ip,
        status=401,
        route="/api/v1/auth/login",
    )


def stuffing_failures() -> World:
    w = _base()
    for k, ip in enumerate(("89.98.160.245", "82.116.12.153", "88.22.173.186")):
        _fail(w, DAY, 2.0 + k, "cab-0002", "dr.bernard.0002", ip)
    return w


def stuffing_spray() -> World:
    w = _base()
    targets = [
        ("cab-0001", "dr.martin.0001"),
        ("cab-0001", "sec.durand.0001"),
        ("cab-0002", "dr.bernard.0002"),
        ("cab-0003", "dr.petit.0003"),
    ]
    for k, (tenant, actor) in enumerate(targets):
        _fail(w, DAY, 1.0 + 0.5 * k, tenant, actor, f"193.119.58.{10 + k}")
    return w


def stuffing_success() -> World:
    w = _base()
    ip = "51.249.9.178"
    _fail(w, DAY, 3.0, "cab-0003", "dr.petit.0003", ip)
    _fail(w, DAY, 3.2, "cab-0003", "dr.petit.0003", ip)
    sid = w.login(w.at(DAY, 3.4), "cab-0003", "dr.petit.0003", ip)
    w.read(w.at(DAY, 3.5), "cab-0003", "dr.petit.0003", pid("cab-0003", 9), sid, ip)
    return w


def enumeration_refusals() -> World:
    w = _base()
    ip = "83.157.123.62"
    sid = w.login(w.at(DAY, 19.0), "cab-0002", "sec.moreau.0002", ip)
    for k in range(30):
        other = pid("cab-0001", 200 + 5 * k)
        w.read(
            w.at(DAY, 19.0) + timedelta(seconds=10 * (k + 1)),
            "cab-0002",
            "sec.moreau.0002",
            other,
            sid,
            ip,
            status=403,
        )
    return w


def enumeration_sequential() -> World:
    w = _base()
    sid = w.login(w.at(DAY, 19.0), "cab-0001", "dr.lefevre.0001", OFFICE1)
    for k in range(18):
        w.read(
            w.at(DAY, 19.0) + timedelta(seconds=5 * (k + 1)),
            "cab-0001",
            "dr.lefevre.0001",
            pid("cab-0001", 500 + k),
            sid,
            OFFICE1,
            status=200 if k % 3 else 404,
        )
    return w


def cross_practice_read() -> World:
    w = _base()
    w.full_patients = True
    sid = w.login(w.at(DAY, 19.0), "cab-0002", "dr.bernard.0002", PRACTICES["cab-0002"][0])
    w.ev(
        w.at(DAY, 19.1),
        "cab-0002",
        "dr.bernard.0002",
        "print",
        "patient",
        session=sid,
        src_ip=PRACTICES["cab-0002"][0],
        route="/api/v1/patients/{patient_id}/print",
        patient_ids=[pid("cab-0001", 333)],
        records=1,
    )
    return w


def ordered_walk() -> World:
    w = _base()
    sid = w.login(w.at(DAY, 14.0), "cab-0001", "dr.martin.0001", OFFICE1)
    for k in range(40):
        w.read(
            w.at(DAY, 14.0) + timedelta(seconds=25 * (k + 1)),
            "cab-0001",
            "dr.martin.0001",
            pid("cab-0001", 410 + 4 * k),
            sid,
            OFFICE1,
        )
    return w


def account_risk() -> World:
    w = _base()
    ip = "5.137.11.136"
    sid = w.login(w.at(DAY, 9.0), "cab-0001", "dr.martin.0001", ip)
    for k in range(40):
        w.read(
            w.at(DAY, 9.0) + timedelta(seconds=24 * (k + 1)),
            "cab-0001",
            "dr.martin.0001",
            pid("cab-0001", 410 + 4 * k),
            sid,
            ip,
        )
    return w


def campaign() -> World:
    w = _base()
    accounts = [
        ("cab-0001", "dr.martin.0001", "5.137.11.136"),
        ("cab-0002", "dr.bernard.0002", "86.21.130.116"),
        ("cab-0003", "dr.petit.0003", "79.46.127.188"),
    ]
    for i, (tenant, actor, ip) in enumerate(accounts):
        start = w.at(DAY, 9.0 + 0.2 * i)
        sid = w.login(start, tenant, actor, ip)
        for k in range(45):
            t = start + timedelta(seconds=24 * (k + 1))
            p = pid(tenant, 420 + 3 * k)
            w.read(t, tenant, actor, p, sid, ip)
            w.read(t + timedelta(seconds=1), tenant, actor, p, sid, ip, "annotation")
    return w


#: a browser none of the scenes' accounts uses
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36"
)
#: (tenant, account): the accounts of three practices a campaign logs in to
TRIO = [
    ("cab-0001", "dr.martin.0001"),
    ("cab-0002", "dr.bernard.0002"),
    ("cab-0003", "dr.petit.0003"),
]


def arrivals(
    w: World,
    accounts: list[tuple[str, str]],
    hours: list[float],
    ips: list[str],
    uas: list[str],
    reads: int = 5,
    day: int = DAY,
) -> World:
    """Each account logs in at its hour of ``day`` from its address with its client and
    opens a few of its practice's files, 20 s apart."""
    for (tenant, actor), hour, ip, ua in zip(accounts, hours, ips, uas, strict=True):
        start = w.at(day, hour)
        sid = w.login(start, tenant, actor, ip, ua)
        for k in range(reads):
            t = start + timedelta(seconds=20 * (k + 1))
            w.read(t, tenant, actor, pid(tenant, 430 + 7 * k), sid, ip, ua=ua)
    return w


def campaign_infrastructure() -> World:
    """Three practices' accounts log in within three hours from one hosting /24 with a
    browser none of them uses, and each reads a few files: nothing else is abnormal."""
    ips = ["193.32.126.14", "193.32.126.201", "193.32.126.77"]
    return arrivals(_base(), TRIO, [18.0, 19.5, 21.0], ips, [CHROME] * 3)


def unexplained_run() -> World:
    w = _base()
    _unexplained_run(w, DAY, 20, 15.0, 45.0)
    return w


SCENES: dict[str, Callable[[], World]] = {
    "account-risk": account_risk,
    "bulk-filtered": bulk_filtered,
    "bulk-paging": bulk_paging,
    "bulk-paging-unfamiliar": bulk_paging_unfamiliar,
    "bulk-service-export": bulk_service_export,
    "campaign": campaign,
    "campaign-infrastructure": campaign_infrastructure,
    "canary-read": canary_read,
    "concurrent-places": concurrent_places,
    "cross-practice-read": cross_practice_read,
    "enumeration-refusals": enumeration_refusals,
    "enumeration-sequential": enumeration_sequential,
    "new-agent": new_agent,
    "scripted-agent": scripted_agent,
    "new-network": new_network,
    "ordered-walk": ordered_walk,
    "search-scraping": search_scraping,
    "session-moved": session_moved,
    "session-shared": session_shared,
    "shared-source": shared_source,
    "stuffing-failures": stuffing_failures,
    "stuffing-spray": stuffing_spray,
    "stuffing-success": stuffing_success,
    "unexplained-burst": unexplained_burst,
    "unexplained-daily": unexplained_daily,
    "unexplained-persistent": unexplained_persistent,
    "unexplained-run": unexplained_run,
    "sensitive-note-unexplained": sensitive_note_unexplained,
    "vip-file-opened": vip_file_opened,
    "vip-unexplained-read": vip_unexplained_read,
    "volume-daily": volume_daily,
    "volume-hourly": volume_hourly,
}
UA_GENUINE = UA
