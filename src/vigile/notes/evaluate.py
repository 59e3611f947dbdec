"""Scores of predicted labels against a labelled set (used by bench and tests).

- *sensitive*: precision, recall, F1 of the note-level 0/1 decision;
- *categories*: micro-averaged precision, recall, F1 over (note, category)
  pairs, and the same per category.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vigile.notes.terms import CATEGORIES


@dataclass
class Counts:
    """True positives, false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        if gold and pred:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif gold:
            self.fn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.tp + self.fn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class Scores:
    """Every figure of one evaluation."""

    notes: int = 0
    sensitive: Counts = field(default_factory=Counts)
    micro: Counts = field(default_factory=Counts)
    per_category: dict[str, Counts] = field(
        default_factory=lambda: {c: Counts() for c in CATEGORIES}
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "sensitive": self.sensitive.as_dict(),
            "categories_micro": self.micro.as_dict(),
            "per_category": {c: k.as_dict() for c, k in self.per_category.items()},
        }


def split_categories(value: str | None) -> set[str]:
    """``"health;social"`` -> ``{"health", "social"}`` (empty or null -> empty)."""
    return {c.strip() for c in (value or "").split(";") if c.strip()}


def score(gold: Iterable[tuple[bool, str]], pred: Iterable[tuple[bool, str]]) -> Scores:
    """Compare (sensitive, categories) pairs, note by note, in the same order."""
    s = Scores()
    for (g_sens, g_cats), (p_sens, p_cats) in zip(gold, pred, strict=True):
        s.notes += 1
        s.sensitive.add(bool(g_sens), bool(p_sens))
        gc, pc = split_categories(g_cats), split_categories(p_cats)
        for c in CATEGORIES:
            s.per_category[c].add(c in gc, c in pc)
            s.micro.add(c in gc, c in pc)
    return s
