"""Gateway events: the gateway's HTTP disclosures and failed webhooks onto the audit and
escalation streams (the gateway may not write those itself)."""

from typing import Any

import structlog
from faust.types import EventT

from events.catalogue import Catalogue
from events.codec import decode, require_key
from schemas.gateway_event import GatewayEvent
from workers.core.gateway_events import relayed
from workers.stream.runner import StageHandler
from workers.stream.runtime import Runtime

NAME = "gateway-events"
log = structlog.get_logger("gvi.gateway_events")


def context(runtime: Runtime) -> Runtime:
    return runtime


async def on_gateway_event(runtime: Runtime, event: EventT[Any]) -> None:
    reported = decode(GatewayEvent, event.value)
    require_key(event.key, reported.task_id)
    await runtime.emit(relayed(reported))
    log.debug("gateway event written", kind=reported.kind, task_id=reported.task_id)


def handlers(catalogue: Catalogue) -> dict[str, StageHandler]:
    return {catalogue.gateway_events.name: on_gateway_event}
