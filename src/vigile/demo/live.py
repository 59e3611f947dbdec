"""The live chapter of ``vigile demo``: stop an attack inline, on a real application.

:func:`run_live` starts two real servers on the loopback interface — ``vigile
serve`` (detection and decisions) and the reference practice application
protected by vigile's middleware — seeds the application from a simulated world,
and then, on a clock that runs a working morning in about two minutes:

1. replays the world's genuine doctors, locums and secretaries over HTTP (every
   request at its time, from its address, with its client);
2. sends in an attacker with stolen credentials: first a script paging the whole
   patient list, then the seed case's campaign over several doctors' accounts in
   several practices (the genuine client's user agent, rotating residential
   addresses, files in id order at a steady pace);
3. shows alerts and decisions as vigile makes them;
4. ends with what each attack obtained before it was stopped, and what the
   genuine users got (they must never be refused).

Detection warms up on the world's earlier days first (its baselines), exactly
as a deployed vigile would have learnt them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigile.demo.app.attack import AttackResult, bulk_paging, campaign_account
from vigile.demo.app.replay import Replayer
from vigile.demo.app.seed import load_passwords
from vigile.events import AccessEvent
from vigile.parsers.jsonl import render_jsonl
from vigile.respond.clock import ScaledClock
from vigile.web.server import free_port

__all__ = ["LiveSetup", "Stack", "prepare", "run_live", "start_stack"]

PARIS: Final = ZoneInfo("Europe/Paris")
GENUINE_AGENT: Final = "MedPratic/7.4.2 (Windows NT 10.0; Win64)"
#: a campaign account reads until vigile stops it, or this many files: the figure is
#: "files read before being stopped", so the attack must not end on the demo's clock
#: (on a slow machine fewer requests fit in the window, and the attacker would just go on)
_CAMPAIGN_FILES: Final = 300
_SEVERITY_STYLE: Final = {"low": "dim", "medium": "yellow", "high": "bold red",
                          "critical": "bold white on red"}  # fmt: skip


@dataclass
class LiveSetup:
    """A world, the application's database seeded from it, and the live files."""

    root: Path
    world: Path
    app_db: str
    passwords: Path
    note_key: str

    @property
    def context(self) -> Path:
        return self.world / "context"


def prepare(
    root: Path, seed: int, *, world: Path | None = None, overrides: dict[str, Any] | None = None
) -> LiveSetup:
    """Generate (or reuse) a world and seed the reference application from it."""
    from vigile.demo.app.db import Database
    from vigile.demo.app.security import NoteCipher, new_note_key
    from vigile.demo.app.seed import seed as seed_app

    root.mkdir(parents=True, exist_ok=True)
    if world is None or not (world / "world.json").exists():
        world = root / "world"
        if not (world / "world.json").exists():
            from vigile.sim.config import apply_overrides
            from vigile.sim.generate import generate
            from vigile.sim.presets import preset_config

            cfg = preset_config("small", seed=seed)
            if overrides:
                cfg = apply_overrides(cfg, overrides)
            generate(cfg, world)
    key = new_note_key()
    db_path = root / "practice.db"
    for stale in root.glob("practice.db*"):
        stale.unlink()
    database = Database(f"sqlite:///{db_path}")
    seed_app(database, world / "context", passwords_out=root / "passwords.csv",
             cipher=NoteCipher(key))  # fmt: skip
    database.close()
    return LiveSetup(root, world, f"sqlite:///{db_path}", root / "passwords.csv", key)


@dataclass
class Stack:
    """The two servers and what it takes to talk to them."""

    vigile_url: str
    app_url: str
    admin_token: str
    clock: ScaledClock
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the servers this stack started (by their process ids)."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait_health(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited ({proc.returncode}); see {log}:\n"
                               + log.read_text()[-2000:])  # fmt: skip
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer /health within {timeout:.0f} s; see {log}")


def start_stack(
    setup: LiveSetup,
    clock: ScaledClock,
    *,
    history: Path | None = None,
    policy: Path | None = None,
    extra_vigile: list[str] | None = None,
) -> Stack:
    """Start ``vigile serve`` and the protected application as separate processes."""
    from vigile.respond.state import open_state
    from vigile.web.auth import create_token

    root = setup.root
    state_url = f"sqlite:///{root / 'vigile-state.db'}"
    for stale in root.glob("vigile-state.db*"):
        stale.unlink()
    pepper = secrets.token_urlsafe(24)
    env = {**os.environ, "VIGILE_TOKEN_PEPPER": pepper, "VIGILE_APP_NOTE_KEY": setup.note_key}
    st = open_state(state_url)
    os.environ["VIGILE_TOKEN_PEPPER"] = pepper
    try:
        app_token, _ = create_token(st, "practice-app", ["ingest", "decide"], now=time.time())
        admin_token, _ = create_token(st, "demo-analyst", ["admin"], now=time.time())
    finally:
        os.environ.pop("VIGILE_TOKEN_PEPPER", None)
        st.close()
    vport, aport = free_port(), free_port()
    vigile_url, app_url = f"http://127.0.0.1:{vport}", f"http://127.0.0.1:{aport}"
    stack = Stack(vigile_url, app_url, admin_token, clock)
    vlog, alog = root / "vigile.log", root / "app.log"
    cmd = [
        sys.executable, "-m", "vigile", "serve", "--host", "127.0.0.1", "--port", str(vport),
        "--state", state_url, "--context", str(setup.context), "--clock", clock.spec(),
        "--quarantine", str(root / "quarantine.jsonl"),
    ]  # fmt: skip
    if history is not None:
        cmd += ["--history", str(history)]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    cmd += extra_vigile or []
    with open(vlog, "wb") as out:
        stack.processes.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
    try:
        _wait_health(vigile_url, stack.processes[0], vlog, 120)
        app_cmd = [
            sys.executable, "-m", "vigile", "app", "serve", "--db", setup.app_db,
            "--host", "127.0.0.1", "--port", str(aport), "--vigile-url", vigile_url,
            "--forwarded-allow-ips", "127.0.0.1", "--clock", clock.spec(),
        ]  # fmt: skip
        with open(alog, "wb") as out:
            stack.processes.append(
                subprocess.Popen(
                    app_cmd, stdout=out, stderr=subprocess.STDOUT,
                    env={**env, "VIGILE_APP_TOKEN": app_token},
                )
            )  # fmt: skip
        _wait_health(app_url, stack.processes[1], alog, 60)
    except BaseException:
        stack.stop()
        raise
    return stack


def _window(world: Path, day: int, start_hour: float, end_hour: float) -> tuple[float, float]:
    meta = orjson.loads((world / "world.json").read_bytes())
    first = datetime.fromisoformat(str(meta.get("start") or meta["config"]["start"]))
    base = datetime(first.year, first.month, first.day, tzinfo=PARIS) + timedelta(days=day)
    return (
        (base + timedelta(hours=start_hour)).timestamp(),
        (base + timedelta(hours=end_hour)).timestamp(),
    )


def split_events(world: Path, start: float, end: float, history: Path) -> list[AccessEvent]:
    """Genuine events before ``start`` go to ``history``; those in the window are returned.

    The world's own attacks are left out: the attacker of the live chapter is ours.
    """
    import polars as pl

    from vigile.stream import EventReader

    attack_ids: set[str] = set()
    attacks = world / "truth" / "attack_events.parquet"
    if attacks.exists():
        attack_ids = set(pl.read_parquet(attacks, columns=["event_id"])["event_id"].to_list())
    window: list[AccessEvent] = []
    with open(history, "wb") as out:
        for ev in EventReader([world / "events.jsonl"], "jsonl"):
            if ev.event_id in attack_ids:
                continue
            t = ev.ts.timestamp()
            if t < start:
                out.write(render_jsonl(ev) + b"\n")
            elif t < end:
                window.append(ev)
            else:
                break
    return window


class _Watcher:
    """Prints alerts and decisions as vigile makes them (polls the API)."""

    def __init__(self, stack: Stack, console: Console) -> None:
        self.stack = stack
        self.console = console
        self.alerts: list[dict[str, Any]] = []
        self.decisions: dict[str, dict[str, Any]] = {}
        self._seen: set[str] = set()

    def _when(self, iso: str | None) -> str:
        if not iso:
            return "--:--"
        return (
            datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(PARIS).strftime("%H:%M")
        )

    async def run(self, stop: asyncio.Event) -> None:
        headers = {"authorization": f"Bearer {self.stack.admin_token}"}
        cursor = 0
        async with httpx.AsyncClient(base_url=self.stack.vigile_url, headers=headers,
                                     timeout=10) as client:  # fmt: skip
            while True:
                try:
                    await self._poll(client, cursor)
                    page = (
                        await client.get("/v1/decisions/stream", params={"since": cursor or 1,
                                                                         "wait": 0.5})
                    ).json()  # fmt: skip
                    for d in page["decisions"]:
                        self._decision(d)
                    cursor = max(cursor, int(page["cursor"]))
                except httpx.HTTPError:
                    pass
                if stop.is_set():
                    await self._poll(client, cursor)
                    return
                await asyncio.sleep(0.2)

    async def _poll(self, client: httpx.AsyncClient, cursor: int) -> None:
        items = (await client.get("/v1/alerts", params={"limit": 500})).json()["alerts"]
        for a in reversed(items):
            if a["alert_id"] in self._seen:
                continue
            self._seen.add(a["alert_id"])
            self.alerts.append(a)
            if a["severity"] == "low":
                continue
            style = _SEVERITY_STYLE.get(a["severity"], "")
            reason = a["reasons"][0] if a["reasons"] else ""
            self.console.print(
                f"  {self._when(a['ts'])}  [{style}]{a['severity']:>8}[/] "
                f"{escape(a['detector'])}  {escape(a['tenant'])}/{escape(a['actor'])}"
                + (f"  [magenta]incident {escape(a['incident'])}[/]" if a["incident"] else "")
                + f"\n{'':17}[dim]{escape(reason[:110])}[/]",
                highlight=False,
            )
        if cursor == 0:
            page = (await client.get("/v1/decisions/stream")).json()
            for d in page["decisions"]:
                self._decision(d)

    def _decision(self, d: dict[str, Any]) -> None:
        first = d["id"] not in self.decisions
        self.decisions[d["id"]] = d
        if not first:
            return
        if d.get("revoked"):
            return
        verb = {"block": "[bold red]BLOCK[/]", "throttle": "[yellow]THROTTLE[/]"}.get(
            d["decision"], d["decision"]
        )
        spare = " except its known places" if d.get("except_known_places") else ""
        self.console.print(
            f"  {self._when(d['created'])}  {verb} {d['scope']} {escape(d['value'])}{spare}"
            f"  [dim]({escape(d['origin'])}, {self._for(d['created'], d['until'])})[/]",
            highlight=False,
        )

    @staticmethod
    def _for(created: str | None, until: str | None) -> str:
        if not created or not until:
            return "until lifted"
        a = datetime.fromisoformat(created.replace("Z", "+00:00"))
        b = datetime.fromisoformat(until.replace("Z", "+00:00"))
        return f"for {(b - a).total_seconds() / 3600:g} h"


def _pick_accounts(
    passwords: dict[str, tuple[str, str, str]], window: list[AccessEvent], n: int
) -> tuple[str, list[str]]:
    """A victim for the paging script, and ``n`` doctors in other practices for the campaign.

    Victims are doctors who work in the replayed window (their stolen passwords are
    used while they work: the genuine doctor and the attacker side by side).
    """
    active = {ev.actor for ev in window}
    doctors = sorted(a for a, (_, role, _) in passwords.items() if role == "doctor")
    working = [a for a in doctors if a in active] or doctors
    by_tenant: dict[str, str] = {}
    for actor in working:
        by_tenant.setdefault(passwords[actor][0], actor)
    tenants = sorted(by_tenant)
    pager = by_tenant[tenants[0]]
    campaign = [by_tenant[t] for t in tenants[1 : 1 + n]]
    return pager, campaign


async def _live(
    setup: LiveSetup,
    stack: Stack,
    window: list[AccessEvent],
    console: Console,
    *,
    attack_at: float,
    campaign_at: float,
    campaign_accounts: int,
    end: float,
) -> dict[str, Any]:
    clock = stack.clock
    passwords = load_passwords(setup.passwords)
    replayer = Replayer(stack.app_url, passwords, clock)
    stop = asyncio.Event()
    watcher = _Watcher(stack, console)
    pager, campaigners = _pick_accounts(passwords, window, campaign_accounts)
    file_ids = _file_ids(setup.context, {passwords[a][0] for a in campaigners})

    async def at(virtual: float) -> None:
        await asyncio.sleep(max(0.0, clock.wall_at(virtual) - time.time()))

    async def attacks() -> list[AttackResult]:
        await at(attack_at)
        tenant, _, pw = passwords[pager]
        console.print(
            f"  [bold]{_hm(clock())}  attacker[/]: stolen password of {tenant}/{pager}, "
            "a script paging the whole patient list from 185.220.101.47"
        )
        results = [await bulk_paging(stack.app_url, pager, tenant, pw, clock)]
        await at(campaign_at)
        console.print(
            f"  [bold]{_hm(clock())}  attacker[/]: the campaign — {len(campaigners)} doctors' "
            "accounts in as many practices, the genuine client, home addresses, every file "
            "in id order"
        )
        from vigile.sim.attacks import DEFAULTS  # the campaign as the simulator plays it

        prm = DEFAULTS["campaign"]
        jobs = []
        for i, actor in enumerate(campaigners):
            tenant, _, pw = passwords[actor]
            ips = [f"{82 + i}.{64 + k}.{17 * (i + 1) % 250}.{11 + 7 * k}" for k in range(6)]
            jobs.append(_delayed(
                clock.wall_seconds(240.0 * i),
                campaign_account(stack.app_url, actor, tenant, pw, clock, ips=ips,
                                 agent=str(prm.get("user_agent") or GENUINE_AGENT),
                                 rate_per_hour=float(prm.get("rate_per_hour", 60.0)),
                                 rotate_every=int(prm.get("rotate_every", 0)),
                                 ids=file_ids.get(tenant, []), max_files=_CAMPAIGN_FILES),
            ))  # fmt: skip
        results += await asyncio.gather(*jobs)
        return results

    async def finish() -> None:
        await at(end)
        stop.set()

    watch_task = asyncio.create_task(watcher.run(stop))
    finish_task = asyncio.create_task(finish())
    attack_task = asyncio.create_task(attacks())
    await replayer.run(window, stop)
    results = await attack_task
    stop.set()
    finish_task.cancel()
    await watch_task
    return {"replay": replayer.stats, "attacks": results, "watcher": watcher}


def _file_ids(context: Path, tenants: set[str]) -> dict[str, list[str]]:
    """Each practice's file ids in id order: what the campaign reads (as in the simulator,
    the attacker has the list; reading it through the list endpoint is the bulk attack)."""
    import polars as pl

    frame = (
        pl.scan_csv(context / "patients.csv", infer_schema_length=0)
        .select("patient_id", "tenant")
        .filter(pl.col("tenant").is_in(sorted(tenants)))
        .sort("patient_id")
        .collect()
    )
    out: dict[str, list[str]] = {}
    for pid, tenant in frame.iter_rows():
        out.setdefault(tenant, []).append(pid)
    return out


async def _delayed(seconds: float, job: Any) -> AttackResult:
    await asyncio.sleep(seconds)
    result: AttackResult = await job
    return result


def _hm(t: float) -> str:
    return datetime.fromtimestamp(t, PARIS).strftime("%H:%M")


def run_live(
    out: Path,
    console: Console,
    seed: int,
    *,
    world: Path | None = None,
    speed: float = 150.0,
    day: int = 4,
    start_hour: float = 7.5,
    end_hour: float = 11.0,
    attack_hour: float = 9.0,
    campaign_hour: float = 9.25,
    campaign_accounts: int = 5,
    overrides: dict[str, Any] | None = None,
    vigile_args: list[str] | None = None,
) -> dict[str, Any]:
    """The live chapter (see the module docstring); returns its figures.

    ``world`` reuses a world made earlier (``out/world`` is tried by default);
    otherwise the ``small`` preset is generated with ``seed`` (and ``overrides``).
    ``vigile_args`` are passed to ``vigile serve`` (``["--rules", DIR]``...).
    """
    root = out / "live"
    if root.exists():
        shutil.rmtree(root)
    console.print(
        "[bold]5. Stop it inline[/] — vigile and the practice application, two real servers on "
        "this machine; genuine users, then an attacker with stolen passwords, over real HTTP."
    )
    started = time.perf_counter()
    world_dir = world if world is not None else out / "world"
    reuse = world_dir if (world_dir / "world.json").exists() else None
    setup = prepare(root, seed, world=reuse, overrides=overrides)
    console.print(
        f"  application seeded from {setup.world} ({time.perf_counter() - started:.0f} s)"
    )
    start, end = _window(setup.world, day, start_hour, end_hour)
    history = root / "history.jsonl"
    window = split_events(setup.world, start, end, history)
    clock = ScaledClock(origin=start, wall_origin=time.time() + 5.0, speed=speed)
    stack = start_stack(setup, clock, history=history, extra_vigile=vigile_args)
    base = datetime.fromtimestamp(start, PARIS)
    console.print(
        f"  vigile {stack.vigile_url} · application {stack.app_url} · "
        f"{base:%A %d %B %Y}, {start_hour:g} h → {end_hour:g} h at ×{speed:g} "
        f"({len(window):,} genuine requests to replay)"
    )
    try:
        day0 = datetime.fromtimestamp(start, PARIS).replace(hour=0, minute=0, second=0)
        outcome = asyncio.run(
            _live(
                setup, stack, window, console,
                attack_at=(day0 + timedelta(hours=attack_hour)).timestamp(),
                campaign_at=(day0 + timedelta(hours=campaign_hour)).timestamp(),
                campaign_accounts=campaign_accounts,
                end=end,
            )
        )  # fmt: skip
        status = httpx.get(
            stack.vigile_url + "/v1/status",
            headers={"authorization": f"Bearer {stack.admin_token}"},
            timeout=10,
        ).json()
    finally:
        stack.stop()
    return _report(console, outcome, status, time.perf_counter() - started, root)


def _report(
    console: Console, outcome: dict[str, Any], status: dict[str, Any], seconds: float, root: Path
) -> dict[str, Any]:
    results: list[AttackResult] = outcome["attacks"]
    replay = outcome["replay"].as_dict()
    watcher: _Watcher = outcome["watcher"]
    table = Table(title="what each attack obtained before it was stopped", title_justify="left")
    for col in ("attack", "account", "patient files", "records served", "requests",
                "stopped", "after"):  # fmt: skip
        table.add_column(col, justify="right" if col not in ("attack", "account") else "left")
    for r in results:
        d = r.as_dict()
        table.add_row(
            r.kind, r.account, f"{len(r.patients):,}", f"{r.records:,}", f"{r.requests:,}",
            "[green]yes[/]" if r.stopped else "[red]no[/]",
            f"{d['minutes_to_stop']} min" if d["minutes_to_stop"] is not None else "—",
        )  # fmt: skip
    console.print(table)
    bulk = [r for r in results if r.kind == "bulk paging"]
    camp = [r for r in results if r.kind == "campaign"]
    camp_files = [len(r.patients) for r in camp]
    median = statistics.median(camp_files) if camp_files else None
    console.print(
        f"  genuine users: {replay['requests']:,} requests, "
        f"[{'green' if replay['refused_by_vigile'] == 0 else 'red'}]"
        f"{replay['refused_by_vigile']} refused by vigile[/], "
        f"latency p50 {replay['latency_ms']['p50']} ms / p99 {replay['latency_ms']['p99']} ms; "
        f"{len(watcher.alerts)} alerts, {len(watcher.decisions)} decisions; {seconds:.0f} s"
    )
    figures: dict[str, Any] = {
        "bulk_paging": {
            "patients": len(bulk[0].patients) if bulk else None,
            "records": bulk[0].records if bulk else None,
            "stopped": bool(bulk and bulk[0].stopped),
        },
        "campaign": {
            "accounts": [r.as_dict() for r in camp],
            "median_patients": median,
            "all_stopped": all(r.stopped for r in camp),
        },
        "genuine": replay,
        "alerts": len(watcher.alerts),
        "alerts_by_severity": _count(a["severity"] for a in watcher.alerts),
        "decisions": len(watcher.decisions),
        "vigile": status,
        "seconds": round(seconds, 1),
    }
    (root / "live.json").write_bytes(
        orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    return figures


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
