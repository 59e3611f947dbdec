"""The notes stage's one entry point for other modules.

>>> import polars as pl
>>> from vigile.notes.api import classify_notes
>>> out = classify_notes(pl.DataFrame({"annotation_id": ["a1"], "text": ["IVG en 2019"]}))
>>> out.row(0, named=True)["categories"]
'reproductive'

Scope (breach reports) counts patients with sensitive notes per category;
detection raises severity when sensitive notes are read without a care
relationship; the reference application encrypts sensitive notes at rest.
See docs/notes.md for each integration.

Importing this module is cheap: the pipeline (EDS-NLP, terminologies, spaCy
NER) is built on the first call and cached for the process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

import polars as pl

from vigile.notes.classify import Verdict

BATCH: Final[int] = 512

#: Categories whose exposure detection should treat as at least ``high`` when read
#: without a care relationship (docs/notes.md, "Integration").
HIGH_RISK_CATEGORIES: Final[frozenset[str]] = frozenset(
    {
        "mental_health",
        "sexual_health",
        "reproductive",
        "sex_life",
        "gender_identity",
        "genetic",
        "judicial",
        "violence",
    }
)

OUTPUT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "annotation_id": pl.String(),
    "sensitive": pl.Boolean(),
    "categories": pl.String(),
    "evidence": pl.String(),
    "identifiers": pl.String(),
}


@dataclass(frozen=True)
class NoteResult:
    """The reading of one note."""

    verdict: Verdict
    identifiers: str

    @property
    def sensitive(self) -> bool:
        return self.verdict.sensitive

    @property
    def categories(self) -> str:
        return ";".join(self.verdict.categories)


def classify_texts(
    texts: Iterable[str | None], names: bool = True, language: str = "fr", model: bool = True
) -> Iterator[NoteResult]:
    """Read notes one by one (streamed in batches of :data:`BATCH`).

    ``model=False`` turns off the statistical back-off (rules only).
    """
    from vigile.notes import identifiers as ids
    from vigile.notes.backoff import load_model
    from vigile.notes.classify import verdict
    from vigile.notes.pipeline import GROUP, get_pipeline

    pipeline = get_pipeline(language, names)
    nlp, ner = pipeline.nlp, pipeline.ner
    backoff = load_model(language) if model else None
    batch: list[str] = []

    def flush() -> Iterator[NoteResult]:
        docs = [nlp(t) for t in batch]
        verdicts = [verdict(d, backoff, t) for d, t in zip(docs, batch, strict=True)]
        found = [ids.find_patterns(t) for t in batch]
        if ner is not None:
            known = [
                [(s.start_char, s.end_char) for s in d.spans.get(GROUP, ())]
                + [(i.start, i.end) for i in f]
                for d, f in zip(docs, found, strict=True)
            ]
            # the NER reads the stretches around where a name could be, not whole
            # notes (docs/notes.md, "Speed (one core)"): the same names, less text
            todo: list[tuple[int, int, int]] = []  # note, start, end
            for n, t in enumerate(batch):
                candidates = ids.ner_candidates(t, known[n]) if t else []
                if candidates:
                    starts = candidates + ids.name_starts(t, known[n])
                    todo.extend((n, a, b) for a, b in ids.ner_windows(t, starts))
            parts = ner.pipe([batch[n][a:b] for n, a, b in todo])
            for (n, a, _), ner_doc in zip(todo, parts, strict=True):
                found[n].extend(ids.ner_people(ner_doc, known[n], batch[n], a))
        for v, f in zip(verdicts, found, strict=True):
            yield NoteResult(v, ids.kinds(f))
        batch.clear()

    for text in texts:
        batch.append(text if isinstance(text, str) else "")
        if len(batch) >= BATCH:
            yield from flush()
    if batch:
        yield from flush()


def classify_notes(
    notes: pl.DataFrame,
    *,
    names: bool = True,
    language: str = "fr",
    model: bool = True,
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """Classify every note of ``notes`` (columns ``annotation_id``, ``text``).

    Returns one row per input note, in input order: ``annotation_id`` (str),
    ``sensitive`` (bool), ``categories`` (``;``-joined, sorted, INTERFACE §5,
    empty when none), ``evidence`` (JSON list of matched spans with their
    category and qualifiers), ``identifiers`` (``;``-joined kinds among
    ``nir, phone, email, address, person``). ``names=False`` skips spaCy's NER
    (names then come from titles and relatives only); ``model=False`` turns
    off the statistical back-off (rules only).
    """
    missing = [c for c in ("annotation_id", "text") if c not in notes.columns]
    if missing:
        from vigile.errors import InputError

        raise InputError(f"notes: missing column(s) {', '.join(missing)}")
    ids_col = notes.get_column("annotation_id").cast(pl.String).to_list()
    texts = notes.get_column("text").cast(pl.String).to_list()
    sensitive: list[bool] = []
    categories: list[str] = []
    evidence: list[str] = []
    identifiers: list[str] = []
    for n, result in enumerate(
        classify_texts(texts, names=names, language=language, model=model), 1
    ):
        sensitive.append(result.sensitive)
        categories.append(result.categories)
        evidence.append(result.verdict.evidence_json())
        identifiers.append(result.identifiers)
        if progress is not None and n % BATCH == 0:
            progress(n)
    if progress is not None:
        progress(len(texts))
    return pl.DataFrame(
        {
            "annotation_id": ids_col,
            "sensitive": sensitive,
            "categories": categories,
            "evidence": evidence,
            "identifiers": identifiers,
        },
        schema=OUTPUT_SCHEMA,
    )


def sensitive_patients(
    notes: pl.DataFrame,
    labels: pl.DataFrame | None = None,
    *,
    names: bool = False,
    language: str = "fr",
) -> pl.DataFrame:
    """Patients with at least one sensitive note: what scope counts and detection watches.

    ``notes`` has ``annotation_id``, ``patient_id`` (and ``tenant``, ``text``);
    ``labels`` is a ``classify_notes`` result or a ``vigile notes`` labels file
    (read with Polars) — when absent, the notes are classified here. Returns one
    row per (``tenant``, ``patient_id``) with ``sensitive_notes`` (count) and
    ``categories`` (``;``-joined union, sorted).
    """
    if labels is None:
        labels = classify_notes(notes, names=names, language=language)
    keys = ["tenant", "patient_id"] if "tenant" in notes.columns else ["patient_id"]
    flags = labels.select(
        pl.col("annotation_id").cast(pl.String),
        pl.col("sensitive").cast(pl.String).is_in(["1", "true", "True"]).alias("sensitive"),
        pl.col("categories").cast(pl.String).fill_null(""),
    )
    joined = (
        notes.select(pl.col("annotation_id").cast(pl.String), *keys)
        .join(flags, on="annotation_id", how="inner")
        .filter(pl.col("sensitive"))
    )
    counts = joined.group_by(keys).agg(pl.len().cast(pl.Int64).alias("sensitive_notes"))
    cats = (
        joined.select(*keys, pl.col("categories").str.split(";").alias("c"))
        .explode("c")
        .filter(pl.col("c") != "")
        .unique()
        .sort([*keys, "c"])
        .group_by(keys, maintain_order=True)
        .agg(pl.col("c").str.join(";").alias("categories"))
    )
    return (
        counts.join(cats, on=keys, how="left")
        .with_columns(pl.col("categories").fill_null(""))
        .sort(keys)
    )
