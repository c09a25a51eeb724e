"""Real brokers for the integration tiers: embedded Tansu by default, Apache Kafka on request."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.embedded_broker import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPTS = ROOT / "deploy" / "kafka"


@contextmanager
def running_broker(log_dir: Path) -> Iterator[str]:
    """Yield a kafka:// URL: Tansu, or Apache Kafka when GVI_TEST_BROKER=kafka."""
    kind = os.environ.get("GVI_TEST_BROKER", "tansu")
    if kind == "tansu":
        with EmbeddedBroker(log_path=log_dir / "tansu.log") as broker:
            yield broker.url
        return
    if kind != "kafka":
        raise ValueError(f"GVI_TEST_BROKER must be tansu or kafka, not {kind!r}")
    nodes = os.environ.get("GVI_TEST_KAFKA_NODES", "1")
    name = f"pytest-{os.getpid()}"
    started = subprocess.run(
        [str(KAFKA_SCRIPTS / "start.sh"), nodes, str(free_port_block()), name],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"Apache Kafka did not start:\n{started.stdout}\n{started.stderr}")
        bootstrap = started.stdout.strip().splitlines()[-1]
        yield "kafka://" + bootstrap.replace(",", ";")
    finally:
        subprocess.run([str(KAFKA_SCRIPTS / "stop.sh"), name], timeout=120, check=False)


def free_port_block() -> int:
    """A base port whose next few ports (brokers) and +100.. (controllers) are likely free."""
    while True:
        base = free_port()
        if base < 60000:
            return base
