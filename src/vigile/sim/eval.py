"""Score an alert file (INTERFACE §3) against a simulated world's truth.

For every attack: which of its accounts were alerted (an alert on that tenant/actor at
or above `min_severity`, between the attack's start and its end plus a grace period),
how long after the start the first alert came, and how many records (and distinct
patients) the attack had exposed before the first alert and before the first alert at
the blocking severity.  Alerts at or above `min_severity` that match no attack account
in its window are false alerts, reported per 1,000 active account-days.  Benign hard
cases are listed with whether they were flagged above `low`.

An alert whose `actor` is empty or null is matched on its tenant alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
from rich.console import Console
from rich.table import Table

from vigile.sim.clock import parse_ts

SEVERITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}
DEFAULT_GRACE_HOURS = 24.0


@dataclass
class Alerts:
    """Alerts reduced to what scoring needs."""

    frame: pl.DataFrame  # idx, ts (ms), tenant, actor, severity (rank), detector, incident
    read: int
    invalid: int


def load_alerts(path: Path) -> Alerts:
    """Read an alerts JSON Lines file; lines without a usable ts/severity are counted."""
    rows: dict[str, list[Any]] = {
        "idx": [],
        "ts": [],
        "tenant": [],
        "actor": [],
        "severity": [],
        "detector": [],
        "incident": [],
    }
    read = invalid = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            read += 1
            try:
                a = orjson.loads(line)
                ts = parse_ts(str(a["ts"]))
                sev = SEVERITY[str(a["severity"]).lower()]
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
                invalid += 1
                continue
            rows["idx"].append(read - 1)
            rows["ts"].append(ts)
            rows["tenant"].append(str(a.get("tenant") or ""))
            rows["actor"].append(str(a.get("actor") or ""))
            rows["severity"].append(sev)
            rows["detector"].append(str(a.get("detector") or ""))
            rows["incident"].append(str(a.get("incident") or ""))
    frame = pl.DataFrame(
        rows,
        schema={
            "idx": pl.Int64,
            "ts": pl.Int64,
            "tenant": pl.String,
            "actor": pl.String,
            "severity": pl.Int8,
            "detector": pl.String,
            "incident": pl.String,
        },
    )
    return Alerts(frame, read, invalid)


def _cases(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            c = orjson.loads(line)
            c["t0"] = parse_ts(c["start"]) if c.get("start") else None
            c["t1"] = parse_ts(c["end"]) if c.get("end") else None
            out.append(c)
    return out


def _ms(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime("%Y-%m-%dT%H:%M:%S%.3f%:z", time_zone="UTC").dt.epoch("ms")


def evaluate(
    world: Path,
    alerts_path: Path,
    min_severity: str = "medium",
    blocking_severity: str = "high",
    grace_hours: float = DEFAULT_GRACE_HOURS,
) -> dict[str, Any]:
    """The evaluation report (plain data) of an alert file against a world."""
    lo, block = SEVERITY[min_severity], SEVERITY[blocking_severity]
    grace = int(grace_hours * 3_600_000)
    doc = json.loads((world / "world.json").read_text(encoding="utf-8"))
    attacks = _cases(world / "truth" / "attacks.jsonl")
    benign = _cases(world / "truth" / "benign.jsonl")
    al = load_alerts(alerts_path)
    qual = al.frame.filter(pl.col("severity") >= lo)
    # the truth tables can hold tens of millions of rows: scan them lazily, stream
    events = (
        pl.scan_parquet(world / "truth" / "attack_events.parquet")
        .select("case", "ts", "tenant", "actor", "status", "records")
        .with_columns(_ms("ts").alias("t"))
        .drop("ts")
    )
    expo = (
        pl.scan_parquet(world / "truth" / "attack_exposures.parquet")
        .select("case", "ts", "tenant", "actor", "patient_id")
        .with_columns(_ms("ts").alias("t"))
        .drop("ts")
    )

    # windows of attack accounts
    win_rows = []
    for a in attacks:
        if a["t0"] is None:
            continue
        for tenant, actor in a["accounts"]:
            win_rows.append((a["id"], tenant, actor, a["t0"], a["t1"] + grace))
    windows = pl.DataFrame(
        win_rows,
        schema={
            "case": pl.String,
            "tenant": pl.String,
            "actor": pl.String,
            "w0": pl.Int64,
            "w1": pl.Int64,
        },
        orient="row",
    )
    # alerts matched to attack accounts (exact actor, or tenant-level alerts)
    exact = qual.join(windows, on=["tenant", "actor"], how="inner")
    tenant_level = (
        qual.filter(pl.col("actor") == "").drop("actor").join(windows, on="tenant", how="inner")
    )
    matched = pl.concat([exact, tenant_level.select(exact.columns)]).filter(
        (pl.col("ts") >= pl.col("w0")) & (pl.col("ts") <= pl.col("w1"))
    )
    first = matched.group_by(["case", "tenant", "actor"]).agg(
        pl.col("ts").min().alias("first_alert"),
        pl.col("ts").filter(pl.col("severity") >= block).min().alias("first_block"),
    )
    acc = windows.join(first, on=["case", "tenant", "actor"], how="left")
    big = 1 << 62
    marks = acc.select("case", "tenant", "actor", "first_alert", "first_block").lazy()
    ev = events.join(marks, on=["case", "tenant", "actor"], how="left").with_columns(
        pl.col("first_alert").fill_null(big), pl.col("first_block").fill_null(big)
    )
    served = pl.col("status") < 300
    rec = (
        ev.group_by(["case", "tenant", "actor"])
        .agg(
            pl.col("records").filter(served).sum().alias("records"),
            pl.col("records")
            .filter(served & (pl.col("t") < pl.col("first_alert")))
            .sum()
            .alias("records_before_alert"),
            pl.col("records")
            .filter(served & (pl.col("t") < pl.col("first_block")))
            .sum()
            .alias("records_before_block"),
        )
        .collect(engine="streaming")
    )
    # each exposed patient once per case, with its earliest exposure before each mark
    ex = (
        expo.join(marks, on=["case", "tenant", "actor"], how="left")
        .with_columns(pl.col("first_alert").fill_null(big), pl.col("first_block").fill_null(big))
        .group_by("case", "patient_id")
        .agg(
            (pl.col("t") < pl.col("first_alert")).any().alias("before_alert"),
            (pl.col("t") < pl.col("first_block")).any().alias("before_block"),
        )
    )
    # per account: distinct patients it had exposed before its own first alert
    per_acc = (
        expo.join(marks, on=["case", "tenant", "actor"], how="left")
        .with_columns(pl.col("first_alert").fill_null(big))
        .group_by("case", "tenant", "actor")
        .agg(pl.col("patient_id").filter(pl.col("t") < pl.col("first_alert")).n_unique().alias("n"))
        .collect(engine="streaming")
    )
    pat = (
        ex.group_by("case")
        .agg(
            pl.len().alias("patients"),
            pl.col("before_alert").sum().alias("patients_before_alert"),
            pl.col("before_block").sum().alias("patients_before_block"),
        )
        .collect(engine="streaming")
    )
    acc = acc.join(rec, on=["case", "tenant", "actor"], how="left").fill_null(0)
    per_attack = []
    pat_by = {r["case"]: r for r in pat.iter_rows(named=True)}
    for a in attacks:
        rows = acc.filter(pl.col("case") == a["id"])
        alerted = rows.filter(pl.col("first_alert") > 0)
        fa = alerted.get_column("first_alert").min() if alerted.height else None
        ttd = None if fa is None or a["t0"] is None else (int(fa) - int(a["t0"])) / 1000.0  # type: ignore[arg-type]
        p = pat_by.get(a["id"], {})
        own = per_acc.filter(pl.col("case") == a["id"]).get_column("n").to_list()
        per_attack.append(
            {
                "id": a["id"],
                "kind": a["kind"],
                "start": a.get("start"),
                "end": a.get("end"),
                "accounts": rows.height,
                "accounts_detected": alerted.height,
                "accounts_blocked": rows.filter(pl.col("first_block") > 0).height,
                "detected": alerted.height > 0,
                "time_to_detect_s": ttd,
                "records": int(rows.get_column("records").sum()) if rows.height else 0,
                "records_before_alert": int(rows.get_column("records_before_alert").sum())
                if rows.height
                else 0,
                "records_before_block": int(rows.get_column("records_before_block").sum())
                if rows.height
                else 0,
                "patients": int(p.get("patients", 0)),
                "patients_before_alert": int(p.get("patients_before_alert", 0)),
                "patients_before_block": int(p.get("patients_before_block", 0)),
                # each account's own exposure before its own first alert
                "account_patients_before_alert": sorted(int(x) for x in own),
                "account_records_before_alert": sorted(
                    int(x) for x in rows.get_column("records_before_alert").to_list()
                ),
                "incident": _incident(matched, rows) if rows.height >= 2 else None,
            }
        )
    # false alerts: qualifying alerts not matched to any attack account window
    matched_idx = set(matched.get_column("idx").to_list())
    false = qual.filter(~pl.col("idx").is_in(list(matched_idx)))
    aad = int(
        doc.get("active_account_days") or doc.get("stats", {}).get("active_account_days") or 0
    )
    # benign hard cases flagged above low
    above_low = al.frame.filter(pl.col("severity") >= 1)
    ben_rows = []
    for b in benign:
        hits = 0
        if b["t0"] is not None:
            for tenant, actor in b["accounts"]:
                hits += above_low.filter(
                    (pl.col("tenant") == tenant)
                    & ((pl.col("actor") == actor) | (pl.col("actor") == ""))
                    & (pl.col("ts") >= b["t0"])
                    & (pl.col("ts") <= b["t1"] + grace)
                ).height
        ben_rows.append(
            {
                "id": b["id"],
                "kind": b["kind"],
                "accounts": b["accounts"],
                "start": b.get("start"),
                "end": b.get("end"),
                "flagged": hits > 0,
                "alerts": hits,
            }
        )
    by_kind = _by_kind(per_attack)
    return {
        "world": str(world),
        "alerts_file": str(alerts_path),
        "min_severity": min_severity,
        "blocking_severity": blocking_severity,
        "grace_hours": grace_hours,
        "alerts_read": al.read,
        "alerts_invalid": al.invalid,
        "alerts_at_or_above_min": qual.height,
        "attacks": per_attack,
        "by_kind": by_kind,
        "false_alerts": false.height,
        "active_account_days": aad,
        "false_alerts_per_1000_account_days": round(1000.0 * false.height / aad, 3)
        if aad
        else None,
        "false_alerts_by_detector": dict(sorted(false.group_by("detector").len().iter_rows()))
        if false.height
        else {},
        "benign": ben_rows,
        "benign_flagged": sum(1 for b in ben_rows if b["flagged"]),
        "summary": {
            "attacks": len(per_attack),
            "attacks_detected": sum(1 for a in per_attack if a["detected"]),
            "accounts": sum(a["accounts"] for a in per_attack),
            "accounts_detected": sum(a["accounts_detected"] for a in per_attack),
        },
    }


def _incident(matched: pl.DataFrame, accounts: pl.DataFrame) -> dict[str, Any] | None:
    """How the detector linked a multi-account attack into one incident.

    The incident is the id carried by alerts of the most of the attack's accounts; it is
    *formed* at the first alert that gives it a second account.  It is compared with the
    fifth account's first alert (the issue's bar: formed within 10 minutes of it), or the
    last account's when there are fewer than five."""
    tagged = matched.filter(
        pl.col("case").is_in(accounts.get_column("case").unique().to_list())
        & (pl.col("incident") != "")
    )
    if not tagged.height:
        return {"id": None, "accounts_linked": 0, "formed_after_fifth_s": None}
    best = (
        tagged.group_by("incident")
        .agg(pl.struct("tenant", "actor").n_unique().alias("n"), pl.col("ts").min().alias("t"))
        .sort(["n", "t"], descending=[True, False])
        .row(0, named=True)
    )
    firsts = (
        tagged.filter(pl.col("incident") == best["incident"])
        .group_by("tenant", "actor")
        .agg(pl.col("ts").min())
        .get_column("ts")
        .sort()
        .to_list()
    )
    formed = firsts[1] if len(firsts) >= 2 else None
    alerted = accounts.filter(pl.col("first_alert") > 0).get_column("first_alert").sort().to_list()
    k = min(5, accounts.height)
    fifth = alerted[k - 1] if len(alerted) >= k else None
    return {
        "id": best["incident"],
        "accounts_linked": int(best["n"]),
        "formed_after_fifth_s": None
        if formed is None or fifth is None
        else round((int(formed) - int(fifth)) / 1000.0, 3),
    }


def _by_kind(per_attack: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for a in per_attack:
        k = out.setdefault(
            a["kind"],
            {
                "attacks": 0,
                "attacks_detected": 0,
                "accounts": 0,
                "accounts_detected": 0,
                "ttd": [],
                "records": 0,
                "records_before_alert": 0,
                "records_before_block": 0,
                "patients": 0,
                "patients_before_alert": 0,
                "patients_before_block": 0,
                "own": [],
                "own_records": [],
                "incident_after_fifth_s": [],
            },
        )
        k["attacks"] += 1
        k["own"] += a["account_patients_before_alert"]
        k["own_records"] += a["account_records_before_alert"]
        inc = a.get("incident") or {}
        if inc.get("formed_after_fifth_s") is not None:
            k["incident_after_fifth_s"].append(inc["formed_after_fifth_s"])
        k["attacks_detected"] += int(a["detected"])
        for f in (
            "accounts",
            "accounts_detected",
            "records",
            "records_before_alert",
            "records_before_block",
            "patients",
            "patients_before_alert",
            "patients_before_block",
        ):
            k[f] += a[f]
        if a["time_to_detect_s"] is not None:
            k["ttd"].append(a["time_to_detect_s"])
    for k in out.values():
        ttd = k.pop("ttd")
        own = k.pop("own")
        k["account_patients_before_alert_median"] = float(np.median(own)) if own else None
        k["account_patients_before_alert_max"] = int(max(own)) if own else None
        own_records = k.pop("own_records")
        k["account_records_before_alert_median"] = (
            float(np.median(own_records)) if own_records else None
        )
        after = k.pop("incident_after_fifth_s")
        k["incident_after_fifth_s_max"] = float(max(after)) if after else None
        k["account_detection_rate"] = (
            round(k["accounts_detected"] / k["accounts"], 4) if k["accounts"] else 0.0
        )
        k["median_time_to_detect_s"] = float(np.median(ttd)) if ttd else None
        k["max_time_to_detect_s"] = float(np.max(ttd)) if ttd else None
    return out


def _num(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 100_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:,}"


def duration_text(s: float | None) -> str:
    """Seconds as the eval report prints them (``736`` → ``12 min``; ``None`` → ``—``)."""
    if s is None:
        return "—"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """Rich tables: per attack kind, false alerts, benign hard cases."""
    console = console or Console()
    t = Table(
        title=f"attacks (alert ≥ {report['min_severity']}, block ≥ "
        f"{report['blocking_severity']}, grace {report['grace_hours']:g} h)"
    )
    for col in ("kind", "detected", "accounts", "TTD", "records", "<alert", "<block", "acct<alert"):
        t.add_column(col, justify="left" if col == "kind" else "right", no_wrap=True)
    for kind, k in report["by_kind"].items():
        t.add_row(
            kind,
            f"{k['attacks_detected']}/{k['attacks']}",
            f"{k['accounts_detected']}/{k['accounts']}",
            duration_text(k["median_time_to_detect_s"]),
            _num(k["records"]),
            _num(k["records_before_alert"]),
            _num(k["records_before_block"]),
            "—"
            if k["account_patients_before_alert_median"] is None
            else f"{k['account_patients_before_alert_median']:g} "
            f"({k['account_records_before_alert_median']:g})",
        )
    console.print(t)
    console.print(
        "acct<alert: median over the kind's accounts of the distinct patients each had "
        "exposed before its own first alert (records, i.e. rows served, in brackets)"
    )
    for kind, k in report["by_kind"].items():
        if k["incident_after_fifth_s_max"] is not None:
            console.print(
                f"{kind}: incident formed at most {duration_text(k['incident_after_fifth_s_max'])} "
                "after the fifth account's first alert (negative: before)"
                if k["incident_after_fifth_s_max"] >= 0
                else f"{kind}: incident formed before the fifth account's first alert in "
                "every attack"
            )
    fa = report["false_alerts_per_1000_account_days"]
    console.print(
        f"false alerts: {report['false_alerts']:,} over "
        f"{report['active_account_days']:,} active account-days = "
        f"[bold]{fa if fa is not None else '—'}[/bold] per 1,000 account-days"
    )
    b = Table(title="benign hard cases (flagged above low)")
    for col in ("id", "kind", "accounts", "flagged", "alerts"):
        b.add_column(col)
    for r in report["benign"]:
        b.add_row(
            r["id"],
            r["kind"],
            ", ".join(f"{x[0]}/{x[1]}" for x in r["accounts"]),
            "[red]yes[/red]" if r["flagged"] else "no",
            str(r["alerts"]),
        )
    console.print(b)
    if report["alerts_invalid"]:
        console.print(f"[yellow]{report['alerts_invalid']} alert lines could not be read[/]")
