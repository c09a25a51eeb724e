"""The gateway's edge in process (no broker): retention of the read model, the session cookie
and HSTS behind a proxy, and a cross-site login refused."""

import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from events.catalogue import build_catalogue
from tests.support.gateway import gateway_api, incident_records
from workers.gateway.credentials import add_token
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import Record
from workers.gateway.server import topic_roles
from workers.policies import load_policy

POLICY = load_policy()


CATALOGUE = build_catalogue("gvi.", 4, POLICY.recipient_ids)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
async def model(tmp_path: Path) -> AsyncIterator[ReadModel]:
    opened = await ReadModel.open(tmp_path / "store" / "gateway.sqlite", topic_roles(CATALOGUE))
    yield opened
    await opened.close()


def _records(incident_id: str, progress: str, updated_at: datetime) -> list[Record]:
    return incident_records(CATALOGUE, POLICY, incident_id, progress, updated_at)


async def test_retention_forgets_closed_incidents_and_keeps_open_and_recent_ones(
    model: ReadModel, tmp_path: Path
) -> None:
    await model.apply(_records("INC-OLD-DONE", "done", NOW - timedelta(days=200)), NOW)
    await model.apply(_records("INC-OLD-OPEN", "open", NOW - timedelta(days=200)), NOW)
    await model.apply(_records("INC-NEW-DONE", "done", NOW - timedelta(days=10)), NOW)
    assert await model.views_of_incident("INC-OLD-DONE")
    forgotten = await model.forget_closed(NOW - timedelta(days=180))
    assert forgotten == 1
    assert await model.incident("INC-OLD-DONE") is None
    assert await model.views_of_incident("INC-OLD-DONE") == {}
    assert await model.incident("INC-OLD-OPEN") is not None
    assert await model.views_of_incident("INC-NEW-DONE")
    store = tmp_path / "store" / "gateway.sqlite"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700


def _edge(tmp_path: Path, model: ReadModel) -> tuple[httpx.ASGITransport, str]:
    credentials = tmp_path / "credentials.json"
    token = add_token(credentials, "supervisor")
    return httpx.ASGITransport(app=gateway_api(CATALOGUE, credentials, model)), token


@pytest.mark.parametrize(
    ("base", "secure", "hsts"),
    [
        ("http://127.0.0.1:8080", False, False),
        ("http://gvi.invented.example", True, False),
        ("https://gvi.invented.example", True, True),
    ],
)
async def test_the_session_cookie_is_secure_off_loopback_and_https_answers_carry_hsts(
    model: ReadModel, tmp_path: Path, base: str, secure: bool, hsts: bool
) -> None:
    transport, token = _edge(tmp_path, model)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        answer = await client.post("/login", data={"token": token})
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert ("Secure" in cookie) is secure and "HttpOnly" in cookie
        assert ("strict-transport-security" in answer.headers) is hsts
        assert answer.headers["location"] == "/", "never built from the Host header"
        foreign = await client.post(
            "/login", data={"token": token}, headers={"Origin": "https://attacker.example"}
        )
        assert foreign.status_code == 403
        large = await client.post("/login", content=b"token=" + b"A" * 100_000)
        assert large.status_code == 413
