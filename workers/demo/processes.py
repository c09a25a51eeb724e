"""The demo's processes: the worker, supervised as a service manager would, the gateway, and
how the demo says what happens."""

import contextlib
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path

from workers.demo.agencies import HttpAgencies
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.processes import start_gateway_process, start_worker_process


def say(text: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    # The terminal or pipe may be gone (e.g. `| head`, or `| tee` killed by Ctrl-C): go on.
    with contextlib.suppress(OSError):
        print(f"[{stamp}] {text}", flush=True)


class SupervisedWorker:
    """The demo's worker process, started again when it exits on its own, as a service manager
    (systemd, Kubernetes) would; the worker exits on purpose when a watchdog gives up."""

    def __init__(self, settings: Settings, data_dir: Path, max_starts: int = 5) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.max_starts = max_starts
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log_path = self.data_dir / (
            "worker.log" if self.starts == 1 else f"worker-{self.starts}.log"
        )
        self.process = start_worker_process(self.settings, log_path)
        say(f"worker pid {self.process.pid}; its log: {log_path}")

    def keep_running(self) -> bool:
        """Start the worker again if it has exited; False once it has exited `max_starts` times."""
        if self.process is None or self.process.poll() is None:
            return True
        exited = f"worker pid {self.process.pid} exited with status {self.process.returncode}"
        if self.starts >= self.max_starts:
            say(f"{exited}; it has exited {self.starts} times, not starting it again")
            return False
        say(f"{exited}; starting it again")
        self.start()
        return True

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            say(f"stopped worker pid {self.process.pid}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_gateway(
    settings: Settings, data_dir: Path, agencies: HttpAgencies
) -> tuple[subprocess.Popen[bytes], int]:
    """The demo's gateway process, with the agencies' credentials and webhooks; its port."""
    port = free_port()
    gateway_settings = settings.model_copy(
        update={
            "gateway_port": port,
            "credentials_file": agencies.credentials_file,
            "webhooks_file": agencies.webhooks_file,
            "gateway_store": data_dir / "gateway.sqlite",
        }
    )
    gateway = start_gateway_process(gateway_settings, data_dir / "gateway.log")
    say(
        f"gateway pid {gateway.pid} on http://127.0.0.1:{port}; its log: {data_dir / 'gateway.log'}"
    )
    token_file = data_dir / "supervisor-token.txt"
    token_file.touch(mode=0o600)
    token_file.write_text(agencies.tokens["supervisor"] + "\n", "utf-8")
    say(
        f"supervisors' dashboard: http://127.0.0.1:{port}/ (log in with the token in "
        f"{token_file}; it lives as long as the demo)"
    )
    return gateway, port
