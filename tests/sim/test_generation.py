"""The world: interface conformance, truth consistency, determinism, calibration."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from vigile.sim.attacks import KINDS as ATTACK_KINDS
from vigile.sim.batch import ROUTES
from vigile.sim.benign import KINDS as BENIGN_KINDS
from vigile.sim.config import SimConfig
from vigile.sim.generate import generate
from vigile.sim.notes import CATEGORIES

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
ACTIONS = {
    "login",
    "login_failed",
    "logout",
    "read",
    "search",
    "list",
    "export",
    "print",
    "create",
    "update",
    "delete",
}
API = {(m, r, a, res) for m, r, a, res, _, _ in ROUTES.values()}


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_when_small_preset_is_generated_then_every_attack_kind_and_benign_case_is_present(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    attacks = _jsonl(small_world / "truth" / "attacks.jsonl")
    benign = _jsonl(small_world / "truth" / "benign.jsonl")
    assert {a["kind"] for a in attacks} == set(ATTACK_KINDS)
    assert {b["kind"] for b in benign} == set(BENIGN_KINDS)
    for case in attacks + benign:
        assert case["events"] > 0, case["id"]
        assert case["start"] <= case["end"]


def test_when_events_are_read_then_every_line_follows_the_interface(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    events = small_events
    ids = set()
    last = ""
    for e in events:
        for f in ("ts", "tenant", "actor", "action", "resource"):
            assert isinstance(e[f], str) and e[f], f
        assert TS.match(str(e["ts"]))
        assert e["action"] in ACTIONS
        assert (e["method"], e["route"], e["action"], e["resource"]) in API
        assert re.match(r"^cab-\d{4}$", str(e["tenant"]))
        assert isinstance(e["status"], int) and 100 <= e["status"] <= 599
        pids = e["patient_ids"]
        assert isinstance(pids, list) and all(re.match(r"^P\d+$", p) for p in pids)
        assert isinstance(e["records"], int) and e["records"] >= 0
        ids.add(e["event_id"])
        assert str(e["ts"])[:19] >= last[:19] or e["ts"][19:] != last[19:]
        last = str(e["ts"])
    assert len(ids) == len(events)


def test_when_events_are_sorted_by_instant_then_the_file_order_is_kept(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    df = pl.read_ndjson(small_world / "events.jsonl", schema={"ts": pl.String})
    t = df.select(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3f%:z", time_zone="UTC").dt.epoch("ms")
    ).to_series()
    assert t.is_sorted()


def test_when_truth_is_compared_then_attack_events_exist_and_exposed_patients_appear_in_them(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    events = {e["event_id"]: e for e in small_events}
    att = pl.read_parquet(small_world / "truth" / "attack_events.parquet")
    assert att.height > 0
    for row in att.iter_rows(named=True):
        e = events[row["event_id"]]
        assert (e["tenant"], e["actor"], e["status"]) == (
            row["tenant"],
            row["actor"],
            row["status"],
        )
    ex = pl.read_parquet(small_world / "truth" / "attack_exposures.parquet")
    for row in ex.sample(min(ex.height, 3000), seed=1).iter_rows(named=True):
        e = events[row["event_id"]]
        assert row["patient_id"] in e["patient_ids"]
        assert int(e["status"]) < 300
    ben = pl.read_parquet(small_world / "truth" / "benign_events.parquet")
    assert ben.height > 0 and all(i in events for i in ben.get_column("event_id").to_list())


def test_when_attack_accounts_are_listed_then_they_exist_in_actors_csv(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    actors = pl.read_csv(small_world / "context" / "actors.csv")
    known = set(zip(actors["tenant"].to_list(), actors["actor"].to_list(), strict=True))
    for case in _jsonl(small_world / "truth" / "attacks.jsonl") + _jsonl(
        small_world / "truth" / "benign.jsonl"
    ):
        for tenant, actor in case["accounts"]:
            assert (tenant, actor) in known


def test_when_canaries_are_listed_then_no_genuine_or_benign_event_touches_them(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    canaries = set(pl.read_csv(small_world / "context" / "canaries.csv")["patient_id"].to_list())
    assert len(canaries) >= 8
    tagged = set(
        pl.read_parquet(small_world / "truth" / "attack_events.parquet")["event_id"].to_list()
    )
    touched_by_attacks = False
    for e in small_events:
        hit = canaries.intersection(e["patient_ids"])
        if hit:
            assert e["event_id"] in tagged, e
            touched_by_attacks = True
    assert touched_by_attacks


def test_when_persons_are_counted_then_files_per_person_is_near_19_over_15(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    persons = pl.read_csv(small_world / "truth" / "persons.csv")
    patients = pl.read_csv(small_world / "context" / "patients.csv", infer_schema=False)
    assert persons.height == patients.height
    ratio = persons.height / persons["person_id"].n_unique()
    assert 1.22 < ratio < 1.32
    assert set(patients.columns) >= {
        "patient_id",
        "tenant",
        "last_name",
        "birth_name",
        "first_name",
        "sex",
        "birth_date",
        "phone",
        "email",
        "address",
        "postcode",
        "city",
        "vip",
    }
    assert patients["vip"].cast(pl.Int32).sum() >= 8


def test_when_notes_are_written_then_labels_match_interface_categories(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    ann = pl.read_csv(small_world / "context" / "annotations.csv")
    lab = pl.read_csv(
        small_world / "truth" / "notes.csv", schema_overrides={"categories": pl.String}
    )
    assert ann.height == lab.height > 0
    assert set(ann["annotation_id"].to_list()) == set(lab["annotation_id"].to_list())
    for sens, cats in lab.select("sensitive", "categories").iter_rows():
        names = [c for c in (cats or "").split(";") if c]
        assert bool(sens) == bool(names)
        assert set(names) <= set(CATEGORIES)
    doc = orjson.loads((small_world / "world.json").read_bytes())
    assert 0.007 < doc["stats"]["persons_with_notes_share"] < 0.016


def test_when_the_same_seed_is_used_twice_then_every_file_is_byte_identical(
    tmp_path: Path, tiny_config: Callable[[int], SimConfig]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(tiny_config(11), a)
    generate(tiny_config(11), b)
    assert _digest(a) == _digest(b)


def test_when_another_seed_is_used_then_the_events_differ(
    tmp_path: Path, tiny_config: Callable[[int], SimConfig]
) -> None:
    generate(tiny_config(1), tmp_path / "a")
    generate(tiny_config(2), tmp_path / "b")
    assert (tmp_path / "a" / "events.jsonl").read_bytes() != (
        tmp_path / "b" / "events.jsonl"
    ).read_bytes()


def test_when_stats_are_recomputed_from_the_files_then_they_match_world_json(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    doc = orjson.loads((small_world / "world.json").read_bytes())
    actors = pl.read_csv(small_world / "context" / "actors.csv")
    tagged = pl.read_parquet(small_world / "truth" / "attack_events.parquet")["event_id"]
    benign = pl.read_parquet(small_world / "truth" / "benign_events.parquet")["event_id"]
    ev = pl.read_ndjson(small_world / "events.jsonl").filter(
        ~pl.col("event_id").is_in(tagged.to_list() + benign.to_list())
    )
    ev = ev.join(actors.select("actor", "role"), on="actor").filter(
        pl.col("role").is_in(["doctor", "locum"])
    )
    per = ev.group_by("actor", pl.col("ts").str.slice(0, 10)).len()
    assert abs(per["len"].mean() - doc["stats"]["events_per_doctor_day_mean"]) < 1.0  # type: ignore[operator]
    with open(small_world / "events.jsonl", "rb") as f:
        assert doc["counts"]["events"] == sum(1 for _ in f)


def test_when_the_world_is_summarised_then_figures_are_in_calibrated_ranges(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    s = orjson.loads((small_world / "world.json").read_bytes())["stats"]
    assert 150 < s["events_per_doctor_day_mean"] < 800
    assert 20 < s["distinct_patients_per_doctor_day_mean"] < 200
    assert 0.6 < s["reads_explained_by_appointment_share"] < 0.95
    assert s["night_share_of_genuine_events"] < 0.03


@pytest.mark.parametrize("kind", ["low_and_slow", "vip_snooping"])
def test_when_an_insider_attack_runs_then_it_uses_the_victims_own_session(
    small_world: Path, small_events: list[dict[str, Any]], kind: str
) -> None:
    case = next(c for c in _jsonl(small_world / "truth" / "attacks.jsonl") if c["kind"] == kind)
    ids = set(
        pl.read_parquet(small_world / "truth" / "attack_events.parquet")
        .filter(pl.col("case") == case["id"])["event_id"]
        .to_list()
    )
    tenant, actor = case["accounts"][0]
    sessions_attack, sessions_genuine = set(), set()
    for e in small_events:
        if e["actor"] == actor and e["tenant"] == tenant and "session" in e:
            (sessions_attack if e["event_id"] in ids else sessions_genuine).add(e["session"])
    assert sessions_attack and sessions_attack <= sessions_genuine


def test_when_a_token_is_replayed_then_the_victims_session_appears_from_another_address(
    small_world: Path, small_events: list[dict[str, Any]]
) -> None:
    case = next(
        c for c in _jsonl(small_world / "truth" / "attacks.jsonl") if c["kind"] == "token_replay"
    )
    ids = set(
        pl.read_parquet(small_world / "truth" / "attack_events.parquet")
        .filter(pl.col("case") == case["id"])["event_id"]
        .to_list()
    )
    tenant, actor = case["accounts"][0]
    mine = [e for e in small_events if e["actor"] == actor and e["tenant"] == tenant]
    replayed = [e for e in mine if e["event_id"] in ids]
    genuine = [e for e in mine if e["event_id"] not in ids]
    assert replayed and all(e["action"] == "export" for e in replayed)
    sessions = {e["session"] for e in replayed}
    assert sessions <= {e.get("session") for e in genuine}
    assert {e["src_ip"] for e in replayed}.isdisjoint({e["src_ip"] for e in genuine})


def test_when_cases_are_planned_then_no_account_serves_two_cases(small_world: Path) -> None:
    seen: dict[tuple[str, str], str] = {}
    for case in _jsonl(small_world / "truth" / "attacks.jsonl") + _jsonl(
        small_world / "truth" / "benign.jsonl"
    ):
        for tenant, actor in case["accounts"]:
            assert (tenant, actor) not in seen, (case["id"], seen.get((tenant, actor)))
            seen[(tenant, actor)] = str(case["id"])


def test_when_gzip_is_asked_then_the_compressed_events_equal_the_plain_ones(
    tmp_path: Path, tiny_config: Callable[[int], SimConfig]
) -> None:
    import gzip

    plain, packed = tiny_config(3), tiny_config(3)
    packed.gzip = True
    generate(plain, tmp_path / "a")
    doc = generate(packed, tmp_path / "b")
    assert doc["events_file"] == "events.jsonl.gz"
    with gzip.open(tmp_path / "b" / "events.jsonl.gz", "rb") as f:
        assert f.read() == (tmp_path / "a" / "events.jsonl").read_bytes()
