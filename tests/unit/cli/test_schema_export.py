"""The committed JSON Schemas under schemas/json/ match the models."""

import json
from pathlib import Path

from schemas.export import CONTRACTS, json_schemas, render
from workers.cli.main import main

COMMITTED = Path(__file__).resolve().parents[3] / "schemas" / "json"


def test_committed_json_schemas_are_current(tmp_path: Path) -> None:
    assert main(["schemas", "export", str(tmp_path)]) == 0
    exported = {path.name: path.read_text("utf-8") for path in sorted(tmp_path.glob("*.json"))}
    committed = {path.name: path.read_text("utf-8") for path in sorted(COMMITTED.glob("*.json"))}
    stale = sorted(name for name in exported if committed.get(name) != exported[name])
    extra = sorted(set(committed) - set(exported))
    assert not stale and not extra, (
        f"schemas/json is stale (changed: {stale}, no longer exported: {extra}); "
        "run `make schemas` and commit the result"
    )


def test_every_contract_is_exported_with_its_schema_version() -> None:
    schemas = json_schemas()
    assert set(CONTRACTS) <= set(schemas)
    for name in CONTRACTS:
        assert "schema_version" in schemas[name]["properties"], name
        assert schemas[name]["additionalProperties"] is False, name
    assert json.loads(render(schemas["sanction-task"]))["title"] == "SanctionTask"


def test_the_committed_openapi_document_is_current(tmp_path: Path) -> None:
    written = tmp_path / "openapi.json"
    assert main(["schemas", "openapi", str(written)]) == 0
    committed = COMMITTED.parent / "openapi.json"
    assert committed.read_text("utf-8") == written.read_text("utf-8"), (
        "schemas/openapi.json is stale; run `make schemas` and commit the result"
    )
    document = json.loads(written.read_text("utf-8"))
    schemes = document["components"]["securitySchemes"]
    named = {
        name
        for operations in document["paths"].values()
        for operation in operations.values()
        for requirement in operation.get("security", ())
        for name in requirement
    }
    assert named == {"bearer"} and named <= set(schemes), "every scheme used is defined"
    assert schemes["bearer"]["scheme"] == "bearer"
    for open_path in ("/healthz", "/readyz"):
        assert "security" not in document["paths"][open_path]["get"]
    assert {"/api/v1/incidents", "/api/v1/tasks", "/api/v1/tasks/{task_id}/status"} <= set(
        document["paths"]
    )
