"""Which exposed notes are sensitive: the notes analysis, or a labelled file, or a placeholder.

Three sources, in this order of preference:

1. a labels file given with ``--note-labels`` (the output of ``vigile notes``:
   ``annotation_id,sensitive,categories``) — classification done once, reused;
2. the notes analysis of vigile (``vigile.notes.api.classify_notes``), when it
   is installed;
3. otherwise a **placeholder**: a short list of French keywords per category
   of INTERFACE §5. It is crude (no negation, no family history, no
   abbreviations beyond the commonest) and the report says so in plain words
   wherever its figures appear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from vigile.context import FLAG_TRUE
from vigile.errors import InputError

#: INTERFACE §5 categories, in the order reports list them.
NOTE_CATEGORIES: Final[tuple[str, ...]] = (
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

#: The placeholder's keywords (French, lower case, accents folded). Word starts.
_KEYWORDS: Final[dict[str, tuple[str, ...]]] = {
    "health": (
        "diabet",
        "hta",
        "hypertension",
        "cancer",
        "tumeur",
        "asthme",
        "bpco",
        "insuffisance",
        "infarctus",
        "avc",
        "epilep",
        "chimio",
        "dialyse",
        "handicap",
        "sclerose",
        "parkinson",
        "alzheimer",
        "dt2",
        "dt1",
        "ald ",
        "fracture",
        "ecchymose",
    ),
    "mental_health": (
        "depress",
        "anxi",
        "psychiatr",
        "schizo",
        "bipolaire",
        "suicid",
        "ts ",
        "cmp",
        "psychologue",
        "antidepress",
        "burn-out",
        "burn out",
    ),
    "addiction": (
        "alcool",
        "oh ",
        "ethylisme",
        "toxicomanie",
        "cannabis",
        "cocaine",
        "heroine",
        "tso",
        "methadone",
        "subutex",
        "buprenorphine",
        "csapa",
        "sevrage",
        "tabagisme",
        "jeu pathologique",
    ),
    "sexual_health": (
        "vih",
        "hiv",
        "seropositi",
        "hepatite",
        "vhc",
        "vhb",
        "ist ",
        "prep",
        "syphilis",
    ),
    "reproductive": (
        "grossesse",
        "enceinte",
        "ivg",
        "fcs",
        "fausse couche",
        "pma",
        "fiv",
        "contracept",
        "sterilet",
        "avortement",
        " sa ",
    ),
    "sex_life": ("homosexu", "bisexu", "orientation sexuelle", "partenaire du meme sexe"),
    "gender_identity": ("transition", "transgenre", "dysphorie de genre", "changement de sexe"),
    "political": (
        "maire",
        "depute",
        "senateur",
        "elu ",
        "elue ",
        "conseiller municipal",
        "militant",
    ),
    "religion": ("ramadan", "jeune religieux", "temoin de jehovah", "pratiquant", "croyance"),
    "union": ("syndicat", "syndical", "delegue syndical", "cgt", "cfdt"),
    "ethnic_origin": (
        "sans papiers",
        "demandeur d'asile",
        "titre de sejour",
        "origine ethnique",
        "ame ",
    ),
    "genetic": (
        "brca",
        "genetique",
        "mucoviscidose",
        "porteur sain",
        "porteuse saine",
        "caryotype",
    ),
    "judicial": (
        "incarcer",
        "prison",
        "detenu",
        "condamn",
        "casier",
        "garde a vue",
        "jaf",
        "tribunal",
    ),
    "violence": (
        "violence",
        "violences",
        "maltraitance",
        "coups",
        "abus sexuel",
        "viol",
        "inceste",
        "harcelement",
        "signalement",
        "ip ",
        "information preoccupante",
    ),
    "social": (
        "precarite",
        "sdf",
        "sans domicile",
        "surendettement",
        "rsa",
        "c2s",
        "tutelle",
        "curatelle",
        "hebergement d'urgence",
        "expulsion",
    ),
}

_ACCENTS: Final = str.maketrans("àâäéèêëîïôöùûüçÿœæ", "aaaeeeeiioouuucyoa")


@dataclass(frozen=True)
class NoteLabels:
    """Labels of notes: ``labels`` has ``annotation_id, sensitive, categories``."""

    labels: pl.DataFrame
    source: str  # "file", "notes-analysis" or "placeholder"
    detail: str

    @property
    def placeholder(self) -> bool:
        return self.source == "placeholder"

    def long(self) -> pl.DataFrame:
        """One row per (sensitive note, category): the ``note_labels`` step input.

        A note labelled sensitive without a category gets ``unspecified``."""
        sensitive = self.labels.filter(pl.col("sensitive"))
        return (
            sensitive.select(
                pl.col("annotation_id").cast(pl.String),
                pl.col("categories").fill_null("").str.split(";").alias("category"),
            )
            .explode("category")
            .with_columns(pl.col("category").str.strip_chars())
            .with_columns(
                pl.when(pl.col("category") == "")
                .then(pl.lit("unspecified"))
                .otherwise(pl.col("category"))
                .alias("category")
            )
            .unique()
        )


def placeholder_classify(notes: pl.DataFrame) -> pl.DataFrame:
    """The keyword placeholder: ``annotation_id, text`` → ``annotation_id, sensitive,
    categories``."""
    patterns = {
        cat: re.compile("|".join(r"(?:^|[^a-z])" + re.escape(k.strip()) for k in words))
        for cat, words in _KEYWORDS.items()
    }
    ids: list[str] = []
    flags: list[bool] = []
    cats: list[str] = []
    for annotation_id, text in notes.select("annotation_id", "text").iter_rows():
        folded = " " + str(text or "").lower().translate(_ACCENTS) + " "
        found = [cat for cat in NOTE_CATEGORIES if patterns[cat].search(folded)]
        ids.append(str(annotation_id))
        flags.append(bool(found))
        cats.append(";".join(found))
    return pl.DataFrame(
        {"annotation_id": ids, "sensitive": flags, "categories": cats},
        schema={"annotation_id": pl.String, "sensitive": pl.Boolean, "categories": pl.String},
    )


def open_labels(path: Path) -> pl.DataFrame:
    """A labels file (``vigile notes`` output) as text columns, checked to exist, to be
    CSV and to have ``annotation_id`` and ``sensitive``: a clear error otherwise."""
    if not path.is_file():
        raise InputError(f"{path}: note labels file not found")
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise InputError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from None
    missing = {"annotation_id", "sensitive"} - set(frame.columns)
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame


def read_labels(path: Path) -> pl.DataFrame:
    """A labels file (``vigile notes`` output): ``annotation_id,sensitive,categories``."""
    frame = open_labels(path)
    if "categories" not in frame.columns:
        frame = frame.with_columns(pl.lit("").alias("categories"))
    return frame.select(
        pl.col("annotation_id"),
        pl.col("sensitive").str.strip_chars().is_in(FLAG_TRUE).alias("sensitive"),
        pl.col("categories").fill_null(""),
    )


def label_notes(notes: pl.DataFrame, labels_file: Path | None = None) -> NoteLabels:
    """Labels for ``notes`` (``annotation_id, text``) from the best source available."""
    if labels_file is not None:
        labels = read_labels(labels_file)
        picked = notes.select(pl.col("annotation_id").cast(pl.String)).join(
            labels, on="annotation_id", how="left"
        )
        unlabelled = picked.filter(pl.col("sensitive").is_null()).height
        if unlabelled:
            # a note the file does not cover is checked by the placeholder, and said so
            rest = placeholder_classify(
                notes.join(
                    picked.filter(pl.col("sensitive").is_null()), on="annotation_id", how="semi"
                )
            )
            picked = pl.concat([picked.drop_nulls("sensitive"), rest])
        return NoteLabels(
            picked,
            "file",
            f"{labels_file.name}" + (f" ({unlabelled} notes by placeholder)" if unlabelled else ""),
        )
    classify = _notes_api()
    if classify is not None:
        result = classify(notes.select("annotation_id", "text"))
        labels = pl.DataFrame(result).select(
            pl.col("annotation_id").cast(pl.String),
            pl.col("sensitive").cast(pl.Boolean),
            pl.col("categories").cast(pl.String).fill_null(""),
        )
        return NoteLabels(labels, "notes-analysis", "vigile.notes.api.classify_notes")
    return NoteLabels(
        placeholder_classify(notes),
        "placeholder",
        "keyword placeholder (vigile.notes is not installed)",
    )


def _notes_api() -> Callable[[pl.DataFrame], pl.DataFrame] | None:
    """``vigile.notes.api.classify_notes`` when the notes analysis is installed."""
    try:
        from vigile.notes.api import classify_notes
    except ModuleNotFoundError as exc:
        if exc.name not in ("vigile.notes", "vigile.notes.api"):
            raise  # the notes analysis is there but broken: say so, do not hide it
        return None
    return classify_notes
