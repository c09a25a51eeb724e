"""The CLI's streaming commands: worker, broker, publish, tail."""

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from events.codec import encode
from events.connection import check_access
from schemas.common import describe_validation_error
from schemas.group import GroupProfile
from schemas.incident import parse_incident_event
from schemas.task import TaskStatusChange
from workers.cli.broker import broker_settings
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.worker import run_worker
from workers.tools.embedded_broker import EmbeddedBroker
from workers.tools.kafka_clients import follow, publish

KINDS = {"incident": "incidents", "group": "groups", "update": "task-updates"}


def run_worker_command(arguments: argparse.Namespace) -> int:
    return run_worker(Settings())


def run_broker_command(arguments: argparse.Namespace) -> int:
    broker = EmbeddedBroker(port=arguments.port).start()
    print(f"embedded broker (Tansu) on {broker.url}; pid {broker.process and broker.process.pid}")
    print(f"export GVI_BROKER_URL={broker.url}", flush=True)
    stopped = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()

    try:
        asyncio.run(wait())
    finally:
        broker.stop()
    return 0


def _documents(source: str) -> list[Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    document = json.loads(text)
    return document if isinstance(document, list) else [document]


def _validated(kind: str, document: Any) -> tuple[str, BaseModel]:
    raw = json.dumps(document)
    if kind == "incident":
        incident = parse_incident_event(raw)
        return incident.incident_id, incident
    if kind == "group":
        group = GroupProfile.model_validate_json(raw, strict=True)
        return group.group_id, group
    update = TaskStatusChange.model_validate_json(raw, strict=True)
    return str(update.task_id), update


def run_publish_command(arguments: argparse.Namespace) -> int:
    """Validate and publish; a status update goes to its agency's own topic,
    `gvi.task-updates.<recipient>`, which only that agency's principal may write."""
    settings = broker_settings()
    try:
        documents = _documents(arguments.file)
        validated = [_validated(arguments.kind, document) for document in documents]
    except ValidationError as error:
        print(f"not a valid {arguments.kind}: {describe_validation_error(error)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"cannot read {arguments.file}: {error}", file=sys.stderr)
        return 1
    by_topic: dict[str, list[tuple[str | None, bytes | None]]] = {}
    for key, model in validated:
        suffix = KINDS[arguments.kind]
        if isinstance(model, TaskStatusChange):
            suffix = f"{suffix}.{model.recipient}"
        by_topic.setdefault(f"{settings.topic_prefix}{suffix}", []).append((key, encode(model)))
    asyncio.run(check_access(settings.kafka, list(by_topic)))
    for topic, messages in by_topic.items():
        placed = asyncio.run(publish(settings.kafka, topic, messages))
        print(f"published {len(placed)} {arguments.kind}(s) to {topic}")
    return 0


def resolve_topic(settings: Settings, name: str) -> str:
    """A topic given in full (`gvi.completion`) or by its catalogue suffix (`completion`)."""
    policy = load_policy(settings.policy_path)
    catalogue = settings.catalogue(policy.recipient_ids)
    names = {spec.name for spec in catalogue.all()}
    if name in names:
        return name
    if f"{settings.topic_prefix}{name}" in names:
        return f"{settings.topic_prefix}{name}"
    return name


def run_tail_command(arguments: argparse.Namespace) -> int:
    settings = broker_settings()
    topic = resolve_topic(settings, arguments.topic)
    asyncio.run(check_access(settings.kafka, [topic]))

    async def tail() -> int:
        shown = 0
        async for record in follow(settings.kafka, topic, arguments.timeout):
            value = record.value.decode("utf-8", errors="replace") if record.value else "null"
            print(f"{record.partition}:{record.offset} {record.key} {value}", flush=True)
            shown += 1
            if arguments.max and shown >= arguments.max:
                break
        return shown

    try:
        shown = asyncio.run(tail())
    except KeyboardInterrupt:
        return 0
    print(f"({shown} message(s) from {topic})", file=sys.stderr)
    return 0


def add_stream_commands(commands: Any) -> None:
    """Add worker, broker, publish and tail to the CLI."""
    worker = commands.add_parser("worker", help="run a worker (settings from GVI_* variables)")
    worker.set_defaults(run=run_worker_command)
    broker = commands.add_parser("broker", help="run the embedded broker (Tansu) until Ctrl-C")
    broker.add_argument("--port", type=int, default=None, help="default: a free port")
    broker.set_defaults(run=run_broker_command)
    publisher = commands.add_parser("publish", help="validate and publish JSON to its topic")
    publisher.add_argument("kind", choices=sorted(KINDS))
    publisher.add_argument("file", help="a JSON file with one object or a list; - for stdin")
    publisher.set_defaults(run=run_publish_command)
    tail = commands.add_parser("tail", help="print a topic's messages from the beginning")
    tail.add_argument("topic", help="e.g. completion, tasks.skatteverket or gvi.rejected")
    tail.add_argument("--max", type=int, default=0, help="stop after this many messages")
    tail.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    tail.set_defaults(run=run_tail_command)


def run_demo_command(arguments: argparse.Namespace) -> int:
    from workers.demo.run import run_demo

    return run_demo(arguments.time_limit, arguments.agency_pace)


def add_demo_command(commands: Any) -> None:
    """Add the demo to the CLI."""
    demo = commands.add_parser(
        "demo", help="embedded broker + worker + invented incidents + simulated agencies"
    )
    demo.add_argument("--time-limit", type=float, default=180.0, help="seconds (default 180)")
    demo.add_argument(
        "--agency-pace", type=float, default=1.0, help="scale of the agencies' delays (default 1)"
    )
    demo.set_defaults(run=run_demo_command)


def run_gateway_command(arguments: argparse.Namespace) -> int:
    from workers.gateway.server import run_gateway

    return run_gateway(Settings())


def run_add_credentials_command(arguments: argparse.Namespace) -> int:
    from workers.gateway.credentials import CredentialsInvalid, add_token

    settings = Settings()
    valid_for = timedelta(days=arguments.days) if arguments.days else None
    try:
        token = add_token(settings.credentials_file, arguments.role, valid_for)
    except CredentialsInvalid as error:
        print(error, file=sys.stderr)
        return 2
    print(token)
    expiry = f", valid for {arguments.days:g} day(s)" if valid_for else ", without expiry"
    print(
        f"a token for {arguments.role}{expiry}; only its hash is kept in "
        f"{settings.credentials_file}. It is shown this once.",
        file=sys.stderr,
    )
    return 0


def run_list_credentials_command(arguments: argparse.Namespace) -> int:
    from workers.gateway.credentials import Credentials, CredentialsInvalid

    settings = Settings()
    try:
        entries = Credentials.load(settings.credentials_file).entries
    except CredentialsInvalid as error:
        print(error, file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    print(f"{'token id':<14} {'role':<34} {'created':<26} expires")
    for token_id, entry in sorted(entries.items(), key=lambda item: item[1].role):
        created = entry.created_at.isoformat() if entry.created_at else "-"
        expires = entry.expires_at.isoformat() if entry.expires_at else "never"
        if entry.expired(now):
            expires += " (expired)"
        print(f"{token_id:<14} {entry.role:<34} {created:<26} {expires}")
    return 0


def run_revoke_credentials_command(arguments: argparse.Namespace) -> int:
    from workers.gateway.credentials import CredentialsInvalid, revoke_token

    settings = Settings()
    try:
        removed = revoke_token(settings.credentials_file, arguments.token_id)
    except CredentialsInvalid as error:
        print(error, file=sys.stderr)
        return 2
    if not removed:
        print(f"no token {arguments.token_id} in {settings.credentials_file}", file=sys.stderr)
        return 1
    print(
        f"revoked {arguments.token_id}; running gateways refuse it within seconds",
        file=sys.stderr,
    )
    return 0


def add_gateway_commands(commands: Any) -> None:
    """Add the gateway and its credentials to the CLI."""
    gateway = commands.add_parser("gateway", help="run the HTTP gateway (settings from GVI_*)")
    gateway.set_defaults(run=run_gateway_command)
    credentials = commands.add_parser("credentials", help="the gateway's callers")
    verbs = credentials.add_subparsers(dest="credentials_command", required=True)
    add = verbs.add_parser("add", help="make a token for a role; prints it once")
    add.add_argument("role", help="police, supervisor or agency:<recipient>")
    add.add_argument(
        "--days", type=float, default=None, help="the token expires after this many days"
    )
    add.set_defaults(run=run_add_credentials_command)
    listing = verbs.add_parser("list", help="the tokens: id, role, created, expiry (no secrets)")
    listing.set_defaults(run=run_list_credentials_command)
    revoke = verbs.add_parser("revoke", help="remove a token; gateways refuse it within seconds")
    revoke.add_argument("token_id", help="the id shown by `credentials list` (gvi_<id>_…)")
    revoke.set_defaults(run=run_revoke_credentials_command)
