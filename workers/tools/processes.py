"""Starts a worker or a gateway as a child process, configured by environment variables from
Settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from workers.settings import LogFormat, Settings


def settings_environment(settings: Settings) -> dict[str, str]:
    """The `GVI_` environment variables from which `Settings()` reads `settings` back."""
    environment: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):
            value = secret.get_secret_value()
        if value is not None:
            rendered = value if isinstance(value, str) else json.dumps(value)
            environment[f"GVI_{name.upper()}"] = rendered
    return environment


def start_worker_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """Start `gvi-sanctions worker` for `settings` in its own session; JSON log to `log_path`."""
    return start_process("worker", settings, log_path)


def start_gateway_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """Start `gvi-sanctions gateway` for `settings` in its own session; JSON log to `log_path`."""
    return start_process("gateway", settings, log_path)


def start_process(command: str, settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    if settings.broker_url is None:
        raise ValueError(f"a {command} process needs a broker URL")
    as_json = settings.model_copy(update={"log_format": LogFormat.JSON})
    environment = {**os.environ, **settings_environment(as_json)}
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", command],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,
        )
