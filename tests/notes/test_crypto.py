"""Sensitive notes sealed at rest with AES-GCM, key from the environment."""

from __future__ import annotations

import pytest

from vigile.errors import VigileError
from vigile.notes.crypto import NoteCipher, NotesKeyError, generate_key, is_sealed, protect


def _cipher(**env: str) -> NoteCipher:
    return NoteCipher.from_env({"VIGILE_NOTES_KEY": generate_key(), **env})


def test_when_a_note_is_sealed_then_it_opens_only_with_its_key_and_context() -> None:
    c = _cipher()
    sealed = c.seal("VIH+ sous trithérapie", context="t1/a42")
    assert is_sealed(sealed) and "VIH" not in sealed
    assert c.open(sealed, context="t1/a42") == "VIH+ sous trithérapie"
    with pytest.raises(VigileError, match="wrong key or wrong context"):
        c.open(sealed, context="t1/a43")
    with pytest.raises(NotesKeyError):
        _cipher().open(sealed, context="t1/a42")


def test_when_the_same_note_is_sealed_twice_then_the_values_differ() -> None:
    c = _cipher()
    assert c.seal("IVG", "x") != c.seal("IVG", "x")


def test_when_the_key_is_rotated_then_old_notes_open_and_reseal_under_the_new_key() -> None:
    old = generate_key()
    before = NoteCipher.from_env({"VIGILE_NOTES_KEY": old})
    sealed = before.seal("Sous curatelle", "t/a")
    after = NoteCipher.from_env({"VIGILE_NOTES_KEY": generate_key(), "VIGILE_NOTES_KEY_OLD": old})
    assert after.open(sealed, "t/a") == "Sous curatelle"
    moved = after.reseal(sealed, "t/a")
    assert moved.split(":")[1] == after.key_id and after.open(moved, "t/a") == "Sous curatelle"


def test_when_the_key_is_missing_or_malformed_then_a_clear_error_is_raised() -> None:
    with pytest.raises(NotesKeyError, match="VIGILE_NOTES_KEY is not set"):
        NoteCipher.from_env({})
    with pytest.raises(NotesKeyError, match="32 bytes"):
        NoteCipher.from_env({"VIGILE_NOTES_KEY": "c2hvcnQ="})


def test_when_notes_are_protected_then_only_sensitive_ones_are_sealed() -> None:
    c = _cipher()
    value, sensitive, cats = protect("a1", "Syndrome dépressif sous sertraline", c, tenant="t1")
    assert sensitive and cats == "mental_health" and is_sealed(value)
    again, _, _ = protect("a1", value, c, tenant="t1")  # a re-scan opens, reads, reseals
    assert c.open(again, "t1/a1") == "Syndrome dépressif sous sertraline"
    plain, sensitive, _ = protect("a2", "RDV décalé au 14/03", c, tenant="t1")
    assert not sensitive and plain == "RDV décalé au 14/03"
