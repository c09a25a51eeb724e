"""Starts a worker as a child process, configured by environment variables from Settings."""

import os
import subprocess
import sys
from pathlib import Path

from workers.settings import Settings


def start_worker_process(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """Start `gvi-sanctions worker` for `settings` in its own session; JSON log to `log_path`."""
    environment = {
        **os.environ,
        "GVI_BROKER_URL": settings.broker_url or "",
        "GVI_TOPIC_PREFIX": settings.topic_prefix,
        "GVI_APP_ID": settings.app_id,
        "GVI_WEB_PORT": str(settings.web_port),
        "GVI_DATA_DIR": str(settings.data_dir),
        "GVI_LOG_FORMAT": "json",
    }
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,
        )
