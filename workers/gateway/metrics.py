"""The gateway's Prometheus series: requests by route and code, their latency, webhook attempts
and failures by recipient, readiness, and how far its read model is behind the topics."""

import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

Outcome = Literal["delivered", "refused", "unanswered"]
"""What a webhook's receiver made of one attempt."""
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method is counted as `other`: a caller cannot make new series by inventing
methods."""


class GatewayMetrics:
    """One registry per gateway app."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "gvi_gateway_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "code"],
            registry=registry,
        )
        self.webhook_attempts = Counter(
            "gvi_gateway_webhook_attempts",
            "Webhook POSTs to a recipient, by outcome (delivered, refused, unanswered)",
            ["recipient", "outcome"],
            registry=registry,
        )
        self.webhook_failures = Counter(
            "gvi_gateway_webhook_failures",
            "Tasks whose webhook delivery failed for good (escalated as delivery_failed)",
            ["recipient"],
            registry=registry,
        )
        self.bad_records = Counter(
            "gvi_gateway_bad_records",
            "Records on an output topic that do not hold to their contract (skipped)",
            ["topic"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "gvi_gateway_request_seconds",
            "Time to answer a request (to its first byte for a stream), by route template and "
            "method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.ready = Gauge(
            "gvi_gateway_ready",
            "1 when the gateway answers /readyz with 200 (its read model caught up)",
            registry=registry,
        )
        self.read_model_lag = Gauge(
            "gvi_gateway_read_model_lag",
            "Messages on an output topic partition not yet in the read model",
            ["topic", "partition"],
            registry=registry,
        )

    def attempted(self, recipient: str, status: int | None) -> "Outcome":
        """Count a webhook attempt; returns its outcome."""
        outcome: Outcome
        if status is None:
            outcome = "unanswered"
        elif 200 <= status < 300:
            outcome = "delivered"
        else:
            outcome = "refused"
        self.webhook_attempts.labels(recipient, outcome).inc()
        return outcome

    def expose(
        self,
        api: FastAPI,
        metrics_api: FastAPI,
        lag: Callable[[], Awaitable[Mapping[tuple[str, int], int]]],
        ready: Callable[[], bool],
        token: str | None,
    ) -> None:
        """Count and time every request of `api`, and serve `/metrics` on `metrics_api` (the
        API itself, or an app on a port of its own); with a token, only to its bearer."""

        @api.middleware("http")
        async def count_requests(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            started = time.perf_counter()
            response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", "unmatched")
            method = request.method if request.method in KNOWN_METHODS else "other"
            self.requests.labels(route, method, str(response.status_code)).inc()
            self.request_seconds.labels(route, method).observe(time.perf_counter() - started)
            return response

        @metrics_api.get("/metrics", tags=["operations"], include_in_schema=False)
        async def metrics(request: Request) -> Response:
            if token is not None and not _bearer_is(request, token):
                return Response(
                    "metrics need the metrics token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                    media_type="text/plain",
                )
            self.ready.set(1 if ready() else 0)
            self.read_model_lag.clear()
            for (topic, partition), behind in (await lag()).items():
                self.read_model_lag.labels(topic, str(partition)).set(behind)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )
