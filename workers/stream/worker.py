"""Runs one worker process: the embedded broker if none is configured, the topics, the app."""

import asyncio
import gc
import sys
from typing import Any

import structlog
import uvloop

from events.admin import TopicsUnusable, broker_is_tansu, ensure_topics
from events.connection import check_access
from workers.faust_fixes import UnpinnedLibraries, late_writes, require_pinned_versions
from workers.faust_fixes.stop_signals import StopSignalWorker
from workers.logs import configure_logging
from workers.secret_watch import SecretFilesWatch
from workers.settings import EventLoop, Settings
from workers.stream.app import changelog_topics, create_app
from workers.stream.exits import SHUTDOWN_GRACE_SECONDS, exit_within
from workers.stream.metrics import CollectionClock
from workers.tools.embedded_broker import EmbeddedBroker

log = structlog.get_logger("gvi.worker")
EXIT_CONFIG = 78
"""sysexits' EX_CONFIG: the topics on the broker do not fit the settings; restarting won't help."""


class BoundedWorker(StopSignalWorker):
    """faust's worker, whose SIGTERM and SIGINT always end the process: a stop that hangs
    (an agent waiting for the broker) ends hard after the grace period."""

    @property
    def shortlabel(self) -> str:
        return "Worker"  # log lines stay "[^Worker]: Ready", as operators and tests know them

    def on_setup_root_logger(self, logger: Any, level: int) -> None:
        """No terminal spinner: faust installs one at levels from WARNING up and lowers the
        root logger to DEBUG for it, so every library's debug record was built and then
        dropped (7 % of a busy worker's time, by py-spy); the worker's output is logs."""
        self.spinner = None

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        freeze_long_lived_objects()  # faust's services, clients and the recovered tables
        loop = type(asyncio.get_running_loop())
        log.info("worker started", event_loop=f"{loop.__module__}.{loop.__qualname__}")

    def on_stop_signal(self, signal_name: str) -> None:
        exit_within(SHUTDOWN_GRACE_SECONDS, 1, f"{signal_name}: the graceful stop did not finish")


YOUNGEST_GENERATION_THRESHOLD = 50_000
"""Allocations (less deallocations) between two collections of the youngest generation
(Python's default is 700). A busy worker's young objects are mostly those of the batches in
flight, alive at every collection and freed soon after by their reference counts: such a
collection frees nothing. At 700 a full collection fell due every two seconds; at 10,000 a
5,000-incident catch-up still made about 80 young collections of 6 ms each (about 0.5 s);
at 50,000, above what the batches in flight hold, one of 8 ms, and none at 100
incidents/s. A cycle of garbage waits at most that many allocations (docs/benchmarks.md, runs
6 and 34)."""


def collect_garbage_less_often() -> None:
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


def freeze_long_lived_objects() -> None:
    """Leave every object that exists now out of later garbage collections: once before the
    worker starts (modules, classes, pydantic's validators, the app) and once it is ready. A
    full collection of them held a busy worker's loop for about 100 ms every few seconds, and
    found nothing to free."""
    gc.collect()
    gc.freeze()


def use_event_loop(kind: EventLoop) -> None:
    """The loops made from now on are `kind`'s, faust's consumer thread's too (mode's own
    switch, `mode.loop.use`, sets uvloop's policy the same way)."""
    if kind is EventLoop.UVLOOP:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(settings: Settings) -> int:
    """Run a worker until SIGINT or SIGTERM, or until one of its secret files changes (exit 75);
    returns the process exit code."""
    configure_logging(settings.log_level, settings.log_format)
    try:
        require_pinned_versions()
    except UnpinnedLibraries as unpinned:
        log.error("worker refuses to start", problem=str(unpinned))
        print(f"gvi-sanctions worker: {unpinned}", file=sys.stderr)
        return EXIT_CONFIG
    secret_files = SecretFilesWatch.of(settings)  # as read with the settings
    use_event_loop(settings.event_loop)
    broker: EmbeddedBroker | None = None
    if settings.broker_url is None:
        broker = EmbeddedBroker().start()
        settings = settings.model_copy(update={"broker_url": broker.url})
        log.info(
            "embedded broker started", url=broker.url, pid=broker.process and broker.process.pid
        )
    try:
        asyncio.run(check_access(settings.kafka))
        tansu = asyncio.run(broker_is_tansu(settings.kafka))
        if tansu:
            late_writes.install()
            log.info("the broker is Tansu: a gap in a partition's offsets is waited for")
        if settings.single_record_batches is None:
            settings = settings.model_copy(update={"single_record_batches": tansu})
            if tansu:
                log.info("the broker is Tansu: every record is produced in a batch of its own")
        app, runtime = create_app(settings)
        app.background(secret_files.run)
        gc.callbacks.append(CollectionClock(runtime.metrics.gc_pause_seconds))
        collect_garbage_less_often()
        changelogs = changelog_topics(settings.app_id)
        try:
            created = asyncio.run(
                ensure_topics(
                    settings.kafka,
                    runtime.catalogue,
                    settings.replication_factor,
                    changelogs,
                    min_insync_replicas=settings.min_insync_replicas,
                )
            )
        except TopicsUnusable as unusable:
            log.error("worker refuses to start", problems=list(unusable.problems))
            print(f"gvi-sanctions worker: {unusable}", file=sys.stderr)
            return EXIT_CONFIG
        log.info("topics ready", created=len(created), prefix=settings.topic_prefix)
        asyncio.set_event_loop(asyncio.new_event_loop())
        worker = BoundedWorker(app, loglevel=settings.log_level.upper(), quiet=True)
        freeze_long_lived_objects()
        try:
            worker.execute_from_commandline()
        except SystemExit as stop:
            code = int(stop.code or 0) if isinstance(stop.code, int | None) else 1
            return secret_files.exit_code(code)
        return secret_files.exit_code(0)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(run_worker(Settings()))
