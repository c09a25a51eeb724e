"""The decision core imports neither faust, aiokafka nor httpx, nor the stream layer or the
gateway, and reads no files: every input reaches it as a value."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "workers" / "core"
FORBIDDEN_ROOTS = {"faust", "mode", "aiokafka", "kafka", "httpx", "aiohttp", "events", "structlog"}
FORBIDDEN_MODULES = {
    "workers.stream",
    "workers.gateway",
    "workers.cli",
    "workers.demo",
    "workers.tools",
    "workers.policies",
    "workers.faust_fixes",
    "pathlib",
    "importlib",
    "os",
    "io",
    "shutil",
    "sqlite3",
    "socket",
}
FILE_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}


def _imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def _called_names(tree: ast.AST) -> set[str]:
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name):
                called.add(function.id)
            elif isinstance(function, ast.Attribute):
                called.add(function.attr)
    return called


def _forbidden(modules: set[str]) -> set[str]:
    return {
        module
        for module in modules
        if module.split(".")[0] in FORBIDDEN_ROOTS
        or any(module == f or module.startswith(f"{f}.") for f in FORBIDDEN_MODULES)
    }


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda path: path.name)
def test_core_module_is_pure(module: Path) -> None:
    tree = ast.parse(module.read_text("utf-8"))
    assert _forbidden(_imported_modules(tree)) == set()
    assert _called_names(tree) & FILE_CALLS == set()


def test_the_purity_check_catches_what_it_forbids() -> None:
    tree = ast.parse(
        "import faust\nfrom workers.stream.app import create_app\nfrom pathlib import Path\n"
        "Path('x').read_text()\nopen('y')\n"
    )
    assert _forbidden(_imported_modules(tree)) == {"faust", "workers.stream.app", "pathlib"}
    assert _called_names(tree) & FILE_CALLS == {"open", "read_text"}


def test_the_core_has_a_module_per_stage() -> None:
    assert {path.stem for path in CORE.glob("*.py")} >= {
        "policy",
        "planner",
        "lifecycle",
        "projection",
        "intake",
        "planning",
        "tasks",
        "completion",
    }
