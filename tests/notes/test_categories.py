"""Each category of INTERFACE §5 is found, in the words practices write."""

from __future__ import annotations

from collections.abc import Callable

import pytest

CASES = [
    ("health", "HTA essentielle sous amlodipine 5mg, TA 15/9"),
    ("health", "DT2 mal équilibré, HbA1c 8,1 %"),
    ("mental_health", "Syndrome dépressif sous sertraline, suivi CMP"),
    ("mental_health", "ATCD de TS par IMV en 2018"),
    ("addiction", "OH chronique 6 verres/j, refuse le sevrage"),
    ("addiction", "TSO buprénorphine 8 mg, suivi CSAPA"),
    ("sexual_health", "VIH+ sous trithérapie, CV indétectable"),
    ("sexual_health", "PrEP renouvelée, bilan IST fait"),
    ("reproductive", "IVG médicamenteuse le 03/05"),
    ("reproductive", "Grossesse 12 SA, DPA le 15/09"),
    ("sex_life", "Homosexuel, vit avec son compagnon"),
    ("sex_life", "Troubles de l'érection, essai tadalafil"),
    ("gender_identity", "Transition en cours, prénom d'usage Lou"),
    ("political", "Maire de la commune, discrétion++"),
    ("political", "Militant LFI, candidat aux municipales"),
    ("religion", "Témoin de Jéhovah, refuse toute transfusion"),
    ("religion", "Ramadan en cours, adapter les prises"),
    ("union", "Délégué syndical CGT, conflit avec l'employeur"),
    ("ethnic_origin", "Demandeur d'asile, hébergé au CADA"),
    ("ethnic_origin", "Originaire du Mali, arrivé en 2019"),
    ("genetic", "Mutation BRCA1 confirmée, consultation oncogénétique"),
    ("genetic", "Porteuse saine mucoviscidose"),
    ("judicial", "Garde des enfants confiée au père par le JAF"),
    ("judicial", "Sortie de détention en mars"),
    ("violence", "Violences conjugales, certificat fait, plainte déposée"),
    ("violence", "Suspicion de maltraitance, IP transmise"),
    ("social", "RSA, sans emploi depuis 2 ans"),
    ("social", "Sous curatelle renforcée, mandataire UDAF"),
]


@pytest.mark.parametrize(("category", "text"), CASES)
def test_when_a_note_names_a_category_then_it_is_found(
    categories: Callable[[str], set[str]], category: str, text: str
) -> None:
    assert category in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "RDV annulé par la patiente, à recaler",
        "Rdv décalé au 14/03 à 10h30, prévenue par SMS",
        "Carte vitale non à jour",
        "Mutuelle Harmonie changée, attestation reçue",
        "Réglé par chèque le 12/02",
        "Accompagnée de sa fille, qui signe les papiers",
        "Dossier transmis au Dr Benali à sa demande",
        "Certificat de sport à préparer pour samedi",
        "Courrier à scanner",
        "Ordonnance à récupérer au secrétariat",
        "Pas de rdv dispo avant le 20, liste d'attente",
        "Grève des transports : le cabinet reste ouvert",
        "Le patient est juge au tribunal de commerce, demande de discrétion",
    ],
)
def test_when_a_note_is_administrative_then_it_is_not_sensitive(
    categories: Callable[[str], set[str]], text: str
) -> None:
    assert categories(text) == set()


def test_when_a_vaccination_is_recorded_then_it_is_health(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Vaccin grippe fait ce jour") == {"health"}


def test_when_a_term_has_one_typo_then_it_is_still_found(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("hypertention mal équilibrée") == {"health"}
    assert categories("grosesse en cours") == {"reproductive"}


def test_when_a_correct_verb_is_one_letter_from_a_term_then_it_is_not_a_typo(
    categories: Callable[[str], set[str]],
) -> None:
    assert "violence" not in categories("Condylomes, adressée au gynéco")


def test_when_a_longer_administrative_phrase_holds_a_term_then_the_phrase_wins(
    categories: Callable[[str], set[str]],
) -> None:
    assert categories("Médecin de garde contacté pour le week-end") == set()
    assert categories("Hépatite A") == {"health"}  # not an STI
    assert categories("Vaccin hépatite B fait") == {"health"}
