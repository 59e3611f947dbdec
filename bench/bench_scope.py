"""Breach scoping benchmarks (issue 6): scope over 100 M stored events, linkage of 1 M
identities, the seed-scale report end to end, and Splink on Spark.

    PYTHONPATH=src .venv/bin/python bench/bench_scope.py build-store     # once: 100 M events
    PYTHONPATH=src .venv/bin/python bench/bench_scope.py scope  [--runs 3]
    PYTHONPATH=src .venv/bin/python bench/bench_scope.py linkage [--runs 3] [--memory 8GB]
    PYTHONPATH=src .venv/bin/python bench/bench_scope.py seed --world DIR --store DIR \
        [--memory 6GB] [--backend duckdb|spark]
    PYTHONPATH=src .venv/bin/python bench/bench_scope.py spark-linkage --world DIR \
        --sizes 100000,300000,1000000 [--driver-memory 6g] [--shuffle-partitions N]

``build-store`` makes ``bench/out/store-100000000``: hard links (or copies) of the
50 M-event store that ``bench_store.py`` builds, plus 50 M more synthetic events on
the 30 following days (``synth.event_table``). The 50 M store is only read.

``scope`` times :func:`vigile.scope.scoping.compute_scope` (every SQL step, no
linkage, no report) on that store for two selections: an incident (40 accounts
over 14 days) and a seed-sized campaign (1,500 accounts over the whole 2 months).

``linkage`` links every file of a ``medium`` simulated world (~975 k files, made
with ``vigile sim`` if missing) and scores pairwise precision/recall against the
world's ``truth/persons.csv``: median wall and CPU seconds (every DuckDB thread),
peak RSS, the phases.

``seed`` runs ``vigile scope`` end to end (scope, notes, linkage, report, packs)
on a seed-preset world's store, for the campaign's accounts over its window, in
one child process: wall, CPU seconds and peak RSS of that child.

``spark-linkage`` links the first N files of a world's ``patients.csv`` with Splink
on Spark (``local[2]``; patients.csv read by Spark) for each N of ``--sizes``, and
scores them: a measured scaling curve (CPU = this process + the JVM).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import OUT, ROOT, median_time, report

STORE_50M = OUT / "store-50000000"
STORE_100M = OUT / "store-100000000"
DAY_US = 86_400 * 1_000_000
START_US = 1_772_409_600_000_000  # 2026-03-02T00:00Z, as bench_store.py


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_self() -> float:
    """CPU seconds (user + system) of this process so far, every thread (DuckDB's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _median_cpu(fn: Any, runs: int) -> tuple[float, list[float], float, list[float]]:
    """Median wall and CPU seconds of ``fn()`` over ``runs`` runs, and every run."""
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = _cpu_self(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu_self() - c0)
    return statistics.median(walls), walls, statistics.median(cpus), cpus


# ---- the 100 M store ---------------------------------------------------------------------
def build_store(n_new: int = 50_000_000) -> None:
    """Link the 50 M store's parts into a new store and append ``n_new`` events after them."""
    from synth import event_table
    from vigile.store import open_store

    if not (STORE_50M / "built").exists():
        sys.exit(f"{STORE_50M} missing: run bench/bench_store.py --events 50000000 first")
    shutil.rmtree(STORE_100M, ignore_errors=True)
    for kind in ("events", "exposures"):
        for part in sorted((STORE_50M / kind).glob("day=*/part-*.parquet")):
            target = STORE_100M / kind / part.parent.name / part.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(part, target)  # read-only sharing: parts are never modified
            except OSError:
                shutil.copy2(part, target)
    shutil.copy2(STORE_50M / "store.json", STORE_100M / "store.json")
    store = open_store(STORE_100M)
    t0 = time.perf_counter()
    first_day = 31  # the 50 M store holds 2026-03-02 .. 2026-04-01
    per_day = n_new // 30
    chunk = min(2_000_000, per_day)
    for i in range(0, n_new, chunk):
        m = min(chunk, n_new - i)
        day = first_day + i // per_day
        table = event_table(
            m, seed=1_000_000_000 + i, start_us=START_US + day * DAY_US + (i % per_day) * 2_000
        )
        store.append_table(table)
    store.close()
    info = open_store(STORE_100M).info()
    (STORE_100M / "built").write_text(str(info.events))
    report(
        "scope_store_build",
        events=info.events,
        days=info.days,
        seconds=round(time.perf_counter() - t0, 1),
    )


# ---- scope over 100 M events -------------------------------------------------------------
def bench_scope(runs: int) -> None:
    """compute_scope on the 100 M store: an incident, and a seed-sized campaign."""
    from datetime import UTC, datetime

    from vigile.scope.engine import DuckDBBackend
    from vigile.scope.scoping import ScopeContext, compute_scope, day_parts
    from vigile.scope.selection import from_actors
    from vigile.store import open_store

    if not (STORE_100M / "built").exists():
        sys.exit(f"{STORE_100M} missing: run `bench_scope.py build-store` first")
    events = open_store(STORE_100M).info().events
    context = ScopeContext()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    cases = {
        # 40 accounts of 20 practices over two weeks (a medium incident)
        "incident": from_actors(
            [f"dr.martin.{p:04d}" for p in range(0, 2000, 100)]
            + [f"sec.durand.{p:04d}" for p in range(0, 2000, 100)],
            since=datetime(2026, 3, 16, tzinfo=UTC),
            until=datetime(2026, 3, 30, tzinfo=UTC),
        ),
        # the seed case's 1,500 doctors' accounts over the whole store (2 months)
        "campaign": from_actors([f"dr.martin.{p:04d}" for p in range(0, 3000, 2)], since=start),
    }
    for name, selection in cases.items():
        holder: dict[str, Any] = {}

        def once(selection: Any = selection, holder: dict[str, Any] = holder) -> None:
            backend = DuckDBBackend()
            try:
                parts = day_parts(STORE_100M, "events", selection.since, selection.until)
                holder["result"] = compute_scope(backend, parts, context, selection, link=False)
            finally:
                backend.close()

        median, times = median_time(once, runs=runs)
        summary = holder["result"].summary
        report(
            f"scope_100m_{name}",
            stored_events=events,
            accounts=len(selection.accounts),
            events_in_scope=summary["events_in_scope"],
            patients_exposed=summary["patients_exposed"],
            exposures=summary["exposures"],
            median_s=round(median, 2),
            runs_s=[round(t, 2) for t in times],
            timings=holder["result"].timings,
            target_s=60,
            load_average=_load(),
        )


# ---- linkage of ~1 M identities ----------------------------------------------------------
def _world(preset: str, seed: int) -> Path:
    world = OUT / f"world-{preset}-{seed}"
    if not (world / "world.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "vigile",
                "sim",
                "--preset",
                preset,
                "--seed",
                str(seed),
                "--out",
                str(world),
            ],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    return world


def bench_linkage(
    runs: int, world: Path | None, files: int | None = None, memory: str = "8GB"
) -> None:
    """Splink (DuckDB) over the files of a world (default: every file of a medium
    world; ``files``: the first N), scored against its truth. The engine reads
    patients.csv itself, as `vigile scope` does. Wall and CPU seconds per run (CPU of
    every DuckDB thread: this machine is shared, wall time depends on the others)."""
    import polars as pl

    from vigile.scope.engine import DuckDBBackend
    from vigile.scope.persons import link_persons, pairwise_quality
    from vigile.scope.scoping import register_patients, scope_context

    world = world or _world("medium", 11)
    context = scope_context(world / "context")
    holder: dict[str, Any] = {"phases": [], "link_cpu": []}

    def once() -> None:
        backend = DuckDBBackend(memory_limit=memory)
        try:
            t0, c0 = time.perf_counter(), _cpu_self()
            register_patients(backend, context)
            limit = f" LIMIT {files}" if files is not None else ""
            backend.materialise("exposed_identities", f"SELECT * FROM patients{limit}")
            read_s, read_cpu = round(time.perf_counter() - t0, 2), _cpu_self() - c0
            holder["stats"] = link_persons(backend)
            holder["link_cpu"].append(round(_cpu_self() - c0 - read_cpu, 1))
            holder["phases"].append(
                {"read_patients": read_s, "read_cpu": round(read_cpu, 1), **holder["stats"].phases}
            )
            holder["persons"] = backend.fetch("SELECT patient_id, person_id FROM persons")
        finally:
            backend.close()

    wall, walls, cpu, cpus = _median_cpu(once, runs)
    quality = pairwise_quality(
        pl.from_arrow(holder["persons"]), pl.read_csv(world / "truth" / "persons.csv")
    )
    report(
        "scope_linkage_1m" if files is None else f"scope_linkage_{files}",
        world=str(world.name),
        comparisons=holder["stats"].comparisons,
        median_s=round(wall, 1),
        runs_s=[round(t, 1) for t in walls],
        median_cpu_s=round(cpu, 1),
        runs_cpu_s=[round(t, 1) for t in cpus],
        linkage_cpu_s=holder["link_cpu"],
        peak_rss_mib=_peak_rss_mib(),
        duckdb_memory_limit=memory,
        phases=holder["phases"],
        **quality.as_dict(),
        target_s=180,
        load_average=_load(),
        note="time includes reading patients.csv into the engine",
    )


# ---- the seed-scale report end to end ----------------------------------------------------
def bench_seed(
    world: Path,
    store: Path,
    out: Path,
    memory: str,
    backend: str,
    note_labels: Path | None,
    alerts: Path | None = None,
    incident: str | None = None,
) -> None:
    """`vigile scope` for the seed world's campaign: its accounts over its window, everything.
    One child process; its wall time, CPU seconds (every thread and worker) and peak RSS
    (wait4). ``note_labels``: the notes' labels made beforehand by `vigile notes` (as a
    deployment has them: detection reads them too); without, the scope classifies the
    exposed notes itself. ``alerts`` and ``incident``: scope the incident that `vigile
    detect` formed (its accounts, from a week before each one's first alert) instead of
    the truth's accounts over the campaign's window."""
    attacks = [json.loads(x) for x in (world / "truth" / "attacks.jsonl").read_text().splitlines()]
    campaign = next(a for a in attacks if a["kind"] == "campaign")
    actors = sorted({f"{t}/{a}" for t, a in campaign["accounts"]})
    args = [
        sys.executable, "-m", "vigile", "scope",
        "--store", str(store), "--context", str(world / "context"),
        "--out", str(out), "--json", "--memory", memory, "--backend", backend,
    ]  # fmt: skip
    if alerts is not None:
        args += ["--alerts", str(alerts)] + (["--incident", incident] if incident else [])
    else:
        args += ["--since", campaign["start"], "--until", campaign["end"]]
        args += ["--detected-at", campaign["start"]]
        for actor in actors:
            args += ["--actor", actor]
    if note_labels is not None:
        args += ["--note-labels", str(note_labels)]
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with open(OUT / "scope-seed.stderr", "w") as errors:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit((OUT / "scope-seed.stderr").read_text()[-3000:])
    summary = json.loads((out / "summary.json").read_text())
    truth = _seed_truth(world, out, campaign["id"])
    keys = ("patients_exposed", "persons_exposed", "patients_with_annotations",
            "patients_with_sensitive_annotations", "tenants_affected", "actors_involved",
            "records_returned", "events_in_scope")  # fmt: skip
    report(
        "scope_seed_end_to_end",
        world=str(world),
        backend=backend,
        memory=memory,
        note_labels=str(note_labels) if note_labels else None,
        selection=f"incident {incident} of {alerts}" if alerts else "the campaign's accounts",
        accounts=summary["actors_involved"] if alerts else len(actors),
        seconds=round(seconds, 1),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_mib=usage.ru_maxrss // 1024,
        **{k: summary[k] for k in keys},
        linkage=summary.get("linkage"),
        notes=summary.get("notes_classifier"),
        timings=summary.get("timings"),
        truth=truth,
        target_s=600,
        load_average=_load(),
    )


def _seed_truth(world: Path, out: Path, case: str) -> dict[str, Any]:
    """The scope against the simulator's truth. Scoped by account over the campaign's
    window, the scope is an upper bound: it must hold every file the campaign took
    (``missing`` = 0) and adds the accounts' genuine work of the window (``extra``).
    Persons are compared on the same files: the linkage's persons against the true
    persons of the scoped files."""
    import polars as pl

    taken = (
        pl.scan_parquet(world / "truth" / "attack_exposures.parquet")
        .filter(pl.col("case") == case)
        .select("patient_id")
        .unique()
    )
    scoped = pl.scan_csv(out / "persons.csv", schema_overrides={"person_id": pl.String}).select(
        "patient_id", "person_id"
    )
    true_persons = pl.scan_csv(world / "truth" / "persons.csv").select(
        "patient_id", pl.col("person_id").alias("true_person")
    )
    both = scoped.join(true_persons, on="patient_id", how="left")
    # the files reached through a session or address the alerts named (`attributed`)
    attributed = (
        pl.scan_csv(out / "exposed_patients.csv", schema_overrides={"person_id": pl.String})
        .filter(pl.col("attributed") == 1)
        .select("patient_id")
        .unique()
    )
    row = pl.concat(
        [
            taken.select(pl.len().alias("taken")),
            taken.join(scoped, on="patient_id", how="anti").select(pl.len().alias("missing")),
            scoped.select(pl.len().alias("scoped")),
            both.select(pl.col("person_id").n_unique().alias("persons_linked")),
            both.select(pl.col("true_person").n_unique().alias("persons_true")),
            attributed.select(pl.len().alias("attributed")),
            taken.join(attributed, on="patient_id", how="anti").select(
                pl.len().alias("attributed_missing")
            ),
            attributed.join(taken, on="patient_id", how="anti").select(
                pl.len().alias("attributed_extra")
            ),
            taken.join(true_persons, on="patient_id").select(
                pl.col("true_person").n_unique().alias("campaign_persons_true")
            ),
        ],
        how="horizontal",
    ).collect()
    r: dict[str, Any] = {k: int(v) for k, v in row.row(0, named=True).items()}
    r["extra"] = r["scoped"] - (r["taken"] - r["missing"])
    r["persons_error"] = round(r["persons_linked"] / r["persons_true"] - 1.0, 5)
    return r


# ---- Splink on Spark ---------------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from /proc (the Spark JVM)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_spark_linkage(
    world: Path, sizes: list[int], master: str, driver_memory: str, partitions: int | None
) -> None:
    """Splink on Spark over the first N files of a world's ``patients.csv``, for each N
    of ``sizes`` (a scaling curve), scored against its truth. patients.csv is read by
    Spark itself (as `vigile scope --backend spark` does). Each size runs in a fresh
    Spark session; CPU is this process's plus the JVM's."""
    import polars as pl

    from vigile.scope.engine import SparkBackend
    from vigile.scope.persons import link_persons, pairwise_quality
    from vigile.scope.scoping import register_patients, scope_context

    context = scope_context(world / "context")
    truth_all = pl.scan_csv(world / "truth" / "persons.csv")
    for files in sizes:
        conf = {"spark.driver.memory": driver_memory}
        if partitions is not None:
            conf["spark.sql.shuffle.partitions"] = str(partitions)
        backend = SparkBackend(master, conf=conf)
        jvm = backend.spark.sparkContext._gateway.proc.pid
        try:
            c0, j0, t0 = _cpu_self(), _proc_cpu(jvm), time.perf_counter()
            register_patients(backend, context)
            backend.materialise("exposed_identities", f"SELECT * FROM patients LIMIT {files}")
            read_s = time.perf_counter() - t0
            stats = link_persons(backend)
            seconds = time.perf_counter() - t0
            cpu_py, cpu_jvm = _cpu_self() - c0, _proc_cpu(jvm) - j0
            persons = backend.fetch("SELECT patient_id, person_id FROM persons")
            effective = backend.spark.conf.get("spark.sql.shuffle.partitions")
        finally:
            backend.close()
            backend.spark.stop()
        predicted = pl.from_arrow(persons)
        assert isinstance(predicted, pl.DataFrame)
        truth = truth_all.join(predicted.lazy().select("patient_id"), on="patient_id", how="semi")
        quality = pairwise_quality(predicted, truth.collect())
        report(
            "scope_linkage_spark",
            world=str(world),
            master=master,
            driver_memory=driver_memory,
            shuffle_partitions=effective,
            comparisons=stats.comparisons,
            seconds=round(seconds, 1),
            cpu_s=round(cpu_py + cpu_jvm, 1),
            cpu_jvm_s=round(cpu_jvm, 1),
            read_s=round(read_s, 1),
            phases=stats.phases,
            files_per_s=round(stats.files / seconds),
            **quality.as_dict(),
            load_average=_load(),
        )
        del persons, predicted


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("what", choices=["build-store", "scope", "linkage", "seed", "spark-linkage"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--world", type=Path)
    ap.add_argument("--store", type=Path)
    ap.add_argument("--out", type=Path, default=OUT / "scope-seed")
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--memory", default="8GB", help="DuckDB memory limit (budget: 10 GB peak)")
    ap.add_argument("--backend", default="duckdb", help="seed: duckdb or spark")
    ap.add_argument("--alerts", type=Path, help="seed: scope this alerts file's incident")
    ap.add_argument("--incident", help="seed: the incident id (with --alerts)")
    ap.add_argument("--note-labels", type=Path, help="seed: labels from `vigile notes`")
    ap.add_argument("--sizes", help="spark-linkage: comma-separated file counts (a curve)")
    ap.add_argument("--driver-memory", default="6g", help="spark-linkage: JVM heap")
    ap.add_argument("--shuffle-partitions", type=int, help="spark-linkage: override")
    args = ap.parse_args()
    if args.what == "build-store":
        build_store()
    elif args.what == "scope":
        bench_scope(args.runs)
    elif args.what == "linkage":
        bench_linkage(
            args.runs, args.world, None if args.files == 1_000_000 else args.files, args.memory
        )
    elif args.what == "seed":
        if args.world is None or args.store is None:
            sys.exit("seed needs --world (a `vigile sim --preset seed` world) and --store")
        bench_seed(
            args.world,
            args.store,
            args.out,
            args.memory,
            args.backend,
            args.note_labels,
            args.alerts,
            args.incident,
        )
    else:
        if args.world is None:
            sys.exit("spark-linkage needs --world")
        sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [args.files]
        bench_spark_linkage(
            args.world, sizes, args.master, args.driver_memory, args.shuffle_partitions
        )


if __name__ == "__main__":
    main()
