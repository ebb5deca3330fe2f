"""Prometheus metrics of one `chorus serve` process (its own registry, so tests see only their server)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, Histogram, generate_latest

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServeMetrics"]


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # python_gc_collections_total{generation} etc.: the serving GC policy (app.py) is visible here.
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "chorus_requests",
            "Requests answered, by strategy and HTTP status",
            ["strategy", "status"],
            registry=self.registry,
        )
        self.samples = Counter(
            "chorus_samples",
            "Samples drawn for requests, by origin (cache or generated)",
            ["origin"],
            registry=self.registry,
        )
        self.in_flight = Gauge("chorus_requests_in_flight", "Requests being answered now", registry=self.registry)
        self.latency = Histogram(
            "chorus_request_latency_seconds",
            "Wall time per answered request, by strategy",
            ["strategy"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )

    def record(self, strategy: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(strategy, str(status)).inc()
        if seconds is not None:
            self.latency.labels(strategy).observe(seconds)

    def record_samples(self, cached: int, generated: int) -> None:
        self.samples.labels("cache").inc(cached)
        self.samples.labels("generated").inc(generated)

    def render(self) -> bytes:
        return generate_latest(self.registry)
