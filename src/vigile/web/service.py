"""What ``vigile serve`` runs: ingest → detection → policy → decisions, as one service.

Wiring only: parsing is :mod:`vigile.parsers`, detection :mod:`vigile.detect`,
decisions :mod:`vigile.respond`. The :class:`Service` owns them for the life of
the process and gives the HTTP layer (:mod:`vigile.web.api`) a few coroutines.

Everything that touches the detection engine runs on the event loop's thread,
one event at a time, so the engine needs no lock; a large batch yields to the
loop every few hundred events so that decision requests are answered meanwhile.
Files given with ``--tail`` are followed by tasks on the same loop (rotation and
truncation handled).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from vigile.errors import ParseError, VigileError
from vigile.events import AccessEvent, Alert
from vigile.parsers import Parser, ParserOptions, make_parser
from vigile.respond.clock import Clock, parse_clock
from vigile.respond.guard import AlertOutcome, AlertSource, Guard
from vigile.respond.policy import load_policy
from vigile.respond.shared import RedisShared
from vigile.respond.state import DecisionRecord, StateStore, open_state

__all__ = ["IngestResult", "ServeConfig", "Service", "build_detector"]

log = logging.getLogger("vigile.web")

#: events processed between two yields to the event loop
_SLICE: Final = 256
#: reported bad lines per response (all are counted and quarantined)
_MAX_ERRORS: Final = 100


@dataclass
class ServeConfig:
    """Everything ``vigile serve`` is told on its command line."""

    state: str = "sqlite:///vigile-state.db"
    policy: Path | None = None
    rules: Path | None = None
    context: Path | None = None
    detect: bool = True
    store: Path | None = None
    redis: str | None = None
    quarantine: Path | None = None
    tail: list[tuple[Path, str]] = field(default_factory=list)
    route_map: Path | None = None
    checkpoint: Path | None = None
    checkpoint_every: float = 300.0
    history: list[Path] = field(default_factory=list)
    clock: str | None = None
    max_body: int = 64 << 20
    dedup_capacity: int = 500_000
    sync_every: float = 1.0


@dataclass
class IngestResult:
    """The answer to one ``POST /v1/events``."""

    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    skipped: int = 0
    duplicates: int = 0
    alerts: int = 0
    decisions: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "alerts": self.alerts,
            "decisions": self.decisions,
            "errors": self.errors,
        }


def build_detector(
    rules: Path | None, context: Path | None, checkpoint: Path | None = None
) -> AlertSource | None:
    """The detection engine (issue 4), or ``None`` when it is not installed."""
    try:
        from vigile.detect.context_index import ContextIndex
        from vigile.detect.engine import Engine
        from vigile.detect.rules import load_rules
    except ImportError as exc:
        log.warning(
            "detection is not available (%s): decisions come from pushed alerts and "
            "manual actions only",
            exc,
        )
        return None
    engine = Engine(load_rules(rules) if rules else load_rules(), ContextIndex.load(context))
    if checkpoint is not None and checkpoint.exists():
        same = engine.load(str(checkpoint))
        log.info(
            "detection state restored from %s%s",
            checkpoint,
            "" if same else " (made with other rules)",
        )
    return engine


class _Quarantine:
    """Bad lines as JSON Lines (INTERFACE §1: source, line, reason, raw), flushed per batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "ab")  # noqa: SIM115 - closed in close()
        self.count = 0

    def add(self, source: str, line: int, reason: str, raw: bytes) -> None:
        self.count += 1
        text = raw.decode("utf-8", "backslashreplace")
        record = {"source": source, "line": line, "reason": reason, "raw": text}
        self._handle.write(orjson.dumps(record) + b"\n")

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class _StoreWriter:
    """Appends ingested events to the event store from a thread, in batches."""

    def __init__(self, root: Path, every: float = 5.0, batch: int = 50_000) -> None:
        from vigile.store import open_store

        self.store = open_store(root, create=True)
        self.every = every
        self.batch = batch
        self.queue: queue.Queue[AccessEvent | None] = queue.Queue(maxsize=1_000_000)
        self.added = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="vigile-store", daemon=True)
        self._thread.start()

    def put(self, events: Iterable[AccessEvent]) -> None:
        for ev in events:
            try:
                self.queue.put_nowait(ev)
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        pending: list[AccessEvent] = []
        deadline = time.monotonic() + self.every
        stop = False
        while not stop:
            try:
                item = self.queue.get(timeout=max(0.05, deadline - time.monotonic()))
                if item is None:
                    stop = True
                else:
                    pending.append(item)
            except queue.Empty:
                pass
            if pending and (stop or len(pending) >= self.batch or time.monotonic() >= deadline):
                try:
                    self.added += self.store.append(pending).added
                except Exception:
                    log.exception(
                        "event store append failed (%d events kept in memory)", len(pending)
                    )
                    if len(pending) < 5 * self.batch:
                        continue
                pending = []
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.every

    def close(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=60)


class Service:
    """The running service (see the module docstring)."""

    def __init__(
        self,
        config: ServeConfig,
        *,
        state: StateStore | None = None,
        detector: AlertSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or parse_clock(config.clock)
        self.state = state if state is not None else open_state(config.state)
        self.policy = load_policy(config.policy)
        if detector is None and config.detect:
            detector = build_detector(config.rules, config.context, config.checkpoint)
        self.detector = detector
        self.shared = RedisShared(config.redis) if config.redis else None
        self.guard = Guard(
            self.state, self.policy, detector=detector, clock=self.clock, shared=self.shared
        )
        self.guard.listeners.append(self._on_guard_event)
        #: called with each processed batch (the dashboard's live rate); must be quick
        self.event_listeners: list[Callable[[list[AccessEvent]], None]] = []
        self.quarantine = _Quarantine(config.quarantine) if config.quarantine else None
        self.store = _StoreWriter(config.store) if config.store else None
        self.parsers: dict[str, Parser] = {}
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.totals = IngestResult()
        self.http_lines = 0
        self.started = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._alert_seq = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._tail_offsets: dict[str, int] = {}
        self._closing = False

    # ---- life cycle ------------------------------------------------------------------------
    async def startup(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        if self.config.history and self.detector is not None:
            n = await asyncio.to_thread(self._learn_history, self.config.history)
            log.info("detection warmed up on %d historical events", n)
        self.guard.start()
        # what was loaded so far (context, rules, history) lives as long as the process:
        # out of the collector's sight, so that its pauses stay short on the decision path
        gc.collect()
        gc.freeze()
        for path, fmt in self.config.tail:
            self._tasks.append(asyncio.create_task(self._follow(path, fmt)))
        if self.state.dialect == "postgres" and self.config.sync_every > 0:
            self._tasks.append(asyncio.create_task(self._sync_loop()))
        if self.config.checkpoint is not None and self.detector is not None:
            self._tasks.append(asyncio.create_task(self._checkpoint_loop()))
        log.info(
            "vigile serving: state %s, policy %s (%d rules%s), detection %s",
            self.state.dialect,
            self.policy.file,
            len(self.policy.rules),
            ", SIMULATION" if self.policy.simulation else "",
            "on" if self.detector is not None else "off",
        )

    async def shutdown(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._save_checkpoint()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        if self.quarantine is not None:
            self.quarantine.close()
        self.guard.close()
        self.state.close()

    def _learn_history(self, paths: list[Path]) -> int:
        """Replay history through detection only: baselines, no decisions."""
        from vigile.stream import EventReader

        assert self.detector is not None
        n = 0
        for ev in EventReader(paths, "jsonl"):
            self.detector.process(ev)
            self.guard.observe(ev)
            n += 1
        return n

    # ---- notifications ------------------------------------------------------------------------
    def _on_guard_event(self, kind: str, payload: Any) -> None:
        if kind == "alert":
            self._alert_seq += 1
        if self.loop is None or self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._wake()
        else:
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        """Wait until a decision or an alert changes, or ``timeout`` seconds."""
        event = self._changed
        if event is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    # ---- ingest ----------------------------------------------------------------------------------
    def parser(self, fmt: str) -> Parser:
        found = self.parsers.get(fmt)
        if found is None:
            options = ParserOptions(route_map=self.config.route_map)
            found = self.parsers[fmt] = make_parser(fmt, options)
        return found

    async def ingest(
        self, body: bytes, *, fmt: str = "jsonl", source: str = "http"
    ) -> IngestResult:
        """Parse a batch of lines, process every valid event in order, report bad lines."""
        if body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise VigileError(f"body is not valid gzip: {exc}") from None
        parser = self.parser(fmt)
        result = IngestResult()
        events: list[AccessEvent] = []
        seen = self.seen
        for n, line in enumerate(body.split(b"\n"), 1):
            if not line.strip():
                continue
            result.read += 1
            try:
                ev = parser.parse(line.rstrip(b"\r"))
            except ParseError as exc:
                result.quarantined += 1
                if len(result.errors) < _MAX_ERRORS:
                    result.errors.append({"line": n, "reason": exc.reason})
                if self.quarantine is not None:
                    self.quarantine.add(source, n, exc.reason, line)
                continue
            if ev is None:
                result.skipped += 1
                continue
            if ev.event_id:
                if ev.event_id in seen:
                    result.duplicates += 1
                    continue
                seen[ev.event_id] = None
                if len(seen) > self.config.dedup_capacity:
                    seen.popitem(last=False)
            result.accepted += 1
            events.append(ev)
        if self.quarantine is not None and result.quarantined:
            self.quarantine.flush()
        await self._process(events, result)
        self._add_totals(result)
        return result

    async def process_events(self, events: list[AccessEvent]) -> IngestResult:
        """Process already-parsed events (the in-process enforcers, the tailers)."""
        result = IngestResult(read=len(events), accepted=len(events))
        await self._process(events, result)
        self._add_totals(result)
        return result

    async def _process(self, events: list[AccessEvent], result: IngestResult) -> None:
        process = self.guard.process
        for start in range(0, len(events), _SLICE):
            for ev in events[start : start + _SLICE]:
                outcomes = process(ev)
                if outcomes:
                    result.alerts += len(outcomes)
                    result.decisions += sum(len(o.decisions) for o in outcomes)
            if start + _SLICE < len(events):
                await asyncio.sleep(0)
        if self.store is not None and events:
            self.store.put(events)
        for listener in self.event_listeners:
            try:
                listener(events)
            except Exception:  # a listener never breaks ingest
                log.exception("event listener failed")

    def _add_totals(self, result: IngestResult) -> None:
        t = self.totals
        t.read += result.read
        t.accepted += result.accepted
        t.quarantined += result.quarantined
        t.skipped += result.skipped
        t.duplicates += result.duplicates
        t.alerts += result.alerts
        t.decisions += result.decisions

    def handle_alerts(self, alerts: list[Alert]) -> list[AlertOutcome]:
        """Alerts pushed from elsewhere (an offline ``vigile detect``): apply the policy."""
        return [self.guard.handle_alert(a) for a in alerts]

    # ---- background tasks ------------------------------------------------------------------------
    async def _follow(self, path: Path, fmt: str) -> None:
        """``tail -F``: read new lines as they are written; survive rotation and truncation."""
        parser = self.parser(fmt)
        name = str(path)
        inode = None
        offset = 0
        pending = b""
        line_no = 0
        while not self._closing:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                await asyncio.sleep(0.25)
                continue
            if inode != st.st_ino or st.st_size < offset:
                inode, offset, pending, line_no = st.st_ino, 0, b"", 0
            if st.st_size == offset:
                await asyncio.sleep(0.1)
                continue
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read(min(st.st_size - offset, 8 << 20))
            offset += len(chunk)
            data = pending + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            pending = data[cut + 1 :]
            events: list[AccessEvent] = []
            result = IngestResult()
            for raw in data[:cut].split(b"\n"):
                line_no += 1
                if not raw.strip():
                    continue
                result.read += 1
                try:
                    ev = parser.parse(raw)
                except ParseError as exc:
                    result.quarantined += 1
                    if self.quarantine is not None:
                        self.quarantine.add(name, line_no, exc.reason, raw)
                    continue
                if ev is None:
                    result.skipped += 1
                    continue
                result.accepted += 1
                events.append(ev)
            if self.quarantine is not None and result.quarantined:
                self.quarantine.flush()
            await self._process(events, result)
            self._add_totals(result)
            self._tail_offsets[name] = offset

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sync_every)
            try:
                if await asyncio.to_thread(self.guard.sync):
                    self._wake()
            except Exception:
                log.exception("state sync failed")

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_every)
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        path = self.config.checkpoint
        saver = getattr(self.detector, "save", None)
        if path is None or saver is None:
            return
        try:
            saver(str(path))
        except Exception:
            log.exception("could not save the detection checkpoint")

    # ---- views ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = self.guard.clock()
        active = self.guard.cache.active(now)
        return {
            "uptime_s": round(time.time() - self.started, 1),
            "state": self.state.dialect,
            "policy": {
                "file": self.policy.file,
                "rules": len(self.policy.rules),
                "simulation": self.policy.simulation,
            },
            "detection": self.detector is not None,
            "redis": self.shared is not None,
            "ingest": {k: v for k, v in self.totals.as_dict().items() if k != "errors"},
            "decisions_in_force": {
                "block": sum(1 for d in active if d.decision == "block" and not d.simulated),
                "throttle": sum(1 for d in active if d.decision == "throttle" and not d.simulated),
                "simulated": sum(1 for d in active if d.simulated),
            },
            "sessions_known": len(self.guard.sessions),
        }

    def decision_changes(self, since: int | None, limit: int = 1000) -> dict[str, Any]:
        """The decision stream: what changed after ``since`` (everything in force if absent)."""
        now = self.guard.clock()
        if not since:
            cursor = self.state.last_seq()
            items: list[DecisionRecord] = self.state.active_decisions(now)
        else:
            items = self.state.changes(since, limit)
            cursor = items[-1].seq if items else since
        return {"cursor": cursor, "decisions": [d.to_json() for d in items]}
