"""Fixtures: a real `vigile serve` (uvicorn on a free loopback port) and its tokens."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigile.respond.guard import AlertSource
from vigile.respond.state import open_state
from vigile.web.api import create_app
from vigile.web.auth import create_token
from vigile.web.server import ServerThread
from vigile.web.service import ServeConfig, Service

PEPPER = "test-pepper-not-a-secret"


@dataclass
class Running:
    """A service under test: its URL, its tokens by scope, the objects behind it."""

    url: str
    tokens: dict[str, str]
    service: Service
    state_url: str

    def client(self, scope: str | None = "admin", **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kw)


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Running]]:
    """Factory: start a service (config overrides, optional detector); stopped at the end."""
    monkeypatch.setenv("VIGILE_TOKEN_PEPPER", PEPPER)
    started: list[ServerThread] = []

    def start(detector: AlertSource | None = None, **config: Any) -> Running:
        n = len(started)
        state_url = config.pop("state", f"sqlite:///{tmp_path / f'state{n}.db'}")
        config.setdefault("detect", detector is not None)
        config.setdefault("quarantine", tmp_path / f"quarantine{n}.jsonl")
        st = open_state(state_url)
        tokens = {
            scope: create_token(st, f"test-{scope}", [scope], now=time.time())[0]
            for scope in ("ingest", "decide", "read", "admin")
        }
        st.close()
        service = Service(ServeConfig(state=state_url, **config), detector=detector)
        server = ServerThread(create_app(service)).start()
        started.append(server)
        return Running(server.url, tokens, service, state_url)

    yield start
    for server in started:
        server.stop()
