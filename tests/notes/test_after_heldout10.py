"""General forms added after the tenth blind set (heldout10), in sentences of their own.

None of these sentences is taken from ``data/notes_eval/heldout10.csv``: each checks a
word family, a pattern or a context rule on a note written for the test, and the
notes beside them check that the same words stay sensitive, or quiet, where they
should.
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
        # a sentence about how a service runs (meeting, on-call rota, premises, fees)
        # that names no patient: its services, generic care words and the bodies it
        # names as places are not about a patient...
        ("Réunion de coordination de la HAD reportée à mardi, salle 4.", set()),
        ("Staff RCP : ordre du jour envoyé aux membres.", set()),
        ("Consultation de sexologie fermée pour travaux la semaine prochaine.", set()),
        ("Cardiologue d'astreinte ce week-end : Dr Martin, joignable via le standard.", set()),
        ("Le CMP sera fermé lundi pour travaux.", set()),
        ("Réunion du service sur les délais des dossiers RSA, jeudi.", set()),
        ("Le stand de vaccination sera installé devant la mosquée vendredi.", set()),
        # ...a service named without such a word, a patient named, or a word that
        # describes the patient, stay sensitive
        ("CMP : RDV décalé au 12.", {"mental_health"}),
        ("Réunion de synthèse : Mme Roux, dépression sévère, suivi CMP.", {"mental_health"}),
        ("Délégué syndical, demande que ses rendez-vous évitent les réunions du CSE.", {"union"}),
    ],
)
def test_service_running_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # hospitalisation at home, a multidisciplinary meeting, a forensic unit say
        # where care is given: generic, folded beside a specific category; a unit as
        # the note's heading is its author; a PASS names a desk, not a category
        ("Patiente en HAD, schizophrène, traitement par clozapine.", {"mental_health"}),
        ("Dysphorie de genre, dossier discuté en RCP.", {"gender_identity"}),
        ("Examinée à l'UMJ après une agression sexuelle.", {"health", "violence"}),
        ("UMJ : audition de la victime par les enquêteurs lundi.", {"judicial"}),
        ("Vue à la PASS, sans couverture sociale.", {"social"}),
        ("PASS : permanence déplacée au vendredi.", set()),
    ],
)
def test_care_units_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # menopause and endometriosis are conditions (the guide: `health`), not context
        # that folds; malaria said as an attack; bruises with their course; a yellow
        # fever vaccination is a vaccination
        ("Ménopausée, dyspareunie gênante.", {"health", "sex_life"}),
        ("Endométriose, FIV prévue en mars.", {"health", "reproductive"}),
        ("Enceinte de 20 SA, accès palustre.", {"health", "reproductive"}),
        ("Enfant suivi par l'ASE, bleus récurrents.", {"health", "violence"}),
        ("Grossesse de 10 SA, vaccination contre la fièvre jaune reportée.", {"reproductive"}),
    ],
)
def test_conditions_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a street named after a place of worship, a parish's fair, fees, attending
        # hearings as a student, an interpreter's or a trainee's workplace; the same
        # words about the patient stay sensitive
        ("Nouvelle adresse : 12 rue de la Synagogue, 67000 Strasbourg.", set()),
        ("Habite impasse du Temple, interphone en panne.", set()),
        ("Va à la synagogue chaque samedi.", {"religion"}),
        ("La kermesse de la paroisse occupe le parking samedi.", set()),
        ("Nouveaux tarifs des consultations de psychiatrie au 1er mars.", set()),
        ("Étudiante en droit, elle assiste à des audiences pour ses cours.", set()),
        ("Son audience au tribunal correctionnel est fixée au 3 mai.", {"judicial"}),
        ("Mme Vidal, interprète intervenant au CMP, a un nouveau numéro.", set()),
        ("Infirmière accueillie en stage au CSAPA pour un mois.", set()),
    ],
)
def test_not_about_a_patient_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # torture, money extorted, a requisition, public drunkenness, the sobering cell,
        # investigators; drinking per meal, a roadside alcohol level; two glasses on
        # Sunday is moderate drinking (`health`), and a glucose level is not alcohol
        ("Dit avoir subi des tortures dans son pays.", {"violence"}),
        ("Sa nièce lui soutire de l'argent chaque mois.", {"violence"}),
        ("Prise de sang sur réquisition.", {"health", "judicial"}),
        ("IPM, ramené par les pompiers.", {"addiction", "judicial"}),
        ("Nuit en cellule de dégrisement.", {"judicial"}),
        ("Entendu par les enquêteurs hier.", {"judicial"}),
        ("Reconnaît 3-4 verres par repas.", {"addiction"}),
        ("Contrôlé à 0,9 g en sortant du restaurant.", {"addiction"}),
        ("Alcool : 1 verre le dimanche midi.", {"health"}),
        ("Glycémie à 1,2 g, contrôle dans un mois.", {"health"}),
        # sleeping rough, the housing fund, no longer managing to pay; Ramadan
        # misspelt; farmers' and overseas unions
        ("Dort dehors depuis une semaine.", {"social"}),
        ("N'arrive plus à payer ses factures d'électricité.", {"social"}),
        ("Dossier FSL en cours.", {"social"}),
        ("Ramadam à partir de lundi.", {"religion"}),
        ("Adhérent de la Confédération paysanne.", {"union"}),
        ("Secrétaire de la section UGTG du port.", {"union"}),
        # fertility preservation, a plan for a child, a pregnancy typed without its "e"
        ("Autoconservation d'ovocytes avant la radiothérapie.", {"health", "reproductive"}),
        ("Projet d'enfant depuis un an, bilan demandé.", {"reproductive"}),
        ("Encinte de 3 mois.", {"reproductive"}),
        # a mutation with its gene symbol is genetic, a job transfer is not; a
        # carrier status names the disease without having it
        ("Mutation KRAS retrouvée sur la pièce opératoire.", {"genetic"}),
        ("Mutation germinale recherchée.", {"genetic"}),
        ("Mutation professionnelle à Lyon en septembre.", set()),
        ("Porteuse saine d'une mutation du gène CFTR (mucoviscidose).", {"genetic"}),
        ("Drépanocytose homozygote, crise vaso-occlusive.", {"genetic", "health"}),
        # a nationality after any word for the patient, a student visa, harkis,
        # arrival in France, more languages, family visited abroad
        ("Étudiante malienne, visa étudiant à renouveler.", {"ethnic_origin"}),
        ("Harki, arrivé en France en 1962.", {"ethnic_origin"}),
        ("Ne parle qu'italien, interprète italien demandé.", {"ethnic_origin"}),
        ("Rentre au Maroc voir sa famille cet été.", {"ethnic_origin"}),
        ("Originaire de Lyon, vit à Paris.", set()),
        # a same-sex partner read from the word for the patient, an initial after the
        # title; a partner met at a party is a casual partner
        ("Lycéenne, a une petite amie depuis la rentrée.", {"sex_life"}),
        ("Étudiant, vit avec son compagnon.", {"sex_life"}),
        ("Lycéenne, vient avec sa petite sœur.", set()),
        ("Mme L., 41 ans, et sa compagne souhaitent une PMA.", {"reproductive", "sex_life"}),
        ("Partenaire rencontré en soirée, pas de préservatif.", {"sex_life"}),
    ],
)
def test_word_families_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a cough, a pain, a fall said alone are non-specific symptoms (as "fatigue"):
        # they fold beside a specific category...
        ("Ancienne fumeuse, toux le matin.", {"addiction"}),
        ("Alcoolisé, chute sur la voie publique.", {"addiction"}),
        ("Enceinte de 8 SA, douleurs la nuit.", {"reproductive"}),
        # ...and are `health` alone; a pain with its site stays a finding
        ("Toux depuis trois semaines.", {"health"}),
        ("Enceinte de 8 SA, douleurs pelviennes.", {"health", "reproductive"}),
    ],
)
def test_non_specific_symptoms_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # coercive control said in its acts is psychological violence (the rules read
        # it; the back-off alone found it before)...
        ("Mme Roy dit que son mari lit ses messages tous les soirs.", {"violence"}),
        ("Son compagnon l'empêche de voir sa famille.", {"violence"}),
        ("Elle a peur de son conjoint depuis des mois.", {"violence"}),
        # ...an illness keeping someone from friends is not
        ("La sciatique l'empêche de voir ses amis le week-end.", {"health"}),
    ],
)
def test_coercive_control_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # words near the service-running ones that belong to a patient's note: the
        # family-planning centre, a fall in the car park, the lower limbs, a standard
        # work-up, an acronym after "mise en place", a patient kept under observation, a
        # home carer who reports, the price of a care the patient asks about
        ("Suivie au planning familial.", {"reproductive"}),
        ("Chute sur le parking, entorse de cheville.", {"health"}),
        ("Douleurs des membres inférieurs.", {"health"}),
        ("Bilan standard à faire.", {"health"}),
        ("Mise en place AME cette semaine.", {"ethnic_origin", "social"}),
        ("Patient gardé en observation en psychiatrie.", {"mental_health"}),
        ("Intervenant à domicile signale une chute.", {"health"}),
        ("Demande les tarifs des IVG.", {"reproductive"}),
    ],
)
def test_still_sensitive_after_heldout10(text: str, expected: set[str]) -> None:
    assert rules(text) == expected
