"""From matched, qualified spans to a note's verdict: sensitive, categories, evidence.

The rules (reasoning in docs/notes.md, "How qualifiers change the verdict"):

- an **affirmed** mention gives its categories — including a mention about a
  family member (family medical history is the patient's health data), a past
  one (history) and a hypothetical one (a suspicion of HIV or of abuse is as
  revealing as the diagnosis);
- a **negated** mention of a medical category ("pas de diabète", "non fumeur",
  "pas d'idées suicidaires") does not give its category — the condition is
  absent — but it records the result of an examination or an interview, which
  is health data: it gives ``health`` *as context*;
- a negated mention of a non-clinical category ("pas de dettes") gives nothing;
- *context* (negated clinical mentions, and generic clinical terms: an exam, a
  vaccination, a measure, a treatment, a care event) gives ``health`` only when no
  clinical category (``health``, ``mental_health``, ``addiction``,
  ``sexual_health``, ``reproductive``, ``genetic``, ``sex_life``,
  ``gender_identity``) is asserted in the note:
  "Grossesse 12 SA, pas de fièvre" is ``reproductive``, "Vaccin grippe fait" is
  ``health``.

A note is sensitive when it has at least one category.

When the rules find nothing, an optional statistical back-off (backoff.py) may
still give the note its most likely category (evidence ``model: true``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from vigile.notes.backoff import BackoffModel
from vigile.notes.pipeline import GROUP, READ_MARK
from vigile.notes.terms import MEDICAL, parse_key, strip_accents


@dataclass(frozen=True)
class Evidence:
    """One matched span, its categories and its qualifiers."""

    category: str
    text: str
    start: int
    end: int
    negated: bool
    hypothetical: bool
    family: bool
    historical: bool
    reported: bool
    generic: bool
    counted: bool
    model: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "negated": self.negated,
            "hypothetical": self.hypothetical,
            "family": self.family,
            "historical": self.historical,
            "reported": self.reported,
            "generic": self.generic,
            "counted": self.counted,
            "model": self.model,
        }


@dataclass(frozen=True)
class Verdict:
    """What a note reveals."""

    categories: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    @property
    def sensitive(self) -> bool:
        return bool(self.categories)

    def evidence_json(self) -> str:
        return orjson.dumps([e.as_dict() for e in self.evidence]).decode()


def _flag(span: Any, name: str) -> bool:
    return bool(getattr(span._, name, False))


_MOTIVE = re.compile(r"\b(?:pour (?:des |de |une )?raisons? (?:de |d')?(?:\w+ )?|par conviction )$")


def _motive(span: Any) -> bool:
    """The span gives the reason of an action ("pour des raisons religieuses")."""
    if span.text.lower().startswith("pour "):
        return True
    sent = span.sent
    before = span.doc[max(sent.start, span.start - 5) : span.start].text.lower()
    return bool(_MOTIVE.search(before + " "))


_SCREEN = re.compile(r"\bdepist\w*(?: (?:du|de la|des|de|d'))?\s*$")
_DENIED_BEFORE = re.compile(r"\b(?:pas|aucun|aucune|sans|ni|absence|jamais|non|refus\w*)\b")


def _screened(span: Any, labels: tuple[str, ...]) -> bool:
    """An STI screening negated only by its result stays a screening (after heldout9).

    "dépistage VIH négatif", "dépistage chlamydia négatif": the screening reveals the
    concern that motivated it (docs/notes.md, qualifiers); "pas de dépistage VIH"
    is still denied.
    """
    if "sexual_health" not in labels:
        return False
    sent = span.sent
    head = span.doc[max(sent.start, span.start - 4) : span.start].text
    words = strip_accents(span.text.lower())
    if not (words.startswith("depist") or _SCREEN.search(strip_accents(head.lower()))):
        return False
    before = strip_accents(span.doc[sent.start : span.start].text.lower())
    return not _DENIED_BEFORE.search(before)


_RESULT_AFTER = re.compile(r"\b(?:negati\w*|neg)\b")
_DENIED_AFTER = re.compile(
    r"\b(?:non|neant|aucun|aucune|absente?s?|exclue?s?|eliminee?s?)\b|: ?0\b"
)


def _result_only(span: Any, labels: tuple[str, ...]) -> bool:
    """A test result after a non-clinical fact does not deny it (after heldout9).

    "Dépistage VIH à l'écrou négatif": the screening is negative, the committal is
    not; a negation word before the span ("pas de", "sans") still denies it.
    """
    if any(c in MEDICAL for c in labels):
        return False
    sent = span.sent
    if "neg" not in span.doc[span.end : sent.end].text.lower().replace("é", "e"):
        return False  # no result word after it: the usual case, decided cheaply
    before = strip_accents(span.doc[sent.start : span.start].text.lower())
    after = strip_accents(span.doc[span.end : sent.end].text.lower())
    return (
        bool(_RESULT_AFTER.search(after))
        and not _DENIED_AFTER.search(after)
        and not _DENIED_BEFORE.search(before)
    )


_CARRIER = re.compile(
    r"\b(?:porteu(?:r|se)s? saine?s?|heterozygotes?|statut de porteu\w*"
    r"|porteu(?:r|se)s? asymptomatiques?)\b"
)


def _carrier(span: Any, labels: tuple[str, ...]) -> bool:
    """A hereditary disease named with a carrier status is the status alone (after
    heldout10): the guide's "its carrier status alone is `genetic`" ("porteuse saine
    d'un variant du gène SMN1 (amyotrophie spinale)")."""
    if set(labels) != {"genetic", "health"}:
        return False
    sent = span.sent
    return bool(_CARRIER.search(strip_accents(span.doc[sent.start : span.end].text.lower())))


def verdict(doc: Any, backoff: BackoffModel | None = None, text: str | None = None) -> Verdict:
    """Apply the qualifier rules to the ``vigile`` spans of an annotated doc.

    ``backoff``: a model asked only when the rules matched nothing, on ``text``
    (the note, when the caller has it: ``doc.text`` is rebuilt from the tokens).
    """
    asserted: set[str] = set()
    context = False
    raw: list[tuple[Any, tuple[str, ...], bool, bool]] = []
    for span in doc.spans.get(GROUP, ()):
        labels, generic = parse_key(span.label_)
        if not labels:
            continue
        if _carrier(span, labels):
            labels = ("genetic",)
        # a motive ("pour des raisons de pratique") is not what a negation before it
        # denies: "ne serre pas la main des femmes pour des raisons religieuses"
        negated = (
            _flag(span, "negation")
            and not _motive(span)
            and not _screened(span, labels)
            and not _result_only(span, labels)
        )
        raw.append((span, labels, generic, negated))
        if negated:
            if any(c in MEDICAL for c in labels):
                context = True
        elif generic:
            context = True
        else:
            asserted.update(labels)
    categories = set(asserted)
    if context and not (asserted & MEDICAL):
        categories.add("health")
    evidence = []
    for span, labels, generic, negated in raw:
        for cat in labels:
            counted = (not negated and not generic and cat in asserted) or (
                cat == "health" and "health" in categories and "health" not in asserted
            )
            evidence.append(
                Evidence(
                    category=cat,
                    text=span.text,
                    start=span.start_char,
                    end=span.end_char,
                    negated=negated,
                    hypothetical=_flag(span, "hypothesis"),
                    family=_flag(span, "family"),
                    historical=_flag(span, "history"),
                    reported=_flag(span, "reported_speech"),
                    generic=generic,
                    counted=counted,
                )
            )
    # the back-off is asked only when the rules are silent: no span at all. A negated
    # mention ("pas de violences rapportées"), an administrative phrase or a workplace
    # is a reading of the note, not a silence.
    if backoff is not None and not raw and not doc.user_data.get(READ_MARK):
        found = backoff.predict(doc.text if text is None else text)
        if found is not None:
            category, _, words = found
            categories.add(category)
            evidence.append(
                Evidence(
                    category=category,
                    text=" ".join(words),
                    start=0,
                    end=0,
                    negated=False,
                    hypothetical=False,
                    family=False,
                    historical=False,
                    reported=False,
                    generic=False,
                    counted=True,
                    model=True,
                )
            )
    return Verdict(tuple(sorted(categories)), tuple(evidence))
