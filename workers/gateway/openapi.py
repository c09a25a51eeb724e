"""The gateway's OpenAPI document: the request bodies that routes read themselves (to
validate them strictly, as on Kafka) and the bearer security scheme."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from schemas.group import GroupProfile
from schemas.incident import IncidentEvent
from schemas.task import TaskStatusChange

INCIDENT_EVENT: TypeAdapter[IncidentEvent] = TypeAdapter(IncidentEvent)
REF = "#/components/schemas/{model}"


def body(name: str) -> dict[str, Any]:
    """The request body of a route that reads its JSON itself (to validate it strictly, as
    on Kafka), for the OpenAPI document."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=name)}}},
        }
    }


def body_schemas() -> dict[str, Any]:
    """The request bodies' JSON Schemas and every schema they refer to."""
    found: dict[str, Any] = {}
    for name, adapter in (
        ("IncidentEvent", INCIDENT_EVENT),
        ("GroupProfile", TypeAdapter(GroupProfile)),
        ("TaskStatusChange", TypeAdapter(TaskStatusChange)),
    ):
        schema = adapter.json_schema(ref_template=REF, mode="validation")
        found.update(schema.pop("$defs", {}))
        found[name] = schema
    return found


def document_of(api: FastAPI) -> dict[str, Any]:
    """The document of `api`, with the body schemas and the bearer scheme that its operations
    name (built once); `/healthz` and `/readyz` need no token."""
    if api.openapi_schema is None:
        document = get_openapi(
            title=api.title, version=api.version, description=api.description, routes=api.routes
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in body_schemas().items():
            components.setdefault(name, schema)
        schemes = document["components"].setdefault("securitySchemes", {})
        schemes.setdefault("bearer", {"type": "http", "scheme": "bearer"})
        api.openapi_schema = document
    return api.openapi_schema
