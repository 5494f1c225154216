"""Prometheus metrics of the hub (one registry, so tests and workers can make their own apps)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
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
# The online-monitoring network.
HJ212_PACKETS = Counter(
    "sanwang_hj212_packets",
    "HJ 212 packets received, by transport and outcome (STORED, UNKNOWN_MN, BAD_PASSWORD, "
    "IGNORED) or codec reason (BAD_CRC, BAD_LENGTH, GARBAGE ...)",
    ["transport", "outcome"],
    registry=REGISTRY,
)
HJ212_CONNECTIONS = Gauge(
    "sanwang_hj212_connections", "Open HJ 212 device connections", registry=REGISTRY
)
READINGS_STORED = Counter(
    "sanwang_readings_written",
    "Readings handed to the database (repeats included)",
    registry=REGISTRY,
)
READING_BATCH_SECONDS = Histogram(
    "sanwang_reading_batch_seconds",
    "Time to commit one batch of readings (group commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
ALARM_EPISODES = Counter(
    "sanwang_alarm_episodes",
    "Alarm episodes opened and ended",
    ["kind", "event"],
    registry=REGISTRY,
)
# Attachments: uploads by outcome (STORED, TOO_LARGE, WRONG_TYPE, MALFORMED, REFUSED).
ATTACHMENT_UPLOADS = Counter(
    "sanwang_attachment_uploads",
    "POST /attachments by outcome: STORED, TOO_LARGE (413), WRONG_TYPE (415), MALFORMED (422), "
    "REFUSED (401/403)",
    ["outcome"],
    registry=REGISTRY,
)
ATTACHMENT_BYTES = Counter(
    "sanwang_attachment_bytes", "Bytes of the attachments accepted", registry=REGISTRY
)
# The public view: every lookup by case number and query code, by where it came from (page,
# json, open311) and how it ended (ok, wrong: no such number or not its code, limited: refused
# by the wrong-code rate limit before anything was looked up).
PUBLIC_LOOKUPS = Counter(
    "sanwang_public_lookups",
    "Public lookups of a case by number and query code",
    ["via", "outcome"],
    registry=REGISTRY,
)
# The response cache (hub/responses.py), by cacheable operation: hit (the feed had not moved),
# shared (a computation of the same answer was under way), stale (the feed moved), miss,
# unread (the head could not be read: the request ran uncached).
RESPONSE_CACHE = Counter(
    "sanwang_response_cache",
    "Cacheable GraphQL requests by operation and outcome (hit, shared, stale, miss, unread)",
    ["operation", "outcome"],
    registry=REGISTRY,
)
KNOWN_ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics", "/lookup", "/sync/changes")


def route_of(path: str) -> str:
    """The route label of a path: never a case number or anything else a client chose."""
    if path in KNOWN_ROUTES or path.startswith("/ingest/"):
        return path
    if path.startswith("/attachments"):
        return "/attachments"  # one label for the upload and every id read
    if path.startswith("/exports/"):
        return "/exports/" + path.split("/")[2]  # cases.xlsx, ledger.xlsx, evaluation, bulletin
    if path.startswith("/public/cases/"):
        return "/public/cases/{number}"
    if path.startswith("/open311/v2/requests/"):
        return "/open311/v2/requests/{id}"
    if path in ("/open311/v2/requests.json", "/open311/v2/services.json"):
        return path
    return "other"


def observe_request(path: str, method: str, status: int, seconds: float) -> None:
    route = route_of(path)
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
