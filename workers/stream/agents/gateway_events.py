"""Gateway events: the gateway's HTTP disclosures and failed webhooks onto the audit and
escalation streams (the gateway may not write those itself)."""

from typing import Any

import structlog
from faust.types import EventT

from events.codec import decode, require_key
from schemas.gateway_event import GatewayEvent
from workers.core.gateway_events import relayed
from workers.stream.runtime import Runtime, subscribe

log = structlog.get_logger("gvi.gateway_events")


def register(app: Any, runtime: Runtime) -> None:
    """Register the relay agent on `gvi.gateway-events`."""

    async def relay(event: EventT[Any]) -> None:
        reported = decode(GatewayEvent, event.value)
        require_key(event.key, reported.task_id)
        await runtime.emit(relayed(reported))
        log.debug("gateway event written", kind=reported.kind, task_id=reported.task_id)

    subscribe(app, runtime, "gateway-events", {runtime.catalogue.gateway_events.name: relay})
