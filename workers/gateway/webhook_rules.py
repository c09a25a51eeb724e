"""Webhook settings per recipient, and the pure rules of retrying: which answers are retried,
how long to wait, and when the circuit opens."""

import random
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, IPvAnyNetwork, ValidationError

from schemas.common import describe_validation_error


class WebhookTarget(BaseModel):
    """Where and how one recipient's tasks are pushed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: HttpUrl
    secret_env: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="the environment variable holding the signing secret (whsec_<base64>)",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    concurrency: int = Field(default=4, ge=1, le=64)
    max_attempts: int = Field(default=8, ge=1, le=100)
    first_backoff_seconds: float = Field(default=1.0, gt=0, le=600)
    longest_backoff_seconds: float = Field(default=300.0, gt=0, le=86400)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_open_seconds: float = Field(default=30.0, gt=0, le=3600)


class WebhookTargets(BaseModel):
    """The webhooks file: one target per recipient that takes its tasks by webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhooks: dict[str, WebhookTarget] = Field(default_factory=dict)
    allow_networks: tuple[IPvAnyNetwork, ...] = Field(
        default=(),
        description="networks a target may be in although they are private or loopback; "
        "a target there may also use http:// (a test, or an agency's own network)",
    )


class WebhooksInvalid(ValueError):
    """The webhooks file cannot be used; the message points at the offending entry."""


def load_targets(path: Path | None, recipients: frozenset[str]) -> WebhookTargets:
    """The webhooks file's targets, each for a recipient the policy knows."""
    if path is None:
        return WebhookTargets()
    try:
        targets = WebhookTargets.model_validate(yaml.safe_load(path.read_text("utf-8")) or {})
    except (OSError, yaml.YAMLError) as error:
        raise WebhooksInvalid(f"{path}: {error}") from None
    except ValidationError as error:
        raise WebhooksInvalid(f"{path}: {describe_validation_error(error)}") from None
    unknown = sorted(set(targets.webhooks) - recipients)
    if unknown:
        raise WebhooksInvalid(f"{path}: no recipient named {', '.join(unknown)} in the policy")
    for recipient, target in targets.webhooks.items():
        problem = unsafe_target(target, targets.allow_networks)
        if problem is not None:
            raise WebhooksInvalid(f"{path}: webhooks.{recipient}.url: {problem}")
    return targets


def unsafe_target(
    target: WebhookTarget, allowed: tuple[IPv4Network | IPv6Network, ...]
) -> str | None:
    """Why a target may not be pushed to, or None: a task leaves only over TLS, and never to a
    private, loopback, link-local or reserved address (the gateway's own network) unless that
    network is allowlisted. A host name is resolved once, at start (a name that later resolves
    elsewhere is not caught; the deployment's egress rules are the second line)."""
    host = target.url.host or ""
    if target.url.scheme != "https" and not allowed:
        return "a webhook must use https:// (tasks carry personal data)"
    try:
        addresses = {ip_address(host.strip("[]"))}
    except ValueError:
        try:
            found = socket.getaddrinfo(host, target.url.port or 443, proto=socket.IPPROTO_TCP)
        except OSError as error:
            return f"{host} cannot be resolved ({error})"
        addresses = {ip_address(str(entry[4][0]).split("%")[0]) for entry in found}
    inside = all(any(address in network for network in allowed) for address in addresses)
    if inside:
        return None
    if target.url.scheme != "https":
        return "a webhook must use https:// (tasks carry personal data)"
    internal = [str(a) for a in addresses if not a.is_global]
    if internal:
        return (
            f"{host} is a private or loopback address ({', '.join(sorted(internal))}); "
            "list its network under allow_networks if it is meant"
        )
    return None


RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def retried(status: int | None) -> bool:
    """Whether an answer is worth another attempt: no answer at all (a timeout, a refused
    connection), a 5xx, 408, 425 or 429. Any other 4xx is the agency refusing the message."""
    return status is None or status >= 500 or status in RETRIED_STATUSES


def backoff(target: WebhookTarget, attempt: int, chance: random.Random) -> float:
    """Exponential backoff with full jitter before attempt `attempt + 1` (attempt counts from 1)."""
    ceiling = min(
        target.first_backoff_seconds * 2 ** min(attempt - 1, 30), target.longest_backoff_seconds
    )
    return chance.uniform(ceiling / 2, ceiling)


def retry_after(header: str | None, now: datetime, longest: float) -> float | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), capped at `longest`;
    None when there is none or it cannot be read."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return min(float(text), longest)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max((moment - now).total_seconds(), 0.0), longest)


@dataclass
class Breaker:
    """A circuit breaker for one recipient: after `failures` failed attempts in a row it opens
    for `open_seconds`; then one attempt may try (half-open), and a success closes it."""

    failures: int
    open_seconds: float
    failed_in_a_row: int = 0
    open_until: float = field(default=0.0)

    def wait(self, now: float) -> float:
        """How long an attempt must wait now; 0 lets it through (when the circuit is open and
        its time is up, the first caller is the one trial, and the rest wait again)."""
        if self.failed_in_a_row < self.failures:
            return 0.0
        if now >= self.open_until:
            self.open_until = now + self.open_seconds
            return 0.0
        return self.open_until - now

    def record(self, succeeded: bool, now: float) -> None:
        if succeeded:
            self.failed_in_a_row = 0
            self.open_until = 0.0
            return
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= self.failures:
            self.open_until = now + self.open_seconds
