"""Benchmark `vigile notes`: quality on the labelled sets, speed on one core, 169,000 notes.

Quality — precision, recall, F1 of the sensitive/not decision and of the
categories (micro and per category) on:

* ``dev``: the project's notes the terminology was developed on;
* ``heldout`` to ``heldout12``: notes written after the terminology was frozen
  (commits a73d69a, 4ef1616, 4d9d975, 22ace0e, 016abe9, 59eb188, 75ceacc, 4761b9b,
  then the notes code of 871b942 for ``heldout9`` (commit 88692a0), b1adbdc for
  ``heldout10`` (73c7dd4), a3c3bf3 for ``heldout11`` (b20abcf) and 1965a69 for
  ``heldout12`` (eaf8f32)), each in other styles (``heldout4`` to ``heldout12`` have
  their own files in ``data/notes_eval/`` and are also scored per style); the
  figures measured at each freeze are in docs/notes.md (``--src`` on an archive of
  that commit reproduces them); re-running here measures today's code, which has
  since seen those notes;
* ``sim``: notes composed by the simulator's grammar (``vigile.sim.notes``),
  labelled by its own rules, written by another engineer.

Speed — notes per second on one core (median of ``--runs``), pipeline start
apart; then the seed case's 169,000 notes (1 % sensitive, as in the seed case)
through the real command line, end to end, with peak memory.

    PYTHONPATH=src .venv/bin/python bench/bench_notes.py               # everything
    PYTHONPATH=src .venv/bin/python bench/bench_notes.py --volume 0    # skip the 169k run
    PYTHONPATH=src .venv/bin/python bench/bench_notes.py --quality-only --src /tmp/frozen/src
    PYTHONPATH=src .venv/bin/python bench/bench_notes.py --quality-only --no-model  # rules only
    # the back-off measured blind: today's model over the rules frozen before heldout4
    PYTHONPATH=src .venv/bin/python bench/bench_notes.py --quality-only \
        --src /tmp/frozen/src --backoff-over-src
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, median_time, pin_one_core, report, run_measured

EVAL_DIR = ROOT / "data" / "notes_eval"
# notes.csv holds dev, heldout, heldout2, heldout3; each later blind set has its own file
EVAL_FILES = (
    "notes.csv",
    "heldout4.csv",
    "heldout5.csv",
    "heldout6.csv",
    "heldout7.csv",
    "heldout8.csv",
    "heldout9.csv",
    "heldout10.csv",
    "heldout11.csv",
    "heldout12.csv",
)
SPLITS = (
    "dev",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "heldout6",
    "heldout7",
    "heldout8",
    "heldout9",
    "heldout10",
    "heldout11",
    "heldout12",
)
#: sets whose ids say the writing style (hN-<style>-nnn): also scored per style
STYLED = SPLITS[SPLITS.index("heldout4") :]
#: extra arguments to classify_texts (empty for a frozen --src that predates them)
CLASSIFY_KW: dict[str, Any] = {}
#: today's back-off model laid over a frozen --src's rules (--backoff-over-src)
OVERLAY: list[Any] = []


def _overlay_model() -> Any:
    """Today's back-off module, loaded beside a frozen ``vigile`` package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "vigile_backoff_today", ROOT / "src" / "vigile" / "notes" / "backoff.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.model_path = lambda language: (  # the model file of today's tree
        ROOT / "src" / "vigile" / "notes" / "model" / f"{language}_backoff.npz"
    )
    return module.load_model("fr")


def load_eval(split: str | None) -> tuple[list[str], list[str], list[tuple[bool, str]]]:
    ids, texts, gold = [], [], []
    for name in EVAL_FILES:
        with (EVAL_DIR / name).open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if split and row["split"] != split:
                    continue
                ids.append(row["annotation_id"])
                texts.append(row["text"])
                gold.append((row["sensitive"] == "1", row["categories"]))
    return ids, texts, gold


def sim_notes(n: int, seed: int, share: float) -> tuple[list[str], list[tuple[bool, str]]]:
    from vigile.sim.notes import generate_note

    r = random.Random(seed)
    texts, gold = [], []
    for _ in range(n):
        text, cats = generate_note(r, r.random() < share)
        texts.append(text)
        gold.append((bool(cats), ";".join(cats)))
    return texts, gold


def quality(name: str, texts: list[str], gold: list[tuple[bool, str]], names: bool) -> None:
    from vigile.notes.api import classify_texts
    from vigile.notes.evaluate import score

    results = list(classify_texts(texts, names=names, **CLASSIFY_KW))
    pred = [(r.sensitive, r.categories) for r in results]
    if OVERLAY:  # the rules matched nothing: ask today's back-off, as classify.verdict does
        for i, r in enumerate(results):
            found = None if r.verdict.evidence else OVERLAY[0].predict(texts[i])
            if found is not None:
                pred[i] = (True, found[0])
    s = score(gold, pred).as_dict()
    per = {
        c: {k: v[k] for k in ("precision", "recall", "f1", "support")}
        for c, v in s["per_category"].items()
    }
    report(
        f"notes_quality_{name}",
        notes=s["notes"],
        sensitive_notes=s["sensitive"]["support"],
        sensitive_precision=s["sensitive"]["precision"],
        sensitive_recall=s["sensitive"]["recall"],
        sensitive_f1=s["sensitive"]["f1"],
        category_micro_precision=s["categories_micro"]["precision"],
        category_micro_recall=s["categories_micro"]["recall"],
        category_micro_f1=s["categories_micro"]["f1"],
        rules_only=CLASSIFY_KW.get("model") is False,
        backoff_over_src=bool(OVERLAY),
        per_category=per,
    )


def speed(
    label: str, texts: list[str], n: int, runs: int, names: bool, build: float, join: int = 1
) -> float:
    """Notes per second on ``n`` notes, each made of ``join`` notes of ``texts``."""
    from vigile.notes.api import classify_texts

    r = random.Random(join)
    sample = [" ".join(r.choice(texts) for _ in range(join)) for _ in range(n)]
    chars = sum(len(t) for t in sample) / len(sample)
    cpu: list[float] = []

    def once() -> None:
        c0 = time.process_time()
        list(classify_texts(sample, names=names, **CLASSIFY_KW))
        cpu.append(time.process_time() - c0)

    med, all_runs = median_time(once, runs)
    cpu_med = sorted(cpu)[len(cpu) // 2]
    rate = n / med
    report(
        f"notes_speed_{label}",
        notes=n,
        mean_chars=round(chars, 1),
        runs=[round(x, 3) for x in all_runs],
        median_s=round(med, 3),
        notes_per_s_one_core=round(rate, 1),
        cpu_s=[round(x, 3) for x in cpu],
        notes_per_cpu_s=round(n / cpu_med, 1),
        pipeline_start_s=round(build, 2),
        names=names,
        extrapolated_169k_s=round(169_000 / rate + build, 1),
    )
    return rate


def volume(n: int, names: bool) -> None:
    """The seed case's count through the command line, end to end."""
    texts, _ = sim_notes(n, seed=169, share=0.01)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["annotation_id", "patient_id", "tenant", "author", "created", "text"])
            for i, t in enumerate(texts):
                w.writerow([f"n{i}", f"p{i // 2}", "t1", "dr1", "2025-11-03 10:00", t])
        cmd = [
            sys.executable,
            "-m",
            "vigile",
            "notes",
            "--annotations",
            str(path),
            "--out",
            str(Path(tmp) / "labels.csv"),
            "--json",
        ]
        if not names:
            cmd.append("--no-names")
        if CLASSIFY_KW.get("model") is False:
            cmd.append("--no-model")
        env = {"PYTHONPATH": str(ROOT / "src")}
        measured = run_measured(cmd, env=env)
        seconds, peak_mb, stdout = measured[0], measured[1], measured[2]
        child_cpu = measured[3] if len(measured) > 3 else None
    import json

    summary: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    report(
        "notes_169k",
        notes=summary["notes"],
        sensitive=summary["sensitive"],
        wall_s=round(seconds, 1),
        cpu_s=None if child_cpu is None else round(child_cpu, 1),
        under_15_min=seconds < 900,
        classify_s=summary["seconds"],
        classify_cpu_s=summary["cpu_seconds"],
        pipeline_start_s=summary["build_seconds"],
        notes_per_s=summary["notes_per_second"],
        peak_rss_mb=peak_mb,
        names=names,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--speed-notes", type=int, default=5000)
    ap.add_argument("--volume", type=int, default=169_000, help="0: skip the end-to-end run")
    ap.add_argument("--sim-notes", type=int, default=2000)
    ap.add_argument("--no-names", action="store_true", help="skip spaCy's NER for names")
    ap.add_argument("--no-model", action="store_true", help="rules only: no statistical back-off")
    ap.add_argument("--quality-only", action="store_true")
    ap.add_argument("--volume-only", action="store_true", help="only the 169k end-to-end run")
    ap.add_argument("--src", type=Path, help="evaluate the vigile package found here instead")
    ap.add_argument(
        "--backoff-over-src",
        action="store_true",
        help="with --src: lay today's back-off model over the frozen rules",
    )
    args = ap.parse_args()
    if args.src is not None:
        sys.path.insert(0, str(args.src.resolve()))
        for mod in [m for m in sys.modules if m == "vigile" or m.startswith("vigile.")]:
            del sys.modules[mod]
        if args.backoff_over_src:
            OVERLAY.append(_overlay_model())
    pin_one_core()
    names = not args.no_names
    if args.no_model:
        CLASSIFY_KW["model"] = False
    if args.volume_only:
        volume(args.volume, names)
        return 0
    from vigile.notes.pipeline import get_pipeline

    t0 = time.perf_counter()
    get_pipeline("fr", names)
    build = time.perf_counter() - t0
    for split in (*SPLITS, None):
        ids, texts, gold = load_eval(split)
        quality(split or "all", texts, gold, names)
        if split in STYLED:  # ids are hN-<style>-nnn: one line per writing style
            for style in sorted({i.split("-")[1] for i in ids}):
                keep = [k for k, i in enumerate(ids) if i.split("-")[1] == style]
                quality(
                    f"{split}_{style}", [texts[k] for k in keep], [gold[k] for k in keep], names
                )
    s_texts, s_gold = sim_notes(args.sim_notes, seed=7, share=0.5)
    quality("sim", s_texts, s_gold, names)
    if args.quality_only:
        return 0
    _, e_texts, _ = load_eval(None)
    mix, _ = sim_notes(2000, seed=11, share=0.3)
    speed("short", e_texts + mix, args.speed_notes, args.runs, names, build)
    speed("long", e_texts + mix, args.speed_notes // 2, args.runs, names, build, join=4)
    if args.volume:
        volume(args.volume, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
