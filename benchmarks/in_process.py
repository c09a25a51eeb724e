"""CPU per incident of the four stages in process: the handlers, the batch runner and the
outbound encoding on in-memory topics and tables, without a broker, faust or aiokafka.

Run: `.venv/bin/python -m benchmarks.in_process [--incidents 500] [--profile out.prof]`. The
scenario is `make bench`'s (20 groups, 12 tasks per incident); set against the worker's CPU per
incident on a broker, it shows how much of it is the core and how much the stream layer.
"""

import argparse
import asyncio
import cProfile
import sys
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.throughput import _group, _incident
from events.codec import encode
from tests.support.fakes import Acks, ListedEvents, event_on, in_process_runtime
from workers.logs import configure_logging
from workers.policies import load_policy
from workers.stream.agents import completion, intake, planning, tasks
from workers.stream.batches import BatchLimits, fill, flush
from workers.stream.boundary import guarded
from workers.stream.runtime import Runtime
from workers.stream.worker import collect_garbage_less_often, freeze_long_lived_objects

STAGES = ("groups", "incidents", "group_work", "task_commands", "task_events")
"""Each stage's input topic (catalogue attribute), in an incident's order."""


async def run_stages(runtime: Runtime, outside: dict[str, list[tuple[str, bytes]]]) -> None:
    """Every stage's input in batches of up to 32, stage after stage, each stage reading what
    the one before it sent."""
    handlers: dict[str, Any] = {}
    for agent in (intake, planning, tasks, completion):
        context = agent.context(runtime)
        for topic, handler in agent.handlers(runtime.catalogue).items():
            handlers[topic] = (handler, context)

    async def handle(event: Any) -> None:
        handler, context = handlers[event.message.topic]

        async def one(event: Any) -> None:
            await handler(context, event)

        await guarded(runtime, event, one)

    for stage in STAGES:
        name = getattr(runtime.catalogue, stage).name
        found = outside.get(stage) or [(k.decode(), v) for k, v in runtime.topics[name].sent]
        events = [event_on(name, key, value, offset=n) for n, (key, value) in enumerate(found)]
        queue = ListedEvents(events[1:])
        carried = events[0] if events else None
        while carried is not None:
            batch, carried = await fill(carried, queue, handle, BatchLimits(32, 60.0))
            await flush(runtime, Acks(), batch, handle)
            if carried is None and queue.events:
                carried = queue.events.pop(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    arguments = parser.parse_args()
    configure_logging("warning")
    now = datetime.now(UTC)
    groups = [_group(n, now) for n in range(20)]
    outside = {
        "groups": [(g.group_id, encode(g)) for g in groups],
        "incidents": [
            (i.incident_id, encode(i))
            for i in (
                _incident(n, groups[n % len(groups)].group_id, now)
                for n in range(arguments.incidents)
            )
        ],
    }
    runtime = in_process_runtime(load_policy())
    # The worker's collector settings: without them, full collections over the recorded topics
    # took about a quarter of this run's CPU, which the worker does not pay.
    collect_garbage_less_often()
    freeze_long_lived_objects()
    started = time.process_time()
    if arguments.profile:
        with cProfile.Profile() as profile:
            asyncio.run(run_stages(runtime, outside))
        profile.dump_stats(arguments.profile)
    else:
        asyncio.run(run_stages(runtime, outside))
    cpu = time.process_time() - started
    sent = {name: len(topic.sent) for name, topic in runtime.topics.items() if topic.sent}
    task_messages = sum(n for name, n in sent.items() if ".tasks." in name)
    print(
        f"{arguments.incidents} incidents, {task_messages} tasks: "
        f"{1000 * cpu / arguments.incidents:.2f} ms of CPU per incident"
    )
    for name, count in sorted(sent.items()):
        print(f"  {name}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
