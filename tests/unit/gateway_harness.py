"""The gateway's API and dashboard in process, on a read model, for tests without a broker."""

from pathlib import Path

from fastapi import FastAPI

from events.catalogue import Catalogue
from workers.gateway.api import Gateway, create_api
from workers.gateway.credentials import CredentialsFile
from workers.gateway.dashboard import add_dashboard
from workers.gateway.disclosure import Disclosures
from workers.gateway.read_model import ReadModel


def gateway_api(
    catalogue: Catalogue, credentials: Path, model: ReadModel, session_key: str = "k" * 64
) -> FastAPI:
    """A gateway app that produces nothing (its inputs are dropped) and is always ready."""

    async def send(topic: str, key: str, value: bytes) -> None:
        return None

    async def reachable() -> bool:
        return True

    gateway = Gateway(
        catalogue=catalogue,
        model=model,
        credentials=CredentialsFile.open(credentials),
        send=send,
        ready=lambda: True,
        max_body_bytes=4096,
        broker_reachable=reachable,
        disclosures=Disclosures(lambda: model, send, catalogue.gateway_events.name),
    )
    api = create_api(gateway)
    add_dashboard(api, gateway.credentials, lambda: model, gateway.disclosures, lambda: session_key)
    return api
