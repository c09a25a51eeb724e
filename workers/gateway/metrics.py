"""The gateway's Prometheus series: requests by route and code, webhook attempts and failures
by recipient, and how far its read model is behind the topics."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
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
        self, api: FastAPI, lag: Callable[[], Awaitable[Mapping[tuple[str, int], int]]]
    ) -> None:
        """Count every request, and serve `/metrics` (open, like `/healthz`: counts only)."""

        @api.middleware("http")
        async def count_requests(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", "unmatched")
            method = request.method if request.method in KNOWN_METHODS else "other"
            self.requests.labels(route, method, str(response.status_code)).inc()
            return response

        @api.get("/metrics", tags=["operations"], include_in_schema=False)
        async def metrics() -> Response:
            self.read_model_lag.clear()
            for (topic, partition), behind in (await lag()).items():
                self.read_model_lag.labels(topic, str(partition)).set(behind)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
