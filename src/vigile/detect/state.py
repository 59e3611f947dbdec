"""Bounded, checkpointable detection state.

Everything the engine and the detectors remember lives in :class:`BoundedTable`
instances (key → entity with a ``last`` event time) or in time-stamped dicts
pruned with :func:`prune_times`. Nothing is evicted by the wall clock: tables are
swept on *event time* (entries idle longer than their time-to-live go), and a
table over its capacity drops its least recently seen entries. The memory cap is
therefore ``Σ capacity × entry size``; see ``docs/detect.md`` for the figures.

A checkpoint is the whole state pickled into one file (written atomically), with
a header naming the format version and the rule set that produced it, so that
``vigile detect --checkpoint FILE`` resumes a long-running replay without
re-learning from scratch. The file is written in *parts* (see
:func:`save_checkpoint`) so that writing it costs little memory beyond the state.
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar

import msgspec

from vigile.detect._rebuild import StatePickler, attributes
from vigile.detect.rules import Seconds
from vigile.errors import InputError

__all__ = [
    "CHECKPOINT_VERSION",
    "BoundedTable",
    "Checkpoint",
    "Settings",
    "budget_cutoff",
    "load_checkpoint",
    "prune_floor",
    "prune_times",
    "save_checkpoint",
]

CHECKPOINT_VERSION: Final = 5
#: a dict holding at least this many objects is written in parts (chunks)...
PART_MIN: Final = 4096
#: ... unless it has at most this many keys, some of them dicts or tables: then it is
#: the state's structure (names to sub-states), walked into
_STRUCTURE: Final = 64
#: a chunk holds entries of about this weight in all (an entry weighs 1 + the sizes of
#: the containers it holds): the pickler's memo, which keeps every object of a chunk
#: alive until the chunk is written, stays small
CHUNK_WEIGHT: Final = 50_000


class Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Engine-wide settings (``rules/settings.yaml``): explanation windows and state bounds.

    Every field is required in the file: the numbers live with the rules, not here.
    """

    #: an appointment starting up to this long *before* a read explains it
    appointment_before: Seconds
    #: ... or up to this long *after* it (booking, preparing the visit)
    appointment_after: Seconds
    #: how long an account's own earlier access to a patient explains a new one
    relationship_horizon: Seconds
    #: how long an explained access by a colleague keeps a patient in the practice's panel
    panel_horizon: Seconds
    #: patients remembered per account / per practice (oldest forgotten first)
    max_patients_per_account: int
    max_patients_per_tenant: int
    #: relationships and panel entries over all accounts / all practices: when the daily
    #: sweep finds more, the oldest days go first (the memory cap, see docs/detect.md)
    max_relationships: int
    max_panel_entries: int
    #: entity tables: capacities and idle times before eviction
    max_accounts: int
    max_sessions: int
    max_sources: int
    max_tenants: int
    account_idle: Seconds
    session_idle: Seconds
    source_idle: Seconds
    #: how often (event time) tables are swept
    sweep_every: Seconds
    #: active days of history before an account's own fingerprint and baselines count
    min_history_days: int
    #: an account created (actors.csv) or first seen less than this long ago is "new"
    new_account_age: Seconds
    #: with no ``created`` date, accounts first seen this long after the replay began are new
    warmup: Seconds
    #: two sessions of one account active within this long of each other are concurrent
    concurrency_window: Seconds
    #: network prefixes that count as "the same place"
    ipv4_prefix: int
    ipv6_prefix: int
    #: values kept per peer group for its quantiles (a ring buffer)
    peer_reservoir: int
    #: active days kept per account for its own baseline
    history_days: int

    def check(self) -> list[str]:
        problems = []
        if not 8 <= self.ipv4_prefix <= 32:
            problems.append("ipv4_prefix must be between 8 and 32")
        if not 16 <= self.ipv6_prefix <= 128:
            problems.append("ipv6_prefix must be between 16 and 128")
        for name in ("max_accounts", "max_sessions", "max_sources", "max_tenants"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        return problems


#: what a table's pickle holds (all its slots but the factory)
_TABLE_STATE: Final = ("capacity", "data", "evicted", "name", "ttl")


class _Timed(Protocol):
    last: float


V = TypeVar("V", bound=_Timed)


class BoundedTable(Generic[V]):
    """Entities by key, evicted when idle longer than ``ttl`` or beyond ``capacity``.

    ``get_or_create`` is the only insertion path; it keeps the table within 110 % of
    its capacity between sweeps.
    """

    __slots__ = ("capacity", "data", "evicted", "factory", "name", "ttl")

    # every argument has a default: a compiled (mypyc) class is unpickled through a call
    # without arguments, then given its state
    def __init__(
        self,
        name: str = "",
        ttl: float = 0.0,
        capacity: int = 0,
        factory: Callable[..., V] | None = None,
    ) -> None:
        self.name = name
        self.ttl = float(ttl)
        self.capacity = int(capacity)
        self.data: dict[Hashable, V] = {}
        self.factory = factory
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.data

    def get(self, key: Hashable) -> V | None:
        return self.data.get(key)

    def put(self, key: Hashable, value: V) -> V:
        self.data[key] = value
        if len(self.data) > self.capacity * 1.1 + 16:
            self._shrink(value.last)
        return value

    def values(self) -> Iterator[V]:
        return iter(self.data.values())

    def items(self) -> Iterator[tuple[Hashable, V]]:
        return iter(self.data.items())

    def sweep(self, now: float) -> int:
        """Drop entries idle since before ``now - ttl``, then any beyond capacity."""
        cutoff = now - self.ttl
        dead = [k for k, v in self.data.items() if v.last < cutoff]
        for k in dead:
            del self.data[k]
        n = len(dead)
        if len(self.data) > self.capacity:
            n += self._shrink(now)
        self.evicted += n
        return n

    def _shrink(self, now: float) -> int:
        keep = int(self.capacity * 0.9)
        order = sorted(self.data.items(), key=lambda kv: kv[1].last)
        drop = order[: max(0, len(order) - keep)]
        for k, _ in drop:
            del self.data[k]
        self.evicted += len(drop)
        return len(drop)

    def __getstate__(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in _TABLE_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self.factory = None


def prune_times(d: dict[Any, Any], cutoff: float, capacity: int) -> int:
    """Drop keys whose time is before ``cutoff``, then the oldest beyond ``capacity``.

    Times may carry a sign (the explainer marks "seen, no care relationship" with
    ``-t``): the absolute value is the time.
    """
    n = 0
    if d:
        dead = [k for k, t in d.items() if abs(t) < cutoff]
        for k in dead:
            del d[k]
        n = len(dead)
    if len(d) > capacity:
        order = sorted(d.items(), key=lambda kv: abs(kv[1]))
        extra = len(d) - int(capacity * 0.9)
        for k, _ in order[:extra]:
            del d[k]
        n += extra
    return n


def budget_cutoff(dicts: list[dict[Any, Any]], budget: int) -> float | None:
    """The day before which entries must go so that ``dicts`` hold at most ``budget``
    entries in all (the oldest days first), or ``None`` when they already fit.

    Times may carry a sign (see :func:`prune_times`); a day's entries go together, so
    the result may keep fewer than ``budget``.
    """
    total = sum(len(d) for d in dicts)
    if total <= budget:
        return None
    per_day: dict[int, int] = {}
    for d in dicts:
        for t in d.values():
            day = int(abs(t))
            per_day[day] = per_day.get(day, 0) + 1
    kept = 0
    for day in sorted(per_day, reverse=True):
        if kept + per_day[day] > budget:
            return float(day + 1)
        kept += per_day[day]
    return None


def prune_floor(d: dict[Any, Any], floor: float, cutoff: float, capacity: int) -> float:
    """:func:`prune_times` skipped while nothing can be old enough to go.

    ``floor`` is a lower bound of the dict's times (returned by the previous call;
    times only ever go in at the current time, so it stays a lower bound until the
    next prune): while ``cutoff <= floor`` and the dict is within ``capacity``
    nothing would be dropped, and the scan is skipped. Returns the new floor.
    """
    if cutoff <= floor and len(d) <= capacity:
        return floor
    prune_times(d, cutoff, capacity)
    return min((abs(t) for t in d.values()), default=cutoff)


@dataclass
class Checkpoint:
    """What a checkpoint file holds."""

    version: int
    rules: str
    #: event time (seconds) of the newest event processed, and the keys of events at it
    watermark: float
    last_keys: list[str]
    state: Any


#: a checkpoint's fields, pickled as a plain dict (the same from compiled code or not)
_CHECKPOINT_FIELDS: Final = ("version", "rules", "watermark", "last_keys", "state")


class _Part:
    """Stands in the checkpoint's skeleton for a large dict written in chunks after it."""

    __slots__ = ("index",)

    def __init__(self, index: int = 0) -> None:
        self.index = index


class _Table:
    """Stands in the skeleton for a table: the table without its data, and the data's
    skeleton (often a :class:`_Part`)."""

    __slots__ = ("data", "table")

    def __init__(self, table: BoundedTable[Any] | None = None, data: Any = None) -> None:
        self.table: BoundedTable[Any] = table if table is not None else BoundedTable()
        self.data = data


def _skeleton(value: Any, parts: list[dict[Any, Any]], part_min: int) -> Any:
    """``value`` with every heavy dict (plain, or a table's data) replaced by a
    :class:`_Part` and appended to ``parts``; the live state is not modified.

    Small dicts of dicts or tables (the state's structure: names to sub-states) are
    walked into; any other dict holding at least ``part_min`` objects becomes a part.
    """
    if type(value) is dict:
        if len(value) <= _STRUCTURE and any(
            type(v) is dict or isinstance(v, BoundedTable) for v in value.values()
        ):
            return {k: _skeleton(v, parts, part_min) for k, v in value.items()}
        weight = 0
        for v in value.values():
            weight += _weight(v)
            if weight >= part_min:
                parts.append(value)
                return _Part(len(parts) - 1)
        return value
    if isinstance(value, BoundedTable):
        copy: BoundedTable[Any] = BoundedTable(value.name, value.ttl, value.capacity)
        copy.evicted = value.evicted
        return _Table(copy, _skeleton(value.data, parts, part_min))
    return value


def _weight(value: Any) -> int:
    """How many objects an entry holds, roughly (1 + its containers' sizes)."""
    if isinstance(value, (str, int, float)) or value is None:
        return 1
    if isinstance(value, (dict, list, set, tuple, deque)):
        return 1 + len(value)
    state = attributes(value)
    if state is None:
        return 1
    return 1 + sum(len(v) for v in state.values() if isinstance(v, (dict, list, set, tuple, deque)))


def _chunks(d: dict[Any, Any], chunk_weight: int) -> Iterator[list[tuple[Any, Any]]]:
    chunk: list[tuple[Any, Any]] = []
    weight = 0
    for item in d.items():
        chunk.append(item)
        weight += _weight(item[1])
        if weight >= chunk_weight:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


def _fill(value: Any, parts: list[dict[Any, Any]]) -> Any:
    """The inverse of :func:`_skeleton`: each :class:`_Part` replaced by its dict."""
    if isinstance(value, _Part):
        return parts[value.index]
    if type(value) is dict:
        for k, v in value.items():
            if isinstance(v, (_Part, _Table, dict)):
                value[k] = _fill(v, parts)
        return value
    if isinstance(value, _Table):
        value.table.data = _fill(value.data, parts)
        return value.table
    return value


def save_checkpoint(
    path: str | Path,
    checkpoint: Checkpoint,
    part_min: int = PART_MIN,
    chunk_weight: int = CHUNK_WEIGHT,
) -> None:
    """Write the checkpoint atomically (a crash never leaves half a file).

    The file is a sequence of pickles: the header (the checkpoint's fields, its state
    with each large dict replaced by a numbered part), then each part's entries in
    chunks, ``(part, entries)``, and ``None`` at the end. The pickler forgets what it
    has written after each chunk: one pickle of the whole state would keep a memo entry
    for every object in it, several hundred MB on a month at the seed case's scale.
    Objects shared between chunks are written once per chunk; the engine re-links its
    entities after loading (:meth:`~vigile.detect.engine.Engine.restore`).
    """

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    parts: list[dict[Any, Any]] = []
    body = {name: getattr(checkpoint, name) for name in _CHECKPOINT_FIELDS}
    body["state"] = _skeleton(checkpoint.state, parts, part_min)
    body["parts"] = len(parts)
    with open(tmp, "wb") as f:
        pickler = StatePickler(f, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dump(body)
        for index, part in enumerate(parts):
            for chunk in _chunks(part, chunk_weight):
                pickler.clear_memo()
                pickler.dump((index, chunk))
        pickler.clear_memo()
        pickler.dump(None)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Only load checkpoints you wrote yourself: they are pickles.
    """
    try:
        with open(path, "rb") as f:
            cp = pickle.load(f)
            if isinstance(cp, dict) and "parts" in cp:
                parts: list[dict[Any, Any]] = [{} for _ in range(cp.pop("parts"))]
                # one unpickler per pickle: each starts with an empty memo, as written
                while (chunk := pickle.load(f)) is not None:
                    index, entries = chunk
                    parts[index].update(entries)
                cp["state"] = _fill(cp["state"], parts)
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        IndexError,
        TypeError,
        ValueError,
    ) as exc:
        raise InputError(f"{path}: not a readable vigile checkpoint ({exc})") from None
    if isinstance(cp, dict) and set(cp) == set(_CHECKPOINT_FIELDS):
        cp = Checkpoint(**cp)
    if not isinstance(cp, Checkpoint) or cp.version != CHECKPOINT_VERSION:
        raise InputError(f"{path}: checkpoint format not supported by this vigile version")
    return cp
