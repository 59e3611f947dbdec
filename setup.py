"""Build vigile, compiling detection's hot path with mypyc when possible.

Everything else about the package is in ``pyproject.toml``; this file only adds the
compiled extension modules of ``vigile.detect`` (engine, facts, reader, state, alerts,
context index, detectors: 1.2-1.4x the events per CPU-second of pure Python, same alerts byte
for byte), and one plain C module, ``vigile.detect._lines`` (the replay reader's check of
a schedule poll; ``_lines.py`` is the same in Python). They are built in place by ``pip
install -e .`` (``make venv``), next to their sources.

Pure Python is used, with the same results, when:

* ``VIGILE_PURE=1`` is set at build time (nothing is compiled) or at run time (the
  compiled modules are ignored, see ``vigile/detect/__init__.py``);
* mypyc or a C compiler is missing, or compilation fails (a warning, no error);
* a compiled module is older than its source (an edit not rebuilt yet): rebuild with
  ``pip install -e .`` or ``python setup.py build_ext --inplace``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

#: the modules compiled (paths under src/); the rest of vigile stays Python. A listed
#: module must follow mypyc's rules (see docs/detect.md, "Speed"); a new detector not
#: listed here runs as Python (a subclass of the compiled DetectorBase) until added
COMPILED = [
    "vigile/detect/alerts.py",
    "vigile/detect/context_index.py",
    "vigile/detect/engine.py",
    "vigile/detect/facts.py",
    "vigile/detect/reader.py",
    "vigile/detect/rule.py",
    "vigile/detect/state.py",
    *(
        f"vigile/detect/detectors/{name}.py"
        for name in (
            "base",
            "bulk",
            "campaign",
            "canary",
            "enumeration",
            "fingerprint",
            "risk",
            "sensitive",
            "sensitive_notes",
            "stuffing",
            "unexplained",
            "volume",
        )
    ),
]

#: mypy options for the compile: the build environment holds mypy but not every
#: dependency (missing ones are typed Any), and nothing there is type-checked strictly
MYPY_FLAGS = [
    "--ignore-missing-imports",
    "--no-warn-unused-ignores",
    # a first install builds before the project's dependencies are there: what mypy
    # cannot see is Any, which the project's strict settings would refuse
    "--allow-subclassing-any",
    "--no-warn-return-any",
    f"--cache-dir={HERE / 'build' / 'mypy-cache'}",
]


def _remove_built() -> None:
    """Remove compiled modules left in place by an earlier build (pure Python from now)."""
    src = HERE / "src"
    for path in [*(src / "vigile" / "detect").rglob("*.so"), *src.glob("*__mypyc*.so")]:
        path.unlink(missing_ok=True)


def _warn(message: str) -> None:
    _remove_built()
    print(f"vigile setup: {message}; detection runs as pure Python", file=sys.stderr)


def _pure() -> bool:
    return os.environ.get("VIGILE_PURE", "").strip() not in ("", "0")


class OptionalBuildExt(build_ext):
    """``build_ext`` that falls back to pure Python when compilation fails.

    The compiled modules share one library: if any of them fails, every one built is
    removed, so that a partial build never runs.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # compiler missing, C error, ...
            self._undo()
            _warn(f"compiling with mypyc failed ({exc})")

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._undo()
            raise RuntimeError(f"{ext.name}: {exc}") from exc

    def _undo(self) -> None:
        for out in self.get_outputs():
            Path(out).unlink(missing_ok=True)


#: setup.py commands that build nothing (metadata): no need to run mypyc for them
_NO_BUILD = {"egg_info", "dist_info", "sdist", "clean", "check", "--version", "--name"}


def ext_modules() -> list[Any]:
    if sys.argv[1:2] and sys.argv[1] in _NO_BUILD:
        return []
    if _pure():
        _remove_built()
        print("vigile setup: VIGILE_PURE is set: nothing compiled", file=sys.stderr)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    cwd = os.getcwd()
    try:
        # mypyc names modules after their paths: compile from src/ (the package root)
        os.chdir(HERE / "src")
        return [
            *mypycify(
                [*MYPY_FLAGS, *COMPILED],
                opt_level="3",
                debug_level="0",
                target_dir=str(HERE / "build" / "mypyc"),
            ),
            # plain C, no mypyc: the replay reader's check of a schedule poll's ids
            # (a path relative to this file: setuptools refuses absolute ones)
            Extension(
                "vigile.detect._lines",
                ["src/vigile/detect/_lines.c"],
                extra_compile_args=["-O2"],
            ),
        ]
    except (Exception, SystemExit) as exc:  # a type error stops mypyc with SystemExit
        _warn(f"mypyc could not compile ({exc})")
        return []
    finally:
        os.chdir(cwd)


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
