"""Identifiers written inside a note: NIR, phone numbers, e-mails, addresses, names.

A note that says "rappeler sa fille Mme Lambert au 06 12 34 56 78" is not
sensitive in the sense of INTERFACE §5, but it carries a third party's name
and number: a breach report lists them, and the reference application can
mask them. Kinds are reported as ``nir``, ``phone``, ``email``, ``address``,
``person``.

- **NIR** (numéro de sécurité sociale): 13 digits and a 2-digit key, the key
  being ``97 - (n mod 97)`` with Corsica's ``2A``/``2B`` counted as 19/18; a
  number whose key does not check is not reported (a 15-digit invoice number
  is not a NIR). Thirteen digits without a key count when a word such as "NIR"
  or "sécu" stands just before them.
- **Phones**: French numbers, ``0X XX XX XX XX`` in any grouping, or
  ``+33``/``0033``.
- **Addresses**: a number and a street type ("12 rue des Lilas", "3 bis
  allée..."), or a postcode followed by a town.
- **Names**: a title and a capitalised word ("Mme Lambert", "Dr Haddad"), a
  relative and a first name ("sa fille Chloé"), and spaCy's French NER (PER)
  on the notes that hold a capitalised word not explained otherwise; names
  that are terms or drugs of the note ("Xanax", "Subutex") are not people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

KINDS: Final[tuple[str, ...]] = ("nir", "phone", "email", "address", "person")


@dataclass(frozen=True)
class Identifier:
    """One identifier found in a note."""

    kind: str
    text: str
    start: int
    end: int


_NIR: Final[re.Pattern[str]] = re.compile(
    r"(?<![\d])([12])[ .]?(\d\d)[ .]?(\d\d)[ .]?(\d\d|2[AaBb])[ .]?(\d{3})[ .]?(\d{3})"
    r"(?:[ .]?(\d\d))?(?![\d])"
)
_NIR_CONTEXT: Final[re.Pattern[str]] = re.compile(
    r"(nir|n°\s*ss|num[ée]ro\s+(de\s+)?s[ée]cu|s[ée]cu(rit[ée]\s+sociale)?|insee|\bins\b|\bss\b)"
    r"\W{0,5}(n°|num[ée]ro|:)?\W{0,3}$",
    re.I,
)
_PHONE: Final[re.Pattern[str]] = re.compile(
    r"(?<![\d])(?:(?:\+|00)\s?33\s?(?:\(0\)\s?)?|0)[1-9](?:[ .\-/]?\d\d){4}(?![\d])"
)
_EMAIL: Final[re.Pattern[str]] = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b")
_STREET: Final[str] = (
    r"(?:rue|avenue|av\.?|bd|boulevard|chemin|allée|allee|impasse|imp\.?|place|pl\.|route|rte|"
    r"quai|cours|square|lotissement|lot\.|résidence|residence|hameau|lieu-dit|voie|passage|"
    r"sentier|cité|cite|faubourg|fbg|chaussée|esplanade|parvis|promenade|villa|clos)"
)
_ADDRESS: Final[re.Pattern[str]] = re.compile(
    r"\b\d{1,4}\s*(?:bis|ter|b|a)?\s*,?\s+" + _STREET + r"\b[^\n,;.()]{2,40}",
    re.I,
)
_POSTCODE: Final[re.Pattern[str]] = re.compile(
    r"(?<![\d])(?:0[1-9]|[1-8]\d|9[0-8])\d{3}\s+[A-ZÉÈ][A-Za-zéèêëàâîïôöûüç'\-]+"
    r"(?:[ \-](?:[Ss]ur|[Ll]es|[Ee]n|[Dd]e|[A-ZÉÈ][A-Za-zéèêëàâîïôöûüç'\-]+)){0,4}"
)
_NAME: Final[str] = r"[A-ZÉÈÊÀÂÎÔ][a-zéèêëàâäîïôöûüç]+(?:[\-'][A-ZÉÈ]?[a-zéèêëàâäîïôöûüç]+)?"
_CAPS_NAME: Final[str] = r"[A-ZÉÈ]{2,}(?:-[A-ZÉÈ]{2,})?"
_TITLE: Final[re.Pattern[str]] = re.compile(
    r"\b(?:M\.|Mr\.?|MM\.|Mme|Mmes|Mlle|Monsieur|Madame|Mademoiselle|Dr\.?|Drs|Docteur|"
    r"Pr\.?|Professeur|Me|Maître)\s+"
    r"((?:" + _NAME + r"|" + _CAPS_NAME + r")(?:\s+(?:" + _NAME + r"|" + _CAPS_NAME + r"))?)"
)
_RELATIVE: Final[re.Pattern[str]] = re.compile(
    r"\b(?:sa|son|leur|ses|une|un)\s+(?:fille|fils|m[èe]re|p[èe]re|mari|[ée]pouse|femme|"
    r"compagnon|compagne|conjoint|conjointe|fr[èe]re|s(?:œ|oe)ur|voisin|voisine|ami|amie|"
    r"ni[èe]ce|neveu|petit-fils|petite-fille|tuteur|tutrice|curateur|curatrice|aidant|aidante|"
    r"belle-fille|beau-fils|gendre|belle-m[èe]re|beau-p[èe]re|cousin|cousine|oncle|tante|"
    r"ex|ex-mari|ex-femme|copain|copine|partenaire|employeur|patron|avocat|avocate)"
    r"\s*,?\s+(" + _NAME + r"(?:\s+" + _CAPS_NAME + r")?)"
)
#: Capitalised words that start sentences or name things, not people.
_NOT_NAMES: Final[frozenset[str]] = frozenset(
    w.lower()
    for w in (
        "Vient",
        "Venu",
        "Venue",
        "Passe",
        "Passé",
        "Appelle",
        "Appelé",
        "Appeler",
        "Rappeler",
        "Prévenu",
        "Prévenue",
        "Informé",
        "Est",
        "Sera",
        "Était",
        "Doit",
        "Peut",
        "Va",
        "Ne",
        "Le",
        "La",
        "Les",
        "Un",
        "Une",
        "Des",
        "Du",
        "De",
        "Au",
        "Aux",
        "Et",
        "Ou",
        "Mais",
        "Donc",
        "Car",
        "Pour",
        "Par",
        "Sur",
        "Sans",
        "Avec",
        "Chez",
        "Dans",
        "Selon",
        "Après",
        "Avant",
        "Depuis",
        "Pendant",
        "Lors",
        "Suite",
        "Tél",
        "Tel",
        "RDV",
        "Rdv",
        "Cs",
        "Consultation",
        "Dossier",
        "Courrier",
        "Ordonnance",
        "Certificat",
        "Patient",
        "Patiente",
        "Mr",
        "Mme",
        "Docteur",
        "Dr",
        "Lundi",
        "Mardi",
        "Mercredi",
        "Jeudi",
        "Vendredi",
        "Samedi",
        "Dimanche",
        "Janvier",
        "Février",
        "Mars",
        "Avril",
        "Mai",
        "Juin",
        "Juillet",
        "Août",
        "Septembre",
        "Octobre",
        "Novembre",
        "Décembre",
        "Noël",
        "Pâques",
        "CHU",
        "CH",
        "Hôpital",
        "Clinique",
        "Urgences",
        "Mutuelle",
        "Sécu",
        "CPAM",
        "CAF",
        "Pôle",
        "France",
        "Paris",
        "Lyon",
        "Marseille",
        "Toulouse",
        "Nice",
        "Nantes",
        "Strasbourg",
        "Montpellier",
        "Bordeaux",
        "Lille",
        "Rennes",
        "Reims",
        "Le",
        "Havre",
        "Note",
        "Notes",
        "NB",
        "Vu",
        "Revu",
        "Revoir",
        "Voir",
        "Motif",
        "Examen",
        "Bilan",
        "Traitement",
        "TTT",
        "Atcd",
        "ATCD",
        "Mère",
        "Père",
        "Fils",
        "Fille",
        "Soeur",
        "Sœur",
        "Frère",
        "Mari",
        "Epouse",
        "Épouse",
        "Accompagné",
        "Accompagnée",
        "Absent",
        "Absente",
        "Annulé",
        "Annulée",
        "Oui",
        "Non",
        "Ok",
        "OK",
        "Merci",
        "Bonjour",
        "Madame",
        "Monsieur",
        "Mademoiselle",
        "Secrétariat",
        "Secrétaire",
        "Interne",
        "Stagiaire",
        "Remplaçant",
        "Remplaçante",
        "Cabinet",
        "Pharmacie",
        "Labo",
        "Laboratoire",
        "Kiné",
        "Infirmière",
        "IDE",
        "Vitale",
        "Carte",
        "Ameli",
        "Doctolib",
        "Maps",
        "Préfère",
        "Souhaite",
        "Retard",
        "Ordo",
        "Nvx",
        "Nouveau",
        "Nouvelle",
        "Médecin",
        "Suivi",
        "Suivie",
        "Vient",
        "Aucun",
        "Aucune",
        "Pas",
        "Nouvel",
        "Famille",
        "Malakoff",
        "Harmonie",
        "MGEN",
        "Axa",
        "Maaf",
        "Allianz",
        "Groupama",
        "Macif",
        "Matmut",
        "Swiss",
        "Generali",
    )
)


def nir_key_ok(digits13: str, key: str) -> bool:
    """True when ``key`` is the NIR key of ``digits13`` (Corsica: 2A -> 19, 2B -> 18)."""
    body = digits13.upper()
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    if not body.isdigit() or len(body) != 13 or not key.isdigit():
        return False
    return 97 - int(body) % 97 == int(key)


def nir_key(digits13: str) -> int:
    """The key of a 13-character NIR body (for building synthetic test data)."""
    for k in range(1, 98):
        if nir_key_ok(digits13, f"{k:02d}"):
            return k
    raise ValueError(f"not a NIR body: {digits13!r}")


def find_nirs(text: str) -> list[Identifier]:
    """NIRs with a valid key, or 13 digits announced as a NIR."""
    out = []
    for m in _NIR.finditer(text):
        body = "".join(m.group(i) for i in range(1, 7))
        key = m.group(7)
        checked = key is not None and nir_key_ok(body, key)
        announced = key is None and _NIR_CONTEXT.search(text[max(0, m.start() - 40) : m.start()])
        if checked or announced:
            out.append(Identifier("nir", m.group(0), m.start(), m.end()))
    return out


def find_patterns(text: str) -> list[Identifier]:
    """Every identifier the regular expressions find (everything but NER names)."""
    found = find_nirs(text)
    taken = [(i.start, i.end) for i in found]

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    for kind, rx in (
        ("email", _EMAIL),
        ("phone", _PHONE),
        ("address", _ADDRESS),
        ("address", _POSTCODE),
    ):
        for m in rx.finditer(text):
            if free(m.start(), m.end()):
                found.append(Identifier(kind, m.group(0).strip(), m.start(), m.end()))
                taken.append((m.start(), m.end()))
    for rx in (_TITLE, _RELATIVE):
        for m in rx.finditer(text):
            name = m.group(1)
            if name.split()[0].lower() in _NOT_NAMES:
                continue
            if free(m.start(1), m.end(1)):
                found.append(Identifier("person", name, m.start(1), m.end(1)))
                taken.append((m.start(1), m.end(1)))
    return sorted(found, key=lambda i: (i.start, i.end))


_CAPITALISED: Final[re.Pattern[str]] = re.compile(
    r"(?<=[\w'] )[A-ZÉÈ][a-zéèêëïîôöüç]{2,}\b"
    r"|(?<=, )[A-ZÉÈ][a-zéèêëïîôöüç]{2,} [A-ZÉÈ][a-zéèêëïîôöüç]{2,}"
)


def ner_candidates(text: str, known: Iterable[tuple[int, int]]) -> list[int]:
    """Where a note may hold a name the patterns missed: the start of each capitalised
    word inside a clause (right after a word, not after punctuation or a separator),
    not a known word, not already explained."""
    spans = list(known)
    out = []
    for m in _CAPITALISED.finditer(text):
        if m.group(0).lower() in _NOT_NAMES:
            continue
        if any(a <= m.start() < b for a, b in spans):
            continue
        out.append(m.start())
    return out


def wants_ner(text: str, known: Iterable[tuple[int, int]]) -> bool:
    """Whether a note may hold a name the patterns missed (see :func:`ner_candidates`)."""
    return bool(ner_candidates(text, known))


#: a word: letters, then letters or digits
_WORD: Final[re.Pattern[str]] = re.compile(r"(?<![^\W\d_])[^\W\d_][^\W_]*")
#: whitespace-separated chunks the NER reads on each side of a possible name: its
#: tok2vec sees four tokens each side, and 4 chunks already gave the whole-note
#: result on every evaluation note and the bench's long notes (2 did not)
NER_MARGIN: Final[int] = 8


def _opens_name(text: str, i: int) -> bool:
    """Whether what stands before offset ``i`` (spaces skipped) lets
    :func:`ner_people` take a name starting there: a letter, a digit, an
    apostrophe or a comma."""
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "',")


def name_starts(text: str, known: Iterable[tuple[int, int]] = ()) -> list[int]:
    """Where :func:`ner_people` could accept a name: each capitalised word that is
    not a known non-name nor inside a known span, and that stands inside a chunk
    ("d'Aubin", "(Jean"), after a letter, a digit, an apostrophe or a comma, or
    after such a character and a chunk of up to three characters ("J. Marchand",
    the chunk's offset then). Wider than :func:`ner_candidates`, which decides
    whether the NER runs at all."""
    spans = list(known)
    out = []
    for m in _WORD.finditer(text):
        word = m.group()
        if not word[0].isupper() or word.lower() in _NOT_NAMES:
            continue
        i = m.start()
        if any(a <= i < b for a, b in spans):
            continue
        if (i > 0 and not text[i - 1].isspace()) or _opens_name(text, i):
            out.append(i)
            continue
        j = i
        while j > 0 and text[j - 1].isspace():
            j -= 1
        k = j
        while k > 0 and not text[k - 1].isspace():
            k -= 1
        if 0 < j - k <= 3 and _opens_name(text, k):
            out.append(k)
    return out


def ner_windows(
    text: str, starts: Iterable[int], margin: int = NER_MARGIN
) -> list[tuple[int, int]]:
    """The stretches of ``text`` the NER reads instead of the whole note: around
    each offset of ``starts``, its whitespace-separated chunk and ``margin``
    chunks on each side (whole chunks, so that spaCy cuts the same tokens as in
    the whole note), without the spaces at their ends, joined when they overlap
    or touch; sorted ``(start, end)`` pairs."""
    out: list[tuple[int, int]] = []
    n = len(text)
    for c in sorted(set(starts)):
        a = b = c
        while a > 0 and not text[a - 1].isspace():
            a -= 1
        while b < n and not text[b].isspace():
            b += 1
        for _ in range(margin):
            while a > 0 and text[a - 1].isspace():
                a -= 1
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            while b < n and text[b].isspace():
                b += 1
            while b < n and not text[b].isspace():
                b += 1
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif a < b:
            out.append((a, b))
    return out


def ner_people(
    ner_doc: Any, known: Iterable[tuple[int, int]], text: str | None = None, offset: int = 0
) -> list[Identifier]:
    """PER entities of a spaCy doc that look like names and are not terms or drugs.

    ``ner_doc`` may have read only a part of the note: ``text`` is then the whole
    note and ``offset`` where that part starts in it."""
    spans = list(known)
    out = []
    if text is None:
        text = ner_doc.text
    for ent in ner_doc.ents:
        if ent.label_ != "PER":
            continue
        words = [t for t in ent if t.is_alpha]
        if not words or not all(t.text[0].isupper() for t in words):
            continue
        if not any(t.text[1:].islower() for t in words):
            continue  # "XX", "HTA": not a written name
        if any(t.text.lower() in _NOT_NAMES for t in words):
            continue
        start, end = offset + ent.start_char, offset + ent.end_char
        before = text[:start].rstrip()
        inside = bool(before) and (before[-1].isalnum() or before[-1] == "'")
        apposition = bool(before) and before[-1] == "," and len(words) >= 2
        if not (inside or apposition):
            continue  # clause-initial: a capitalised verb or noun, not a name
        if any(a < end and start < b for a, b in spans):
            continue
        out.append(Identifier("person", ent.text, start, end))
    return out


def kinds(found: Iterable[Identifier]) -> str:
    """The ``;``-joined kinds present, in the fixed order of :data:`KINDS`."""
    present = {i.kind for i in found}
    return ";".join(k for k in KINDS if k in present)
