"""The gateway's API and dashboard in process, on a read model, for tests without a broker."""

from pathlib import Path

from fastapi import FastAPI

from events.catalogue import Catalogue
from workers.gateway.app import create_api
from workers.gateway.credentials import CredentialsFile
from workers.gateway.dashboard import Sessions
from workers.gateway.deps import Gateway
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
        sessions=Sessions(lambda: session_key),
    )
    return create_api(gateway)
