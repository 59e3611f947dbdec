"""The analysts' and DPO's dashboard, served by ``vigile serve`` under ``/ui``.

``mount(api, service)`` is the hook :func:`vigile.web.api.create_app` calls:
it adds the pages, their static files and the live stream to the same FastAPI
application, reading the service's state, its event store and its context.
Configuration comes from the environment (see :class:`DashboardConfig`) so that
``vigile serve`` needs no new option; ``make_mount(config)`` gives tests and
embedders their own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from vigile.web.service import Service

__all__ = ["DashboardConfig", "make_mount", "mount"]


@dataclass
class DashboardConfig:
    """How the dashboard runs.

    * ``scopes``: where breach scopes are written, one folder per incident
      (``$VIGILE_DASHBOARD_SCOPES``, default ``vigile-scopes/``);
    * ``secure_cookies``: cookies marked ``Secure`` (``__Host-`` prefix). Browsers
      accept them on ``https://`` and on ``http://localhost``/``127.0.0.1``; set
      ``VIGILE_DASHBOARD_INSECURE_COOKIES=1`` only behind a TLS proxy that talks
      to vigile over plain HTTP on another host;
    * ``tz``: the time zone of the pages (``$VIGILE_DASHBOARD_TZ``, Europe/Paris);
    * ``organisation``, ``contact``: printed in the breach report
      (``$VIGILE_ORGANISATION``, ``$VIGILE_DPO_CONTACT``).
    """

    scopes: Path = Path("vigile-scopes")
    secure_cookies: bool = True
    tz: str = "Europe/Paris"
    organisation: str | None = None
    contact: str | None = None
    rules: Path | None = None
    refresh: float = 30.0
    #: the time of sign-in throttling (tests move it)
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls) -> DashboardConfig:
        env = os.environ
        return cls(
            scopes=Path(env.get("VIGILE_DASHBOARD_SCOPES", "vigile-scopes")),
            secure_cookies=env.get("VIGILE_DASHBOARD_INSECURE_COOKIES", "") not in ("1", "true"),
            tz=env.get("VIGILE_DASHBOARD_TZ", "Europe/Paris"),
            organisation=env.get("VIGILE_ORGANISATION") or None,
            contact=env.get("VIGILE_DPO_CONTACT") or None,
        )


def make_mount(config: DashboardConfig) -> Callable[[FastAPI, Service], None]:
    """A hook for ``create_app(service, extend=[...])`` with this configuration."""

    def hook(api: FastAPI, service: Service) -> None:
        from vigile.web.dashboard.routes import install

        install(api, service, config)

    return hook


def mount(api: FastAPI, service: Service) -> None:
    """The hook ``vigile serve`` uses (configuration from the environment)."""
    make_mount(DashboardConfig.from_env())(api, service)
