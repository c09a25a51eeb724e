"""Real brokers for the integration tiers: embedded Tansu by default, Apache Kafka on request."""

import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.tools.embedded_broker import EmbeddedBroker, bindable

ROOT = Path(__file__).resolve().parents[2]
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
    nodes = int(os.environ.get("GVI_TEST_KAFKA_NODES", "1"))
    name = kafka_cluster_name()
    try:
        for _attempt in range(3):
            started = subprocess.run(
                [str(KAFKA_SCRIPTS / "start.sh"), str(nodes), str(free_port_block(nodes)), name],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            # Another process can take a port between our check and the broker's bind.
            if started.returncode == 0 or "Address already in use" not in _broker_logs(name):
                break
            subprocess.run([str(KAFKA_SCRIPTS / "stop.sh"), name], timeout=120, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"Apache Kafka did not start:\n{started.stdout}\n{started.stderr}")
        bootstrap = started.stdout.strip().splitlines()[-1]
        yield "kafka://" + bootstrap.replace(",", ";")
    finally:
        subprocess.run([str(KAFKA_SCRIPTS / "stop.sh"), name], timeout=120, check=False)


def kafka_cluster_name() -> str:
    """The name of this test process's Apache Kafka cluster (deploy/kafka/.run/NAME)."""
    return f"pytest-{os.getpid()}"


def kafka_node(node: int, action: str) -> None:
    """Start or SIGKILL one broker of this test process's cluster (`deploy/kafka/node.sh`)."""
    subprocess.run(
        [str(KAFKA_SCRIPTS / "node.sh"), kafka_cluster_name(), str(node), action],
        timeout=60,
        check=True,
    )


def free_port_block(nodes: int) -> int:
    """A base port below the ephemeral range whose broker and controller ports, and the secure
    cluster's mutual-TLS ports (each broker's + 200), are all free."""
    while True:
        base = random.randrange(20000, 30000)
        brokers = [base + i for i in range(nodes)]
        wanted = [*brokers, *(base + 100 + i for i in range(1, nodes + 1))]
        wanted += [port + 200 for port in brokers]
        if all(bindable(port) for port in wanted):
            return base


def _broker_logs(name: str) -> str:
    run = KAFKA_SCRIPTS / ".run" / name
    return "".join(
        log.read_text("utf-8", errors="replace") for log in sorted(run.glob("node-*/broker.log"))
    )
