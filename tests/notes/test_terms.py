"""The terminology files: syntax, categories, and the expander."""

from __future__ import annotations

import pytest

from vigile.errors import InputError
from vigile.notes.terms import CATEGORIES, expand, label_key, load_terminology, parse_key


def test_when_a_term_has_optional_parts_and_alternatives_then_every_form_is_listed() -> None:
    assert expand("déprimé(e)(s)") == ["déprimé", "déprimée", "déprimées", "déprimés"]
    assert expand("{syndrome|épisode} dépressif( majeur| sévère)") == sorted(
        f"{a} dépressif{b}" for a in ("syndrome", "épisode") for b in ("", " majeur", " sévère")
    )
    assert "soeur" in expand("sœur") and "burn out" in expand("burn-out")


def test_when_the_french_terminology_loads_then_every_category_has_terms() -> None:
    t = load_terminology("fr")
    covered = {c for g in t.groups for c in g.labels}
    assert covered == set(CATEGORIES)
    terms, regex = t.matcher_patterns()
    assert sum(len(v) for v in terms.values()) > 2000 and regex


def test_when_a_label_key_is_built_then_it_parses_back() -> None:
    assert parse_key(label_key(("health", "genetic"), True)) == (("health", "genetic"), True)
    assert parse_key("none") == ((), False)


def test_when_a_language_has_no_terminology_then_a_clear_error_names_those_available() -> None:
    with pytest.raises(InputError, match="available: fr"):
        load_terminology("xx")
