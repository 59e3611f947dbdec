"""General forms added after the eleventh blind set (heldout11), in sentences of their own.

None of these sentences is taken from ``data/notes_eval/heldout11.csv``: each checks a
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


def full(text: str) -> set[str]:
    """Categories from the rules and the statistical back-off."""
    result = next(iter(classify_texts([text], names=False)))
    return set(result.verdict.categories)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a job and its workplace opening the sentence are the patient's (or a
        # relative's) work: the workplace is not their care or their status...
        ("Aide-soignante à l'EHPAD des Tilleuls, préfère les RDV le mercredi.", set()),
        ("Gardien à la maison centrale, RDV l'après-midi uniquement.", set()),
        ("Maman secrétaire au CMP, vient après 17 h.", set()),
        ("Agent d'accueil à la CAF, disponible le mercredi.", set()),
        ("Éducatrice à la PJJ, horaires décalés.", set()),
        ("Conjoint surveillant à la maison d'arrêt, ne peut accompagner que le samedi.", set()),
        # ...and "de" only before an office holder: who they work for
        ("Assistante du sénateur, demande un créneau le lundi.", set()),
        # care at the same places, a job holder who speaks of a patient or heads the
        # note, an educator of the patient's, a relative of an office holder: kept
        ("Suivi au CSAPA, demande un créneau en fin de journée.", {"addiction"}),
        ("Adressée au Planning familial pour une IVG.", {"reproductive"}),
        ("Hospitalisé en psychiatrie, sortie prévue lundi.", {"mental_health"}),
        ("Psychologue au CMP, a appelé : la patiente ne vient plus.", {"mental_health"}),
        ("Infirmière au CMP : revoit le patient jeudi.", {"mental_health"}),
        ("Infirmier au CSAPA, sous méthadone depuis 2019.", {"addiction"}),
        ("Éducatrice de l'ASE, demande un certificat pour l'enfant.", {"violence"}),
        ("Fils du maire, demande un créneau.", {"political"}),
    ],
)
def test_job_at_its_workplace_after_heldout11(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "c'est le/la ..." says who the patient is, even in a sentence about the
        # waiting room; a body named as a place in a service's sentence is still not
        (
            "C'est la sénatrice du département : la faire patienter hors de la salle d'attente.",
            {"political"},
        ),
        ("Le stand de vaccination sera installé devant la mosquée vendredi.", set()),
    ],
)
def test_identity_in_a_service_sentence_after_heldout11(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the subject of posters or leaflets for the practice is not a patient's...
        ("Brochures sur le VIH déposées en salle d'attente.", set()),
        ("Affiches sur le dépistage du cancer du sein pour la salle d'attente.", set()),
        # ...but a leaflet given to a patient, or a patient's enrolment, is
        (
            "Brochure sur la contraception remise à la patiente en salle d'attente.",
            {"reproductive"},
        ),
        ("Inscrit au Mois sans tabac, 10 cig/j.", {"addiction"}),
    ],
)
def test_posters_and_leaflets_after_heldout11(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the shared diary and a locum are the practice's scheduling: read by the
        # rules, not left to the back-off; what else the note says still counts
        ("Préfère que ses rendez-vous soient notés sans motif dans l'agenda partagé.", set()),
        ("Vue par la remplaçante : idées noires, pleure beaucoup.", {"mental_health"}),
        (
            "Le maire souhaite que ses RDV n'apparaissent pas dans l'agenda partagé.",
            {"political"},
        ),
    ],
)
def test_scheduling_words_after_heldout11(text: str, expected: set[str]) -> None:
    assert full(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a title, a name, a care provider's role and a phone number: a contact line
        ("Remplaçant la semaine prochaine : M. Roux, kiné, 06 00 00 00 17.", set()),
        ("Mme Perrin, IDE, tél. 06 00 00 00 45.", set()),
        # the same role with care beside it is care
        ("Mme Durand, kiné 2x/sem pour lombalgie.", {"health"}),
        ("Mme Perrin, IDE, passe tous les jours pour les pansements.", {"health"}),
    ],
)
def test_contact_lines_after_heldout11(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a prenatal genetic test is done in a pregnancy; a constitutional one is not
        ("DPNI fait, résultat à venir.", {"genetic", "reproductive"}),
        ("Caryotype fœtal sur biopsie de trophoblaste.", {"genetic", "reproductive"}),
        ("Caryotype constitutionnel demandé chez le frère.", {"genetic"}),
        # drinking in litres or bottles per day; a bottle at the weekend is not that
        ("Reconnaît 1,5 L de vin/j.", {"addiction"}),
        ("Une bouteille de rosé le week-end.", set()),
        # cigarette burns said by their look are an injury and an abuse marker, not
        # smoking; a burn from a pan is an injury
        ("Brûlures arrondies type cigarette sur le dos de la main.", {"health", "violence"}),
        ("Brûlure de la main avec une casserole.", {"health"}),
        ("Fume 10 cigarettes par jour.", {"addiction"}),
        # a home without running water, no income at all; income named is nothing
        ("Vit dans une caravane sans eau courante.", {"social"}),
        ("Plus aucun revenu depuis la fin de son contrat.", {"social"}),
        ("Revenus : salaire et pension.", set()),
    ],
)
def test_word_families_after_heldout11(text: str, expected: set[str]) -> None:
    assert rules(text) == expected
