"""End to end through the real application: what attacks obtain before vigile stops them.

Issue 5's figures, measured by the live chapter of ``vigile demo``
(:func:`vigile.demo.live.run_live`): ``vigile serve`` and the reference practice
application as two real servers, the ``small`` world's genuine users replayed
over HTTP on a scaled clock (Friday morning, ×150), then an attacker with stolen
passwords — bulk paging, then the campaign over five doctors' accounts.

* bulk paging stopped before 200 patient records;
* each campaign account stopped before 100 records (median);
* zero refusals of simulated genuine users.

    PYTHONPATH=src .venv/bin/python bench/bench_live.py               # seed 7
    PYTHONPATH=src .venv/bin/python bench/bench_live.py --seeds 7 11 23
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from pathlib import Path

from rich.console import Console

from common import report  # type: ignore[import-not-found]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[7])
    ap.add_argument("--speed", type=float, default=150.0)
    ap.add_argument("--show", action="store_true", help="print the chapter as it runs")
    args = ap.parse_args()
    from vigile.demo.live import run_live

    for seed in args.seeds:
        load = os.getloadavg()
        with tempfile.TemporaryDirectory() as tmp:
            out = io.StringIO()
            console = Console(width=130) if args.show else Console(file=out, width=130)
            f = run_live(Path(tmp), console, seed, speed=args.speed)
        camp = f["campaign"]["accounts"]
        report(
            "live",
            seed=seed,
            speed=args.speed,
            bulk_paging_patients=f["bulk_paging"]["patients"],
            bulk_paging_stopped=f["bulk_paging"]["stopped"],
            campaign_median_patients=f["campaign"]["median_patients"],
            campaign_patients=[a["patients"] for a in camp],
            campaign_records_served=[a["records"] for a in camp],
            campaign_minutes_to_stop=[a["minutes_to_stop"] for a in camp],
            campaign_all_stopped=f["campaign"]["all_stopped"],
            genuine_requests=f["genuine"]["requests"],
            genuine_refused_by_vigile=f["genuine"]["refused_by_vigile"],
            genuine_latency_ms=f["genuine"]["latency_ms"],
            alerts=f["alerts_by_severity"],
            decisions=f["decisions"],
            seconds=f["seconds"],
            targets={
                "bulk_paging_patients": "< 200",
                "campaign_median": "< 100",
                "genuine_refused": 0,
            },
            load_average=[round(x, 2) for x in load],
        )


if __name__ == "__main__":
    main()
