"""The generation loop: world, context files, then day after day of events and truth.

Memory stays bounded: the world is numpy arrays, each day's events of all practices are
built, sorted and written before the next day starts (events spilling past midnight are
carried over), and context and truth files are streamed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from vigile.sim import rng
from vigile.sim.attacks import plan_attacks
from vigile.sim.batch import Columns, EventBatch, Tables
from vigile.sim.benign import plan_benign
from vigile.sim.clock import MS_DAY, format_ts, local_midnight_ms, offset_minutes
from vigile.sim.config import SimConfig
from vigile.sim.identity import (
    PATIENT_COLUMNS,
    PoolSeries,
    identity_frame,
    identity_lines,
    person_traits,
    record_variations,
)
from vigile.sim.notes import generate_note
from vigile.sim.scenario import Picker, Plan
from vigile.sim.stats import StatsCollector
from vigile.sim.traffic import SEARCH, Agenda, Appointments, PracticeDay, practice_day
from vigile.sim.world import FLAG_CANARY, FLAG_NOTE, FLAG_VIP, PID_BASE, World, build_world
from vigile.sim.writer import (
    ACTION_NAMES,
    EventSink,
    ParquetSink,
    Renderer,
    csv_text,
    event_id_expr,
    text_parts,
    ts_text,
    write_jsonl,
)

I64 = npt.NDArray[np.int64]
Progress = Callable[[str], None]
CHUNK = 200_000


def _return_freed_memory() -> None:
    """Ask glibc to serve large blocks with mmap so that freed arrays go back to the OS.

    glibc raises its mmap threshold after each large free (up to 32 MB), after which the
    world-building temporaries stay in the heap and the resident size never shrinks."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 16 * 1024 * 1024)  # M_MMAP_THRESHOLD: fixed, so no dynamic raise
    except (OSError, AttributeError):
        pass


def generate(cfg: SimConfig, out: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Generate a world into `out`; return (and write) its world.json summary."""
    say = progress or (lambda _m: None)
    _return_freed_memory()
    out.mkdir(parents=True, exist_ok=True)
    (out / "context").mkdir(exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    say("building the world")
    world = build_world(cfg)
    picker = Picker(world, rng.generator(cfg.seed, rng.STREAM_PLAN, 99))
    attacks = plan_attacks(world, picker)
    benign = plan_benign(world, picker)
    SEARCH.build(world)
    say(f"{len(world.practices)} practices, {len(world.pid):,} patient files; writing context")
    notes_summary = write_context(world, out)
    world.drop_identity()  # identities are written; traffic needs no persons or towns
    say("writing events")
    tasks: dict[tuple[int, int], list[Any]] = {}
    for plan in attacks + benign:
        for key, ts in plan.tasks.items():
            tasks.setdefault(key, []).extend(ts)
    summary = run_days(world, out, tasks, attacks + benign, say)
    write_truth_plans(world, out, attacks, benign, summary)
    say("done")
    counts = {
        "practices": len(world.practices),
        "doctors": sum(1 for a in world.actors if a.role == "doctor"),
        "secretaries": sum(1 for a in world.actors if a.role == "secretary"),
        "locums": sum(1 for a in world.actors if a.role == "locum"),
        "accounts": len(world.actors),
        "patient_files": len(world.pid),
        "persons": world.n_persons,
        "vip_files": int(((world.flags & FLAG_VIP) != 0).sum()),
        "canary_files": int(((world.flags & FLAG_CANARY) != 0).sum()),
        **notes_summary,
        "events": summary["events"],
        "attack_events": summary["attack_events"],
        "benign_events": summary["benign_events"],
        "appointments": summary["appointments"],
        "attacks": len(attacks),
        "benign_cases": len(benign),
    }
    stats = summary["stats"]
    stats["duplicate_person_ratio"] = round(len(world.pid) / max(1, world.n_persons), 4)
    stats["files_with_notes_share"] = round(notes_summary["files_with_notes"] / len(world.pid), 5)
    stats["persons_with_notes_share"] = round(
        notes_summary["persons_with_notes"] / max(1, world.n_persons), 5
    )
    stats["sensitive_note_share"] = round(
        notes_summary["sensitive_notes"] / max(1, notes_summary["notes"]), 4
    )
    doc = {
        "format": "vigile-sim-world/1",
        "preset": cfg.preset,
        "seed": cfg.seed,
        "timezone": "Europe/Paris",
        "start": cfg.start,
        "end": (world.start + dt.timedelta(days=cfg.days)).isoformat(),
        "days": cfg.days,
        "events_file": summary["events_file"],
        "context_dir": "context",
        "counts": counts,
        "stats": stats,
        "active_account_days": summary["active_account_days"],
        "config": cfg.to_dict(),
    }
    import orjson

    (out / "world.json").write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    return doc


# ------------------------------------------------------------------ context files


def write_context(world: World, out: Path) -> dict[str, int]:
    """actors.csv, patients.csv, canaries.csv, annotations.csv; truth persons and notes."""
    ctx_dir, truth = out / "context", out / "truth"
    actors = pl.DataFrame(
        {
            "actor": [a.actor for a in world.actors],
            "tenant": [world.practices[a.practice].tenant for a in world.actors],
            "role": [a.role for a in world.actors],
            "created": [a.created.isoformat() for a in world.actors],
        }
    )
    (ctx_dir / "actors.csv").write_bytes(csv_text(actors))
    tenants = pl.Series([p.tenant for p in world.practices], dtype=pl.String)
    ps = PoolSeries.of(world.pools)
    ref_day = (world.start - dt.date(1900, 1, 1)).days
    step = 1 << 16  # blocks that keep the hashing's temporaries in the CPU caches
    with open(ctx_dir / "patients.csv", "wb") as fp, open(truth / "persons.csv", "wb") as fq:
        for a in range(0, len(world.pid), step):
            b = min(len(world.pid), a + step)
            person = world.person[a:b]
            base = person_traits(world.cfg.seed, person, world.home_town[a:b], ref_day, world.pools)
            ids = record_variations(
                world.cfg.seed,
                world.pid[a:b],
                base,
                world.is_dup[a:b],
                len(world.pools.towns),
                world.home_town[a:b],
            )
            tenant_of = tenants.gather(world.practice_of[a:b])
            vip = (world.flags[a:b] & FLAG_VIP) != 0
            fast = identity_lines(ids, ps, world.pid[a:b], tenant_of, vip)
            if fast is None:
                df = identity_frame(ids, ps, world.pid[a:b], tenant_of, vip)
                patient_id = df.get_column("patient_id")
                df.write_csv(fp, include_header=a == 0)
            else:
                patient_id, lines = fast
                if a == 0:
                    fp.write((",".join(PATIENT_COLUMNS) + "\n").encode())
                fp.writelines(text_parts(lines))
            del ids, base
            per = pl.DataFrame({"patient_id": patient_id, "person": person}).select(
                pl.concat_str(
                    [pl.col("patient_id"), pl.lit(",H"), pl.col("person").cast(pl.String)]
                ).alias("line")
            )
            if a == 0:
                fq.write(b"patient_id,person_id\n")
            per.write_csv(fq, include_header=False, quote_style="never")
    can = np.flatnonzero(world.flags & FLAG_CANARY)
    canaries = pl.DataFrame(
        {
            "patient_id": [f"P{v}" for v in world.pid[can]],
            "tenant": tenants.gather(world.practice_of[can]),
        }
    )
    (ctx_dir / "canaries.csv").write_bytes(csv_text(canaries))
    (truth / "canaries.csv").write_bytes(csv_text(canaries))
    return _write_notes(world, out)


def _write_notes(world: World, out: Path) -> dict[str, int]:
    cfg = world.cfg
    noted = np.flatnonzero(world.flags & FLAG_NOTE)
    r = random.Random(cfg.seed * 7919 + 17)
    u = rng.hash_unit(cfg.seed, 230, world.pid[noted])
    n_notes = np.where(u < 0.76, 1, np.where(u < 0.94, 2, 3))
    ids, pats, tens, authors, created, texts = [], [], [], [], [], []
    sens_l, cats_l = [], []
    start_ms = local_midnight_ms(world.start)
    persons_with_notes = len(np.unique(world.person[noted]))
    k = 0
    for i, cnt in zip(noted.tolist(), n_notes.tolist(), strict=True):
        p = int(world.practice_of[i])
        pr = world.practices[p]
        for _ in range(int(cnt)):
            k += 1
            sensitive = r.random() < cfg.sensitive_share
            text, cats = generate_note(r, sensitive)
            staff = pr.doctors + pr.secretaries if not sensitive else pr.doctors
            authors.append(world.actors[staff[r.randrange(len(staff))]].actor)
            ids.append(f"N{k:08d}")
            pats.append(f"P{world.pid[i]}")
            tens.append(pr.tenant)
            created.append(
                format_ts(
                    start_ms
                    - r.randrange(3, 3000) * MS_DAY
                    + r.randrange(8 * 3_600_000, 19 * 3_600_000)
                )
            )
            texts.append(text)
            sens_l.append(1 if cats else 0)
            cats_l.append(";".join(cats))
    ann = pl.DataFrame(
        {
            "annotation_id": ids,
            "patient_id": pats,
            "tenant": tens,
            "author": authors,
            "created": created,
            "text": texts,
        },
        schema={
            c: pl.String
            for c in ("annotation_id", "patient_id", "tenant", "author", "created", "text")
        },
    )
    (out / "context" / "annotations.csv").write_bytes(csv_text(ann))
    lab = pl.DataFrame(
        {"annotation_id": ids, "sensitive": sens_l, "categories": cats_l},
        schema={"annotation_id": pl.String, "sensitive": pl.Int8, "categories": pl.String},
    )
    (out / "truth" / "notes.csv").write_bytes(csv_text(lab))
    return {
        "notes": k,
        "files_with_notes": len(noted),
        "persons_with_notes": persons_with_notes,
        "sensitive_notes": int(sum(sens_l)),
    }


# ------------------------------------------------------------------ events


class DayWriter:
    """Writes sorted days of events, the truth rows of tagged events, and statistics."""

    def __init__(
        self, world: World, out: Path, tables: Tables, plans: list[Plan], stats: StatsCollector
    ) -> None:
        import pyarrow as pa

        cfg = world.cfg
        self.world, self.tables, self.stats = world, tables, stats
        self.renderer = Renderer(tables, cfg.seed)
        name = "events.jsonl.gz" if cfg.gzip else "events.jsonl"
        self.sink = EventSink(out / name, cfg.gzip, cfg.gzip_level)
        ev = pa.schema(
            [
                ("case", pa.string()),
                ("event_id", pa.string()),
                ("ts", pa.string()),
                ("tenant", pa.string()),
                ("actor", pa.string()),
                ("action", pa.string()),
                ("status", pa.int32()),
                ("records", pa.int32()),
            ]
        )
        ex = pa.schema(
            [
                ("case", pa.string()),
                ("event_id", pa.string()),
                ("ts", pa.string()),
                ("tenant", pa.string()),
                ("actor", pa.string()),
                ("patient_id", pa.string()),
            ]
        )
        self.att_ev = ParquetSink(out / "truth" / "attack_events.parquet", ev)
        self.att_ex = ParquetSink(out / "truth" / "attack_exposures.parquet", ex)
        self.ben_ev = ParquetSink(out / "truth" / "benign_events.parquet", ev)
        tags = sorted(p.tag for p in plans)
        self.tag_lo = min([*tags, 0])
        ids = {p.tag: p.ident for p in plans}
        self.case_names = pl.Series(
            [ids.get(k, "") for k in range(self.tag_lo, max([*tags, 0]) + 1)]
        )
        self.next_no = 1

    def write(self, day: Columns) -> None:
        """Write one local day of sorted events."""
        if len(day) == 0:
            return
        off = offset_minutes(day.ts)
        self.stats.written_day(day)
        first = self.next_no
        for a in range(0, len(day), CHUNK):
            b = min(len(day), a + CHUNK)
            part = day.slice(a, b)
            lines = self.renderer.lines(part, off[a:b], first + a)
            self.sink.write(text_parts(lines), b - a)
            del lines
            tagged = np.flatnonzero(part.tag != 0)
            if len(tagged):
                self._truth(part.take(tagged), off[a:b][tagged], first + a + tagged)
        self.next_no = first + len(day)

    def _truth(self, sub: Columns, off: I64, nos: I64) -> None:
        names = self.renderer
        df = pl.DataFrame(
            {
                "case": self.case_names.gather(sub.tag - self.tag_lo),
                "no": nos,
                "ts": ts_text(sub.ts + off * 60_000, off),
                "tenant": names.strings("tenant").gather(sub.tenant),
                "actor": names.strings("actor").gather(sub.actor),
                "action": ACTION_NAMES.gather(sub.kind),
                "status": sub.status.astype(np.int32),
                "records": sub.records.astype(np.int32),
                "tag": sub.tag,
                "t": sub.ts,
            }
        ).select(
            "case",
            event_id_expr("no").alias("event_id"),
            "ts",
            "tenant",
            "actor",
            "action",
            "status",
            "records",
            "tag",
            "t",
        )
        self.att_ev.write(df.filter(pl.col("tag") > 0).drop("tag", "t").to_arrow())
        self.ben_ev.write(df.filter(pl.col("tag") < 0).drop("tag", "t").to_arrow())
        served = (sub.tag > 0) & (sub.status < 300) & (sub.counts > 0)
        if served.any():
            idx = np.flatnonzero(served)
            starts = sub.starts()
            offs = np.zeros(len(idx) + 1, dtype=np.int64)
            np.cumsum(sub.counts[idx], out=offs[1:])
            vidx = np.repeat(starts[idx] - offs[:-1], sub.counts[idx]) + np.arange(int(offs[-1]))
            rep = np.repeat(idx, sub.counts[idx])
            ex = df.select("case", "event_id", "ts", "tenant", "actor")[rep].with_columns(
                pl.Series("pid", sub.values[vidx])
            )
            ex = ex.with_columns(pl.format("P{}", "pid").alias("patient_id")).drop("pid")
            self.att_ex.write(ex.to_arrow())
        self.stats.cases_day(df)

    def close(self) -> None:
        """Close every file."""
        self.sink.close()
        for s in (self.att_ev, self.att_ex, self.ben_ev):
            s.close()


def run_days(
    world: World,
    out: Path,
    tasks: dict[tuple[int, int], list[Any]],
    plans: list[Plan],
    say: Progress,
) -> dict[str, Any]:
    """Generate, sort and write every day's events and their truth rows."""
    cfg = world.cfg
    tables = Tables(cfg.seed)
    tables.tenants = [p.tenant for p in world.practices]
    tables.actors = [a.actor for a in world.actors]
    agendas = [Agenda(world, p) for p in range(len(world.practices))]
    stats = StatsCollector(world)
    writer = DayWriter(world, out, tables, plans, stats)
    appt_f = open(out / "context" / "appointments.csv", "wb")  # noqa: SIM115
    appt_f.write(b"tenant,actor,patient_id,start\n")
    n_appts = 0
    carry: Columns | None = None
    prev_cut = -(1 << 62)
    for t, date in enumerate(world.days):
        old_queries = tables.queries
        tables.reset_queries()
        if carry is not None and len(carry):
            # events carried past midnight refer to yesterday's query table
            carry.query = tables.requery(old_queries, carry.query)
        mid = local_midnight_ms(date)
        cut = local_midnight_ms(date + dt.timedelta(days=1))
        parts: list[Columns] = [] if carry is None else [carry]
        appt_rows: list[tuple[int, Appointments]] = []
        for p in range(len(world.practices)):
            ag = agendas[p]
            ctx = PracticeDay(
                world,
                p,
                t,
                date,
                mid,
                tables,
                EventBatch(),
                rng.generator(cfg.seed, rng.STREAM_TRAFFIC, p, t),
                ag,
            )
            practice_day(ctx)
            for task in tasks.get((p, t), []):
                task.run(ctx)
            cols = ctx.batch.columns()
            stats.practice_day(cols, ag.pids_between(t - 1, t + 1), ag.pids_between(t - 14, t + 1))
            parts.append(cols)
            appt_rows.append((p, ag.get(t)))
            ag.forget_before(t - 1)
        n_appts += _write_appointments(appt_f, world, appt_rows)
        day = Columns.concat(parts)
        del parts
        day = day.take(time_order(day.ts))
        if len(day) and int(day.ts[0]) < prev_cut:
            raise RuntimeError("an event fell before an already written day")
        n_now = int(np.searchsorted(day.ts, cut))
        writer.write(day.slice(0, n_now))
        carry = day.take(np.arange(n_now, len(day)))
        del day
        prev_cut = cut
        say(f"{date.isoformat()}: {n_now:,} events")
    if carry is not None and len(carry):
        writer.write(carry)
    # appointments booked inside the window for the days after it
    for p in range(len(world.practices)):
        rows = [
            (p, agendas[p].get(tt))
            for tt in range(cfg.days, cfg.days + cfg.booking_horizon_days + 1)
        ]
        n_appts += _write_appointments(appt_f, world, rows)
    appt_f.close()
    writer.close()
    return {
        "events": writer.sink.count,
        "events_file": writer.sink.path.name,
        "attack_events": writer.att_ev.rows,
        "benign_events": writer.ben_ev.rows,
        "appointments": n_appts,
        "stats": stats.summary(),
        "active_account_days": stats.active_account_days,
        "cases": stats.cases,
    }


def time_order(ts: I64) -> I64:
    """`np.argsort(ts, kind="stable")`: timestamps shifted left past the event's position
    make distinct keys, which the default (SIMD) sort orders 3-5x faster."""
    n = len(ts)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    lo = int(ts.min())
    if n >= 1 << 23 or int(ts.max()) - lo >= 1 << 39:
        return np.argsort(ts, kind="stable").astype(np.int64)
    key = (ts - lo) << 23
    key |= np.arange(n, dtype=np.int64)
    order: I64 = np.argsort(key)
    return order


def _write_appointments(f: IO[bytes], world: World, rows: list[tuple[int, Appointments]]) -> int:
    """Append appointments (tenant, actor, patient, start) to appointments.csv."""
    rows = [(p, a) for p, a in rows if len(a)]
    if not rows:
        return 0
    tenant = np.concatenate([np.full(len(a), p, dtype=np.int64) for p, a in rows])
    actor = np.concatenate([a.actor for _, a in rows])
    pid = np.concatenate([a.pid for _, a in rows])
    start = np.concatenate([a.start for _, a in rows])
    off = offset_minutes(start)
    df = pl.DataFrame(
        {
            "tenant": pl.Series([p.tenant for p in world.practices]).gather(tenant),
            "actor": pl.Series([a.actor for a in world.actors]).gather(actor),
            "pid": pid,
            "start": ts_text(start + off * 60_000, off),
        }
    ).select(
        "tenant",
        "actor",
        pl.format("P{}", "pid").alias("patient_id"),
        "start",
    )
    f.write(csv_text(df, header=False))
    return len(df)


def write_truth_plans(
    world: World, out: Path, attacks: list[Plan], benign: list[Plan], summary: dict[str, Any]
) -> None:
    """attacks.jsonl and benign.jsonl with the observed start/end of every case."""
    cases = summary["cases"]

    def row(p: Plan) -> dict[str, Any]:
        c = cases.get(p.ident, {})
        return {
            "id": p.ident,
            "kind": p.kind,
            "accounts": [list(a) for a in p.accounts],
            "start": c.get("start"),
            "end": c.get("end"),
            "events": c.get("events", 0),
            "records": c.get("records", 0),
            "params": _plain(p.params),
        }

    write_jsonl(out / "truth" / "attacks.jsonl", [row(p) for p in attacks])
    write_jsonl(out / "truth" / "benign.jsonl", [row(p) for p in benign])


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


__all__ = ["PID_BASE", "generate"]
