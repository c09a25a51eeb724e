"""The decision core imports neither faust, aiokafka nor httpx, nor the stream layer."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "workers" / "core"
FORBIDDEN = {"faust", "mode", "aiokafka", "kafka", "httpx", "aiohttp", "events", "structlog"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda path: path.name)
def test_core_module_is_pure(module: Path) -> None:
    assert not (_imported_roots(module) & FORBIDDEN)


def test_the_core_has_modules() -> None:
    assert {path.stem for path in CORE.glob("*.py")} >= {
        "policy",
        "planner",
        "lifecycle",
        "projection",
    }
