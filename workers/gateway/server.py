"""Runs one gateway process: its topics, its read model, its producer and the HTTP server."""

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from events.admin import TopicsUnusable, ensure_topics
from events.catalogue import Catalogue, build_catalogue
from workers.core.policy import load_policy
from workers.gateway.api import Gateway, create_api
from workers.gateway.credentials import Credentials, CredentialsInvalid
from workers.gateway.feed import Feed
from workers.gateway.read_model import ReadModel, TopicRoles
from workers.logs import configure_logging
from workers.settings import Settings

log = structlog.get_logger("gvi.gateway")
EXIT_CONFIG = 78


def topic_roles(catalogue: Catalogue) -> TopicRoles:
    return TopicRoles(
        tasks=frozenset(spec.name for spec in catalogue.tasks.values()),
        audit=catalogue.audit.name,
        completion=catalogue.completion.name,
        escalations=catalogue.escalations.name,
    )


def store_path(settings: Settings) -> Path:
    return settings.gateway_store or settings.data_dir / f"gateway-{settings.app_id}.sqlite"


def build_app(settings: Settings) -> FastAPI:
    """The gateway's app; its lifespan opens the read model, the feed and the producer."""
    policy = load_policy(settings.policy_path)
    catalogue = build_catalogue(settings.topic_prefix, settings.partitions, policy.recipient_ids)
    credentials = Credentials.load(settings.credentials_file)
    state: dict[str, object] = {}

    async def send(topic: str, key: str, value: bytes) -> None:
        producer = state["producer"]
        assert isinstance(producer, AIOKafkaProducer)
        await producer.send_and_wait(topic, value=value, key=key.encode("utf-8"))

    feeds: list[Feed] = []
    gateway = Gateway(
        catalogue=catalogue,
        model=None,  # type: ignore[arg-type]  # set in the lifespan, before the first request
        credentials=credentials,
        send=send,
        ready=lambda: bool(feeds) and feeds[0].caught_up.is_set(),
        max_body_bytes=settings.max_body_bytes,
    )
    api = create_api(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.bootstrap_servers, catalogue, settings.replication_factor)
        model = await ReadModel.open(store_path(settings), topic_roles(catalogue))
        gateway.model = model
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, acks="all", request_timeout_ms=15000
        )
        await producer.start()
        state["producer"] = producer
        feed = Feed(settings.bootstrap_servers, model)
        feeds.append(feed)
        reading = asyncio.create_task(feed.run(), name="gateway-feed")
        reading.add_done_callback(_stop_on_feed_failure)
        log.info(
            "gateway started", store=str(store_path(settings)), callers=len(credentials.entries)
        )
        try:
            yield
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            await producer.stop()
            await model.close()

    api.router.lifespan_context = lifespan
    return api


def _stop_on_feed_failure(task: "asyncio.Task[None]") -> None:
    if task.cancelled() or task.exception() is None:
        return
    log.error("the read model's feed failed; the gateway stops", error=str(task.exception()))
    sys.stderr.flush()
    # uvicorn's supervisor (or the operator's) restarts the process; the model resumes
    raise SystemExit(1)


def run_gateway(settings: Settings) -> int:
    """Serve the gateway until SIGINT or SIGTERM; returns the exit code."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.broker_url is None:
        print("set GVI_BROKER_URL (e.g. kafka://127.0.0.1:9092)", file=sys.stderr)
        return 2
    try:
        api = build_app(settings)
    except CredentialsInvalid as error:
        print(f"gvi-sanctions gateway: {error}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        uvicorn.run(
            api,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    except TopicsUnusable as unusable:
        print(f"gvi-sanctions gateway: {unusable}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def openapi_document(settings: Settings | None = None) -> str:
    """The OpenAPI document of the gateway, as exported to schemas/openapi.json."""
    api = build_app(settings or Settings(broker_url="kafka://127.0.0.1:9092"))
    return json.dumps(api.openapi(), indent=2, sort_keys=True) + "\n"
