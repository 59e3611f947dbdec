"""Issue 4's detection figures over several simulated worlds, as docs/detect.md gives them.

For each world (``vigile sim --preset P --seed N``, cached under ``bench/out/``):
``vigile detect`` with the shipped rules, then ``vigile eval`` (alert ≥ medium, block
≥ high, grace 24 h). The per-kind table (Markdown) sums the worlds' attacks and takes
medians over them and over their accounts (the worlds are kept: ``--regenerate`` after
a change of the simulator); the JSON line has the issue's figures:

* ``kinds_detected`` / ``kinds`` – every attack kind detected;
* ``account_detection_rate`` – attacked accounts flagged at medium or above (≥ 0.99);
* ``false_alerts_per_1000_account_days`` (≤ 0.5) and ``benign_flagged`` (0);
* ``campaign_account_patients_median`` / ``_rows_median`` – records exposed per
  campaign account before its own first alert (median over the accounts, < 50), and
  ``campaign_incident_after_fifth_s_max`` – the incident against the fifth account's
  first alert (≤ 600 s; negative: before it);
* ``exposure_before_block`` – records taken before each account's first high or
  critical alert, over all the attacks took (≤ 0.05).

    PYTHONPATH=src .venv/bin/python bench/eval_worlds.py --preset small --seeds 1-8
    PYTHONPATH=src .venv/bin/python bench/eval_worlds.py --preset medium --seeds 1-4
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import OUT, ROOT, report
from vigile.sim.eval import duration_text

KINDS = [
    "campaign",
    "night_paging",
    "low_and_slow",
    "enumeration",
    "search_scraping",
    "token_replay",
    "credential_stuffing",
    "vip_snooping",
]


def _vigile(*args: str) -> None:
    cmd = [sys.executable, "-m", "vigile", *args]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def _world(preset: str, seed: int, regenerate: bool = False) -> dict[str, Any]:
    """The eval report of one world (generated if not there yet, or if asked), replayed."""
    world = OUT / f"eval-world-{preset}-{seed}"
    if regenerate or not (world / "world.json").exists():
        shutil.rmtree(world, ignore_errors=True)
        _vigile("sim", "--preset", preset, "--seed", str(seed), "--out", str(world))
    alerts, incidents = world / "alerts.jsonl", world / "incidents.jsonl"
    _vigile(
        "detect",
        "--events",
        str(world / "events.jsonl"),
        "--context",
        str(world / "context"),
        "--alerts",
        str(alerts),
        "--incidents",
        str(incidents),
        "--json",
    )
    out = world / "eval.json"
    _vigile("eval", "--world", str(world), "--alerts", str(alerts), "--json", str(out))
    return dict(json.loads(out.read_text()))


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):g}" if values else "–"


def _share(part: int, whole: int) -> str:
    return f"{part:,} ({100 * part / whole:.1f}%)" if whole else "0"


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _or_none(fn: Any, values: list[float]) -> float | None:
    return float(fn(values)) if values else None


def summarise(reports: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The Markdown table and the figures of ``reports`` (``vigile eval --json``)."""
    rows: dict[str, dict[str, Any]] = {}
    false_alerts = days = flagged = benign = 0
    for rep in reports:
        false_alerts += rep["false_alerts"]
        days += rep["active_account_days"]
        flagged += rep["benign_flagged"]
        benign += len(rep["benign"])
        for a in rep["attacks"]:
            r = rows.setdefault(
                a["kind"],
                {k: 0 for k in ("n", "det", "acc", "accdet", "rec", "ba", "bb")}
                | {"ttd": [], "ap": [], "ar": [], "inc": []},
            )
            r["n"] += 1
            r["det"] += bool(a["detected"])
            r["acc"] += a["accounts"]
            r["accdet"] += a["accounts_detected"]
            r["rec"] += a["records"]
            r["ba"] += a["records_before_alert"]
            r["bb"] += a["records_before_block"]
            if a["time_to_detect_s"] is not None:
                r["ttd"].append(a["time_to_detect_s"])
            r["ap"] += [x for x in a["account_patients_before_alert"] if x is not None]
            r["ar"] += [x for x in a["account_records_before_alert"] if x is not None]
        for kind, k in rep["by_kind"].items():
            if k.get("incident_after_fifth_s_max") is not None:
                rows[kind]["inc"].append(k["incident_after_fifth_s_max"])
    lines = [
        "| attack kind | attacks detected | accounts detected (≥ medium) | median time to "
        "detect | records taken | before first alert | before first high | acct<alert |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = {k: 0 for k in ("n", "det", "acc", "accdet", "rec", "ba", "bb")}
    for kind in [k for k in KINDS if k in rows] + sorted(set(rows) - set(KINDS)):
        r = rows[kind]
        for k in total:
            total[k] += r[k]
        ttd = statistics.median(r["ttd"]) if r["ttd"] else None
        acct = f"{_median(r['ap'])} ({_median(r['ar'])})" if r["ap"] else "–"
        lines.append(
            f"| {kind} | {r['det']}/{r['n']} | {r['accdet']}/{r['acc']} | {duration_text(ttd)} | "
            f"{r['rec']:,} | {_share(r['ba'], r['rec'])} | {_share(r['bb'], r['rec'])} | {acct} |"
        )
    lines.append(
        f"| **all** | {total['det']}/{total['n']} | {total['accdet']}/{total['acc']} | | "
        f"{total['rec']:,} | {_share(total['ba'], total['rec'])} | "
        f"{_share(total['bb'], total['rec'])} | |"
    )
    campaign = rows.get("campaign", {"ap": [], "ar": [], "inc": []})
    figures = {
        "worlds": len(reports),
        "kinds": len(rows),
        "kinds_detected": sum(1 for r in rows.values() if r["det"] == r["n"]),
        "attacks": total["n"],
        "attacks_detected": total["det"],
        "account_detection_rate": _ratio(total["accdet"], total["acc"]),
        "false_alerts": false_alerts,
        "active_account_days": days,
        "false_alerts_per_1000_account_days": _ratio(1000 * false_alerts, days, 3),
        "benign_flagged": flagged,
        "benign_cases": benign,
        "campaign_account_patients_median": _or_none(statistics.median, campaign["ap"]),
        "campaign_account_rows_median": _or_none(statistics.median, campaign["ar"]),
        "campaign_incident_after_fifth_s_max": _or_none(max, campaign["inc"]),
        "records": total["rec"],
        "exposure_before_alert": _ratio(total["ba"], total["rec"]),
        "exposure_before_block": _ratio(total["bb"], total["rec"]),
    }
    return "\n".join(lines), figures


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", help="small | medium")
    ap.add_argument("--seeds", default="1-8", help="e.g. 1-8 or 1,3,5")
    ap.add_argument("--table", type=Path, help="also write the Markdown table here")
    ap.add_argument(
        "--regenerate",
        action="store_true",
        help="generate the worlds again (they are cached: after a change of the simulator)",
    )
    args = ap.parse_args()
    reports = [_world(args.preset, seed, args.regenerate) for seed in _seeds(args.seeds)]
    table, figures = summarise(reports)
    print(table, file=sys.stderr)
    if args.table:
        args.table.write_text(table + "\n")
    report("eval-worlds", preset=args.preset, seeds=args.seeds, **figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
