"""Fixtures for every tier: one real broker per session and real worker deployments per test
(`tests/support/deployment.py`), used by the integration, end-to-end, reliability, fault and
slow tiers; unit tests never ask for them."""

pytest_plugins = ["tests.support.deployment"]
