"""The slow tier (`make test-slow`): large volumes on the integration tier's fixtures."""

from tests.integration.conftest import broker_url, deployment

__all__ = ["broker_url", "deployment"]
