"""Prometheus metrics of the hub (one registry, so tests and workers can make their own apps)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "sanwang_http_requests",
    "HTTP requests answered",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "sanwang_http_request_seconds",
    "Time to answer an HTTP request",
    ["route"],
    registry=REGISTRY,
)
KNOWN_ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")


def observe_request(path: str, method: str, status: int, seconds: float) -> None:
    route = path if path in KNOWN_ROUTES or path.startswith("/ingest/") else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
