"""`vigile demo` tells the story end to end on the embedded default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_when_demo_runs_then_world_store_and_quarantine_are_built(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vigile", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Watch every request" in done.stdout and "Who touched this file?" in done.stdout
    quarantine = (tmp_path / "store" / "quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 6  # three damaged lines, ingested twice
    assert {json.loads(q)["line"] for q in quarantine} == {
        json.loads(quarantine[0])["line"] + i for i in range(3)
    }
    assert (tmp_path / "world" / "truth" / "attacks.jsonl").exists()
