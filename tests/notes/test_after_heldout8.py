"""General forms added after the eighth blind set (heldout8), in sentences of their own.

None of these sentences is taken from ``data/notes_eval/heldout8.csv``: each checks a
word family, a pattern or a context rule on a note written for the test, and the
harmless notes beside them check that the same words stay quiet where they should.
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
        # dental treatments and oral lesions
        ("Pose de brackets sur l'arcade inférieure, contrôle dans un mois.", {"health"}),
        ("Contrôle des bagues, resserrage, prochain rendez-vous dans 5 semaines.", {"health"}),
        ("Scellement de sillons sur les molaires, enfant de 8 ans.", {"health"}),
        ("Pose de sealants sur les premières molaires.", {"health"}),
        ("Gouttière occlusale de nuit prescrite pour bruxisme.", {"health"}),
        ("Leucoplasie buccale à biopsier.", {"health"}),
        # a tooth-numbered implant is dental, the contraceptive implant stays reproductive
        ("Devis pour un implant 46, en attente de la mutuelle.", {"health"}),
        ("Implant contraceptif posé au bras gauche.", {"reproductive"}),
        # speech recognition: split words and spelled acronyms
        ("Traité par méta done quatre-vingts milligrammes.", {"addiction"}),
        ("Suivi au C sapa de la ville.", {"addiction"}),
        ("Test V I H positif, annonce faite.", {"sexual_health"}),
        # gender identity said of oneself, a first name changed at the registry
        ("Se dit trans depuis deux ans.", {"gender_identity"}),
        ("A changé de prénom à l'état civil cet été.", {"gender_identity"}),
        # a relative's suicide attempt before a time word; a relative's memory loss
        ("Son frère a fait une TS la semaine dernière.", {"mental_health"}),
        ("Sa mère perd la mémoire, la patiente est épuisée.", {"health"}),
        ("Sa grand-mère devient gâteuse.", {"health"}),
        # slang
        ("Il est au ballon depuis l'été.", {"judicial"}),
        ("Elle picole tous les soirs.", {"addiction"}),
        ("Il s'est fait tabasser à la sortie du bar.", {"violence"}),
        ("Il a été passé à tabac devant chez lui.", {"violence"}),
        ("A attrapé la chtouille.", {"sexual_health"}),
        ("Arrêté bourré au volant samedi.", {"addiction", "judicial"}),
        ("Il se pique depuis ses vingt ans.", {"addiction"}),
        ("Elle sort avec des filles depuis le lycée.", {"sex_life"}),
        ("Son neveu lui pique sa pension.", {"violence"}),
        ("Travaille au black dans la restauration.", {"social"}),
        ("L'appartement est insalubre, trois enfants.", {"social"}),
        # child protection; the patient's own sick leave
        ("Ordonnance de placement provisoire prononcée.", {"judicial"}),
        ("Patiente en arrêt, son arrêt se termine lundi.", {"health"}),
        # violent with a named relative; a labour court without its apostrophe; a union card
        ("Frère violent avec sa compagne, la patiente s'inquiète.", {"violence"}),
        ("Douleur violente avec la toux, paracétamol.", {"health"}),
        ("Audience aux prud hommes lundi, très tendu.", {"judicial"}),
        ("Encartée à la CGT depuis vingt ans.", {"union"}),
        # a sign-language interpreter is about deafness, not a foreign language
        ("Vient avec une interprète en langue des signes, surdité congénitale.", {"health"}),
        # the same places and words about the patient stay sensitive
        ("Le patient est en grève depuis une semaine avec son syndicat.", {"union"}),
        ("Patient délégué syndical, conflit avec la direction.", {"union"}),
        ("Convoqué au tribunal le mois prochain.", {"judicial"}),
        ("Va à la mosquée tous les vendredis.", {"religion"}),
        ("Suivie pour un cancer du sein, aidée par la Ligue contre le cancer.", {"health"}),
    ],
)
def test_word_families_after_heldout8(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # "ts" as "tous", a ball game, injecting insulin
        "Je le vois ts les jours.",
        "Le petit joue au ballon dans la salle d'attente.",
        # others' strikes, a union representative who only calls
        "Le métro était en grève, la patiente arrive en retard.",
        "La déléguée syndicale de l'entreprise a appelé pour les dates des visites.",
        # a body asking for the on-call list; places used for directions
        "La préfecture demande le tableau des gardes du secteur.",
        "Notre cabinet est à côté de la mosquée, se garer derrière.",
        "Le cabinet est voisin de la permanence de la sénatrice.",
        # a screening poster, a charity's brochure
        "Affiche de prévention du cancer du sein changée dans l'entrée.",
        "Brochure de la Ligue contre le cancer reçue, rangée.",
    ],
)
def test_not_about_a_patient_after_heldout8(text: str) -> None:
    assert rules(text) == set()


def test_insulin_injection_is_not_drug_use() -> None:
    assert rules("Il se pique seul pour l'insuline.") == {"health"}
