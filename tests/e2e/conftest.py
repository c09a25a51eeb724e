"""Fixtures of the end-to-end tier: the integration tier's broker and deployments."""

from tests.integration.conftest import broker_url, deployment

__all__ = ["broker_url", "deployment"]
