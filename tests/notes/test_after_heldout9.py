"""General forms added after the ninth blind set (heldout9), in sentences of their own.

None of these sentences is taken from ``data/notes_eval/heldout9.csv``: each checks a
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


def with_model(text: str) -> set[str]:
    """Categories from the rules and the back-off."""
    result = next(iter(classify_texts([text], names=False)))
    return set(result.verdict.categories)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # prison life in its own words
        ("Examen médical d'entrée réalisé le jour de l'écrou.", {"health", "judicial"}),
        ("Levée d'écrou dans dix jours, préparer le relais.", {"judicial"}),
        ("Conflit avec son codétenu, changement de cellule demandé.", {"judicial"}),
        ("Chute dans la cour de promenade, entorse de cheville.", {"health", "judicial"}),
        ("Sa compagne vient au parloir chaque samedi.", {"judicial"}),
        ("Placé au quartier disciplinaire depuis lundi.", {"judicial"}),
        ("Suivi par le SMPR pour son traitement.", {"health", "judicial"}),
        ("Libération prévue en mars, cherche un foyer.", {"judicial"}),
        # a surgical release is not a release from prison
        ("Libération du canal carpien prévue en mars.", {"health"}),
        # beaten, typed with one p; a bruise with its place on the body
        ("Elle a été frapée par son compagnon.", {"violence"}),
        ("Gros bleu sur le bras après la chute dans l'escalier.", {"health"}),
        ("Yeux bleus, cheveux blonds, photo pour le dossier.", set()),
        # a memory clinic names the concern
        ("Courrier de la consultation mémoire reçu, à classer.", {"health"}),
        # neopronouns, "trans" after any word for a person, English gender care
        ("Préfère qu'on utilise iel dans les courriers.", {"gender_identity"}),
        ("Élève trans, la famille soutient sa démarche.", {"gender_identity"}),
        ("Started gender-affirming hormones last spring.", {"gender_identity"}),
        ("Please use they/them in all letters.", {"gender_identity"}),
        # chemsex is a sexual practice too; men meeting men; "homo" said short
        ("Chemsex le week-end avec de la 3-MMC.", {"addiction", "sex_life"}),
        ("Relations avec des hommes depuis deux ans, pas de préservatif.", {"sex_life"}),
        ("Se dit homo, vit seul.", {"sex_life"}),
        ("Homo sapiens : cours du soir, RDV décalé.", set()),
        # a demonstrator, a march against a reform; Belgian, Swiss, Quebec offices
        ("Échevine des sports de la commune.", {"political"}),
        ("Bourgmestre du village voisin, vient en fin de journée.", {"political"}),
        ("Conseillère nationale, session à Berne la semaine prochaine.", {"political"}),
        # homelessness said with "sans"; the Swiss invalidity insurance; care put off
        ("Dossier AI déposé, en attente de la décision de l'office.", {"social"}),
        ("Reporte sa coloscopie faute de moyens.", {"health", "social"}),
        # a gambling debt reveals the gambling; another debt does not
        ("Grosses dettes de casino, sa femme ne le sait pas.", {"addiction", "social"}),
        ("Dettes de loyer, dossier de surendettement.", {"social"}),
        # welfare in Belgium, Switzerland, Quebec; "ne sait plus payer" (Belgian French)
        ("Vit du revenu d'intégration versé par le CPAS.", {"social"}),
        ("Ne sait plus payer son loyer depuis l'hiver.", {"social"}),
        # English: insulin, blood pressure, physiotherapy, not affording care
        ("Forgot his insulin at home.", {"health"}),
        ("BP 162/98 today, recheck next week.", {"health"}),
        ("Cannot afford the dentist this year.", {"social"}),
        # a vaccination listed with HPV is a vaccination, not the infection
        ("Vaccins méningocoque et HPV faits au collège.", {"health"}),
        # sadness is a non-specific symptom: folded beside a specific category
        ("Tristesse depuis le départ des enfants.", {"health"}),
        ("Tristesse, idées noires, suivi au CMP.", {"mental_health"}),
        # a speciality clinic named as the place of the next visit is a care event
        ("Revue en infectiologie pour la charge virale VIH.", {"sexual_health"}),
    ],
)
def test_word_families_after_heldout9(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


def test_demonstrator_is_political() -> None:
    assert "political" in rules("Manifestante gazée place de la République, irritation oculaire.")


def test_homeless_with_sans_is_social() -> None:
    assert "social" in rules("Sortie d'hospitalisation mais sans logement depuis l'expulsion.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an STI screening negated only by its result stays a screening...
        ("Dépistage syphilis négatif le mois dernier.", {"sexual_health"}),
        ("Dépistage de la gonococcie négatif, préservatif conseillé.", {"sexual_health"}),
        # ...a screening denied before it, or a serology in a routine work-up, does not
        ("Pas de dépistage VIH à ce jour.", {"health"}),
        ("Sérologie VIH négative dans le bilan préopératoire.", {"health"}),
        # a lab result does not deny a fact of another kind before it
        ("Prise de sang à l'écrou, sérologies négatives.", {"health", "judicial"}),
        ("Violences conjugales : non.", set()),
        # a drug asked for without a prescription is no denied condition
        ("Demande du Viagra sans ordonnance pour une dysfonction érectile.", {"sex_life"}),
        # an action that is not possible says nothing against what follows
        ("Ouverture de droits pas possible ce mois-ci : il est au RSA depuis juin.", {"social"}),
    ],
)
def test_qualifiers_after_heldout9(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # others' demonstrations on the way to the practice
        "Arrivée en retard, bloqué par la manif devant la gare.",
        "Rendez-vous décalé à cause des manifestants sur le pont.",
        # a shop that sells tobacco
        "Travaille au bureau de tabac de la galerie marchande.",
        "Son frère est buraliste, passera chercher l'ordonnance.",
        # the patient's job in apposition, or after "est"
        "Le patient, technicien au service de génétique animale, part en mission.",
        "Mme Garnier, éducatrice à l'ASE, voudrait un créneau le mercredi.",
        "M. Loiseau est assistant social à la mairie, rappeler après 17h.",
        # a lawyer's or a judge's hearings are their work
        "M. Besson, avocat au barreau, annule : ses audiences ont été déplacées.",
        "Patiente juge, indisponible le jeudi à cause du tribunal.",
        # a practice's own union, the study of religions, a homonym, plant genetics
        "Adhésion du cabinet au syndicat des médecins généralistes renouvelée.",
        "Étudiante en sociologie des religions, veut un rendez-vous tardif.",
        "Homonyme d'un sénateur, bien vérifier le prénom sur les courriers.",
        "Chercheuse en génétique végétale, dispo le matin.",
        # a speciality changing its address or phone number
        "Dermato : le cabinet déménage en janvier, nouvelle adresse au dos.",
        "Nouveau numéro du secrétariat de pneumologie, à mettre dans l'annuaire.",
    ],
)
def test_not_about_a_patient_after_heldout9(text: str) -> None:
    assert rules(text) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the same words about the patient stay sensitive
        ("Le patient a manifesté contre la réforme, blessé au cortège.", {"health", "political"}),
        ("Condamné pour fraude, son audience est fixée en mai.", {"judicial"}),
        ("Suivie par l'assistante sociale pour un dossier de surendettement.", {"social"}),
        ("Fume un paquet par jour depuis vingt ans.", {"addiction"}),
        ("Placée à l'ASE depuis ses six ans.", {"violence"}),
        ("Conseil génétique demandé pour sa fille.", {"genetic"}),
        ("Cardiologue : ECG normal, revoir dans un an.", {"health"}),
    ],
)
def test_still_sensitive_after_heldout9(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


def test_marital_status_does_not_ask_the_backoff() -> None:
    # a note that says only who the patient lives with is read, not silent
    assert with_model("Divorcé, remarié, trois enfants dont deux d'une première union.") == set()
    assert with_model("Veuve, vit avec sa sœur dans une maison de famille.") == set()
