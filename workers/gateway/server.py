"""Runs one gateway process: its topics, its read model, its producer and the HTTP server."""

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from pydantic import SecretStr

from events.admin import TopicsMissing, TopicsUnusable, await_topics
from events.catalogue import Catalogue, TopicSpec
from events.connection import KafkaAccessRefused, check_access
from workers.certificates import expose_certificate_expiries
from workers.faust_fixes.header_deadline import with_header_deadline
from workers.gateway.app import create_api
from workers.gateway.credentials import CredentialsFile, CredentialsInvalid
from workers.gateway.dashboard import Sessions, session_key
from workers.gateway.deps import Gateway
from workers.gateway.disclosure import Disclosures
from workers.gateway.feed import Feed
from workers.gateway.metrics import GatewayMetrics
from workers.gateway.read_model import ReadModel
from workers.gateway.read_store import TopicRoles, owner_only_folder
from workers.gateway.webhook_rules import WebhooksInvalid, WebhookTargets, load_targets
from workers.gateway.webhooks import RecipientWebhook, shared_client
from workers.logs import configure_logging, route_standard_library_logs
from workers.policies import load_policy
from workers.secret_watch import SecretFilesWatch
from workers.settings import Settings, secrets_named
from workers.tools.kafka_clients import hold_at_gaps_on_tansu

log = structlog.get_logger("gvi.gateway")
EXIT_CONFIG = 78


def topic_roles(catalogue: Catalogue) -> TopicRoles:
    return TopicRoles(
        tasks=frozenset(spec.name for spec in catalogue.tasks.values()),
        audit=catalogue.audit.name,
        completion=catalogue.completion.name,
        escalations=catalogue.escalations.name,
        partitions=catalogue.output_partitions,
        task_topics=tuple((recipient, spec.name) for recipient, spec in catalogue.tasks.items()),
    )


def gateway_topics(catalogue: Catalogue) -> list[TopicSpec]:
    """The topics the gateway reads (the worker's outputs) and writes (inputs for callers)."""
    return [
        *catalogue.tasks.values(),
        catalogue.completion,
        catalogue.escalations,
        catalogue.audit,
        catalogue.incidents,
        catalogue.groups,
        *catalogue.task_updates.values(),
        catalogue.gateway_events,
    ]


def store_path(settings: Settings) -> Path:
    return settings.gateway_store or settings.data_dir / f"gateway-{settings.app_id}.sqlite"


def build_app(settings: Settings) -> FastAPI:
    """The gateway's app; its lifespan opens the read model, the feed, the producer and the
    webhooks. Raises CredentialsInvalid or WebhooksInvalid for files it cannot use."""
    parts = GatewayParts(settings)
    api = create_api(lifespan=parts.lifespan)
    metrics_api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    parts.metrics.expose(
        api,
        metrics_api if settings.gateway_metrics_port else api,
        parts.read_model_lag,
        parts.ready,
        _revealed(settings.gateway_metrics_token),
    )
    api.state.metrics_api = metrics_api
    api.state.on_exit = parts.leave_webhook_groups
    api.state.secret_files = parts.secret_files
    return api


class GatewayParts:
    """One gateway process's moving parts: its producer, its read model and feed, its webhook
    pushers and the tasks that run them, opened and closed by `lifespan`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        policy = load_policy(settings.policy_path)
        self.catalogue = settings.catalogue(policy.recipient_ids)
        self.credentials = CredentialsFile.open(settings.credentials_file)
        self.targets = load_targets(settings.webhooks_file, frozenset(policy.recipient_ids))
        self.signing_secrets = signing_secrets(self.targets)
        self.metrics = GatewayMetrics()
        expose_certificate_expiries(self.metrics.registry, settings)
        self.secret_files = SecretFilesWatch.of(settings)
        self.producer: AIOKafkaProducer | None = None
        self.broker_checked: tuple[float, bool] | None = None
        self.feeds: list[Feed] = []
        self.running: list[asyncio.Task[None]] = []
        self.webhook_tasks: list[asyncio.Task[None]] = []
        configured_key = _revealed(settings.gateway_session_secret)
        folder = store_path(settings).parent

        def dashboard_key() -> str:
            owner_only_folder(folder)
            return session_key(configured_key, folder)

        self.sessions = Sessions(dashboard_key)

    async def send(self, topic: str, key: str, value: bytes) -> None:
        assert self.producer is not None, "the gateway sends only while its lifespan runs"
        await self.producer.send_and_wait(topic, value=value, key=key.encode("utf-8"))

    async def broker_reachable(self) -> bool:
        """Whether the broker answers a metadata request within 2 s (asked at most every 2 s)."""
        now = time.monotonic()
        if self.broker_checked is not None and now - self.broker_checked[0] < 2.0:
            return self.broker_checked[1]
        answered = False
        if self.producer is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self.producer.client.fetch_all_metadata()
                answered = True
            except (TimeoutError, KafkaError):
                answered = False
        self.broker_checked = (now, answered)
        return answered

    def ready(self) -> bool:
        return bool(self.feeds) and self.feeds[0].caught_up.is_set()

    async def read_model_lag(self) -> dict[tuple[str, int], int]:
        return await self.feeds[0].lag() if self.feeds else {}

    def leave_webhook_groups(self) -> None:
        """On SIGTERM, before the open HTTP connections are drained: each webhook consumer
        leaves its group at once, so another replica takes its partitions within seconds."""
        for task in self.webhook_tasks:
            task.cancel()

    async def streams(self, model: ReadModel, client: httpx.AsyncClient) -> None:
        """Wait, not ready, until the worker has made the topics (a gateway may start first);
        then read the output topics into the model and push each recipient's webhooks."""
        settings, catalogue = self.settings, self.catalogue
        while True:
            try:
                await await_topics(settings.kafka, gateway_topics(catalogue), within=5)
                break
            except TopicsMissing as missing:
                log.warning("waiting for the worker to create the topics", problem=str(missing))
        if await hold_at_gaps_on_tansu(settings.kafka):
            log.info("the broker is Tansu: a gap in a partition's offsets is waited for")
        feed = Feed(settings.kafka, catalogue.output_partitions, model, self.metrics)
        self.feeds.append(feed)
        self._start(feed.run(), "gateway-feed")
        for recipient, target in self.targets.webhooks.items():
            pusher = RecipientWebhook(
                recipient,
                target,
                self.signing_secrets[recipient],
                client,
                self.send,
                model,
                catalogue.gateway_events.name,
                self.metrics,
            )
            topic = catalogue.tasks[recipient].name
            run = pusher.run(settings.kafka, topic, f"{settings.app_id}-webhook-{recipient}")
            self.webhook_tasks.append(self._start(run, f"webhook-{recipient}"))
        log.info("gateway reads its topics", webhooks=sorted(self.targets.webhooks))

    async def forget_closed_incidents(self, model: ReadModel) -> None:
        """Retention: what the model holds of an incident closed longer ago than the setting
        allows is deleted, at start and every hour."""
        keep = timedelta(days=self.settings.gateway_retention_days)
        while True:
            forgotten = await model.forget_closed(datetime.now(UTC) - keep)
            if forgotten:
                log.info("closed incidents forgotten (retention)", incidents=forgotten)
            await asyncio.sleep(3600)

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> "asyncio.Task[None]":
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(_stop_on_failure)
        self.running.append(task)
        return task

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        settings, catalogue = self.settings, self.catalogue
        model = await ReadModel.open(store_path(settings), topic_roles(catalogue))
        self.producer = AIOKafkaProducer(
            **settings.kafka.aiokafka(), acks="all", request_timeout_ms=15000
        )
        await self.producer.start()
        app.state.gateway = Gateway(
            catalogue=catalogue,
            model=model,
            credentials=self.credentials,
            send=self.send,
            ready=self.ready,
            max_body_bytes=settings.max_body_bytes,
            disclosures=Disclosures(lambda: model, self.send, catalogue.gateway_events.name),
            broker_reachable=self.broker_reachable,
            sessions=self.sessions,
        )
        client = shared_client()
        self._start(self.streams(model, client), "gateway-streams")
        self._start(self.forget_closed_incidents(model), "gateway-retention")
        self._start(self.secret_files.run(), "gateway-secret-files")
        log.info(
            "gateway started",
            store=str(store_path(settings)),
            callers=len(self.credentials.entries),
            webhooks=sorted(self.targets.webhooks),
        )
        try:
            yield
        finally:
            for task in self.running:
                task.cancel()
            for task in self.running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await client.aclose()
            await self.producer.stop()
            await model.close()


def signing_secrets(targets: WebhookTargets) -> dict[str, str]:
    """Each webhook's signing secret, read as a setting from the variable its entry names."""
    named = secrets_named(target.secret_env for target in targets.webhooks.values())
    secrets: dict[str, str] = {}
    for recipient, target in targets.webhooks.items():
        secret = named[target.secret_env]
        if secret is None:
            raise WebhooksInvalid(
                f"the webhook of {recipient} is signed with ${target.secret_env}, which is not set"
            )
        secrets[recipient] = secret.get_secret_value()
    return secrets


def _stop_on_failure(task: "asyncio.Task[None]") -> None:
    """The feed or a webhook ended by an error: the gateway stops (its supervisor restarts it,
    and both resume from their positions)."""
    if task.cancelled() or task.exception() is None:
        return
    error = task.exception()
    log.error("a gateway task failed; the gateway stops", task=task.get_name(), error=str(error))
    code = 1
    if isinstance(error, KafkaAccessRefused):
        print(f"gvi-sanctions gateway: {error}", file=sys.stderr)
        code = error.exit_code
    elif isinstance(error, TopicsUnusable):
        print(f"gvi-sanctions gateway: {error}", file=sys.stderr)
        code = EXIT_CONFIG
    sys.stderr.flush()
    # the operator's supervisor restarts the process; the model resumes from its positions
    raise SystemExit(code)


def run_gateway(settings: Settings) -> int:
    """Serve the gateway until SIGINT or SIGTERM, or until one of its secret files changes
    (exit 75); returns the exit code."""
    configure_logging(settings.log_level, settings.log_format)
    route_standard_library_logs(settings.log_level)
    if settings.broker_url is None:
        print("set GVI_BROKER_URL (e.g. kafka://127.0.0.1:9092)", file=sys.stderr)
        return 2
    asyncio.run(check_access(settings.kafka))
    try:
        api = build_app(settings)
    except (CredentialsInvalid, WebhooksInvalid) as error:
        print(f"gvi-sanctions gateway: {error}", file=sys.stderr)
        return EXIT_CONFIG
    config = uvicorn.Config(
        api,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        http=with_header_deadline(settings.gateway_header_timeout_seconds),
        timeout_keep_alive=int(max(settings.gateway_keepalive_seconds, 1)),
        limit_concurrency=settings.gateway_max_connections,
        h11_max_incomplete_event_size=16_384,
        # forwarded headers (scheme for HSTS and Secure cookies) only from the local proxy
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    metrics_config = None
    if settings.gateway_metrics_port:
        metrics_config = uvicorn.Config(
            api.state.metrics_api,
            host=settings.gateway_host,
            port=settings.gateway_metrics_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            limit_concurrency=20,
        )
    server = GatewayServer(config, api.state.on_exit)
    secret_files: SecretFilesWatch = api.state.secret_files
    secret_files.stop = server.stop
    try:
        asyncio.run(serve(server, metrics_config))
    except TopicsUnusable as unusable:
        print(f"gvi-sanctions gateway: {unusable}", file=sys.stderr)
        return EXIT_CONFIG
    return secret_files.exit_code(0)


class GatewayServer(uvicorn.Server):
    """uvicorn's server, which also calls `on_exit` as soon as SIGTERM or SIGINT arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        with contextlib.suppress(RuntimeError):  # no loop: nothing runs yet
            asyncio.get_running_loop().call_soon_threadsafe(self.on_exit)

    def stop(self) -> None:
        """The graceful stop of SIGTERM, from inside the process (no signal: uvicorn would raise
        a captured one again once the server is down, and the process would end by it)."""
        self.should_exit = True
        self.on_exit()


class SideServer(uvicorn.Server):
    """A second server in the same process (the metrics port): the main one takes the
    signals and stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(main: uvicorn.Server, side: uvicorn.Config | None) -> None:
    if side is None:
        await main.serve()
        return
    metrics_server = SideServer(side)
    serving = asyncio.create_task(metrics_server.serve(), name="gateway-metrics")
    try:
        await main.serve()
    finally:
        metrics_server.should_exit = True
        await serving


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def openapi_document(settings: Settings | None = None) -> str:
    """The OpenAPI document of the gateway, as exported to schemas/openapi.json."""
    api = build_app(settings or Settings(broker_url="kafka://127.0.0.1:9092"))
    return json.dumps(api.openapi(), indent=2, sort_keys=True) + "\n"
