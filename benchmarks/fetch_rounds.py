"""What one fetch round costs the worker: its consumer thread's CPU, idle, at two fetch waits.

Run: `make bench-fetch` (embedded broker) or `GVI_TEST_BROKER=kafka make bench-fetch`. An idle
worker's fetch returns empty once its wait (`GVI_FETCH_MAX_WAIT_MS`) is over and the next one
goes out at once, so a short wait makes many rounds a second and a long one few; the
difference in CPU over the difference in rounds is the cost of a round. Every round asks for
every assigned partition and reads an answer for each, so it is measured for several
partition counts: the same cost is paid whenever a message arrives at a steady rate.
"""

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.cpu_split import cpu_times
from events.admin import ensure_topics
from tests.support.brokers import running_broker
from tests.support.gateway_stack import metric_samples, sample
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.app import TABLES
from workers.tools.embedded_broker import free_port
from workers.tools.processes import start_worker_process

LONG_WAIT_MS = 1000
SHORT_WAIT_MS = 50


async def ready(base_url: str, limit: float = 120) -> None:
    """Once the worker's `/metrics` says ready."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if sample(await asyncio.to_thread(metric_samples, base_url), "gvi_ready") == 1:
                return
        await asyncio.sleep(0.3)
    raise TimeoutError("the worker did not become ready")


async def assigned(base_url: str) -> int:
    """The partitions the worker consumes: one `gvi_consumer_lag` series each (read after the
    measurement; at the moment the worker says ready they may not be counted yet)."""
    samples = await asyncio.to_thread(metric_samples, base_url)
    return sum(1 for name, _ in samples if name == "gvi_consumer_lag")


async def idle_worker(
    settings: Settings, scratch: Path, wait_ms: int, seconds: float
) -> dict[str, Any]:
    """Start a worker with `wait_ms`, let it settle, read its CPU by thread over `seconds`."""
    own = settings.model_copy(
        update={
            "web_port": free_port(),
            "data_dir": scratch / f"data-{settings.partitions}-{wait_ms}",
            "log_level": "warning",
            "fetch_max_wait_ms": wait_ms,
        }
    )
    worker = start_worker_process(own, scratch / f"worker-{settings.partitions}-{wait_ms}.log")
    try:
        await ready(f"http://127.0.0.1:{own.web_port}")
        await asyncio.sleep(5)  # the start's own work (recovery, first lookups) is over
        before, started = cpu_times(worker.pid), time.monotonic()
        await asyncio.sleep(seconds)
        spent, elapsed = cpu_times(worker.pid) - before, time.monotonic() - started
        partitions = await assigned(f"http://127.0.0.1:{own.web_port}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {
        "fetch_max_wait_ms": wait_ms,
        "assigned_partitions": partitions,
        "main_thread_ms_per_s": round(1000 * (spent.main_user + spent.main_kernel) / elapsed, 2),
        "other_threads_ms_per_s": round(
            1000 * (spent.others_user + spent.others_kernel) / elapsed, 2
        ),
    }


def per_round(long: dict[str, Any], short: dict[str, Any]) -> float:
    """ms of the consumer thread per round: rounds a second taken as 1000 / the wait (the
    round's own time makes them a few per cent fewer, so this is a lower bound)."""
    rounds = 1000 / SHORT_WAIT_MS - 1000 / LONG_WAIT_MS
    spent = float(short["other_threads_ms_per_s"]) - float(long["other_threads_ms_per_s"])
    return round(spent / rounds, 3)


def fitted(points: list[tuple[int, float]]) -> dict[str, float]:
    """Least squares: ms per round = fixed + per partition × assigned partitions."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return {
        "fixed_ms_per_round": round(mean_y - slope * mean_x, 3),
        "us_per_partition_per_round": round(1000 * slope, 2),
    }


async def run(broker_url: str, scratch: Path, arguments: argparse.Namespace) -> dict[str, Any]:
    recipients = load_policy().recipient_ids
    rows = []
    for partitions in arguments.partitions:
        settings = Settings(
            broker_url=broker_url,
            topic_prefix=f"fetch{partitions}.",
            app_id=f"fetch-{partitions}-{os.getpid()}",
            partitions=partitions,
        )
        changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
        catalogue = settings.catalogue(recipients)
        await ensure_topics(settings.bootstrap_servers, catalogue, 1, changelogs)
        long = await idle_worker(settings, scratch, LONG_WAIT_MS, arguments.seconds)
        short = await idle_worker(settings, scratch, SHORT_WAIT_MS, arguments.seconds)
        rows.append(
            {
                "partitions_per_topic": partitions,
                "assigned_partitions": short["assigned_partitions"],
                "long_wait": long,
                "short_wait": short,
                "consumer_thread_ms_per_round": per_round(long, short),
            }
        )
    points = [(row["assigned_partitions"], row["consumer_thread_ms_per_round"]) for row in rows]
    return {"rounds": rows, "fit": fitted(points) if len(points) > 1 else {}}


def table(report: dict[str, Any]) -> str:
    lines = [
        "| partitions per topic (assigned) | consumer thread ms/s at "
        f"{LONG_WAIT_MS} / {SHORT_WAIT_MS} ms waits | main thread ms/s | ms per round |",
        "|---|---|---|---|",
    ]
    for row in report["rounds"]:
        long, short = row["long_wait"], row["short_wait"]
        lines.append(
            f"| {row['partitions_per_topic']} ({row['assigned_partitions']}) | "
            f"{long['other_threads_ms_per_s']} / {short['other_threads_ms_per_s']} | "
            f"{long['main_thread_ms_per_s']} / {short['main_thread_ms_per_s']} | "
            f"{row['consumer_thread_ms_per_round']} |"
        )
    if report["fit"]:
        fit = report["fit"]
        lines.append(
            f"\nA round: about {fit['fixed_ms_per_round']} ms plus "
            f"{fit['us_per_partition_per_round']} µs per assigned partition."
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--partitions", type=int, nargs="+", default=[1, 4, 12], help="per topic, one run each"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU read over this long")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_broker(Path(scratch)) as url:
        report = asyncio.run(run(url, Path(scratch), arguments))
    print(json.dumps(report, indent=2))
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
