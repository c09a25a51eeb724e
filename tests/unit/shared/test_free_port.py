"""`free_port`: a port below the kernel's ephemeral range, bindable, never handed out twice."""

import socket
from collections.abc import Iterator

import pytest

from workers.tools import embedded_broker
from workers.tools.embedded_broker import EPHEMERAL_PORTS, free_port


def lowest_ephemeral() -> int:
    return int(EPHEMERAL_PORTS.read_text().split()[0])


def test_ports_lie_below_the_ephemeral_range_and_differ() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 <= port < lowest_ephemeral() for port in ports)


@pytest.fixture
def bound() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", lowest_ephemeral() - 7))
        server.listen()
        yield server.getsockname()[1]


def test_a_bound_port_is_passed_over(bound: int, monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([bound, bound - 1])
    monkeypatch.setattr(embedded_broker.random, "randrange", lambda *_: next(offered))
    monkeypatch.setattr(embedded_broker, "_handed_out", set())
    assert free_port() == bound - 1
