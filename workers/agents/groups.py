"""The group registry: profiles from the compacted `gvi.groups`, in a table keyed by group id."""

from typing import Any

import structlog
from faust.types import EventT, StreamT

from events.codec import decode, key_text, require_key
from schemas.group import GroupProfile
from workers.runtime import Runtime, guarded

log = structlog.get_logger("gvi.groups")


def register(app: Any, runtime: Runtime) -> None:
    """Register the group-registry agent on `gvi.groups`."""
    groups = runtime.tables["groups"]

    async def register_group(event: EventT[Any]) -> None:
        key = key_text(event.key)
        if event.value is None and key:
            groups.pop(key, None)
            log.info("group removed", group_id=key)
            return
        profile = decode(GroupProfile, event.value)
        require_key(event.key, profile.group_id)
        groups[profile.group_id] = profile.model_dump(mode="json")
        log.info("group registered", group_id=profile.group_id, members=len(profile.members))

    catalogue = runtime.catalogue
    channel = app.topic(
        catalogue.groups.name,
        catalogue.routed_from(catalogue.groups).name,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(channel, name="group-registry")  # type: ignore[untyped-decorator]
    async def group_registry(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await guarded(runtime, event, register_group)
