"""`vigile serve`, `vigile token` and `vigile policy` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from vigile.respond.policy import DEFAULT_POLICY
from vigile.web.server import free_port


def _vigile(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigile", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_when_tokens_are_made_listed_and_revoked_then_serve_honours_them(tmp_path: Path) -> None:
    env = {"VIGILE_TOKEN_PEPPER": "cli-pepper"}
    state = f"sqlite:///{tmp_path / 'state.db'}"
    made = _vigile("token", "create", "--name", "edge", "--scope", "decide", "--state", state,
                   env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("vgl_") and "shown once" in made.stderr
    listed = _vigile("token", "list", "--state", state, "--json", env=env)
    assert '"name":"edge"' in listed.stdout and token not in listed.stdout
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vigile", "serve", "--port", str(port), "--state", state,
         "--no-detect"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(url + "/health", timeout=1).status_code == 200
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "vigile serve did not start"
                time.sleep(0.1)
        assert httpx.get(url + "/v1/decide").status_code == 401
        auth = {"authorization": f"Bearer {token}"}
        assert httpx.get(url + "/v1/decide", headers=auth).status_code == 204
        assert _vigile("token", "revoke", "edge", "--state", state, env=env).returncode == 0
        deadline = time.monotonic() + 10
        while httpx.get(url + "/v1/decide", headers=auth).status_code != 401:
            assert time.monotonic() < deadline, "a revoked token still works"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_when_a_policy_is_checked_then_problems_come_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: x\n    match: {}\n    decision: block\n")
    done = _vigile("policy", "check", str(bad))
    assert done.returncode == 2
    assert f"{bad}:3: rule x: duration: missing" in done.stderr.replace("\n", "")
    good = _vigile("policy", "check", str(DEFAULT_POLICY))
    assert good.returncode == 0 and "rules" in good.stdout
