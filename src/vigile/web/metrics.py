"""Prometheus metrics of the service, read from plain counters at scrape time.

The hot paths only increment integers; this collector turns them into metric
families when ``/metrics`` is scraped. The decision latency histogram is the one
exception (an ``observe`` per decision request, ~1 µs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from vigile.web.service import Service

__all__ = ["Metrics"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)


class _ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        s = self.service
        g = s.guard.stats
        t = s.totals
        events = CounterMetricFamily(
            "vigile_events", "Access events read by outcome", labels=["outcome"]
        )
        for outcome, value in (
            ("accepted", t.accepted),
            ("quarantined", t.quarantined),
            ("skipped", t.skipped),
            ("duplicate", t.duplicates),
        ):
            events.add_metric([outcome], value)
        yield events
        alerts = CounterMetricFamily("vigile_alerts", "Alerts by severity", labels=["severity"])
        for sev in ("low", "medium", "high", "critical"):
            alerts.add_metric([sev], g.alerts_by_severity.get(sev, 0))
        yield alerts
        made = CounterMetricFamily(
            "vigile_decisions_made", "Decisions made by kind", labels=["decision", "simulated"]
        )
        for kind, value in sorted(g.decisions.items()):
            name, _, sim = kind.partition(" ")
            made.add_metric([name, "true" if sim else "false"], value)
        yield made
        verdicts = CounterMetricFamily(
            "vigile_verdicts", "Answers to decision requests", labels=["decision"]
        )
        for kind, value in g.verdicts.items():
            verdicts.add_metric([kind], value)
        yield verdicts
        yield CounterMetricFamily(
            "vigile_verdicts_would_have",
            "Requests allowed that a simulation-mode decision would have refused",
            value=g.would_have,
        )
        yield CounterMetricFamily(
            "vigile_alerts_allowlisted", "Alerts not acted on: allowlisted", value=g.allowlisted
        )
        now = s.guard.clock()
        active = s.guard.cache.active(now)
        force = GaugeMetricFamily(
            "vigile_decisions_in_force", "Decisions in force", labels=["decision", "simulated"]
        )
        for kind in ("block", "throttle"):
            for simulated in (False, True):
                n = sum(1 for d in active if d.decision == kind and d.simulated == simulated)
                force.add_metric([kind, str(simulated).lower()], n)
        yield force
        yield GaugeMetricFamily(
            "vigile_sessions_known", "Sessions mapped to their account", value=len(s.guard.sessions)
        )
        if s.shared is not None:
            yield CounterMetricFamily(
                "vigile_redis_errors", "Redis publish/follow errors", value=s.shared.errors
            )
        if s.store is not None:
            yield CounterMetricFamily(
                "vigile_store_events_added", "Events appended to the store", value=s.store.added
            )
            yield CounterMetricFamily(
                "vigile_store_events_dropped",
                "Events not stored: the writer's queue was full",
                value=s.store.dropped,
            )


class Metrics:
    """The registry served at ``/metrics``."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ServiceCollector(service))
        self.decide_seconds = Histogram(
            "vigile_decide_seconds",
            "Time to answer a decision request (server side)",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "vigile_ingest_batch_seconds",
            "Time to process one POST /v1/events batch",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=self.registry,
        )
