"""The shipped JSON Schema stays true to the model; context files load typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigile.context import load_context
from vigile.errors import InputError
from vigile.schema import access_event_schema

ROOT = Path(__file__).resolve().parents[2]


def test_when_model_changes_then_the_shipped_schema_must_be_regenerated() -> None:
    shipped = json.loads((ROOT / "schema" / "access-event.schema.json").read_text())
    assert shipped == access_event_schema(), (
        "run `vigile schema -o schema/access-event.schema.json`"
    )


def test_when_schema_is_read_then_required_fields_match_the_interface() -> None:
    schema = access_event_schema()
    assert set(schema["required"]) == {"ts", "tenant", "actor", "action", "resource"}
    assert schema["additionalProperties"] is True


def write(dir_: Path, name: str, text: str) -> None:
    (dir_ / name).write_text(text, encoding="utf-8")


def test_when_context_dir_is_empty_then_every_table_is_empty_and_typed(tmp_path: Path) -> None:
    ctx = load_context(tmp_path)
    assert ctx.patients.height == 0 and "vip" in ctx.patients.columns
    assert str(ctx.appointments.schema["start"]).startswith("Datetime")


def test_when_context_rows_are_bad_then_they_are_reported_with_file_and_line(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "patients.csv",
        "patient_id,tenant,last_name,first_name,birth_date,vip\n"
        "P1,cab-0042,MARTIN,Léa,1980-02-03,1\n"
        "P2,cab-0042,DUPONT,Jean,1975-13-01,0\n"
        ",cab-0042,LEROY,Paul,1990-01-01,0\n",
    )
    write(
        tmp_path,
        "appointments.csv",
        "tenant,actor,patient_id,start\n"
        "cab-0042,dr.martin.0042,P1,2026-03-02T09:00:00+01:00\n"
        "cab-0042,dr.martin.0042,P2,2026-03-02 09:20\n"
        "cab-0042,dr.martin.0042,P2,demain\n",
    )
    ctx = load_context(tmp_path)
    assert ctx.patients["patient_id"].to_list() == ["P1", "P2"]
    assert ctx.patients["vip"].to_list() == [True, False]
    assert ctx.patients["birth_date"].to_list()[1] is None  # unreadable optional value: row kept
    assert ctx.appointments.height == 2
    got = {(Path(r.source).name, r.line): r.reason for r in ctx.rejected}
    assert got == {
        (
            "patients.csv",
            3,
        ): "birth_date: cannot read 1975-13-01 as date (row kept, value left empty)",
        ("patients.csv", 4): "patient_id: required value is empty",
        ("appointments.csv", 4): "start: cannot read demain as datetime",
    }


def test_when_naive_appointment_times_are_given_then_they_are_read_as_paris_time(
    tmp_path: Path,
) -> None:
    write(
        tmp_path, "appointments.csv", "tenant,actor,patient_id,start\nc,a,P1,2026-07-01 10:00:00\n"
    )
    start = load_context(tmp_path).appointments["start"][0]
    assert start.isoformat() == "2026-07-01T08:00:00+00:00"  # CEST is UTC+2


def test_when_times_end_in_z_then_they_are_read_as_utc(tmp_path: Path) -> None:
    write(
        tmp_path,
        "annotations.csv",
        "annotation_id,patient_id,tenant,author,created,text\n"
        "N1,P1,c,a,2026-11-01T10:00:00Z,RDV\n"
        "N2,P1,c,a,2026-11-01T10:00:00.250z,RDV\n",
    )
    ctx = load_context(tmp_path)
    created = ctx.annotations["created"].to_list()
    assert [c.isoformat() for c in created] == [
        "2026-11-01T10:00:00+00:00",
        "2026-11-01T10:00:00.250000+00:00",
    ]
    assert not ctx.rejected


def test_when_a_required_column_is_missing_then_the_error_names_it(tmp_path: Path) -> None:
    write(tmp_path, "actors.csv", "account,tenant\nx,y\n")
    with pytest.raises(InputError, match=r"actors.csv: missing required column\(s\) actor"):
        load_context(tmp_path)


def test_when_context_dir_does_not_exist_then_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="context directory not found"):
        load_context(tmp_path / "nope")


def test_when_offsets_and_other_forms_mix_then_each_time_reads_as_alone(tmp_path: Path) -> None:
    """A column whose times all carry an offset is read by that reading alone; one value
    without (naive, to the minute, a day) and every reading is tried, row by row."""
    times = [
        "2026-07-01T10:00:00+02:00",
        "2026-07-01T08:00:00.5Z",
        "2026-07-01 10:00:00",
        "2026-07-01T10:00",
        "2026-07-01",
    ]
    want = [
        "2026-07-01T08:00:00+00:00",
        "2026-07-01T08:00:00.500000+00:00",
        "2026-07-01T08:00:00+00:00",
        "2026-07-01T08:00:00+00:00",
        "2026-06-30T22:00:00+00:00",
    ]
    rows = "".join(f"c,a,P{i},{t}\n" for i, t in enumerate(times))
    write(tmp_path, "appointments.csv", "tenant,actor,patient_id,start\n" + rows)
    got = [t.isoformat() for t in load_context(tmp_path).appointments["start"]]
    assert got == want
    rows = "".join(f"c,a,P{i},{t}\n" for i, t in enumerate(times[:2]))
    write(tmp_path, "appointments.csv", "tenant,actor,patient_id,start\n" + rows)
    got = [t.isoformat() for t in load_context(tmp_path).appointments["start"]]
    assert got == want[:2]
