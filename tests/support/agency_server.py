"""A real HTTP server acting as an agency's webhook endpoint, answering as a script says."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    """One request the agency received, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float
    """When it arrived (monotonic clock)."""
    late: bool = False
    """Answered only after the gateway's timeout: the gateway never saw this answer."""
    number: int = 0
    """Its place among the requests to its path, by arrival (from 1)."""


Answer = Callable[[int, str], tuple[int, dict[str, str], float]]
"""For the n-th request (from 1) to a path: status, headers, and seconds to wait first."""
LATE = 1.0
"""The gateway's timeout in these tests: an answer after waiting this long never reaches it."""


@dataclass
class Agency:
    """The endpoints' scripts and every request received."""

    scripts: dict[str, Answer]
    received: list[Received] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str) -> tuple[int, int, dict[str, str], float]:
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            n = self.counts[path]
        return n, *self.scripts.get(path, lambda n, p: (404, {}, 0.0))(n, path)

    def delivered(self, path: str) -> list[Received]:
        with self.lock:
            return [
                r for r in self.received if r.path == path and 200 <= r.status < 300 and not r.late
            ]

    def to(self, path: str) -> list[Received]:
        """Every request to `path`, in the order they arrived."""
        with self.lock:
            return sorted((r for r in self.received if r.path == path), key=lambda r: r.number)


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The payload of a request whose Standard Webhooks signature holds (raises otherwise)."""
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


@contextmanager
def agency_server(agency: Agency, port: int = 0) -> Iterator[str]:
    """Serve `agency` on 127.0.0.1 until the block ends; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived = time.monotonic()
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            number, status, headers, pause = agency.answer(self.path)
            if pause:
                time.sleep(pause)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                status = 0  # the gateway gave up waiting: no answer reached it
            with agency.lock:
                agency.received.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        status,
                        arrived,
                        late=pause >= LATE,
                        number=number,
                    )
                )

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
