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
