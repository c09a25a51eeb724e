"""Schemathesis against the running gateway, every operation with a valid token of its role:
no 5xx, and every answer as the exported OpenAPI document says."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.deployment import new_deployment
from tests.support.gateway_stack import Stack, started_stack

pytestmark = pytest.mark.broker
DOCUMENT = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


@pytest.fixture(scope="module")
def stack(broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    deployment = new_deployment(broker_url, tmp_path_factory.mktemp("openapi"))
    try:
        with started_stack(deployment) as built:
            yield built
    finally:
        for worker in deployment.workers:
            worker.stop()


schema = schemathesis.openapi.from_path(str(DOCUMENT))
"""The committed document (kept current by tests/unit/test_schema_export.py)."""


def _role(method: str, path: str) -> str:
    if method == "POST" and path in ("/api/v1/incidents", "/api/v1/groups"):
        return "police"
    if path.startswith("/api/v1/tasks"):
        return "agency:skatteverket"
    return "supervisor"


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_and_never_with_a_5xx(
    case: schemathesis.Case, stack: Stack
) -> None:
    token = stack.tokens[_role(case.method.upper(), case.path)]
    case.call_and_validate(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            ignored_auth,  # the same call without the bearer token must be refused
        ],
    )


def test_schemathesis_finds_the_security_scheme_of_every_operation_but_health() -> None:
    for path, methods in schema.raw_schema["paths"].items():
        for method in methods:
            security = list(schema[path][method.upper()].security.iter_parameters())
            if path in ("/healthz", "/readyz"):
                assert security == [], path
            else:
                assert [p.name for p in security] == ["Authorization"], (path, method)
