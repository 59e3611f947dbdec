"""Fixtures for scoping: the `small` world (with its truth) in an event store, and a tiny
hand-written practice (three patients, a handful of requests) for exact expectations."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import event, write_jsonl
from vigile.sim.generate import generate
from vigile.sim.presets import preset_config
from vigile.store import open_store
from vigile.stream import EventReader


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `small` preset (seed 7) with its event store under ``store/``."""
    out = tmp_path_factory.mktemp("scope-small")
    generate(preset_config("small", seed=7), out)
    store = open_store(out / "store", create=True)
    store.append(EventReader([out / "events.jsonl"]))
    store.close()
    return out


#: Synthetic identities (fictional French names), two files of one person at two practices.
PATIENTS = [
    ("P001", "cab-0001", "Durand", "Durand", "Camille", "F", "1984-05-12", "06 11 22 33 44",
     "camille.durand@example.fr", "3 rue des Lilas", "69003", "Lyon", "0"),
    ("P002", "cab-0001", "Moreau", "Petit", "Hélène", "F", "1951-11-02", "04 78 00 00 01",
     "", "12 avenue Foch", "69006", "Lyon", "0"),
    ("P003", "cab-0001", "Bernard", "Bernard", "Louis", "M", "2011-01-30", "06 55 44 33 22",
     "", "8 place Bellecour", "69002", "Lyon", "0"),
    ("P101", "cab-0002", "Durand", "Durand", "Camille", "F", "1984-05-12", "06 11 22 33 44",
     "", "3 rue des Lilas", "69003", "Lyon", "0"),
    ("P102", "cab-0002", "Lefèvre", "Lefèvre", "Marc", "M", "1970-07-07", "06 99 88 77 66",
     "", "1 quai Saint-Antoine", "69002", "Lyon", "0"),
]  # fmt: skip
HEADER = (
    "patient_id,tenant,last_name,birth_name,first_name,sex,birth_date,phone,email,"
    "address,postcode,city,vip"
)


def tiny_events() -> list[dict[str, Any]]:
    """dr.x.0001 (the suspect): a search (consulted), reads (extracted), a refused read,
    a note read, a print of another practice's file; dr.y.0001 works normally."""

    def x(eid: str, ts: str, action: str, ids: list[str], **over: Any) -> dict[str, Any]:
        fields = {"tenant": "cab-0001", "actor": "dr.x.0001", "session": "s-x", **over}
        return event(event_id=eid, ts=f"2026-03-{ts}Z", action=action, patient_ids=ids, **fields)

    return [
        x("e1", "02T10:00:00", "login", [], resource="session"),
        x("e2", "02T10:01:00", "search", ["P001", "P002", "P003"]),
        x("e3", "02T10:02:00", "read", ["P001"]),
        x("e4", "02T10:03:00", "read", ["P001"], resource="annotation"),
        x("e5", "02T10:04:00", "read", ["P102"], status=403, records=0),
        x("e6", "02T10:05:00", "print", ["P101"]),
        x("e7", "02T10:06:00", "list", [], status=404),
        x("e8", "02T10:07:00", "read", ["P001"]),
        x("e9", "02T11:00:00", "read", ["P003"], actor="dr.y.0001", session="s-y"),
        x("e10", "03T10:00:00", "read", ["P003"]),
    ]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A folder with ``events.jsonl``, ``context/`` (patients, annotations), ``labels.csv``."""
    return write_tiny(tmp_path)


def write_tiny(tmp_path: Path) -> Path:
    """Write the tiny practice's files into ``tmp_path``."""
    write_jsonl(tmp_path / "events.jsonl", tiny_events())
    ctx = tmp_path / "context"
    ctx.mkdir()
    with open(ctx / "patients.csv", "w", newline="") as f:
        f.write(HEADER + "\n")
        csv.writer(f).writerows(PATIENTS)
    (ctx / "annotations.csv").write_text(
        "annotation_id,patient_id,tenant,author,created,text\n"
        "N1,P001,cab-0001,dr.y.0001,2026-01-10T10:00:00+01:00,Suivi VIH sous trithérapie\n"
        "N2,P001,cab-0001,dr.y.0001,2026-02-01T10:00:00+01:00,Rdv reporté (demande patiente)\n"
        "N3,P003,cab-0001,dr.y.0001,2026-02-01T10:00:00+01:00,Asthme léger\n"
    )
    (tmp_path / "labels.csv").write_text(
        "annotation_id,sensitive,categories\nN1,1,health;sexual_health\nN2,0,\nN3,1,health\n"
    )
    return tmp_path
