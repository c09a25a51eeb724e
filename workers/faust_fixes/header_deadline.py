"""A deadline for every request's head on uvicorn's h11 protocol (uvicorn 0.54 has none).

uvicorn closes a connection that idles between requests (`timeout_keep_alive`), but a client
that sends a request line and headers a byte at a time keeps its connection, a file descriptor
and a task for ever: 200 such clients were all still connected after 90 s, and 300 exhausted
256 file descriptors. Here each request's head (request line and headers) must arrive whole
within `header_seconds` of the connection, or of the previous response; otherwise the
connection is closed. The class is handed to uvicorn as its `http` protocol; it relies on
`H11Protocol.connection_made`, `data_received` and `on_response_complete` (in `REPLACED`).
"""

import asyncio
from typing import Any, ClassVar

import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger("gvi.gateway.http")
END_OF_HEAD = b"\r\n\r\n"


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head."""

    header_seconds: ClassVar[float] = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_tail = b""
        self._head_deadline: asyncio.TimerHandle | None = None
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is not None:
            seen = self._head_tail + data
            if END_OF_HEAD in seen:
                self._head_deadline.cancel()
                self._head_deadline = None
                self._head_tail = b""
            else:
                self._head_tail = seen[-(len(END_OF_HEAD) - 1) :]
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_tail = b""
        self._head_deadline = self.loop.call_later(self.header_seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            log.warning(
                "a request's head did not arrive in time; connection closed",
                seconds=self.header_seconds,
            )
            self.transport.close()


def with_header_deadline(seconds: float) -> Any:
    """The protocol class for uvicorn's `http` setting, with its deadline."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_seconds": seconds})
