"""Detection (issue 4): the streaming engine, its rules and detectors.

The hot path (engine, facts, reader, state, alerts, context index, the rule class and
the detectors) may be compiled with mypyc (``setup.py``, built in place by ``pip
install -e .``), with one module written in C (``_lines``: the replay reader's check of
a schedule poll, ``_lines.py`` its Python twin): the extension modules sit next to their
sources and Python imports them first. The sources are used instead - same alerts,
1.2-1.4x the CPU per event - when ``VIGILE_PURE=1`` is set, or when any compiled module
is older than its source (an edit not rebuilt yet): a stale build never runs.
:func:`compiled` tells which.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["compiled"]

_HERE = Path(__file__).resolve().parent


def _stale(root: Path = _HERE) -> bool:
    """True when a compiled module under ``root`` is older than its source (or has none):
    its ``.py``, and its ``.c`` for a module written in C (``_lines``)."""
    suffixes = sorted(EXTENSION_SUFFIXES, key=len, reverse=True)
    for ext in root.rglob("*.so"):
        suffix = next((x for x in suffixes if ext.name.endswith(x)), ".so")
        stem = ext.name[: -len(suffix)]
        try:
            built = ext.stat().st_mtime
            if ext.with_name(stem + ".py").stat().st_mtime > built:
                return True
            c_source = ext.with_name(stem + ".c")
            if c_source.exists() and c_source.stat().st_mtime > built:
                return True
        except OSError:
            return True
    return False


class _SourcesFirst:
    """Import ``vigile.detect.*`` from the ``.py`` files even where an extension exists."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not name.startswith(__name__ + ".") or not path:
            return None
        leaf = name.rpartition(".")[2]
        for entry in path:
            src = Path(entry) / f"{leaf}.py"
            if src.is_file():
                return importlib.util.spec_from_file_location(name, src)
        return None  # a package (its __init__.py) or nothing: the usual finders


_USE_SOURCES = os.environ.get("VIGILE_PURE", "").strip() not in ("", "0") or _stale()
if _USE_SOURCES:
    sys.meta_path.insert(0, _SourcesFirst)


def compiled() -> bool:
    """True when detection runs compiled (mypyc), False for pure Python."""
    from vigile.detect import engine

    return not (engine.__file__ or "").endswith(".py")
