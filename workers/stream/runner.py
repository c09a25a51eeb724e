"""The one agent runner. An agent module names its stage (`NAME`), builds its context over the
runtime (`context`: its stores and settings) and maps each topic to a module-level handler
(`handlers`); the runner binds them and subscribes the agent, each message inside the error
boundary. Handlers load a slot, call the pure core and commit its decision with
`Runtime.commit`: outputs acknowledged first, then state written."""

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from faust.types import EventT

from events.catalogue import Catalogue
from workers.core.decision import Decision, Outcome
from workers.stream.boundary import subscribe
from workers.stream.pending import note
from workers.stream.runtime import Runtime
from workers.stream.stores import Writes

StageHandler = Callable[[Any, EventT[Any]], Awaitable[None]]
"""`async def on_update(ctx, event)`: one message of one topic, in the agent's context."""


class Agent(Protocol):
    """What an agent module provides."""

    NAME: str

    def context(self, runtime: Runtime) -> Any: ...

    def handlers(self, catalogue: Catalogue) -> Mapping[str, StageHandler]: ...


def register(app: Any, runtime: Runtime, agent: Agent) -> Any:
    """Subscribe `agent` on its topics; returns its context."""
    context = agent.context(runtime)
    bound = {
        topic: functools.partial(handler, context)
        for topic, handler in agent.handlers(runtime.catalogue).items()
    }
    subscribe(app, runtime, agent.NAME, bound)
    return context


async def commit(
    runtime: Runtime, decision: Decision[Any], writes: Writes, log: Any, **fields: Any
) -> None:
    """Commit a decision (outputs acknowledged, then `writes` made) and log its outcome:
    routine ones at debug level and counted in the batch's line, nothing when nothing
    changed."""
    await runtime.commit(decision.outputs, writes)
    outcome = decision.outcome
    if outcome.routine:
        note(outcome.value)
        log.debug(outcome, outputs=len(decision.outputs), **fields)
    elif outcome is not Outcome.NOTHING_CHANGED:
        log.info(outcome, outputs=len(decision.outputs), **fields)
