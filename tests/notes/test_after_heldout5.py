"""General forms added after the fifth and sixth blind sets, in sentences of their own."""

from __future__ import annotations

import pytest

from vigile.notes.api import classify_texts
from vigile.notes.backoff import TRAIN_SPLITS


def rules(text: str) -> set[str]:
    """Categories from the rules alone (no statistical back-off)."""
    result = next(iter(classify_texts([text], names=False, model=False)))
    return set(result.verdict.categories)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the priest, written with its accent or with a masculine article
        ("Le curé de la paroisse lui rend visite chaque semaine.", {"religion"}),
        ("Reçoit la visite du cure tous les dimanches.", {"religion"}),
        # a candidacy with words between
        ("Candidate aux futures élections régionales, très prise.", {"political"}),
        ("Tête de liste aux prochaines élections, agenda chargé.", {"political"}),
        # prayer as a practice
        ("Souhaite un créneau hors des heures de la prière.", {"religion"}),
        # wishing oneself away, the suicide-prevention line
        ("Dit que ses enfants seraient mieux sans elle.", {"mental_health"}),
        ("N'a plus envie de vivre depuis l'hiver.", {"mental_health"}),
        ("Numéro du 3114 remis à la patiente.", {"mental_health"}),
        # antenatal classes reveal a pregnancy
        ("Inscrite aux cours de préparation à l'accouchement en mars.", {"reproductive"}),
        # sexual practices; a same-sex partner a few words after the title
        ("Pratique la sodomie, conseils de prévention donnés.", {"sex_life"}),
        ("Mme Lenoir habite depuis 5 ans avec sa compagne à Blois.", {"sex_life"}),
        ("M. Robin, 44 ans, vit avec son conjoint à Tours.", {"sex_life"}),
        # an organ's decompensation is physical; the bare word stays psychiatric
        ("Décompensation respiratoire sur pneumopathie, O2 2 L.", {"health"}),
        ("Décompensation délirante, hospitalisé en psychiatrie.", {"mental_health"}),
        ("Certificat de décès rédigé à 6h.", {"health"}),
        # cigarette burns on a child are an abuse marker, not a smoking habit
        ("Brûlures de cigarette sur le dos de l'enfant.", {"violence", "health"}),
        # the allowance for dependent elderly people
        ("Dossier d'APA déposé par sa fille.", {"social"}),
        # after heldout6: a status after "salarié en" is no workplace
        ("Salariée en libération conditionnelle depuis mai.", {"judicial"}),
        ("Dyscalculie confirmée par le bilan, aménagements scolaires.", {"mental_health"}),
        ("Hospitalisation de jour pour une perfusion de fer.", {"health"}),
        ("Militant FO depuis 20 ans.", {"union"}),
    ],
)
def test_general_forms(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Cure thermale à Dax en mai, certificat à faire.",  # a course of treatment, no priest
        "Prière de rappeler Mme Colin avant midi.",  # a polite formula
        "Certificat de non contre-indication à l'escalade remis.",  # a sports certificate
        "Code porte 3114B, 2e étage.",  # a door code is not the hotline
        "Mme Lenoir appelle pour son fils : sa femme a changé de numéro.",  # someone else's wife
        "M. et Mme Robin : son mari passera chercher les papiers.",  # a couple, not the title
        "Le conseil syndical de l'immeuble se réunit dans le hall.",  # co-ownership board
    ],
)
def test_still_not_these_categories(text: str) -> None:
    found = rules(text)
    assert not found & {"religion", "mental_health", "sex_life", "union"}, found
    if text.startswith(("Prière", "Code", "Mme Lenoir", "M. et Mme", "Le conseil")):
        assert found == set(), found


def test_backoff_never_learns_from_the_sets_still_reported_blind() -> None:
    assert "heldout5" not in TRAIN_SPLITS and "heldout6" not in TRAIN_SPLITS


def test_fundus_exam_is_not_the_union() -> None:
    assert rules("HTA. FO à faire chez l'ophtalmo.") == {"health"}
    assert rules("DT2, FO normal en mars.") == {"health"}


def test_a_workplace_still_hides_its_term() -> None:
    assert rules("Salariée au Planning familial depuis 2019.") == set()
