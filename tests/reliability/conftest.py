"""The reliability tier shares the integration tier's broker and deployment fixtures."""

from tests.integration.conftest import broker_url, deployment

__all__ = ["broker_url", "deployment"]
