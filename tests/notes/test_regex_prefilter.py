"""The regex stage runs a pattern only on a text that holds one of its required strings."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from vigile.notes.pipeline import required_literals
from vigile.notes.terms import load_terminology, normalise_word


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bivg\b", {"ivg"}),
        (r"\b(?:ivg|interruption) ?\d+", {"ivg", "interruption"}),
        (r"(?:\bpma\b)|(?:\bfiv\b)|(?:\d+ ?sa\b)", {"pma", "fiv", "sa"}),
        (r"\d+ ?(verres?|bieres?) ?/ ?jour", {"verre", "biere"}),  # the longest strings win
        (r"(ab)+c", {"ab"}),
        (r"x(?:ab){2,}", {"ab"}),
        (r"\b[Cc]ur[ée]\b", {"ur"}),
    ],
)
def test_when_every_match_holds_a_string_then_it_is_required(
    pattern: str, expected: set[str]
) -> None:
    assert required_literals(re.compile(pattern)) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        r"\b\d{2,3}\s\d+",  # classes only
        r"(?:ab)?\d",  # optional
        r"(?:ab)*\d",
        r"(?:ivg|\d+)",  # one alternative requires nothing
        r"(?i)ivg",  # case-insensitive: "IVG" matches
        r"(?i:ivg)\d",
        r"(?=ivg)\w+",  # a lookahead is not part of the match
        r"(\w)\1",
    ],
)
def test_when_a_match_may_hold_no_fixed_string_then_nothing_is_required(pattern: str) -> None:
    assert required_literals(re.compile(pattern)) is None
    assert re.compile(r"(?i)ivg").search("IVG")  # why case-insensitive patterns always run


def test_when_a_note_lacks_every_required_string_then_no_vigile_pattern_matches_it() -> None:
    _, regex = load_terminology("fr").matcher_patterns()
    path = Path(__file__).parents[2] / "data" / "notes_eval" / "notes.csv"
    with path.open(encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    checked = matched = 0
    for spec in regex.values():
        for rx in map(re.compile, spec["regex"]):
            need = required_literals(rx)
            assert need, rx.pattern[:80]  # every vigile pattern has one (else it always runs)
            for text in texts:
                view = normalise_word(text) if spec["attr"] == "NORM" else text
                if rx.search(view):
                    matched += 1
                    assert any(s in view for s in need), (rx.pattern[:80], text)
                checked += 1
    assert matched > 50 and checked > 10_000
