"""The webhooks' pure rules: what is retried, how long to wait, the breaker, the signature."""

import base64
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from workers.gateway.webhook_rules import (
    Breaker,
    WebhooksInvalid,
    WebhookTarget,
    backoff,
    load_targets,
    retried,
    retry_after,
)
from workers.gateway.webhooks import signed_request, webhook_id

TARGET = WebhookTarget(
    url="https://agency.example/gvi",  # type: ignore[arg-type]
    secret_env="GVI_SECRET",
    first_backoff_seconds=0.5,
    longest_backoff_seconds=30,
)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "again"),
    [
        (None, True),
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (200, False),
    ],
)
def test_only_passing_failures_are_retried(status: int | None, again: bool) -> None:
    assert retried(status) is again


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_grows_and_stays_within_the_longest(attempt: int, seed: int) -> None:
    pause = backoff(TARGET, attempt, random.Random(seed))
    ceiling = min(0.5 * 2 ** (attempt - 1), 30)
    assert ceiling / 2 <= pause <= ceiling


def test_retry_after_in_seconds_or_as_a_date_is_read_and_capped() -> None:
    assert retry_after("7", NOW, 30) == 7
    assert retry_after("3600", NOW, 30) == 30
    later = (NOW + timedelta(seconds=12)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(later, NOW, 30) == pytest.approx(12)
    assert retry_after("soon", NOW, 30) is None
    assert retry_after(None, NOW, 30) is None


def test_the_breaker_opens_after_failures_lets_one_trial_through_and_closes_on_success() -> None:
    breaker = Breaker(failures=3, open_seconds=10)
    for moment in (0.0, 1.0, 2.0):
        assert breaker.wait(moment) == 0
        breaker.record(False, moment)
    assert breaker.wait(3.0) == pytest.approx(9.0)
    assert breaker.wait(12.0) == 0, "the first caller after the pause is the trial"
    assert breaker.wait(12.5) > 0, "the others wait while the trial runs"
    breaker.record(True, 13.0)
    assert breaker.wait(13.0) == 0


def test_a_signed_task_verifies_with_the_recipients_secret_only() -> None:
    secret = "whsec_" + base64.b64encode(b"invented-secret").decode()
    view = {"task_id": "9f1c2e4a-0000-4000-8000-000000000001", "status": "delivered"}
    body, headers = signed_request(Webhook(secret), view, datetime.now(UTC))
    assert Webhook(secret).verify(body, headers)["data"] == view
    assert headers["webhook-id"] == webhook_id(view)
    other = "whsec_" + base64.b64encode(b"another-secret").decode()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other).verify(body, headers)


def test_a_webhooks_file_naming_an_unknown_recipient_or_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.yaml"
    path.write_text("webhooks:\n  tullverket:\n    url: https://x.example\n    secret_env: S\n")
    with pytest.raises(WebhooksInvalid, match="tullverket"):
        load_targets(path, frozenset({"skatteverket"}))
    path.write_text("webhooks:\n  skatteverket:\n    url: https://x.example\n    secret: plain\n")
    with pytest.raises(WebhooksInvalid, match="secret"):
        load_targets(path, frozenset({"skatteverket"}))


@pytest.mark.parametrize(
    ("url", "allowed", "problem"),
    [
        ("http://agency.example.org/hook", "", "https://"),
        ("https://127.0.0.1/hook", "", "loopback"),
        ("https://10.1.2.3/hook", "", "private"),
        ("https://[::1]/hook", "", "loopback"),
        ("https://169.254.169.254/latest", "", "private"),
        ("http://127.0.0.1:8080/hook", "127.0.0.0/8", None),
        ("https://10.1.2.3/hook", "10.0.0.0/8", None),
        ("https://192.0.2.10/hook", "", "private"),
    ],
)
def test_webhooks_leave_only_over_tls_and_never_to_an_internal_address_unless_allowlisted(
    tmp_path: Path, url: str, allowed: str, problem: str | None
) -> None:
    path = tmp_path / "webhooks.yaml"
    networks = f"allow_networks: [{allowed}]\n" if allowed else ""
    path.write_text(f"{networks}webhooks:\n  skatteverket:\n    url: {url}\n    secret_env: S\n")
    if problem is None:
        assert load_targets(path, frozenset({"skatteverket"})).webhooks["skatteverket"]
        return
    with pytest.raises(WebhooksInvalid) as refused:
        load_targets(path, frozenset({"skatteverket"}))
    assert problem in str(refused.value) and "webhooks.skatteverket.url" in str(refused.value)
