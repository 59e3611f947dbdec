"""General forms added after the twelfth blind set (heldout12), in sentences of their own.

None of these sentences is taken from ``data/notes_eval/heldout12.csv``: each checks a
pattern or a context rule on a note written for the test, and the notes beside them
check that the same words stay sensitive, or quiet, where they should.
"""

from __future__ import annotations

import pytest

from vigile.notes.api import classify_texts


def rules(text: str) -> set[str]:
    """Categories from the rules alone (no statistical back-off)."""
    result = next(iter(classify_texts([text], names=False, model=False)))
    return set(result.verdict.categories)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a capitalised word after a title is a surname, even when only its first
        # letter is a capital ("Prud'homme" is a name, not the labour court)...
        ("Mme Prud'homme passera chercher l'ordonnance vendredi.", set()),
        ("Appeler M. Prud'homme pour décaler la séance.", set()),
        # ...the labour court in a sentence is still the patient's dispute
        ("Conflit avec son employeur, dossier aux prud'hommes.", {"judicial"}),
        ("Audience prud'homale la semaine prochaine.", {"judicial"}),
    ],
)
def test_surname_after_a_title_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the only language a patient speaks, with its article or "uniquement"
        ("Monsieur ne parle que le tamoul, sa fille vient traduire.", {"ethnic_origin"}),
        ("Parle uniquement l'ourdou, prévoir un interprète.", {"ethnic_origin"}),
        ("Ne parle que l'albanais.", {"ethnic_origin"}),
        ("Patiente qui parle seulement le wolof à la maison.", {"ethnic_origin"}),
        # a language learnt or spoken among others stays quiet
        ("Parle anglais et français, travaille dans l'hôtellerie.", set()),
        ("Ne parle que de ses vacances, RDV dans un mois.", set()),
    ],
)
def test_only_language_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a named exam booked for the patient, even in the secretariat's words
        ("Secrétariat de cardiologie : MAPA posée mardi, venir à 8 h.", {"health"}),
        ("Secrétariat : échographie cardiaque le 12, merci de venir à jeun.", {"health"}),
        ("Cartographie des naevi prévue en juin.", {"health"}),
        ("Dermatoscopie de contrôle à reprogrammer.", {"health"}),
        # the same exam as the service's equipment, in a sentence about its running,
        # stays quiet
        ("Secrétariat : le holter du cabinet est parti en réparation.", set()),
    ],
)
def test_named_exam_booked_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a partner who keeps the patient from going out, from working, from her family
        ("Rapporte que son conjoint l'empêche de sortir sans lui.", {"violence"}),
        ("Son compagnon lui interdit de travailler.", {"violence"}),
        ("Le mari l'empêche de voir ses parents.", {"violence"}),
        # a pain or an illness that keeps the patient in is not violence
        ("La sciatique l'empêche de sortir de chez elle.", {"health"}),
    ],
)
def test_partner_keeps_from_going_out_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # empty bottles of alcohol seen at home
        ("Passage à domicile : des bouteilles de whisky vides sous l'évier.", {"addiction"}),
        ("Nombreuses canettes de bière vides dans le salon.", {"addiction"}),
        # empty bottles of water or milk stay quiet
        ("Bouteilles d'eau vides à descendre au tri.", set()),
    ],
)
def test_empty_bottles_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a speciality's letter that is only received or filed says nothing of the
        # patient's care beyond the paper...
        ("Lettre de la rhumatologue reçue, à classer.", set()),
        ("CR du pneumologue à scanner dans le dossier.", set()),
        # ...its content, a psychiatrist's letter, or the speciality seen, stay sensitive
        ("Courrier du rhumatologue reçu : polyarthrite, méthotrexate à débuter.", {"health"}),
        ("Courrier du psychiatre reçu, à scanner.", {"mental_health"}),
        ("Adressé au pneumologue pour une toux chronique.", {"health"}),
    ],
)
def test_filed_letter_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # held in an immigration detention centre
        ("Patiente placée en CRA depuis une semaine, demande un certificat.", {"ethnic_origin"}),
        (
            "Retenu au CRA du Mesnil-Amelot, consultation pour une plaie.",
            {"ethnic_origin", "health"},
        ),
        # the autism resource centre, also "CRA", is not detention
        ("Bilan au CRA pour suspicion d'autisme.", {"mental_health"}),
        # children's dental prevention is care
        ("Bilan M'T dents fait, scellement des sillons sur les 46.", {"health"}),
    ],
)
def test_detention_centre_and_dental_prevention_after_heldout12(
    text: str, expected: set[str]
) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an injectable contraceptive, by name or by kind, is contraception
        ("Sayana Press faite ce jour, prochaine dans 13 semaines.", {"reproductive"}),
        ("Dépo-Provera : rappel de l'injection le 12.", {"reproductive"}),
        ("Souhaite une contraception injectable.", {"reproductive"}),
        # an injection of something else stays generic care
        ("Injection de vitamine B12 faite ce jour.", {"health"}),
    ],
)
def test_injectable_contraception_after_heldout12(text: str, expected: set[str]) -> None:
    assert rules(text) == expected
