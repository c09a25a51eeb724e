"""The fault tier runs on a three-broker Apache Kafka cluster (the root conftest's fixtures)."""

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if (
        os.environ.get("GVI_TEST_KAFKA_NODES") != "3"
        or os.environ.get("GVI_TEST_BROKER") != "kafka"
    ):
        raise pytest.UsageError(
            "tests/faults needs GVI_TEST_BROKER=kafka GVI_TEST_KAFKA_NODES=3 "
            "GVI_TEST_REPLICATION=3: run it with `make test-faults-kafka`"
        )
