"""Fixtures: the notes pipeline is built once per test session (about 15 s)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from vigile.notes.api import NoteResult, classify_texts


@pytest.fixture(scope="session")
def read() -> Callable[[str], NoteResult]:
    """Read one note (the shared pipeline, without spaCy's NER)."""

    def _read(text: str) -> NoteResult:
        return next(iter(classify_texts([text], names=False)))

    return _read


@pytest.fixture(scope="session")
def categories(read: Callable[[str], NoteResult]) -> Callable[[str], set[str]]:
    """The categories of one note, as a set."""

    def _cats(text: str) -> set[str]:
        return set(read(text).verdict.categories)

    return _cats


@pytest.fixture(scope="session")
def evidence(read: Callable[[str], NoteResult]) -> Callable[[str], list[dict[str, Any]]]:
    """The evidence of one note, decoded."""

    def _ev(text: str) -> list[dict[str, Any]]:
        decoded: list[dict[str, Any]] = json.loads(read(text).verdict.evidence_json())
        return decoded

    return _ev
