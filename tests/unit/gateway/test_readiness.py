"""The gateway's /readyz: ready only once caught up and while the broker answers."""

from pathlib import Path

import httpx
import pytest

from events.catalogue import build_catalogue
from workers.gateway.app import create_api
from workers.gateway.credentials import CredentialsFile
from workers.gateway.dashboard import Sessions
from workers.gateway.deps import Gateway
from workers.gateway.disclosure import Disclosures
from workers.policies import load_policy

POLICY = load_policy()


async def _status(caught_up: bool, broker_answers: bool) -> tuple[int, str]:
    async def reachable() -> bool:
        return broker_answers

    async def send(topic: str, key: str, value: bytes) -> None:
        raise AssertionError("readiness sends nothing")

    catalogue = build_catalogue("gvi.", 4, POLICY.recipient_ids)
    gateway = Gateway(
        catalogue=catalogue,
        model=None,  # type: ignore[arg-type]  # /readyz never reads it
        credentials=CredentialsFile(Path("/nonexistent/credentials.json")),
        send=send,
        ready=lambda: caught_up,
        max_body_bytes=1024,
        broker_reachable=reachable,
        disclosures=Disclosures(lambda: gateway.model, send, catalogue.gateway_events.name),
        sessions=Sessions(lambda: "k" * 64),
    )
    transport = httpx.ASGITransport(app=create_api(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    return answer.status_code, answer.json().get("detail", answer.json().get("status"))


@pytest.mark.parametrize(
    ("caught_up", "broker_answers", "status", "says"),
    [
        (True, True, 200, "ready"),
        (False, True, 503, "catching up"),
        (True, False, 503, "broker does not answer"),
    ],
)
async def test_readiness(caught_up: bool, broker_answers: bool, status: int, says: str) -> None:
    answered, text = await _status(caught_up, broker_answers)
    assert answered == status and says in text
