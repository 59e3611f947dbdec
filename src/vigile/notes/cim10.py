"""Disease names from EDS-NLP's shipped CIM-10 (French ICD-10), mapped to §5 categories.

EDS-NLP's ``eds.cim10`` matches the full labels ("Diabète sucré de type 2,
avec complications rénales"), which doctors never write, and costs seconds to
build. vigile keeps the short disease names (at most four words, after
dropping "sans précision", bracketed synonyms and qualifiers after a comma),
from the chapters that name conditions, and maps each code to a category.
The result is cached next to nothing: it is rebuilt once per process, in a
fraction of a second.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from vigile.notes.terms import label_key, normalise_word

#: Code ranges (inclusive, 3-character prefixes) and their categories; first match wins.
_RANGES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("A50", "A64", ("sexual_health",)),
    ("B15", "B19", ("sexual_health",)),
    ("B20", "B24", ("sexual_health",)),
    ("A00", "B99", ("health",)),
    ("C00", "D48", ("health",)),
    ("D56", "D58", ("genetic", "health")),
    ("D66", "D68", ("genetic", "health")),
    ("D50", "D89", ("health",)),
    ("E70", "E72", ("genetic", "health")),
    ("E84", "E84", ("genetic", "health")),
    ("E00", "E90", ("health",)),
    ("F00", "F09", ("health",)),
    ("F10", "F19", ("addiction",)),
    ("F52", "F52", ("sex_life",)),
    ("F64", "F64", ("gender_identity",)),
    ("F65", "F66", ("sex_life",)),
    ("F20", "F99", ("mental_health",)),
    ("N96", "N98", ("reproductive",)),
    ("G00", "N99", ("health",)),
    ("O00", "O99", ("reproductive",)),
    ("P00", "P96", ("health",)),
    ("Q90", "Q99", ("genetic", "health")),
    ("Q00", "Q89", ("health",)),
    ("R00", "R99", ("health",)),
    ("S00", "S99", ("health",)),
    ("T74", "T74", ("violence",)),
    ("X60", "X84", ("mental_health",)),
    ("X85", "Y09", ("violence",)),
    ("Z21", "Z21", ("sexual_health",)),
    ("Z14", "Z15", ("genetic",)),
    ("Z30", "Z39", ("reproductive",)),
    ("Z59", "Z59", ("social",)),
    ("Z65", "Z65", ("judicial",)),
)
#: Names that are everyday words in an administrative note, or too vague.
_STOP: Final[frozenset[str]] = frozenset(
    {
        "decharge d'armes",
        "insecticides",
        "staphylocoques",
        "streptocoques",
        "chute",
        "deces",
        "mort",
        "absence",
        "retard",
        "surveillance",
        "examen",
        "contact",
        "difficultes",
        "probleme",
        "problemes",
        "fatigue",
        "affection",
        "maladie",
        "maladies",
        "syndrome",
        "lesion",
        "lesions",
        "anomalie",
        "anomalies",
        "malformation",
        "trouble",
        "troubles",
        "complication",
        "complications",
        "etat",
        "soins",
        "suivi",
        "convalescence",
        "immunisation",
        "vaccination",
        "fievre",
        "oedeme",
        "douleur",
        "toux",
        "malaise",
        "personne",
        "chomage",
        "emprisonnement",
        "pauvrete",
        "grossesse",
        "accouchement",
        "naissance",
        "contraception",
        "chaleur",
        "froid",
        "faim",
        "soif",
        "epuisement",
        "stress",
        "cyclone",
        "agression",
        "ivresse",
        "negligence",
        "jumeaux",
        "charbon",
        "peste",
        "fissure",
        "virus",
        "hostilite",
        "agitation",
        "stupeur",
        "immobilite",
        "infestation",
        "proteus",
        "pinta",
        "morve",
        "goutte",
        "suractivite",
        "telogene",
        "anagene",
        "miliaire",
        "loase",
        "rougeur",
        "somnolence",
    }
)
_VAGUE_START: Final[re.Pattern[str]] = re.compile(
    r"^(autres?|certaines?|mal\.|aff\.|tbl\.|sequelles?|complications?|examen|"
    r"surveillance|personnes?|antecedents?|difficultes?|problemes?|soins?|suivi|"
    r"contact|exposition|besoin|presence|resultats?|facteurs?|circonstances?|travail|"
    r"accouchement|naissance|enfant|mere|pere|sujet|patient|individu|membre)\b"
)


def _categories(code: str) -> tuple[str, ...] | None:
    prefix = code[:3]
    for lo, hi, cats in _RANGES:
        if lo <= prefix <= hi:
            return cats
    return None


def _clean(label: str) -> str:
    label = re.sub(r"\s*\[[^\]]*\]", "", label)
    label = re.sub(r"\s*\([^)]*\)", "", label)
    label = label.split(",")[0]
    label = re.sub(r"\s+(sans précision|SAI|non précisée?s?|NCA)$", "", label, flags=re.I)
    return re.sub(r"\s+", " ", label).strip(" :.-")


def _rows(path: Path) -> Iterator[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["code"], row["long"]


def cim10_terms(path: Path, max_words: int = 4) -> dict[str, list[str]]:
    """Matcher ``terms`` (label key -> names) from EDS-NLP's ``cim10.csv.gz``."""
    out: dict[str, set[str]] = {}
    for code, label in _rows(path):
        cats = _categories(code)
        if cats is None:
            continue
        name = _clean(label)
        norm = normalise_word(name)
        words = norm.split()
        if not words or len(words) > max_words or len(norm) < 5:
            continue
        if norm in _STOP or _VAGUE_START.match(norm):
            continue
        out.setdefault(label_key(cats, False), set()).add(name)
    return {k: sorted(v) for k, v in out.items()}


def default_path() -> Path | None:
    """Where EDS-NLP keeps its CIM-10 table, if it is installed."""
    try:
        import edsnlp
    except ImportError:  # pragma: no cover - edsnlp is a dependency of the notes stage
        return None
    path = Path(edsnlp.__file__).parent / "resources" / "cim10.csv.gz"
    return path if path.exists() else None
