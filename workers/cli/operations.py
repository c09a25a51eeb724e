"""`gvi-sanctions topics` (the deployment's topics, created) and `healthcheck` (a probe)."""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from events.admin import (
    ExpectedTopic,
    TopicsUnusable,
    ensure_topics,
    expected_topics,
    topic_configs,
)
from events.catalogue import Catalogue
from events.connection import check_access
from workers.cli.broker import NoBroker
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.app import changelog_topics

EXIT_UNHEALTHY = 1
EXIT_CONFIG = 78


def deployment_catalogue(settings: Settings) -> tuple[Catalogue, list[str]]:
    """This deployment's catalogue (prefix, the policy's recipients) and the worker's table
    changelogs."""
    policy = load_policy(settings.policy_path)
    catalogue = settings.catalogue(policy.recipient_ids)
    return catalogue, changelog_topics(settings.app_id)


def deployment_topics(settings: Settings) -> list[ExpectedTopic]:
    """Every topic of this deployment, as the worker would create it."""
    return expected_topics(*deployment_catalogue(settings))


def run_topics_command(arguments: argparse.Namespace) -> int:
    settings = Settings()
    catalogue, changelogs = deployment_catalogue(settings)
    topics = expected_topics(catalogue, changelogs)
    rows: list[dict[str, Any]] = [
        {
            "name": topic.name,
            "partitions": topic.partitions,
            "replication_factor": settings.replication_factor,
            "configs": topic_configs(topic, settings.min_insync_replicas),
        }
        for topic in topics
    ]
    if arguments.json:
        print(json.dumps(rows, indent=2))
    elif not arguments.apply:
        for row in rows:
            configs = " ".join(f"{key}={value}" for key, value in row["configs"].items())
            print(
                f"{row['name']} partitions={row['partitions']} "
                f"replication={row['replication_factor']} {configs}"
            )
    if not arguments.apply:
        return 0
    if settings.broker_url is None:
        raise NoBroker("kafka://kafka-1:9092")
    asyncio.run(check_access(settings.kafka))
    try:
        created = asyncio.run(
            ensure_topics(
                settings.kafka,
                catalogue,
                settings.replication_factor,
                changelogs,
                min_insync_replicas=settings.min_insync_replicas,
            )
        )
    except TopicsUnusable as unusable:
        print(f"gvi-sanctions topics: {unusable}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"{len(topics)} topics ready: {len(created)} created, {len(topics) - len(created)} "
        "already there"
    )
    return 0


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def probe_urls(settings: Settings, process: str, ready: bool) -> list[str]:
    """Where a process of this container answers its health: the worker's web port, the
    gateway's port, or both when the process is not named."""
    page = "readyz" if ready else "healthz"
    worker = f"http://{_local(settings.web_host)}:{settings.web_port}/{page}"
    gateway = f"http://{_local(settings.gateway_host)}:{settings.gateway_port}/{page}"
    return {"worker": [worker], "gateway": [gateway]}.get(process, [worker, gateway])


def run_healthcheck_command(arguments: argparse.Namespace) -> int:
    """Healthy (exit 0) when the process answers 200 on its own health port within the timeout;
    exit 1 otherwise, with the reason on stderr (Docker keeps it in the health log)."""
    settings = Settings()
    reasons = []
    for url in probe_urls(settings, arguments.process, arguments.ready):
        try:
            with urllib.request.urlopen(url, timeout=arguments.timeout) as answer:
                if answer.status == 200:
                    print(f"{url}: {answer.status}")
                    return 0
                reasons.append(f"{url}: {answer.status}")
        except urllib.error.HTTPError as refused:
            reasons.append(f"{url}: {refused.code}")
        except (urllib.error.URLError, OSError) as error:
            reasons.append(f"{url}: {getattr(error, 'reason', error)}")
    print("unhealthy: " + "; ".join(reasons), file=sys.stderr)
    return EXIT_UNHEALTHY


def add_operations_commands(commands: Any) -> None:
    """Add topics and healthcheck to the CLI."""
    topics = commands.add_parser(
        "topics",
        help="list this deployment's topics (partitions, replication, configs); --apply creates "
        "the missing ones and checks the others",
    )
    topics.add_argument("--json", action="store_true", help="print the list as JSON")
    topics.add_argument("--apply", action="store_true", help="create them on GVI_BROKER_URL")
    topics.set_defaults(run=run_topics_command)
    health = commands.add_parser(
        "healthcheck", help="ask this container's worker or gateway for its health (exit 0: up)"
    )
    health.add_argument(
        "process",
        nargs="?",
        choices=["worker", "gateway", "any"],
        default="any",
        help="which process to ask; any (default): the worker's port, then the gateway's",
    )
    health.add_argument("--ready", action="store_true", help="ask /readyz instead of /healthz")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    health.set_defaults(run=run_healthcheck_command)
