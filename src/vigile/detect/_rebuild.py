"""Rebuild a detection-state object from a checkpoint (never compiled).

Checkpoints pickle the entity and detector objects of ``vigile.detect`` as *(class,
attributes)*; :func:`rebuild` makes the object with its class's defaults and sets the
attributes. The pickle is then the same whether the objects came from the compiled
(mypyc) modules or from the Python sources, and either build resumes it. (The pickler
lives here, in Python: a compiled subclass of the C pickler is not supported.)
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["StatePickler", "attributes", "rebuild"]


def rebuild(cls: Any, attributes: dict[str, Any]) -> Any:
    obj = cls()
    for name, value in attributes.items():
        setattr(obj, name, value)
    return obj


def attributes(obj: Any) -> dict[str, Any] | None:
    """An object's attributes as its ``__getstate__`` gives them (a compiled class: a
    dict; a Python class with ``__slots__``: a (dict, slots) pair, merged), or None."""
    getstate = getattr(obj, "__getstate__", None)
    state = getstate() if getstate is not None else None
    if isinstance(state, tuple) and len(state) == 2:  # Python, with __slots__
        merged = dict(state[0] or {})
        merged.update(state[1] or {})
        return merged
    return state if isinstance(state, dict) else None


class StatePickler(pickle.Pickler):
    """Pickles ``vigile.detect`` objects as (class, attributes) for :func:`rebuild`."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if not cls.__module__.startswith("vigile.detect."):
            return NotImplemented
        state = attributes(obj)
        if state is None:
            return NotImplemented
        return (rebuild, (cls, state))
