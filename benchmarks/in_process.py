"""CPU per incident of the four stages in process: the handlers, the batch runner and the
outbound encoding on in-memory topics and tables, without a broker, faust or aiokafka.

Run: `.venv/bin/python -m benchmarks.in_process [--incidents 500] [--profile out.prof]`. The
scenario is `make bench`'s (20 groups, 12 tasks per incident); set against the worker's CPU per
incident on a broker, it shows how much of it is the core and how much the stream layer.

`--paced GAPS` (e.g. `--paced 0,1,10`) hands the incidents over one at a time instead, each
through all four stages in batches of one, as a worker sees them at a steady low rate, and
sleeps GAP ms after each; each round takes the gaps in turn, every other round in reverse.
The CPU counted is only that of handling, so the figures differ only by what an idle gap
costs the work after it.
"""

import argparse
import asyncio
import cProfile
import itertools
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
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

PROJECT = Path(__file__).resolve().parent.parent
PER_INCIDENT = re.compile(r"([0-9]+(?:\.[0-9]+)?) ms of CPU per incident")
STAGES = ("groups", "incidents", "group_work", "task_commands", "task_events")
"""Each stage's input topic (catalogue attribute), in an incident's order."""
BATCHES_OF_32 = BatchLimits(32, 60.0)


async def run_stages(
    runtime: Runtime,
    outside: dict[str, list[tuple[str, bytes]]],
    limits: BatchLimits = BATCHES_OF_32,
    offsets: Iterator[int] | None = None,
) -> None:
    """Every stage's input in batches of up to `limits.messages`, stage after stage, each stage
    reading what the one before it sent. `offsets` numbers the events across calls (the
    runtime skips an offset it has handled)."""
    numbers = offsets if offsets is not None else itertools.count()
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
        events = [event_on(name, key, value, offset=next(numbers)) for key, value in found]
        queue = ListedEvents(events[1:])
        carried = events[0] if events else None
        while carried is not None:
            batch, carried = await fill(carried, queue, handle, limits)
            await flush(runtime, Acks(), batch, handle)
            if carried is None and queue.events:
                carried = queue.events.pop(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--profile", help="write a cProfile of the run to this file")
    parser.add_argument(
        "--paced", help="one incident at a time, with these gaps in ms after each (e.g. 0,1,10)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the paced gaps")
    arguments = parser.parse_args()
    gaps = [float(gap) for gap in arguments.paced.split(",")] if arguments.paced else []
    made = arguments.incidents * (len(gaps) * arguments.rounds if gaps else 1)
    configure_logging("warning")
    now = datetime.now(UTC)
    groups = [_group(n, now) for n in range(20)]
    outside = {
        "groups": [(g.group_id, encode(g)) for g in groups],
        "incidents": [
            (i.incident_id, encode(i))
            for i in (_incident(n, groups[n % len(groups)].group_id, now) for n in range(made))
        ],
    }
    runtime = in_process_runtime(load_policy())
    if gaps:
        collect_garbage_less_often()
        print_paced(
            asyncio.run(paced(runtime, outside, gaps, arguments.incidents, arguments.rounds))
        )
        return 0
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


async def paced(
    runtime: Runtime,
    outside: dict[str, list[tuple[str, bytes]]],
    gaps: list[float],
    incidents: int,
    rounds: int,
) -> dict[float, list[float]]:
    """Each round hands `incidents` incidents over one at a time for each gap in turn; returns
    each gap's CPU per incident in ms, round by round."""
    offsets = itertools.count()
    one_by_one = BatchLimits(1, 60.0)
    await run_stages(runtime, {"groups": outside["groups"], "incidents": []}, one_by_one, offsets)
    freeze_long_lived_objects()
    listed = iter(outside["incidents"])
    spent: dict[float, list[float]] = {gap: [] for gap in gaps}
    for round_number in range(rounds):
        # Every other round in reverse: the state grows as the run goes on (longer histories),
        # and the drift would otherwise fall on the last gap of every round.
        for gap in gaps if round_number % 2 == 0 else gaps[::-1]:
            cpu = 0.0
            for _ in range(incidents):
                for topic in runtime.topics.values():
                    topic.sent.clear()
                started = time.process_time()
                await run_stages(runtime, {"incidents": [next(listed)]}, one_by_one, offsets)
                cpu += time.process_time() - started
                if not any(".tasks." in name and t.sent for name, t in runtime.topics.items()):
                    raise RuntimeError("an incident made no task: the harness measured nothing")
                await asyncio.sleep(gap / 1000)  # idle, as between a steady rate's incidents
            spent[gap].append(1000 * cpu / incidents)
    return spent


async def measured_apart(incidents: int) -> float:
    """CPU ms per incident of this harness in a process of its own (the worker's collector
    settings, nothing else loaded): `make bench`'s reference for the machine it runs on."""
    printed = await printed_apart("benchmarks.in_process", "--incidents", str(incidents))
    return per_incident_ms(printed)


async def printed_apart(module: str, *arguments: str) -> str:
    """What `python -m module arguments` prints, run from the project in a process of its own
    (so that only its own CPU is counted); stopped by its pid if the caller is cancelled."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *arguments, stdout=asyncio.subprocess.PIPE, cwd=PROJECT
    )
    try:
        printed, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{module} exited with {process.returncode}")
    return printed.decode()


def per_incident_ms(printed: str) -> float:
    """The CPU ms per incident that the harness printed."""
    found = PER_INCIDENT.search(printed)
    if found is None:
        raise ValueError(f"no CPU per incident in the harness's output: {printed[:200]!r}")
    return float(found.group(1))


def print_paced(spent: dict[float, list[float]]) -> None:
    for gap, figures in spent.items():
        listed = ", ".join(f"{ms:.2f}" for ms in figures)
        average = sum(figures) / len(figures)
        print(f"gap {gap:g} ms: {average:.2f} ms of CPU per incident ({listed})")


if __name__ == "__main__":
    sys.exit(main())
