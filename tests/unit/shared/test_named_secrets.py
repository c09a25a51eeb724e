"""Webhook signing secrets are read as settings from the variables the webhooks file names, and
held as SecretStr: never printed, never in a file."""

import pytest
from pydantic import HttpUrl

from workers.gateway.server import signing_secrets
from workers.gateway.webhook_rules import WebhooksInvalid, WebhookTarget, WebhookTargets
from workers.settings import secrets_named


def test_each_named_variable_is_read_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVI_TEST_SIGNING_A", "whsec_aW52ZW50ZWQ=")
    monkeypatch.setenv("GVI_TEST_SIGNING_EMPTY", "")
    monkeypatch.delenv("GVI_TEST_SIGNING_UNSET", raising=False)
    read = secrets_named(["GVI_TEST_SIGNING_A", "GVI_TEST_SIGNING_EMPTY", "GVI_TEST_SIGNING_UNSET"])
    secret = read["GVI_TEST_SIGNING_A"]
    assert secret is not None and secret.get_secret_value() == "whsec_aW52ZW50ZWQ="
    assert "aW52" not in repr(read) and "aW52" not in str(read)
    assert read["GVI_TEST_SIGNING_EMPTY"] is None
    assert read["GVI_TEST_SIGNING_UNSET"] is None


def test_a_webhook_whose_variable_is_unset_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GVI_TEST_SIGNING_A", "whsec_aW52ZW50ZWQ=")
    monkeypatch.delenv("GVI_TEST_SIGNING_B", raising=False)
    target = WebhookTarget(
        url=HttpUrl("https://agency.invented.example/hook"), secret_env="GVI_TEST_SIGNING_A"
    )
    targets = WebhookTargets(webhooks={"skatteverket": target})
    assert signing_secrets(targets) == {"skatteverket": "whsec_aW52ZW50ZWQ="}
    missing = target.model_copy(update={"secret_env": "GVI_TEST_SIGNING_B"})
    with pytest.raises(WebhooksInvalid, match=r"kronofogden is signed with \$GVI_TEST_SIGNING_B"):
        signing_secrets(WebhookTargets(webhooks={"skatteverket": target, "kronofogden": missing}))
