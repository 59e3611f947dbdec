"""Detectors, one behaviour at a time: what fires, and what care explains away."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from tests.detect import scenes
from tests.detect.builders import HOME, PRACTICES, World, pid
from vigile.detect.context_index import ContextIndex
from vigile.detect.detectors.enumeration import id_number
from vigile.detect.engine import Engine
from vigile.detect.rules import load_rules
from vigile.stream import EventReader

DAY = scenes.DAY
OFFICE1 = PRACTICES["cab-0001"][0]


def run(tmp_path: Path, world: World) -> list[dict[str, Any]]:
    case = world.write(tmp_path / "case")
    engine = Engine(load_rules(), ContextIndex.load(case / "context"))
    enc = msgspec.json.Encoder().encode
    return [orjson.loads(enc(a)) for a in engine.run(EventReader([case / "events.jsonl"]))]


def fired(alerts: list[dict[str, Any]], rule: str, min_level: str = "low") -> list[dict[str, Any]]:
    order = ("low", "medium", "high", "critical")
    return [
        a
        for a in alerts
        if a["detector"] == rule and order.index(a["severity"]) >= order.index(min_level)
    ]


def test_when_normal_days_are_replayed_then_nothing_fires(tmp_path: Path) -> None:
    w = World()
    w.normal_days(days=6)
    assert run(tmp_path, w) == []


def test_when_a_canary_is_read_then_a_critical_alert_names_it_without_patient_ids(
    tmp_path: Path,
) -> None:
    alerts = run(tmp_path, scenes.canary_read())
    [a] = fired(alerts, "canary-read")
    assert a["severity"] == "critical" and a["evidence"]["canaries"] == 1
    assert pid("cab-0001", 590) not in orjson.dumps(a).decode()


def test_when_vip_notes_are_read_with_an_appointment_then_nothing_fires(tmp_path: Path) -> None:
    w = scenes.vip_unexplained_read()
    star = pid("cab-0001", 480)
    w.appointment("cab-0001", "dr.martin.0001", star, w.at(DAY, 16.0))
    assert not fired(run(tmp_path, w), "vip-unexplained-read")
    assert not fired(run(tmp_path, w), "vip-file-opened")


def test_when_vip_notes_are_read_without_care_then_medium_and_new_accounts_are_capped(
    tmp_path: Path,
) -> None:
    [a] = fired(run(tmp_path, scenes.vip_unexplained_read()), "vip-unexplained-read")
    assert a["severity"] == "medium"
    assert "no care relationship" in a["reasons"][0]
    w = scenes.vip_unexplained_read()
    w.extra_actors.append(("dr.newcomer.0001", "cab-0001", "doctor", "2026-03-05"))
    star = pid("cab-0001", 480)
    sid = w.login(w.at(DAY, 15.0), "cab-0001", "dr.newcomer.0001", OFFICE1)
    w.read(w.at(DAY, 15.1), "cab-0001", "dr.newcomer.0001", star, sid, OFFICE1, "annotation")
    newcomer = [a for a in run(tmp_path, w) if a["actor"] == "dr.newcomer.0001"]
    assert newcomer and all(a["severity"] == "low" for a in newcomer)


def test_when_unexplained_reads_are_explained_by_appointments_then_no_burst(tmp_path: Path) -> None:
    w = scenes._base()
    sid = w.login(w.at(DAY, 13.9), "cab-0001", "dr.martin.0001", OFFICE1)
    for k in range(40):
        p = pid("cab-0001", 420 + (k * 67) % 170)
        w.appointment("cab-0001", "dr.martin.0001", p, w.at(DAY + 2, 10.0))
        w.read(
            w.at(DAY, 14.0) + timedelta(seconds=30 * k),
            "cab-0001",
            "dr.martin.0001",
            p,
            sid,
            OFFICE1,
        )
    assert run(tmp_path, w) == []


def test_when_a_new_account_reads_many_unknown_files_then_it_stays_low(tmp_path: Path) -> None:
    w = scenes._base()
    w.extra_actors.append(("dr.locum.0001", "cab-0001", "locum", "2026-03-06"))
    sid = w.login(w.at(DAY, 8.5), "cab-0001", "dr.locum.0001", OFFICE1)
    for k in range(300):  # a locum reading the panel of the doctor it covers
        p = pid("cab-0001", 1 + (k * 211) % 790)
        w.read(
            w.at(DAY, 8.6) + timedelta(seconds=25 * k), "cab-0001", "dr.locum.0001", p, sid, OFFICE1
        )
    alerts = run(tmp_path, w)
    assert alerts, "the burst is noted"
    assert all(a["severity"] == "low" for a in alerts), [
        (a["detector"], a["severity"]) for a in alerts
    ]


def test_when_unexplained_reads_persist_for_days_then_medium_else_nothing(tmp_path: Path) -> None:
    alerts = run(tmp_path, scenes.unexplained_persistent())
    [a] = fired(alerts, "unexplained-persistent")
    assert a["evidence"]["days_over"] >= 3
    w = scenes._base()
    scenes._unexplained_run(w, DAY, 28, 9.0, 900.0, actor="sec.durand.0001")  # one day only
    assert not fired(run(tmp_path, w), "unexplained-persistent")


def test_when_ids_are_walked_then_refusals_sequence_and_cross_practice_fire(tmp_path: Path) -> None:
    assert fired(run(tmp_path, scenes.enumeration_refusals()), "enumeration-refusals", "high")
    assert fired(run(tmp_path, scenes.enumeration_sequential()), "enumeration-sequential", "high")
    [a] = fired(run(tmp_path, scenes.cross_practice_read()), "cross-practice-read", "high")
    assert a["evidence"]["foreign_files"] == 1


def test_when_new_patients_come_in_id_order_then_the_walk_grows_in_severity(tmp_path: Path) -> None:
    walks = fired(run(tmp_path, scenes.ordered_walk()), "ordered-walk")
    assert [a["severity"] for a in walks][:2] == ["low", "medium"]
    assert walks[-1]["evidence"]["run"] >= 30


@pytest.mark.parametrize(
    ("patient", "number"),
    [
        ("P10090933", 10090933),
        ("10090933", 10090933),
        ("cab-0001/p-000042", 42),
        ("P-12-b", 12),
        ("P١٢", 12),  # Arabic-Indic digits: decimal digits, which int() reads
        ("P²", None),  # a superscript is a digit to isdigit(), not a number
        ("sans-numéro", None),
        ("", None),
    ],
)
def test_the_number_of_a_patient_id_is_its_last_decimal_run(
    patient: str, number: int | None
) -> None:
    assert id_number(patient) == number


def test_when_lists_are_paged_then_unfiltered_is_high_filtered_low_service_low(
    tmp_path: Path,
) -> None:
    assert fired(run(tmp_path, scenes.bulk_paging()), "bulk-paging", "high")
    filtered = run(tmp_path, scenes.bulk_filtered())
    assert fired(filtered, "bulk-filtered") and not fired(filtered, "bulk-paging")
    assert all(a["severity"] == "low" for a in filtered)
    service = run(tmp_path, scenes.bulk_service_export())
    assert [a["detector"] for a in service] == ["bulk-service-export"]
    assert service[0]["severity"] == "low"


def test_when_searches_are_short_prefixes_in_order_then_scraping_is_high(tmp_path: Path) -> None:
    [a] = fired(run(tmp_path, scenes.search_scraping()), "search-scraping", "high")
    assert a["evidence"]["short_share"] >= 0.6


def test_when_a_session_moves_once_then_low_when_it_bounces_then_high(tmp_path: Path) -> None:
    moved = run(tmp_path, scenes.session_moved())
    assert fired(moved, "session-moved") and not fired(moved, "session-shared")
    assert all(a["severity"] == "low" for a in moved)
    shared = run(tmp_path, scenes.session_shared())
    assert fired(shared, "session-shared", "high")


def test_when_logins_fail_then_failures_spray_and_success_fire(tmp_path: Path) -> None:
    assert fired(run(tmp_path, scenes.stuffing_failures()), "stuffing-failures", "medium")
    spray = fired(run(tmp_path, scenes.stuffing_spray()), "stuffing-spray", "medium")
    assert len({a["actor"] for a in spray}) == 4  # every targeted account is alerted
    assert fired(run(tmp_path, scenes.stuffing_success()), "stuffing-success", "high")


def test_when_a_targeted_account_logs_in_from_another_new_network_then_success_is_low(
    tmp_path: Path,
) -> None:
    # the spray failed from one address; the holder then logs in from a new home network
    w = scenes._base()
    scenes._fail(w, DAY, 3.0, "cab-0003", "dr.petit.0003", "51.249.9.178")
    scenes._fail(w, DAY, 3.2, "cab-0003", "dr.petit.0003", "51.249.9.178")
    sid = w.login(w.at(DAY, 20.0), "cab-0003", "dr.petit.0003", "90.12.44.7")
    w.read(
        w.at(DAY, 20.1), "cab-0003", "dr.petit.0003", scenes.pid("cab-0003", 9), sid, "90.12.44.7"
    )
    success = fired(run(tmp_path, w), "stuffing-success")
    assert success and all(a["severity"] == "low" for a in success)
    assert success[0]["evidence"]["failures_from_this_network"] is False
    assert "none of the failures came from this network" in success[0]["reasons"][0]


def test_when_a_typo_at_the_office_fails_a_login_then_nothing_fires(tmp_path: Path) -> None:
    w = scenes._base()
    for k in range(3):
        w.ev(
            w.at(DAY, 8.0 + k / 60),
            "cab-0001",
            "dr.martin.0001",
            "login_failed",
            "session",
            src_ip=OFFICE1,
            status=401,
        )
    assert run(tmp_path, w) == []


def test_when_weak_signs_add_up_on_one_account_then_account_risk_lists_them(tmp_path: Path) -> None:
    [first, *_] = fired(run(tmp_path, scenes.account_risk()), "account-risk", "medium")
    signals = first["evidence"]["signals"]
    assert len(signals) >= 2 and sum(signals.values()) >= 90
    assert first["reasons"][0].startswith("account risk")


def test_when_the_owner_works_beside_an_attacker_then_account_risk_names_the_attackers_session(
    tmp_path: Path,
) -> None:
    # a stolen password reads files from elsewhere; the genuine doctor logs in at the
    # office a few minutes later and their request ("two places at once") tips the
    # account's total: the correlated alert, which the policy acts on, must still name
    # the session the signs came from, or the owner is the one blocked
    w = scenes._base()
    ip = "5.137.11.136"
    attacker = w.login(w.at(scenes.DAY, 9.0), "cab-0001", "dr.martin.0001", ip)
    owner = w.login(w.at(scenes.DAY, 9.08), "cab-0001", "dr.martin.0001", OFFICE1)
    for k in range(12):
        t = w.at(scenes.DAY, 9.0) + timedelta(seconds=24 * (k + 1))
        w.read(t, "cab-0001", "dr.martin.0001", pid("cab-0001", 410 + 4 * k), attacker, ip)
    for k in range(30):
        t = w.at(scenes.DAY, 9.08) + timedelta(seconds=24 * (k + 1) + 1)
        w.read(t, "cab-0001", "dr.martin.0001", pid("cab-0001", 1 + k % 5), owner, OFFICE1)
    w.events.sort(key=lambda e: e["ts"])
    risky = fired(run(tmp_path, w), "account-risk", "medium")
    assert risky
    assert {a["session"] for a in risky} == {attacker}
    assert all(a["src_ip"] == ip for a in risky)
    assert all(attacker in a["evidence"]["sessions"] for a in risky)


def test_when_accounts_of_several_practices_extract_alike_then_one_incident(tmp_path: Path) -> None:
    alerts = run(tmp_path, scenes.campaign())
    camp = fired(alerts, "campaign", "high")
    incidents = {a["incident"] for a in camp}
    assert len(incidents) == 1 and None not in incidents
    assert {a["tenant"] for a in camp} == {"cab-0001", "cab-0002", "cab-0003"}
    later = [a for a in alerts if a["ts"] > camp[-1]["ts"]]
    assert later and all(a["incident"] in incidents for a in later)


def test_when_three_practices_arrive_on_one_new_network_and_client_then_one_incident(
    tmp_path: Path,
) -> None:
    alerts = run(tmp_path, scenes.campaign_infrastructure())
    infra = fired(alerts, "campaign-infrastructure", "medium")
    assert {(a["tenant"], a["actor"]) for a in infra} == set(scenes.TRIO)
    assert all(a["severity"] == "medium" for a in infra)
    [incident] = {a["incident"] for a in infra}
    assert incident is not None
    # all three at the third arrival; the first two on the sessions and address they used
    assert len({a["ts"] for a in infra}) == 1
    assert {a["src_ip"] for a in infra} == {"193.32.126.14", "193.32.126.201", "193.32.126.77"}
    ev = infra[0]["evidence"]
    assert ev["network"] == "193.32.126.0/24" and ev["client"] == scenes.CHROME
    assert ev["accounts"] == 3 and ev["tenants"] == 3 and ev["arrived_within"] == 3 * 3600
    assert (
        "new to each of them" in infra[0]["reasons"][0] and scenes.CHROME in infra[0]["reasons"][0]
    )
    # each alert's sample is that account's arrival (its login from the new place)
    samples = [a["evidence"]["event_ids"] for a in infra]
    assert all(len(x) == 1 for x in samples) and len({x[0] for x in samples}) == 3
    # nothing else was above low: the group alone says it
    assert not [a for a in alerts if a["severity"] != "low" and a not in infra]


def _arrive(tmp_path: Path, **kw: Any) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "accounts": scenes.TRIO,
        "hours": [18.0, 19.5, 21.0],
        "ips": ["193.32.126.14", "193.32.126.201", "193.32.126.77"],
        "uas": [scenes.CHROME] * 3,
    }
    args.update(kw)
    w = scenes.arrivals(scenes._base(), **args)
    return fired(run(tmp_path, w), "campaign-infrastructure")


def test_when_the_accounts_keep_their_own_clients_then_no_infrastructure_incident(
    tmp_path: Path,
) -> None:
    # a congress's Wi-Fi: one new network, but each doctor with the client they always use
    from tests.detect.builders import UA

    assert not _arrive(tmp_path, uas=[UA] * 3)


def test_when_the_new_client_comes_from_a_network_they_know_then_no_incident(
    tmp_path: Path,
) -> None:
    # a client update reaches three accounts on a network they all used the day before
    from tests.detect.builders import UA

    ips = ["193.32.126.14", "193.32.126.201", "193.32.126.77"]
    w = scenes.arrivals(scenes._base(), scenes.TRIO, [18.0, 19.5, 21.0], ips, [UA] * 3, day=3)
    scenes.arrivals(w, scenes.TRIO, [18.0, 19.5, 21.0], ips, [scenes.CHROME] * 3)
    w.events.sort(key=lambda e: e["ts"])
    alerts = run(tmp_path, w)
    assert fired(alerts, "new-agent") and not fired(alerts, "campaign-infrastructure")


def test_when_only_two_practices_arrive_then_no_infrastructure_incident(tmp_path: Path) -> None:
    accounts = [scenes.TRIO[0], ("cab-0001", "dr.lefevre.0001"), scenes.TRIO[1]]
    assert not _arrive(tmp_path, accounts=accounts)


def test_when_arrivals_are_further_apart_than_the_window_then_no_incident(
    tmp_path: Path,
) -> None:
    # 06:00, then 12:30 and 19:00: the first is more than 12 h before the third
    assert not _arrive(tmp_path, hours=[6.0, 12.5, 19.0])
    assert _arrive(tmp_path, hours=[7.0, 12.5, 19.0])


def test_when_a_fourth_account_arrives_later_then_it_joins_the_incident(tmp_path: Path) -> None:
    accounts = [*scenes.TRIO, ("cab-0002", "sec.moreau.0002")]
    alerts = _arrive(
        tmp_path,
        accounts=accounts,
        hours=[18.0, 19.5, 21.0, 22.0],
        ips=["193.32.126.14", "193.32.126.201", "193.32.126.77", "193.32.126.9"],
        uas=[scenes.CHROME] * 4,
    )
    assert len(alerts) == 4 and len({a["incident"] for a in alerts}) == 1
    last = max(alerts, key=lambda a: a["ts"])
    assert last["actor"] == "sec.moreau.0002" and last["evidence"]["accounts"] == 4


def test_when_a_shared_network_serves_two_practices_then_it_is_noted(tmp_path: Path) -> None:
    assert fired(run(tmp_path, scenes.shared_source()), "shared-source")


def test_when_a_new_client_is_used_then_new_agent_fires(tmp_path: Path) -> None:
    assert fired(run(tmp_path, scenes.new_agent()), "new-agent")


def test_when_a_session_from_a_new_place_pages_the_list_then_it_is_high_at_100(
    tmp_path: Path,
) -> None:
    alerts = run(tmp_path, scenes.bulk_paging_unfamiliar())
    [a] = fired(alerts, "bulk-paging-unfamiliar", "high")
    assert a["evidence"]["records"] == 100 and a["evidence"]["pages"] == 2
    assert a["evidence"]["unfamiliar_session"] is True
    assert not fired(alerts, "bulk-paging")


def test_when_the_office_workstation_pages_the_list_then_only_500_records_fire(
    tmp_path: Path,
) -> None:
    alerts = run(tmp_path, scenes.bulk_paging())
    assert not fired(alerts, "bulk-paging-unfamiliar")
    [a] = fired(alerts, "bulk-paging", "high")
    assert a["evidence"]["records"] == 500 and a["evidence"]["unfamiliar_session"] is False


def test_when_listed_files_are_read_then_the_list_does_not_explain_them(tmp_path: Path) -> None:
    alerts = run(tmp_path, scenes.list_then_read())
    assert not fired(alerts, "bulk-paging-unfamiliar") and not fired(alerts, "bulk-paging")
    runs = fired(alerts, "unexplained-run") + fired(alerts, "unexplained-burst")
    assert runs, "reads of listed files must be judged by care, not by the list"


def test_when_a_filtered_recall_list_is_printed_then_the_letters_are_explained(
    tmp_path: Path,
) -> None:
    w = scenes.bulk_filtered()  # sec.durand.0001 exports the ≥65 recall list (6 pages of 500)
    last = w.events[-1]
    sid, ip = last["session"], last["src_ip"]
    listed = [p for e in w.events[w.base :] for p in e.get("patient_ids", [])][:150]
    t0 = w.at(DAY, 15.0)
    for k, p in enumerate(listed):
        w.ev(
            t0 + timedelta(seconds=10 * k),
            "cab-0001",
            "sec.durand.0001",
            "print",
            "patient",
            session=sid,
            src_ip=ip,
            patient_ids=[p],
            records=1,
        )
    alerts = run(tmp_path, w)
    assert not [a for a in alerts if a["detector"].startswith("unexplained")]
    # the same files *read* instead of printed are judged by care: the list explains nothing
    for e in w.events[-150:]:
        e["action"] = "read"
    reads = run(tmp_path, w)
    assert [a for a in reads if a["detector"].startswith("unexplained")]


def test_when_a_vip_file_turns_up_in_a_bulk_of_unexplained_reads_then_it_is_incidental_and_low(
    tmp_path: Path,
) -> None:
    w = scenes._base()
    w.full_patients = True  # the practice's share of protected files is known
    star = pid("cab-0001", 480)
    w.vip.add(star)
    home = HOME["dr.martin.0001"]
    sid = w.login(w.at(DAY, 19.9), "cab-0001", "dr.martin.0001", home)
    t = w.at(DAY, 20.0)
    for k in range(120):  # an evening backlog: files nobody explains, the star among them
        p = pid("cab-0001", 1 + (k * 211) % 790)
        if p == star:
            continue
        w.read(t + timedelta(seconds=20 * k), "cab-0001", "dr.martin.0001", p, sid, home)
    t2 = t + timedelta(seconds=20 * 121)
    w.read(t2, "cab-0001", "dr.martin.0001", star, sid, home)
    w.read(t2 + timedelta(seconds=10), "cab-0001", "dr.martin.0001", star, sid, home, "annotation")
    [a] = fired(run(tmp_path, w), "vip-unexplained-read")
    ev = a["evidence"]
    assert a["severity"] == "low" and "incidental" in a["reasons"][0]
    assert ev["opened_unexplained"] >= 100 and ev["chance"] > 0.01
    # the chance is the binomial tail at the practice's share of protected files
    assert ev["chance"] == pytest.approx(1 - (1 - ev["practice_share"]) ** ev["opened_unexplained"])


def test_when_vip_notes_are_the_first_unexplained_read_then_it_is_targeted(
    tmp_path: Path,
) -> None:
    from vigile.detect.detectors.sensitive import chance_at_least

    w = scenes.vip_unexplained_read()
    w.full_patients = True
    [a] = fired(run(tmp_path, w), "vip-unexplained-read")
    assert a["severity"] == "medium" and "targeted" in a["reasons"][0]
    assert a["evidence"]["chance"] < 0.01

    assert chance_at_least(1, 1, 1 / 800) == pytest.approx(1 / 800)
    assert chance_at_least(0, 10, 0.5) == 1.0 and chance_at_least(3, 2, 0.1) == 0.0
    # two protected files among ten at 1 in 1,000: about 4.5e-5
    assert chance_at_least(2, 10, 1e-3) == pytest.approx(1 - 0.999**10 - 10 * 1e-3 * 0.999**9)


# ---- sensitive notes ---------------------------------------------------------------------
def test_when_no_note_labels_are_given_then_the_alerts_are_byte_identical(
    tmp_path: Path,
) -> None:
    """Without labels the sensitive-notes rule looks at nothing: the alerts are those of
    the rules without it, byte for byte (same ids, same sequence)."""
    w = scenes.sensitive_note_unexplained()
    w.note_labels = []
    star = pid("cab-0001", 480)  # other alerts, whose ids and order must not move
    w.vip.add(star)
    sid = w.login(w.at(DAY, 15.0), "cab-0001", "sec.durand.0001", OFFICE1)
    w.read(w.at(DAY, 15.1), "cab-0001", "sec.durand.0001", star, sid, OFFICE1, "annotation")
    case = w.write(tmp_path / "case")
    enc = msgspec.json.Encoder().encode
    rules_dir = Path(load_rules().directory)
    without = tmp_path / "rules"
    without.mkdir()
    for f in rules_dir.iterdir():
        if not f.name.startswith("sensitive-note-unexplained"):
            (without / f.name).write_bytes(f.read_bytes())

    def replay(rules: Path | None) -> bytes:
        engine = Engine(load_rules(rules), ContextIndex.load(case / "context"))
        return b"".join(enc(a) + b"\n" for a in engine.run(EventReader([case / "events.jsonl"])))

    shipped = replay(None)
    assert shipped == replay(without)
    assert b"vip-unexplained-read" in shipped
    assert b"sensitive-note-unexplained" not in shipped


def test_when_sensitive_notes_are_read_without_care_then_high_risk_categories_are_high(
    tmp_path: Path,
) -> None:
    alerts = fired(run(tmp_path, scenes.sensitive_note_unexplained()), "sensitive-note-unexplained")
    by_actor = {a["actor"]: a for a in alerts}
    assert set(by_actor) == {"sec.durand.0001", "dr.martin.0001"}  # not the appointment
    sec, doc = by_actor["sec.durand.0001"], by_actor["dr.martin.0001"]
    assert sec["severity"] == "high" and sec["evidence"]["high_risk_categories"] == [
        "mental_health"
    ]
    assert "mental health" in sec["reasons"][0] and "targeted" in sec["reasons"][0]
    assert doc["severity"] == "medium" and doc["evidence"]["categories"] == {"health": 1}
    text = orjson.dumps(alerts).decode()
    for _, _, _, _, note, _ in scenes.with_notes(World()).notes:
        assert note not in text  # never a note's text
    assert pid("cab-0001", 610) not in text and pid("cab-0001", 613) not in text


def test_when_the_account_wrote_the_note_then_reading_it_is_explained(tmp_path: Path) -> None:
    w = scenes.with_notes(scenes._base())
    sid = w.login(w.at(DAY, 11.0), "cab-0001", "dr.lefevre.0001", OFFICE1)
    # dr.lefevre wrote the note of 610 (mental health): its own patient
    w.read(
        w.at(DAY, 11.1),
        "cab-0001",
        "dr.lefevre.0001",
        pid("cab-0001", 610),
        sid,
        OFFICE1,
        "annotation",
    )
    assert not fired(run(tmp_path, w), "sensitive-note-unexplained")
    # nor when a colleague wrote a note too (the explainer may name the colleague's)
    w2 = scenes.with_notes(scenes._base())
    p610 = pid("cab-0001", 610)
    w2.notes.append(("N0000009", p610, "cab-0001", "dr.martin.0001", "2025-07-01", "Vu ce jour"))
    w2.note_labels.append(("N0000009", 0, ""))
    sid = w2.login(w2.at(DAY, 11.0), "cab-0001", "dr.martin.0001", OFFICE1)
    w2.read(w2.at(DAY, 11.1), "cab-0001", "dr.martin.0001", p610, sid, OFFICE1, "annotation")
    assert not fired(run(tmp_path / "two", w2), "sensitive-note-unexplained")


def test_when_a_sensitive_note_turns_up_in_a_bulk_of_unexplained_reads_then_it_is_low(
    tmp_path: Path,
) -> None:
    w = scenes.with_notes(scenes._base())
    home = HOME["dr.martin.0001"]
    sid = w.login(w.at(DAY, 19.9), "cab-0001", "dr.martin.0001", home)
    t = w.at(DAY, 20.0)
    for k in range(120):  # an evening backlog of files nobody explains
        p = pid("cab-0001", 401 + k)
        w.read(t + timedelta(seconds=20 * k), "cab-0001", "dr.martin.0001", p, sid, home)
    t2 = t + timedelta(seconds=20 * 121)
    p610 = pid("cab-0001", 610)
    w.read(t2, "cab-0001", "dr.martin.0001", p610, sid, home)
    w.read(t2 + timedelta(seconds=10), "cab-0001", "dr.martin.0001", p610, sid, home, "annotation")
    [a] = fired(run(tmp_path, w), "sensitive-note-unexplained")
    ev = a["evidence"]
    # incidental: low even with a high-risk category
    assert a["severity"] == "low" and "incidental" in a["reasons"][0]
    assert ev["high_risk_categories"] == ["mental_health"]
    assert ev["opened_unexplained"] >= 120 and ev["chance"] > 0.01
    assert ev["chance"] == pytest.approx(1 - (1 - ev["practice_share"]) ** ev["opened_unexplained"])


def test_when_notes_of_sensitive_patients_are_exported_then_the_export_is_judged(
    tmp_path: Path,
) -> None:
    w = scenes.with_notes(scenes._base())
    sid = w.login(w.at(DAY, 10.0), "cab-0001", "sec.durand.0001", OFFICE1)
    ids = [pid("cab-0001", n) for n in (610, 611, 612, 613)]
    w.ev(
        w.at(DAY, 10.1),
        "cab-0001",
        "sec.durand.0001",
        "export",
        "annotation",
        session=sid,
        src_ip=OFFICE1,
        patient_ids=ids,
        records=4,
        route="/api/v1/exports/annotations",
    )
    [a] = fired(run(tmp_path, w), "sensitive-note-unexplained")
    assert a["evidence"]["patients"] == 3 and a["evidence"]["action"] == "export"
    assert a["severity"] == "high" and a["reasons"][0].startswith("exported")


def test_when_labels_name_their_patients_then_no_annotations_file_is_needed(
    tmp_path: Path,
) -> None:
    from vigile.detect.note_labels import load_sensitive_notes
    from vigile.errors import InputError

    path = tmp_path / "labels.csv"
    path.write_text(
        "annotation_id,sensitive,categories,patient_id,tenant\n"
        "N1,1,violence;health,P1,cab-0001\nN2,1,health,P1,cab-0001\n"
        "N3,0,,P2,cab-0001\nN4,true,judicial,P3,cab-0002\n"
    )
    found = load_sensitive_notes(path, None)
    assert found.patients == {"P1": (2, "health;violence"), "P3": (1, "judicial")}
    assert found.per_tenant == {"cab-0001": 1, "cab-0002": 1}
    assert (found.labels, found.sensitive, found.unplaced) == (4, 3, 0)
    bare = tmp_path / "bare.csv"
    bare.write_text("annotation_id,sensitive,categories\nN1,1,health\n")
    with pytest.raises(InputError, match="name no patient"):
        load_sensitive_notes(bare, None)
    with pytest.raises(InputError, match="missing column"):
        (tmp_path / "bad.csv").write_text("annotation_id,categories\nN1,health\n")
        load_sensitive_notes(tmp_path / "bad.csv", None)
    # labels without a context directory (`vigile detect --note-labels` alone)
    idx = ContextIndex.load(None, note_labels=path)
    assert set(idx.sensitive_notes) == {"P1", "P3"}


def test_when_a_typo_from_a_new_network_precedes_the_login_then_no_spray_is_seen(
    tmp_path: Path,
) -> None:
    """One failure, then the success 20 s later from the same unfamiliar network (a nurse
    on a mobile network): the account's own typo is not a spray across accounts."""
    w = scenes._base()
    ip = "92.184.100.7"
    scenes._fail(w, DAY, 7.0, "cab-0001", "dr.martin.0001", ip)
    sid = w.login(w.at(DAY, 7.0) + timedelta(seconds=20), "cab-0001", "dr.martin.0001", ip)
    w.read(w.at(DAY, 7.1), "cab-0001", "dr.martin.0001", pid("cab-0001", 3), sid, ip)
    assert not fired(run(tmp_path, w), "stuffing-success")
    # the same single failure while its network fails on accounts of other practices: sprayed
    for k, (tenant, actor) in enumerate(
        [
            ("cab-0002", "dr.bernard.0002"),
            ("cab-0003", "dr.petit.0003"),
            ("cab-0002", "sec.moreau.0002"),
        ]
    ):
        scenes._fail(w, DAY, 6.0 + 0.1 * k, tenant, actor, f"92.184.100.{20 + k}")
    assert fired(run(tmp_path, w), "stuffing-success", "high")


def test_when_searched_prefixes_carry_a_wildcard_then_they_are_still_short(
    tmp_path: Path,
) -> None:
    w = scenes.search_scraping(query="nom=A{letter}*&size=50")
    [a] = fired(run(tmp_path, w), "search-scraping", "high")
    assert a["evidence"]["short_share"] == 1.0


def test_when_the_whole_base_is_exported_in_one_file_then_it_counts_as_every_page(
    tmp_path: Path,
) -> None:
    w = scenes._base()
    scenes._paging(w, "185.220.101.47", 1, 700, hour=19.5, action="export")
    alerts = run(tmp_path, w)
    assert fired(alerts, "bulk-paging-unfamiliar", "high") and fired(alerts, "bulk-paging", "high")
    [a] = fired(alerts, "bulk-paging")
    assert a["evidence"]["pages"] == 1 and a["evidence"]["records"] == 700


def test_when_a_script_drives_a_persons_account_then_scripted_agent_is_medium(
    tmp_path: Path,
) -> None:
    [a] = fired(run(tmp_path, scenes.scripted_agent()), "scripted-agent", "medium")
    assert a["evidence"]["tool"] == "python-requests"
    # the vendor's own client, from the same place at the same hour: nothing of the kind
    w = scenes.scripted_agent()
    w.events = [
        {**e, "user_agent": scenes.UA_GENUINE} if e.get("user_agent") else e for e in w.events
    ]
    assert not fired(run(tmp_path, w), "scripted-agent")


def test_when_refused_requests_name_no_patient_then_they_still_count_as_refusals(
    tmp_path: Path,
) -> None:
    """INTERFACE §1: a refusal carries no patient data, so a feed may leave its
    ``patient_ids`` empty; the guessing is in the statuses."""
    w = scenes.enumeration_refusals()
    w.events = [
        {**e, "patient_ids": [], "records": 0} if e.get("status", 200) in (403, 404) else e
        for e in w.events
    ]
    assert any(e.get("status") == 403 and not e["patient_ids"] for e in w.events)
    [a] = fired(run(tmp_path, w), "enumeration-refusals", "high")
    assert a["evidence"]["refused"] >= 20


@pytest.mark.parametrize(
    ("author", "created", "explained"),
    [
        ("dr.martin.0001", "2021-04-06", False),  # a colleague's note from years ago
        ("dr.martin.0001", "2026-02-20", True),  # a colleague's note of last week
        ("dr.martin.0001", "", True),  # an undated note
        ("sec.durand.0001", "2021-04-06", True),  # the account's own note, however old
    ],
)
def test_when_a_note_is_the_only_link_then_it_explains_while_recent_or_own(
    tmp_path: Path, author: str, created: str, explained: bool
) -> None:
    w = scenes.vip_unexplained_read()
    star = pid("cab-0001", 480)
    w.notes.append(("n-old", star, "cab-0001", author, created, "Renouvellement ordonnance."))
    assert bool(fired(run(tmp_path, w), "vip-unexplained-read", "medium")) is not explained
