"""vigile's terminologies: YAML files of French terms and patterns per category.

Each file in ``vigile/notes/terms/`` (one per language and theme, e.g.
``fr_health.yaml``) holds a list of *groups*; a group gives its categories and
how its entries match::

    - labels: [health]            # INTERFACE §5 categories, or [] for an override
      generic: false              # true: generic clinical context (see classify.py)
      fallback: false             # true: a heuristic that loses to any other match
      terms:                      # phrases, matched token by token on NORM
        - "hypertension (artérielle)"   # (x): optional part
        - "{syndrome|épisode} dépressif" # {a|b}: alternatives
      regex:                      # on NORM: lower case, no accents
        - '\\bdt ?[12]\\b'
      regex_cs:                   # on the raw text, case-sensitive (ambiguous acronyms)
        - '\\bIVG\\b'

Terms are written as a doctor writes them (accents or not, any case): the
pipeline normalises them like the notes. Each term also matches with ``œ``
written ``oe`` and with hyphens written as spaces. A group with no labels is an
*override*: a longer administrative phrase ("certificat de sport", "médecin de
garde") that hides the shorter sensitive-looking terms inside it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import yaml

CATEGORIES: Final[tuple[str, ...]] = (
    "health",
    "mental_health",
    "addiction",
    "sexual_health",
    "reproductive",
    "sex_life",
    "gender_identity",
    "political",
    "religion",
    "union",
    "ethnic_origin",
    "genetic",
    "judicial",
    "violence",
    "social",
)
#: Clinical categories: a negated or generic clinical mention reveals ``health``
#: only when none of these is otherwise asserted in the note.
MEDICAL: Final[frozenset[str]] = frozenset(
    {
        "health",
        "mental_health",
        "addiction",
        "sexual_health",
        "reproductive",
        "genetic",
        "sex_life",
        "gender_identity",
    }
)
OVERRIDE: Final[str] = "none"


@dataclass(frozen=True)
class Group:
    """One group of a terminology file: its labels and its patterns."""

    source: str
    labels: tuple[str, ...]
    generic: bool = False
    fallback: bool = False
    terms: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    regex_cs: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The matcher label that carries this group's meaning through spaCy."""
        return label_key(self.labels, self.generic)


@dataclass
class Terminology:
    """Every group of every file for one language, ready for the matcher."""

    language: str
    groups: list[Group] = field(default_factory=list)

    def matcher_patterns(
        self, fallback: bool = False
    ) -> tuple[dict[str, list[str]], dict[str, Any]]:
        """``terms`` and ``regex`` dicts in the form ``eds.matcher`` takes.

        Regexes of one label are joined into one alternation (one pass per
        label, not per pattern); case-sensitive ones match the raw text.
        ``fallback`` selects the fallback groups (word-ending heuristics, which
        lose to any other match on the same words) instead of the others.
        """
        terms: dict[str, list[str]] = {}
        norm_rx: dict[str, list[str]] = {}
        text_rx: dict[str, list[str]] = {}
        for g in self.groups:
            if g.fallback != fallback:
                continue
            if g.terms:
                bucket = terms.setdefault(g.key, [])
                for t in g.terms:
                    bucket.extend(expand(t))
            norm_rx.setdefault(g.key, []).extend(strip_accents(r) for r in g.regex)
            text_rx.setdefault(g.key, []).extend(g.regex_cs)
        regex: dict[str, Any] = {}
        for key, pats in norm_rx.items():
            if pats:
                regex[key] = {"regex": [_join(pats)], "attr": "NORM"}
        for key, pats in text_rx.items():
            if pats:
                regex[key + CASE_SUFFIX] = {"regex": [_join(pats)], "attr": "TEXT"}
        return {k: sorted(set(v)) for k, v in terms.items()}, regex

    def fuzzy_vocabulary(self, min_length: int = 8) -> dict[str, str]:
        """Single-word terms long enough to be matched with one typo: NORM form -> key."""
        out: dict[str, str] = {}
        for g in self.groups:
            if not g.labels:
                continue
            for t in g.terms:
                for variant in expand(t):
                    word = normalise_word(variant)
                    if len(word) >= min_length and word.isalpha():
                        out.setdefault(word, g.key)
        return out


CASE_SUFFIX: Final[str] = "#cs"
GENERIC_SUFFIX: Final[str] = "~g"


def label_key(labels: tuple[str, ...], generic: bool) -> str:
    """``("health", "genetic"), False`` -> ``"health+genetic"``; no labels -> ``"none"``."""
    base = "+".join(labels) if labels else OVERRIDE
    return base + (GENERIC_SUFFIX if generic else "")


def parse_key(key: str) -> tuple[tuple[str, ...], bool]:
    """The inverse of :func:`label_key` (a case-sensitive suffix is ignored)."""
    key = key.removesuffix(CASE_SUFFIX)
    generic = key.endswith(GENERIC_SUFFIX)
    key = key.removesuffix(GENERIC_SUFFIX)
    if key == OVERRIDE:
        return (), generic
    return tuple(key.split("+")), generic


def _join(patterns: list[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


def strip_accents(text: str) -> str:
    """Remove diacritics (as the NORM attribute does), keeping everything else."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_word(text: str) -> str:
    """A word as NORM writes it: lower case, no accents."""
    return strip_accents(text.lower())


_TOKEN = re.compile(r"[(){}|]|[^(){}|]+")


def expand(term: str) -> list[str]:
    """Every surface form of ``term``: ``(x)`` or ``(x|y)`` optional, ``{a|b}`` alternatives.

    >>> sorted(expand("déprimé(e)(s)"))
    ['déprimé', 'déprimée', 'déprimées', 'déprimés']
    """
    forms, rest = _seq(_TOKEN.findall(term), 0, closing=None)
    if rest != len(_TOKEN.findall(term)):
        raise ValueError(f"unbalanced brackets in term {term!r}")
    out: set[str] = set()
    for form in forms:
        f = re.sub(r"\s+", " ", form).strip()
        if not f:
            continue
        for v in {f, f.replace("œ", "oe"), f.replace("oe", "œ")}:
            out.add(v)
            if "-" in v:
                out.add(v.replace("-", " "))
    return sorted(out)


def _seq(tokens: list[str], i: int, closing: str | None) -> tuple[list[str], int]:
    """Forms of a sequence up to ``closing`` or a ``|`` inside a bracket."""
    forms = [""]
    while i < len(tokens):
        tok = tokens[i]
        if closing is not None and tok in (closing, "|"):
            return forms, i
        if tok in "({":
            end = ")" if tok == "(" else "}"
            options: list[str] = [""] if tok == "(" else []
            i += 1
            while True:
                inner, i = _seq(tokens, i, end)
                options.extend(inner)
                if i >= len(tokens):
                    raise ValueError(f"missing {end!r}")
                if tokens[i] == end:
                    i += 1
                    break
                if tokens[i] != "|":
                    raise ValueError(f"unexpected {tokens[i]!r}")
                i += 1  # skip "|"
            forms = [a + b for a in forms for b in options]
        elif tok in ")}|":
            raise ValueError(f"unexpected {tok!r}")
        else:
            forms = [a + tok for a in forms]
            i += 1
    if closing is not None:
        raise ValueError(f"missing {closing!r}")
    return forms, i


def _problems(data: Any, source: str) -> list[str]:
    if not isinstance(data, list):
        return [f"{source}: expected a list of groups"]
    problems = []
    for n, g in enumerate(data, 1):
        if not isinstance(g, dict):
            problems.append(f"{source}: group {n} is not a mapping")
            continue
        unknown = [c for c in g.get("labels", []) if c not in CATEGORIES]
        if unknown:
            problems.append(f"{source}: group {n}: unknown categories {unknown}")
        extra = set(g) - {"labels", "generic", "fallback", "terms", "regex", "regex_cs", "note"}
        if extra:
            problems.append(f"{source}: group {n}: unknown keys {sorted(extra)}")
        for kind in ("regex", "regex_cs"):
            for rx in g.get(kind, []) or []:
                try:
                    re.compile(rx)
                except re.error as exc:
                    problems.append(f"{source}: group {n}: bad regex {rx!r}: {exc}")
        for t in g.get("terms", []) or []:
            try:
                expand(str(t))
            except ValueError as exc:
                problems.append(f"{source}: group {n}: {exc}")
    return problems


@lru_cache(maxsize=4)
def load_terminology(language: str = "fr") -> Terminology:
    """Read every ``terms/<language>_*.yaml`` shipped with vigile."""
    from vigile.errors import ConfigError

    root = resources.files("vigile.notes") / "terms"
    terminology = Terminology(language)
    problems: list[str] = []
    names = sorted(p.name for p in root.iterdir() if p.name.endswith(".yaml"))
    for name in names:
        if not name.startswith(f"{language}_"):
            continue
        data = yaml.safe_load((root / name).read_text(encoding="utf-8"))
        problems.extend(_problems(data, name))
        if problems:
            continue
        for g in data:
            terminology.groups.append(
                Group(
                    source=name,
                    labels=tuple(g.get("labels", [])),
                    generic=bool(g.get("generic", False)),
                    fallback=bool(g.get("fallback", False)),
                    terms=tuple(str(t) for t in g.get("terms", []) or []),
                    regex=tuple(g.get("regex", []) or []),
                    regex_cs=tuple(g.get("regex_cs", []) or []),
                )
            )
    if problems:
        raise ConfigError(problems)
    if not terminology.groups:
        from vigile.errors import InputError

        available = sorted({n.split("_", 1)[0] for n in names if "_" in n})
        raise InputError(
            f"no terminology for language {language!r} (available: {', '.join(available)})"
        )
    return terminology
