"""The contract other modules call: classify_notes(DataFrame) -> DataFrame."""

from __future__ import annotations

import json

import polars as pl
import pytest

from vigile.errors import InputError
from vigile.notes.api import OUTPUT_SCHEMA, classify_notes, sensitive_patients

NOTES = pl.DataFrame(
    {
        "annotation_id": ["a1", "a2", "a3", "a4", "a5"],
        "patient_id": ["p1", "p1", "p2", "p3", "p3"],
        "tenant": ["t1"] * 5,
        "text": [
            "IVG en 2019, rappeler Mme Lambert au 06 12 34 56 78",
            "RDV annulé",
            "Maire de la commune, VIH+ sous trithérapie",
            None,
            "",
        ],
    }
)


def test_when_notes_are_classified_then_one_row_per_note_in_order_with_the_contract_columns() -> (
    None
):
    out = classify_notes(NOTES, names=False)
    assert out.schema == pl.Schema(OUTPUT_SCHEMA)
    assert out["annotation_id"].to_list() == ["a1", "a2", "a3", "a4", "a5"]
    assert out["sensitive"].to_list() == [True, False, True, False, False]
    assert out["categories"].to_list() == [
        "reproductive",
        "",
        "political;sexual_health",
        "",
        "",
    ]
    assert out["identifiers"][0] == "phone;person"
    ev = json.loads(out["evidence"][2])
    assert {e["category"] for e in ev} == {"political", "sexual_health"}


def test_when_the_same_notes_are_read_twice_then_the_output_is_identical() -> None:
    assert classify_notes(NOTES, names=False).equals(classify_notes(NOTES, names=False))


def test_when_a_column_is_missing_then_a_clear_input_error_is_raised() -> None:
    with pytest.raises(InputError, match="text"):
        classify_notes(pl.DataFrame({"annotation_id": ["a1"]}))


def test_when_patients_are_summarised_then_sensitive_notes_and_categories_are_counted() -> None:
    out = sensitive_patients(NOTES, names=False).sort("patient_id")
    assert out.select("patient_id", "sensitive_notes", "categories").rows() == [
        ("p1", 1, "reproductive"),
        ("p2", 1, "political;sexual_health"),
    ]
