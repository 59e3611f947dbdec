"""The detector plug-in contract: one small protocol, one registry, shared helpers.

A detector is a class with a docstring, a ``name``, the ``actions`` it looks at,
its ``Params`` (a :class:`msgspec.Struct` with no defaults: every threshold comes
from a rule file) and four methods:

``score(event, facts)``
    Look at one event *before* anything is learnt from it and return findings
    (or ``None``). Must not change state.
``learn(event, facts)``
    Update the detector's state with the event, after every detector scored it.
``sweep(now)``
    Forget what is idle (event time ``now``); state stays bounded.
``state()`` / ``load_state(state)`` / ``size()``
    A picklable snapshot for checkpoints, and the number of entries held.

A detector never blocks anything and never reads the wall clock. Register it with
:func:`register` in a module of this package: it is found automatically.
"""

from __future__ import annotations

import importlib
import pkgutil
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from vigile.detect.context_index import ContextIndex
from vigile.detect.facts import Facts, Tracker
from vigile.detect.rules import SEVERITY_RANK, Rule
from vigile.detect.state import Settings
from vigile.events import AccessEvent

if TYPE_CHECKING:  # alerts imports this module
    from vigile.detect.alerts import AlertSink

_C = TypeVar("_C")

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # pure Python without mypy_extensions: the decorator only matters to mypyc

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_C], _C]:
        return lambda cls: cls


__all__ = [
    "DetectorBase",
    "Env",
    "Finding",
    "PeerStats",
    "fmt",
    "register",
    "registry",
]


Reasons = list[str] | Callable[[], list[str]]
Evidence = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(slots=True)
class Finding:
    """What a detector concluded about one event; the alert sink turns it into an Alert.

    ``reasons`` and ``evidence`` may be given as callables: they are only built
    when the alert is written (most findings of an ongoing condition are repeats
    inside the cool-down). ``severity`` overrides the rule's (for detectors that
    grade their own evidence); ``key`` narrows the suppression key beyond the
    account (a session, a source); ``tenant``/``actor`` name another account than
    the event's (a source that targets many accounts alerts on each of them);
    ``place`` names the session and source the alert is about when it is not the
    event's (a correlation of signals that came from another session of the account).
    """

    rule: Rule
    score: float
    reasons: Reasons
    evidence: Evidence
    severity: str | None = None
    key: Hashable = None
    tenant: str | None = None
    actor: str | None = None
    risk: float | None = None
    event_ids: list[str] = field(default_factory=list)
    place: tuple[str | None, str | None] | None = None

    def resolve(self) -> None:
        """Build lazy reasons and evidence."""
        if callable(self.reasons):
            self.reasons = self.reasons()
        if callable(self.evidence):
            self.evidence = self.evidence()

    def first_reason(self) -> str:
        self.resolve()
        assert isinstance(self.reasons, list)
        return self.reasons[0] if self.reasons else self.rule.title


@dataclass
class Env:
    """What detectors share: the context index, engine settings, peer statistics."""

    index: ContextIndex
    settings: Settings
    peers: PeerStats
    has_appointments: bool = False
    # typed, not Any: compiled, a detector reads their tables natively
    tracker: Tracker | None = None
    sink: AlertSink | None = None


_REGISTRY: dict[str, type[Any]] = {}
_LOADED: list[bool] = []

T = TypeVar("T")


def register(cls: type[T]) -> type[T]:
    """Class decorator: add a detector to the registry under its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute `name`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise TypeError(f"two detectors named {name!r}: {_REGISTRY[name].__name__}, {cls.__name__}")
    _REGISTRY[name] = cls
    return cls


def registry() -> dict[str, type[Any]]:
    """Every registered detector, by name (modules of this package are imported once)."""
    if not _LOADED:
        import vigile.detect.detectors as pkg

        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name != "base" and not info.name.startswith("_"):
                importlib.import_module(f"{pkg.__name__}.{info.name}")
        _LOADED.append(True)
    return dict(sorted(_REGISTRY.items()))


@mypyc_attr(allow_interpreted_subclasses=True)
class DetectorBase:
    """Convenience base: keeps the rules, caches which rules apply to which accounts.

    Subclasses list their mutable attributes in ``state_attrs``; ``state()`` and
    ``load_state()`` snapshot exactly those. A plug-in's detector may subclass it
    from pure Python even when vigile's own detectors are compiled (mypyc).
    """

    name: ClassVar[str] = ""
    actions: ClassVar[frozenset[str] | None] = None
    modes: ClassVar[tuple[str, ...] | None] = None
    needs_window: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, rules: Sequence[Rule], env: Env) -> None:
        self.rules = list(rules)
        self.env = env
        self.settings = env.settings
        #: tenant -> role -> the rules in scope (two lookups of strings whose hashes are
        #: kept, rather than a tuple built and hashed on every call)
        self._scoped: dict[str, dict[str, tuple[Rule, ...]]] = {}

    def rules_for(self, tenant: str, role: str) -> tuple[Rule, ...]:
        """The rules whose scope includes an account of ``role`` in ``tenant`` (cached)."""
        roles = self._scoped.get(tenant)
        if roles is None:
            if len(self._scoped) > 100_000:
                self._scoped.clear()
            roles = self._scoped[tenant] = {}
        found = roles.get(role)
        if found is None:
            found = roles[role] = tuple(r for r in self.rules if r.scope.allows(tenant, role))
        return found

    def muted(self, rule: Rule, f: Facts, key: Hashable = None, score: float | None = None) -> bool:
        """True when an alert of ``rule`` on this account (and key) was written within the
        rule's cool-down at the level this finding would have (the band of ``score``, else
        the highest the rule can reach): a finding now would only be counted as a repeat,
        so the detector may skip building it."""
        sink = self.env.sink
        if sink is None:
            return False
        if key is None:
            if not f.mutes_known:  # looked up once per event (and again after an alert)
                f.mutes = sink.mutes.get(f.key)
                f.mutes_known = True
            mutes = f.mutes
            if mutes is None:
                return False
            entry: tuple[float, int] | None = mutes.get(rule.id)
            if entry is None or entry[0] <= f.t:
                return False
            if score is None or not rule.bands:
                return entry[1] >= rule.top_level
            sev = rule.severity_for(score)
            return sev is None or entry[1] >= min(SEVERITY_RANK[sev], rule.top_level)
        st = sink.keys.get((rule.id, f.key[0], f.key[1], key))
        return bool(st is not None and f.t - st.last < rule.cooldown and st.level >= rule.top_level)

    def score(self, ev: AccessEvent, f: Facts) -> list[Finding] | None:
        return None

    def learn(self, ev: AccessEvent, f: Facts) -> None:
        return None

    def sweep(self, now: float) -> None:
        return None

    def state(self) -> Any:
        return {a: getattr(self, a) for a in self.state_attrs}

    def load_state(self, state: Any) -> None:
        for a in self.state_attrs:
            if a in state:
                setattr(self, a, state[a])

    def size(self) -> int:
        total = 0
        for a in self.state_attrs:
            v = getattr(self, a)
            total += len(v) if hasattr(v, "__len__") else 1
        return total


class PeerStats:
    """Daily figures of peer groups (role / practice size), as ring buffers, with quantiles.

    ``push(metric, group, value, account)`` at the end of an account-day;
    ``quantile(..., exclude=account)`` leaves that account's own days out (an account
    is never its own peer: a low-and-slow insider must not raise the bar it is judged
    by). Only account-days without a medium-or-higher alert are pushed. The values
    are kept sorted as they come and go; leaving one account out costs O(its days).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.values: dict[tuple[str, str], deque[tuple[float, Hashable]]] = {}
        self.own: dict[tuple[str, str], dict[Hashable, list[float]]] = {}
        self._sorted: dict[tuple[str, str], list[float]] = {}

    def push(self, metric: str, group: str, value: float, account: Hashable = None) -> None:
        key = (metric, group)
        buf = self.values.get(key)
        own = self.own.get(key)
        ordered = self._sorted.get(key)
        if buf is None or own is None or ordered is None:
            buf = self.values[key] = deque()
            own = self.own[key] = {}
            ordered = self._sorted[key] = []
        if len(buf) >= self.capacity:
            old, who = buf.popleft()
            mine = own.get(who)
            if mine is not None:
                mine.remove(old)
                if not mine:
                    del own[who]
            del ordered[bisect_left(ordered, old)]
        v = float(value)
        buf.append((v, account))
        own.setdefault(account, []).append(v)
        insort(ordered, v)

    def count(self, metric: str, group: str, exclude: Hashable = None) -> int:
        key = (metric, group)
        buf = self.values.get(key)
        if not buf:
            return 0
        mine = self.own.get(key, {}).get(exclude) if exclude is not None else None
        return len(buf) - (len(mine) if mine else 0)

    def quantile(
        self, metric: str, group: str, q: float, exclude: Hashable = None
    ) -> tuple[float, int] | None:
        """The ``q`` quantile of the group's values (without ``exclude``'s), and their number."""
        key = (metric, group)
        buf = self.values.get(key)
        if not buf:
            return None
        ordered = self._sorted.get(key)
        if ordered is None:  # restored from a checkpoint
            ordered = self._sorted[key] = sorted(v for v, _ in buf)
        mine = sorted(self.own.get(key, {}).get(exclude) or ()) if exclude is not None else []
        n = len(ordered) - len(mine)
        if n <= 0:
            return None
        k = min(n - 1, int(q * n))
        # the k-th smallest value once ``mine`` is taken out of ``ordered``
        j = 0
        while j < len(mine) and mine[j] <= ordered[k + j]:
            j += 1
        return ordered[k + j], n

    def state(self) -> dict[str, Any]:
        return {"values": self.values, "own": self.own}

    def load_state(self, st: dict[str, Any]) -> None:
        self.values = st["values"]
        self.own = st["own"]
        self._sorted.clear()


def median(values: Iterable[int | float]) -> int | float:
    """The median; an int when the middle value is one (``int | float``, not ``float``,
    so that compiled code keeps it: it shows in evidence as ``3``, not ``3.0``)."""
    ordered: list[int | float] = sorted(values)
    n = len(ordered)
    if not n:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def fmt(x: float) -> str:
    """Numbers in reasons: integers with thousands separators, else 3 significant digits."""
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def durations(seconds: float) -> str:
    """``1800`` → ``30 min``; for reasons."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


Hook = Callable[[AccessEvent, Facts], None]
