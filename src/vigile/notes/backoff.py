"""A statistical back-off for notes the rules find nothing in.

A term reader misses paraphrase: "ses petits soucis avec la bouteille" holds no
term of ``fr_addiction.yaml``. When the rules give a note no category, a small
linear model (logistic regression on hashed word, word-pair and character
n-gram features of the normalised text) is asked whether the note looks
sensitive anyway; above its threshold it gives the note its most likely
category, and the evidence says the model decided (``model: true``) and which
words weighed most.

It is used **only to raise recall** when the rules are silent: it never removes
a category the rules found, never adds one to a note the rules already read as
sensitive, and is off for a language without a trained model file.

Training (``python -m vigile.notes.backoff --train``) uses the project's
evaluation notes *except the blind sets still to be reported* (:data:`TRAIN_SPLITS`:
``dev``, ``heldout`` to ``heldout4``; not ``heldout5`` nor ``heldout6``) and the
simulator's notes; the threshold is chosen
by 5-fold cross-validation on those notes alone: the lowest score at which at
most ``MAX_FALSE_ALARM`` of the project's non-sensitive notes, scored out of
fold, would be flagged. The model file (``model/<language>_backoff.npz``,
weights as float16) records its threshold and the cross-validated figures.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final

import numpy as np

from vigile.notes.terms import CATEGORIES, normalise_word

BITS: Final[int] = 17
DIM: Final[int] = 1 << BITS
MAX_FALSE_ALARM: Final[float] = 0.02
#: the evaluation splits the model learns from (never a set still reported blind)
TRAIN_SPLITS: Final[tuple[str, ...]] = ("dev", "heldout", "heldout2", "heldout3", "heldout4")
#: the files that hold them
TRAIN_FILES: Final[tuple[str, ...]] = ("notes.csv", "heldout4.csv")
#: the outputs: column 0 is "sensitive", then one column per category
OUTPUTS: Final[tuple[str, ...]] = ("sensitive", *CATEGORIES)

_WORD: Final = re.compile(r"[a-z]+")
#: words too common to explain a decision (they still count in the score)
_SHOWN_STOP: Final[frozenset[str]] = frozenset(
    [
        "dans",
        "pour",
        "avec",
        "sans",
        "depuis",
        "elle",
        "elles",
        "mais",
        "plus",
        "tres",
        "tout",
        "toute",
        "tous",
        "sont",
        "avait",
        "etre",
        "fait",
        "dit",
        "cette",
        "leur",
        "leurs",
        "nous",
        "vous",
        "aussi",
        "encore",
    ]
)


@lru_cache(maxsize=200_000)
def _word_features(word: str) -> tuple[int, ...]:
    """Hashed features of one word: the word itself and its 3- to 5-letter n-grams."""
    out = [zlib.crc32(b"w:" + word.encode())]
    padded = f" {word} "
    for n in (3, 4, 5):
        for i in range(len(padded) - n + 1):
            out.append(zlib.crc32(b"c:" + padded[i : i + n].encode()))
    return tuple(h & (DIM - 1) for h in out)


def features(text: str) -> np.ndarray:
    """The hashed feature indices of a note (duplicates kept: they count)."""
    words = _WORD.findall(normalise_word(text))
    idx: list[int] = []
    for w in words:
        idx.extend(_word_features(w))
    for a, b in itertools.pairwise(words):
        idx.append(zlib.crc32(f"b:{a} {b}".encode()) & (DIM - 1))
    return np.asarray(idx, dtype=np.int64)


@dataclass(frozen=True)
class BackoffModel:
    """Weights (``DIM`` x outputs), biases, and the threshold on P(sensitive)."""

    weights: np.ndarray
    bias: np.ndarray
    threshold: float
    info: dict[str, float]

    def scores(self, text: str) -> np.ndarray:
        """P(output) for each of :data:`OUTPUTS`."""
        idx = features(text)
        if not len(idx):
            return np.zeros(len(OUTPUTS))
        z = self.weights[idx].astype(np.float64).sum(axis=0) / np.sqrt(len(idx)) + self.bias
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    def predict(self, text: str) -> tuple[str, float, list[str]] | None:
        """(category, P(sensitive), the words that weighed most) or ``None``."""
        p = self.scores(text)
        if p[0] < self.threshold:
            return None
        k = int(np.argmax(p[1:])) + 1
        category = OUTPUTS[k]
        words = _WORD.findall(normalise_word(text))
        weight = {
            w: float(self.weights[list(_word_features(w)), k].astype(np.float64).sum())
            for w in set(words)
        }
        ranked = sorted(weight.items(), key=lambda x: (-x[1], x[0]))
        top = [w for w, v in ranked if v > 0 and len(w) > 3 and w not in _SHOWN_STOP][:3]
        return category, float(p[0]), top

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            threshold=np.asarray(self.threshold),
            info_keys=np.asarray(list(self.info)),
            info_values=np.asarray(list(self.info.values())),
        )


def model_path(language: str) -> Path:
    return Path(str(resources.files("vigile.notes") / "model" / f"{language}_backoff.npz"))


@lru_cache(maxsize=4)
def load_model(language: str = "fr") -> BackoffModel | None:
    """The trained model shipped for ``language``, or ``None``."""
    path = model_path(language)
    if not path.exists():
        return None
    with np.load(path) as z:
        info = {str(k): float(v) for k, v in zip(z["info_keys"], z["info_values"], strict=True)}
        return BackoffModel(
            weights=z["weights"],
            bias=z["bias"].astype(np.float64),
            threshold=float(z["threshold"]),
            info=info,
        )


# --- training -------------------------------------------------------------------


def _matrix(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-like (indices, row pointers, values) with each row scaled by 1/sqrt(n)."""
    rows = [features(t) for t in texts]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    values = np.concatenate(
        [np.full(len(r), 1.0 / np.sqrt(max(len(r), 1)), dtype=np.float32) for r in rows]
    )
    return indices, indptr, values


def fit(
    texts: list[str],
    targets: np.ndarray,
    epochs: int = 100,
    l2: float = 1e-4,
    rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression for each column of ``targets`` (n x outputs), full-batch Adam."""
    indices, indptr, values = _matrix(texts)
    n, k = targets.shape
    lengths = np.diff(indptr)
    row_of = np.repeat(np.arange(n), lengths)
    w = np.zeros((DIM, k), dtype=np.float32)
    b = np.zeros(k, dtype=np.float64)
    m_w, v_w = np.zeros_like(w), np.zeros_like(w)
    m_b, v_b = np.zeros_like(b), np.zeros_like(b)
    pos = targets.mean(axis=0)
    # balanced classes: each column's positives and negatives weigh the same in total
    cw = np.where(targets > 0, 0.5 / np.maximum(pos, 1e-3), 0.5 / np.maximum(1 - pos, 1e-3))
    for t in range(1, epochs + 1):
        contrib = w[indices] * values[:, None]  # nnz x k
        z = np.add.reduceat(contrib, indptr[:-1], axis=0).astype(np.float64)
        z[lengths == 0] = 0.0
        z += b
        p = 1.0 / (1.0 + np.exp(-z))
        err = (p - targets) * cw / n  # n x k
        g_w = np.zeros_like(w)
        per_nnz = err[row_of] * values[:, None]
        for j in range(k):
            g_w[:, j] = np.bincount(indices, weights=per_nnz[:, j], minlength=DIM)
        g_w += l2 * w
        g_b = err.sum(axis=0)
        _adam(w, g_w, m_w, v_w, t, rate)
        _adam(b, g_b, m_b, v_b, t, rate)
    return w, b


def _adam(
    param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, rate: float
) -> None:
    """One Adam step, in place."""
    m *= 0.9
    m += 0.1 * grad
    v *= 0.999
    v += 0.001 * grad * grad
    param -= rate * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)


def _targets(gold: list[tuple[bool, str]]) -> np.ndarray:
    y = np.zeros((len(gold), len(OUTPUTS)))
    for i, (sensitive, cats) in enumerate(gold):
        y[i, 0] = float(sensitive)
        for c in filter(None, cats.split(";")):
            y[i, OUTPUTS.index(c)] = 1.0
    return y


def _scores(w: np.ndarray, b: np.ndarray, texts: list[str]) -> np.ndarray:
    m = BackoffModel(w, b, 0.5, {})
    return np.asarray([m.scores(t) for t in texts])


def train(
    project: list[tuple[str, bool, str]],
    simulated: list[tuple[str, bool, str]],
    folds: int = 5,
    seed: int = 0,
) -> BackoffModel:
    """Train on project + simulated notes; choose the threshold by cross-validation.

    The threshold is the lowest score at which at most :data:`MAX_FALSE_ALARM` of
    the project's non-sensitive notes, each scored by a model that did not see it,
    would be flagged (simulated notes train but do not set the threshold: their
    administrative sentences are too regular to be a fair test).
    """
    texts = [t for t, _, _ in project + simulated]
    gold = [(s, c) for _, s, c in project + simulated]
    y = _targets(gold)
    n_proj = len(project)
    rng = np.random.default_rng(seed)
    fold_of = rng.integers(0, folds, size=len(texts))
    oof = np.zeros(len(texts))
    for f in range(folds):
        train_idx = np.flatnonzero(fold_of != f)
        test_idx = np.flatnonzero((fold_of == f) & (np.arange(len(texts)) < n_proj))
        w, b = fit([texts[i] for i in train_idx], y[train_idx])
        oof[test_idx] = _scores(w, b, [texts[i] for i in test_idx])[:, 0]
    proj_y = y[:n_proj, 0]
    negatives = np.sort(oof[:n_proj][proj_y == 0])
    allowed = int(np.floor(MAX_FALSE_ALARM * len(negatives)))
    # the score of the (allowed+1)-th highest negative, just above it
    threshold = float(negatives[-(allowed + 1)] + 1e-6) if len(negatives) else 0.5
    threshold = max(threshold, 0.5)
    positives = oof[:n_proj][proj_y == 1]
    info = {
        "cv_folds": float(folds),
        "cv_false_alarm_rate": float((negatives >= threshold).mean()) if len(negatives) else 0.0,
        "cv_recall_project_sensitive": float((positives >= threshold).mean()),
        "train_project_notes": float(n_proj),
        "train_simulated_notes": float(len(simulated)),
    }
    w, b = fit(texts, y)
    return BackoffModel(w, b, threshold, info)


def _training_notes(
    sim_notes: int,
) -> tuple[list[tuple[str, bool, str]], list[tuple[str, bool, str]]]:
    import csv
    import random

    from vigile.sim.notes import generate_note

    root = Path(__file__).resolve().parents[3] / "data" / "notes_eval"
    project = []
    for name in TRAIN_FILES:
        with (root / name).open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["split"] in TRAIN_SPLITS:
                    project.append((row["text"], row["sensitive"] == "1", row["categories"]))
    r = random.Random(2024)
    simulated = []
    for _ in range(sim_notes):
        text, cats = generate_note(r, r.random() < 0.5)
        simulated.append((text, bool(cats), ";".join(cats)))
    return project, simulated


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(description="train the notes back-off model")
    ap.add_argument("--train", action="store_true", required=True)
    ap.add_argument("--sim-notes", type=int, default=1500)
    ap.add_argument("--language", default="fr")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    project, simulated = _training_notes(args.sim_notes)
    model = train(project, simulated)
    out = args.out or model_path(args.language)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(json.dumps({"out": str(out), "threshold": model.threshold, **model.info}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
