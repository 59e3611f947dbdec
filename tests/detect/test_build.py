"""The compiled build (mypyc, setup.py) and its pure-Python fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from vigile.detect import _stale

SO = EXTENSION_SUFFIXES[0]


def _touch(path: Path, mtime: float) -> None:
    path.write_text("")
    os.utime(path, (mtime, mtime))


def test_when_a_compiled_module_is_newer_than_its_source_then_it_is_not_stale(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    _touch(tmp_path / "engine.py", 1000)
    _touch(tmp_path / f"engine{SO}", 2000)
    _touch(tmp_path / "sub" / "bulk.py", 1000)
    _touch(tmp_path / "sub" / f"bulk{SO}", 2000)
    assert not _stale(tmp_path)


def test_when_a_source_is_edited_after_the_build_then_the_build_is_stale(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _touch(tmp_path / "engine.py", 1000)
    _touch(tmp_path / f"engine{SO}", 2000)
    _touch(tmp_path / "sub" / "bulk.py", 3000)
    _touch(tmp_path / "sub" / f"bulk{SO}", 2000)
    assert _stale(tmp_path)


def test_when_a_compiled_module_has_no_source_then_the_build_is_stale(tmp_path: Path) -> None:
    _touch(tmp_path / f"gone{SO}", 2000)
    assert _stale(tmp_path)


def test_when_vigile_pure_is_set_then_detection_runs_from_the_sources() -> None:
    code = (
        "import vigile.detect.engine as e, vigile.detect.detectors.bulk as b\n"
        "from vigile.detect import compiled\n"
        "print(compiled(), e.__file__.endswith('.py'), b.__file__.endswith('.py'))"
    )
    env = dict(os.environ, VIGILE_PURE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "True"]
