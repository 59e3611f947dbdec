# ruff: noqa: E501  (long literals: user agents, notes, report lines)
"""Score vigile's alerts (INTERFACE §3) against the blind world's truth.

Usage: python bench/blindworld/score.py --world /tmp/blindworld [--alerts FILE] [--json OUT]

Counts, per attack kind, the attacked accounts with an alert at or above
``--min-severity`` (default medium) on that account within [start, end + grace];
the time from the attack's start to that alert; the records the attack had
received before it. False alerts: alerts at or above the bar on an account and
time not under attack (accounts only targeted by a failed password spray count
as under attack in that window), per 1,000 active account-days. Benign hard
cases: alerts above low on their account within [start, end + grace].
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

SEV = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def score(
    world: Path, alerts_path: Path, min_sev: str = "medium", grace_h: float = 24.0
) -> dict[str, Any]:
    truth = json.loads((world / "truth.json").read_text(encoding="utf-8"))
    alerts = [
        json.loads(line)
        for line in alerts_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for a in alerts:
        a["_t"] = parse(a["ts"])
    bar = SEV[min_sev]
    grace = dt.timedelta(hours=grace_h)
    by_acct: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in sorted(alerts, key=lambda x: x["_t"]):
        by_acct[(a["tenant"], a.get("actor") or "")].append(a)

    windows: list[tuple[tuple[str, str], dt.datetime, dt.datetime]] = []
    per_attack = []
    for atk in truth["attacks"]:
        t0, t1 = parse(atk["start"]), parse(atk["end"])
        evs = truth["attack_events"].get(atk["id"], [])
        for acc in atk["accounts"] + atk.get("targeted_only", []):
            windows.append(((acc[0], acc[1]), t0, t1 + grace))
        for acc in atk["accounts"]:
            key = (acc[0], acc[1])
            hits = [
                a for a in by_acct[key] if SEV[a["severity"]] >= bar and t0 <= a["_t"] <= t1 + grace
            ]
            any_hits = [a for a in by_acct[key] if t0 <= a["_t"] <= t1 + grace]
            first = hits[0] if hits else None
            mine = [e for e in evs if (e[1], e[2]) == key]
            rows_total = sum(e[3] for e in mine)
            rows_before = sum(e[3] for e in mine if first is None or parse(e[0]) < first["_t"])
            per_attack.append(
                {
                    "attack": atk["id"],
                    "kind": atk["kind"],
                    "tenant": key[0],
                    "actor": key[1],
                    "what": atk["what"],
                    "detected": first is not None,
                    "first_alert": None
                    if first is None
                    else {
                        "ts": first["ts"],
                        "detector": first["detector"],
                        "severity": first["severity"],
                        "reasons": first["reasons"],
                    },
                    "minutes_to_detect": None
                    if first is None
                    else round((first["_t"] - t0).total_seconds() / 60, 1),
                    "rows_total": rows_total,
                    "relationship": atk.get("relationship"),
                    "rows_before_alert": rows_before,
                    "low_only": sorted({f"{a['detector']}" for a in any_hits})
                    if first is None
                    else [],
                }
            )

    def under_attack(a: dict[str, Any]) -> bool:
        key = (a["tenant"], a.get("actor") or "")
        return any(k == key and s <= a["_t"] <= e for k, s, e in windows)

    benign_windows = [
        ((acc[0], acc[1]), parse(b["start"]), parse(b["end"]) + grace, b)
        for b in truth["benign"]
        for acc in b["accounts"]
    ]
    false_alerts = []
    for a in alerts:
        if SEV[a["severity"]] >= bar and not under_attack(a):
            case = next(
                (
                    b["id"] + " " + b["kind"]
                    for k, s, e, b in benign_windows
                    if k == (a["tenant"], a.get("actor") or "") and s <= a["_t"] <= e
                ),
                None,
            )
            false_alerts.append(
                {
                    "ts": a["ts"],
                    "tenant": a["tenant"],
                    "actor": a.get("actor"),
                    "severity": a["severity"],
                    "detector": a["detector"],
                    "benign_case": case,
                    "reasons": a["reasons"],
                }
            )
    benign_flagged = []
    for k, s, e, b in benign_windows:
        hits = [a for a in by_acct[k] if SEV[a["severity"]] > SEV["low"] and s <= a["_t"] <= e]
        benign_flagged.append(
            {
                "id": b["id"],
                "kind": b["kind"],
                "account": list(k),
                "flagged": bool(hits),
                "alerts": [
                    {
                        "ts": a["ts"],
                        "severity": a["severity"],
                        "detector": a["detector"],
                        "reasons": a["reasons"],
                    }
                    for a in hits
                ],
            }
        )

    kinds: dict[str, dict[str, Any]] = {}
    for r in per_attack:
        kk = kinds.setdefault(
            r["kind"],
            {"accounts": 0, "detected": 0, "ttd_min": [], "rows_before": 0, "rows_total": 0},
        )
        kk["accounts"] += 1
        kk["detected"] += r["detected"]
        if r["minutes_to_detect"] is not None:
            kk["ttd_min"].append(r["minutes_to_detect"])
        kk["rows_before"] += r["rows_before_alert"]
        kk["rows_total"] += r["rows_total"]
    n_acc = sum(k["accounts"] for k in kinds.values())
    n_det = sum(k["detected"] for k in kinds.values())
    aad = truth["active_account_days"]
    return {
        "seed": truth["seed"],
        "events": truth["events"],
        "alerts": len(alerts),
        "min_severity": min_sev,
        "attacked_accounts": n_acc,
        "detected_accounts": n_det,
        "detection_rate": round(n_det / n_acc, 4) if n_acc else None,
        "active_account_days": aad,
        "false_alerts": len(false_alerts),
        "false_per_1000_account_days": round(1000 * len(false_alerts) / aad, 2) if aad else None,
        "false_accounts": sorted({f"{f['tenant']}/{f['actor']}" for f in false_alerts}),
        "benign_cases": len(benign_flagged),
        "benign_above_low": sum(b["flagged"] for b in benign_flagged),
        "by_kind": kinds,
        "per_attack": per_attack,
        "false_alerts_list": false_alerts,
        "benign": benign_flagged,
    }


def report(r: dict[str, Any]) -> str:
    out = [
        f"seed {r['seed']}: {r['events']:,} events, {r['alerts']} alerts; detection (>= {r['min_severity']}) "
        f"{r['detected_accounts']}/{r['attacked_accounts']} accounts; false {r['false_alerts']} "
        f"({r['false_per_1000_account_days']} per 1,000 of {r['active_account_days']} active account-days, "
        f"{len(r['false_accounts'])} accounts); benign above low {r['benign_above_low']}/{r['benign_cases']}",
        "",
        "| kind | accounts detected | median min to detect | rows exposed before alert / total |",
        "|---|---|---|---|",
    ]
    for kind, k in r["by_kind"].items():
        t = sorted(k["ttd_min"])
        med = t[len(t) // 2] if t else "-"
        out.append(
            f"| {kind} | {k['detected']}/{k['accounts']} | {med} | {k['rows_before']:,} / {k['rows_total']:,} |"
        )
    out.append("\nMissed:")
    for p in r["per_attack"]:
        if not p["detected"]:
            out.append(
                f"  {p['attack']} {p['kind']} {p['tenant']}/{p['actor']}: {p['what']} (rows {p['rows_total']}; low alerts only: {p['low_only'] or 'none'})"
            )
            if p.get("relationship"):
                out.append(
                    f"      in the data beforehand: {json.dumps(p['relationship'], ensure_ascii=False)}"
                )
    out.append("\nFalse alerts (>= bar, not under attack):")
    for f in r["false_alerts_list"]:
        out.append(
            f"  {f['ts']} {f['tenant']}/{f['actor']} {f['severity']} {f['detector']}{' [' + f['benign_case'] + ']' if f['benign_case'] else ''}: {f['reasons'][0][:220]}"
        )
    out.append("\nBenign hard cases above low:")
    for b in r["benign"]:
        if b["flagged"]:
            for a in b["alerts"]:
                out.append(
                    f"  {b['id']} {b['kind']} {b['account'][0]}/{b['account'][1]}: {a['severity']} {a['detector']} {a['ts']}: {a['reasons'][0][:220]}"
                )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--alerts", type=Path)
    ap.add_argument("--min-severity", default="medium", choices=list(SEV))
    ap.add_argument("--grace-hours", type=float, default=24.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    r = score(
        args.world, args.alerts or args.world / "alerts.jsonl", args.min_severity, args.grace_hours
    )
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, ensure_ascii=False), encoding="utf-8")
    print(report(r))


if __name__ == "__main__":
    main()
