"""The worker's web pages: Prometheus `/metrics` (the domain series),
`/healthz` (the process answers) and `/readyz` (no table recovery or rebalance runs)."""

from typing import Any

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workers.stream.metrics import owned_partitions, readiness
from workers.stream.runtime import Runtime

# prometheus_client's content type without its charset, which aiohttp adds itself.
EXPOSITION = "; ".join(p for p in CONTENT_TYPE_LATEST.split("; ") if not p.startswith("charset"))


def register(app: Any, runtime: Runtime) -> None:
    """Register the health and metrics pages on the worker's web server."""
    metrics, catalogue = runtime.metrics, runtime.catalogue
    tasks = runtime.tables["tasks"]
    changelogs = {f"{runtime.settings.app_id}-{name}-changelog" for name in runtime.tables}

    def refresh_lag() -> None:
        monitor = app.monitor
        committed = getattr(monitor, "tp_committed_offsets", None) or {}
        metrics.lag.clear()
        for tp in app.assignor.assigned_actives():
            if tp.topic in changelogs:
                continue
            end = app.consumer.highwater(tp)
            done = committed.get(tp)
            if end is not None and end >= 0:
                behind = end - (done if done is not None else 0)
                metrics.lag.labels(tp.topic, str(tp.partition)).set(max(behind, 0))

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def count_tasks(sender: Any, **signal: Any) -> None:
        """The tables are recovered after a rebalance: count the tasks now, not at a scrape."""
        runtime.task_tally.count(tasks, app.consumer_generation_id)

    @app.page("/metrics")  # type: ignore[untyped-decorator]
    async def metrics_page(self: View, request: Request) -> Response:
        ready = readiness(app)["ready"]
        tally = runtime.task_tally
        if ready:
            await tally.counted(tasks, app.consumer_generation_id)
        if tally.counted_in is not None:
            metrics.show_tasks(tally.totals(owned_partitions(app, catalogue.task_commands.name)))
        metrics.ready.set(1 if ready else 0)
        refresh_lag()
        exposition = generate_latest(metrics.registry).decode("utf-8")
        return self.text(exposition, content_type=EXPOSITION)

    @app.page("/healthz")  # type: ignore[untyped-decorator]
    async def healthz(self: View, request: Request) -> Response:
        return self.json({"alive": True, "worker": runtime.worker_name})

    @app.page("/readyz")  # type: ignore[untyped-decorator]
    async def readyz(self: View, request: Request) -> Response:
        state = readiness(app)
        return self.json(state, status=200 if state["ready"] else 503)
