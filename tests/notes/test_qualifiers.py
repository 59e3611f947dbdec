"""How negation, hypothesis, family and history change the verdict (docs/notes.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_when_a_diagnosis_is_negated_then_the_note_is_health_context_only(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Pas de diabète, pas de fièvre") == {"health"}
    assert categories("pas d'idées suicidaires") == {"health"}
    assert categories("Non fumeur, pas d'alcool") == {"health"}


def test_when_a_non_medical_category_is_negated_then_it_gives_nothing(
    categories: Callable[[str], set[str]],
) -> None:
    assert "violence" not in categories("Pas de violences conjugales rapportées")


def test_when_a_specific_category_is_present_then_negated_findings_fold_into_it(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Grossesse 12 SA, pas de fièvre, examen normal") == {"reproductive"}


def test_when_a_non_clinical_category_meets_a_clinical_finding_then_health_is_added(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Maire de la commune. Pas d'ATCD particulier") == {"health", "political"}


def test_when_a_family_member_has_the_condition_then_the_category_stays(
    categories: Callable[[str], set[str]], evidence: Callable[[str], list[dict[str, Any]]]
) -> None:
    assert categories("Mère diabétique, père IDM à 55 ans") == {"health"}
    assert categories("Père alcoolique, la patiente ne boit pas") == {"addiction"}
    assert any(e["family"] for e in evidence("ATCD fam : père IDM à 55 ans"))


def test_when_a_condition_is_suspected_then_the_category_stays_and_is_hypothetical(
    categories: Callable[[str], set[str]], evidence: Callable[[str], list[dict[str, Any]]]
) -> None:
    assert "violence" in categories("Suspicion de maltraitance chez l'enfant")
    assert any(e["hypothetical"] for e in evidence("dépression ?"))


def test_when_a_condition_is_past_then_the_category_stays_and_is_historical(
    categories: Callable[[str], set[str]], evidence: Callable[[str], list[dict[str, Any]]]
) -> None:
    assert categories("ATCD de TS en 2018") == {"mental_health"}
    assert any(e["historical"] for e in evidence("ATCD de TS en 2018"))


def test_when_a_list_is_negated_by_a_plural_cue_then_every_item_is_negated(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Sérologies VIH, VHB, VHC négatives") == {"health"}


def test_when_clauses_are_separated_by_a_dash_then_a_negation_stops_there(
    categories: Callable[[str], set[str]],
) -> None:
    assert "judicial" in categories("pas d'idées suicidaires - procédure prud'homale en cours")
    assert "social" in categories("Pas de conso d'alcool - rsa.")


def test_when_the_evidence_is_read_then_it_names_its_span_and_qualifiers(
    evidence: Callable[[str], list[dict[str, Any]]],
) -> None:
    text = "Pas de diabète. HTA sous amlodipine"
    ev = evidence(text)
    keys = {"category", "text", "start", "end", "negated", "hypothetical", "family", "historical"}
    assert all(keys <= set(e) for e in ev)
    diabete = next(e for e in ev if e["text"] == "diabète")
    assert diabete["negated"] and text[diabete["start"] : diabete["end"]] == "diabète"
