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
re-learning from scratch.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar

import msgspec

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

CHECKPOINT_VERSION: Final = 3


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


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically (a crash never leaves half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        body = {name: getattr(checkpoint, name) for name in _CHECKPOINT_FIELDS}
        from vigile.detect._rebuild import StatePickler

        StatePickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(body)
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
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise InputError(f"{path}: not a readable vigile checkpoint ({exc})") from None
    if isinstance(cp, dict) and set(cp) == set(_CHECKPOINT_FIELDS):
        cp = Checkpoint(**cp)
    if not isinstance(cp, Checkpoint) or cp.version != CHECKPOINT_VERSION:
        raise InputError(f"{path}: checkpoint format not supported by this vigile version")
    return cp
