"""The demo's agencies that work over HTTP: one takes its tasks by webhook (signature
verified), one pulls them from the gateway's API; both report status over HTTP."""

import asyncio
import base64
import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from workers.gateway.credentials import add_token

WEBHOOK_AGENCY = "socialtjansten-orebro"
"""Örebro's social services take their tasks by webhook (Huddinge's consume on Kafka)."""
PULL_AGENCY = "skatteverket"
SECRET_ENV = "GVI_DEMO_WEBHOOK_SECRET"


@dataclass(frozen=True)
class HttpAgencies:
    """The tokens and files of the demo's HTTP agencies and of the police system."""

    tokens: dict[str, str]
    secret: str
    credentials_file: Path
    webhooks_file: Path


def set_up(data_dir: Path, webhook_url: str) -> HttpAgencies:
    """Make tokens (police, a supervisor and the two HTTP agencies), a signing secret and the
    webhooks file."""
    credentials = data_dir / "credentials.json"
    tokens = {
        role: add_token(credentials, role)
        for role in ("police", "supervisor", f"agency:{PULL_AGENCY}", f"agency:{WEBHOOK_AGENCY}")
    }
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    webhooks = data_dir / "webhooks.yaml"
    document = {
        "allow_networks": ["127.0.0.0/8"],  # the demo's agency listens on loopback, without TLS
        "webhooks": {
            WEBHOOK_AGENCY: {
                "url": webhook_url,
                "secret_env": SECRET_ENV,
                "timeout_seconds": 5,
                "concurrency": 4,
            }
        },
    }
    webhooks.write_text(yaml.safe_dump(document), "utf-8")
    return HttpAgencies(tokens, secret, credentials, webhooks)


@contextmanager
def webhook_receiver(
    secret: Callable[[], str], received: Callable[[dict[str, Any]], None]
) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """The webhook agency's endpoint (a thread): verifies each signature with `secret()`,
    hands the task to `received` (called from that thread), answers 204; a bad signature
    gets 401. Its URL is known before the secret is made."""

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                payload = Webhook(secret()).verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                self.send_response(401)
            else:
                received(payload["data"])
                self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, name="demo-webhook", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/gvi/tasks", server
    finally:
        server.shutdown()
        server.server_close()


async def pulled_tasks(
    client: httpx.AsyncClient, token: str, pause: float = 1.0
) -> AsyncIterator[list[dict[str, Any]]]:
    """The pull agency's tasks as they are created or change, a page at a time, polling with
    the API's cursor."""
    cursor: str | None = None
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        answer = await client.get("/api/v1/tasks", params=params, headers=headers)
        answer.raise_for_status()
        page = answer.json()
        cursor = page["next_cursor"] or cursor
        if page["tasks"]:
            yield page["tasks"]
        if not page["has_more"]:
            await asyncio.sleep(pause)


async def report_over_http(client: httpx.AsyncClient, token: str, change: dict[str, Any]) -> int:
    """POST a status change to the gateway; returns the HTTP status (202 when accepted)."""
    answer = await client.post(
        f"/api/v1/tasks/{change['task_id']}/status",
        content=json.dumps(change),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    return answer.status_code
