"""Paraphrase: lemma matching, wishes that are not negations, workplaces, the back-off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vigile.notes.api import classify_texts
from vigile.notes.backoff import (
    DIM,
    OUTPUTS,
    BackoffModel,
    _targets,
    _word_features,
    features,
    fit,
    load_model,
)
from vigile.notes.classify import verdict
from vigile.notes.pipeline import get_pipeline


def rules(text: str) -> set[str]:
    """Categories from the rules alone (no statistical back-off)."""
    result = next(iter(classify_texts([text], names=False, model=False)))
    return set(result.verdict.categories)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # lemma matching of multi-word terms: inflections nobody wrote down
        ("Sa sœur a fait deux fausses couches.", {"reproductive"}),
        ("Il entendait des voix la nuit.", {"mental_health"}),
        # a wish, a secret, a dictated self-correction are not negations
        ("Ne souhaite pas poursuivre cette grossesse.", {"reproductive"}),
        ("enceinte de quatre mois euh non cinq mois", {"reproductive"}),
        # the patient's sex from the title, then a partner of the same sex
        ("Mme Roux et sa compagne viennent ensemble.", {"sex_life"}),
        ("M. Petit et son compagnon ont déménagé.", {"sex_life"}),
        # word families and verb patterns
        ("Il a eu des démêlés avec la justice, suivi par le SPIP.", {"judicial"}),
        ("Elle a de petits soucis avec la bouteille.", {"addiction"}),
        ("Il mise au PMU chaque matin.", {"addiction"}),
        ("Elle se sent comme un garçon depuis l'enfance.", {"gender_identity"}),
        ("Distribue des tracts pour son parti le dimanche.", {"political"}),
        ("Reçoit des messages humiliants de ses collègues.", {"violence"}),
        ("N'a plus que le RSA depuis un an.", {"social"}),
    ],
)
def test_paraphrase_found_by_rules(text: str, expected: set[str]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Mme Roux et son compagnon viennent ensemble.",  # a different-sex couple
        "Travaille au Planning familial comme secrétaire, nouvelle adresse mail.",
        "Bénévole aux Restos du cœur le mardi, pas de rendez-vous ce jour-là.",
        "Le patient est infirmier de nuit en service de psychiatrie.",
        "Mme Morel, juge aux affaires familiales, demande un rendez-vous tardif.",
        "Rdv pris en urgence ce soir, créneau ajouté.",  # "urgences" the ward is not lemma-matched
    ],
)
def test_not_sensitive(text: str) -> None:
    assert rules(text) == set()


def test_workplace_cue_is_not_care() -> None:
    assert rules("Suivie par la psychologue du CMP depuis mars.") == {"mental_health"}
    assert rules("Travaille malgré sa dépression.") == {"mental_health"}


def test_judge_deciding_is_still_judicial() -> None:
    assert "judicial" in rules("Garde des enfants fixée par le juge aux affaires familiales.")


def test_features_are_stable_and_bounded() -> None:
    a, b = features("Soucis avec la bouteille"), features("soucis avec la BOUTEILLE")
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < DIM
    assert len(features("")) == 0


def test_fit_separates_a_toy_problem() -> None:
    texts = [f"boit {n} verres de whisky" for n in range(10)] + [
        f"rdv décalé au {n} mars" for n in range(10)
    ]
    gold = [(True, "addiction")] * 10 + [(False, "")] * 10
    w, b = fit(texts, _targets(gold), epochs=40)
    model = BackoffModel(w, b, 0.5, {})
    drink, admin = model.scores("boit du whisky"), model.scores("rdv décalé en avril")
    assert drink[0] > 0.5 > admin[0]
    assert OUTPUTS[int(np.argmax(drink[1:])) + 1] == "addiction"
    assert model.predict("rdv décalé en avril") is None


def _one_word_model(word: str, category: str) -> BackoffModel:
    """A model that knows one word: it is sensitive and of ``category``."""
    w = np.zeros((DIM, len(OUTPUTS)), dtype=np.float32)
    idx = list(_word_features(word))
    w[idx, 0] = 20.0
    w[idx, OUTPUTS.index(category)] = 20.0
    b = np.full(len(OUTPUTS), -5.0)
    return BackoffModel(w, b, 0.9, {})


def test_backoff_only_when_the_rules_are_silent() -> None:
    nlp = get_pipeline("fr", names=False).nlp
    model = _one_word_model("zorglub", "addiction")
    silent = verdict(nlp("Le patient parle de zorglub tous les soirs."), model)
    assert silent.categories == ("addiction",)
    ev = json.loads(silent.evidence_json())
    assert ev[-1]["model"] is True and "zorglub" in ev[-1]["text"]
    # the rules found something: the model is not asked, nothing is added
    ruled = verdict(nlp("Dépression, zorglub tous les soirs."), model)
    assert ruled.categories == ("mental_health",)
    assert not any(e["model"] for e in json.loads(ruled.evidence_json()))
    # nothing the model knows: still not sensitive
    assert verdict(nlp("RDV décalé à jeudi."), model).categories == ()
    # a negated mention is a reading, not a silence: the model is not asked
    assert verdict(nlp("Pas de violences rapportées, zorglub."), model).categories == ()
    # nor after an administrative phrase or a workplace
    assert verdict(nlp("Certificat de sport pour zorglub."), model).categories == ()
    assert verdict(nlp("Travaille au Planning familial, zorglub."), model).categories == ()


def test_shipped_model_leaves_administrative_notes_alone() -> None:
    model = load_model("fr")
    if model is None:
        pytest.skip("no trained back-off model shipped")
    assert 0.5 <= model.threshold < 1.0
    for text in (
        "RDV annulé par la patiente, à recaler semaine prochaine",
        "Nouveau numéro de portable, ne plus appeler le fixe",
        "Réglé par chèque le 12/02",
    ):
        assert model.predict(text) is None
