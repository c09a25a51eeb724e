"""Recovery time: how long after a SIGKILL of one of two workers every task is delivered.

Run: `make bench-takeover` (embedded broker) or `GVI_TEST_BROKER=kafka make bench-takeover`.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.throughput import _completed, _group, _incident, policy_for
from events.codec import encode
from tests.support.brokers import running_broker
from workers.core.planner import plan
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.kafka_clients import publish, wait_for_keys
from workers.tools.processes import start_worker_process

READY = "[^---Recovery]: Worker ready"
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*Worker ready", re.MULTILINE)


def _start_worker(
    settings: Settings, scratch: Path, index: int
) -> tuple[subprocess.Popen[bytes], Path]:
    own = settings.model_copy(
        update={"web_port": free_port(), "data_dir": scratch / f"data-{index}"}
    )
    log_path = scratch / f"worker-{index}.log"
    return start_worker_process(own, log_path), log_path


def _log(path: Path) -> str:
    return path.read_text("utf-8", errors="replace")


def _wait(condition: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def _ready_times(path: Path) -> list[float]:
    return [
        datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for stamp in LOG_TIME.findall(_log(path))
    ]


async def _run(
    settings: Settings, incidents_count: int, groups_count: int, scratch: Path
) -> dict[str, float]:
    bootstrap = settings.bootstrap_servers
    prefix = settings.topic_prefix
    now = datetime.now(UTC)
    groups = [_group(n, now) for n in range(groups_count)]
    incidents = [
        _incident(n, groups[n % groups_count].group_id, now) for n in range(incidents_count)
    ]
    planned = {
        i.incident_id: len(plan(i, {g.group_id: g for g in groups}, {}, policy_for(i)).tasks)
        for i in incidents
    }
    (victim, victim_log), (survivor, survivor_log) = (
        _start_worker(settings, scratch, 1),
        _start_worker(settings, scratch, 2),
    )
    try:
        _wait(lambda: READY in _log(victim_log) and READY in _log(survivor_log), 120, "workers")
        await publish(bootstrap, f"{prefix}groups", [(g.group_id, encode(g)) for g in groups])
        await wait_for_keys(
            bootstrap,
            f"{settings.app_id}-groups-changelog",
            [f'"{g.group_id}"' for g in groups],
            120,
        )
        half = incidents_count // 2
        await publish(
            bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in incidents[:half]]
        )
        _wait(
            lambda: (
                "tasks dispatched" in _log(victim_log) and "tasks dispatched" in _log(survivor_log)
            ),
            120,
            "both workers dispatching",
        )
        killed_at_wall = time.time()
        killed_at = time.perf_counter()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        await publish(
            bootstrap, f"{prefix}incidents", [(i.incident_id, encode(i)) for i in incidents[half:]]
        )
        finished = await _completed(bootstrap, f"{prefix}completion", planned, 600)
        takeovers = [t for t in _ready_times(survivor_log) if t > killed_at_wall]
        return {
            "incidents": incidents_count,
            "tasks": sum(planned.values()),
            "seconds_from_kill_to_every_task_delivered": finished - killed_at,
            "seconds_from_kill_to_survivor_ready": (takeovers[0] - killed_at_wall)
            if takeovers
            else -1.0,
            "session_timeout_s": settings.rebalance_timeout_seconds,
        }
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--groups", type=int, default=10)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        settings = Settings(
            broker_url=url, topic_prefix="takeover.", app_id=f"takeover-{os.getpid()}"
        )
        result = asyncio.run(_run(settings, arguments.incidents, arguments.groups, Path(scratch)))
    report = {
        "broker": os.environ.get("GVI_TEST_BROKER", "tansu"),
        **{
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in result.items()
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
