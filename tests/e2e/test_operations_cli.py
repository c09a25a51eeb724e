"""The operators' commands as a deployment's setup job and container probes run them:
`topics --apply` on a real broker (then a worker starts on those topics), `healthcheck`
against a running worker and gateway, the Strimzi resources of the same deployment, and the
gateway's metrics on their own port behind a token."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import SecretStr

from tests.support.deployment import Deployment
from tests.support.gateway_stack import started_stack
from workers.settings import Settings
from workers.tools.embedded_broker import free_port
from workers.tools.processes import settings_environment

pytestmark = pytest.mark.broker


def _cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **settings_environment(settings)}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def _described(
    bootstrap: str, names: list[str]
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = await admin.describe_topics(names)
        partitions = {
            t["topic"]: len(t["partitions"]) for t in topics if t.get("error_code", 0) == 0
        }
        configs: dict[str, dict[str, str]] = {}
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        for response in responses:
            for resource in response.to_object().get("resources", []):
                configs[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource.get("config_entries", [])
                }
        return partitions, configs
    finally:
        await admin.close()


def test_topics_apply_creates_every_topic_once_and_a_worker_starts_on_them(
    deployment: Deployment,
) -> None:
    settings = deployment.settings
    listed = _cli(settings, "topics", "--json")
    assert listed.returncode == 0, listed.stderr
    topics = {row["name"]: row for row in yaml.safe_load(listed.stdout)}
    assert f"{settings.topic_prefix}audit" in topics
    assert f"{settings.app_id}-tasks-changelog" in topics

    first = _cli(settings, "topics", "--apply")
    assert first.returncode == 0, first.stderr
    assert f"{len(topics)} topics ready: {len(topics)} created" in first.stdout
    again = _cli(settings, "topics", "--apply")
    assert again.returncode == 0 and f"0 created, {len(topics)} already there" in again.stdout

    partitions, configs = asyncio.run(_described(deployment.bootstrap, sorted(topics)))
    policies = f"{settings.topic_prefix}policies"
    assert topics[policies]["partitions"] == 1, "one partition: every worker reads one order"
    prefix = settings.topic_prefix
    outputs = {f"{prefix}{name}" for name in ("completion", "escalations", "audit", "rejected")}
    outputs |= {name for name in topics if name.startswith(f"{prefix}tasks.")}
    assert len(outputs) > 5, "every recipient's task topic is an output"
    assert partitions == {
        name: 1
        if name == policies
        else settings.output_partitions
        if name in outputs
        else settings.partitions
        for name in topics
    }
    assert settings.output_partitions != settings.partitions, "the two counts are told apart"
    audit = configs.get(f"{settings.topic_prefix}audit", {})
    if os.environ.get("GVI_TEST_BROKER") == "kafka":  # Tansu does not describe topic configs
        assert audit["retention.ms"] == "-1", "the audit stream is kept without time limit"
        assert audit["min.insync.replicas"] == str(settings.min_insync_replicas)
        groups = configs[f"{settings.topic_prefix}groups"]
        assert groups["cleanup.policy"] == "compact"

    worker = deployment.start_worker()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and '"topics ready"' not in worker.log():
        assert worker.process.poll() is None, worker.log()[-2000:]
        time.sleep(0.3)
    assert '"created": 0' in worker.log(), "the worker found every topic made"

    assert worker.settings is not None
    deployment.wait_for_log("[^Worker]: Ready", limit=120)
    deployment.wait_for_log('"worker started"', limit=30)
    assert '"event_loop": "uvloop.Loop"' in worker.log(), "uvloop is the default loop"
    healthy = _cli(worker.settings, "healthcheck", "worker", "--ready")
    assert healthy.returncode == 0, healthy.stderr
    elsewhere = worker.settings.model_copy(update={"web_port": worker.settings.web_port + 1})
    unhealthy = _cli(elsewhere, "healthcheck", "worker", "--timeout", "1")
    assert unhealthy.returncode == 1 and "unhealthy" in unhealthy.stderr


def test_strimzi_resources_name_every_topic_and_principal_of_the_deployment(
    deployment: Deployment,
) -> None:
    made = _cli(deployment.settings, "strimzi", "invented-cluster")
    assert made.returncode == 0, made.stderr
    resources = [document for document in yaml.safe_load_all(made.stdout) if document]
    topics = {r["spec"]["topicName"] for r in resources if r["kind"] == "KafkaTopic"}
    listed = _cli(deployment.settings, "topics", "--json")
    assert topics == {row["name"] for row in yaml.safe_load(listed.stdout)}
    users = {r["metadata"]["name"] for r in resources if r["kind"] == "KafkaUser"}
    assert {"gvi-worker", "gvi-gateway", "police", "skatteverket"} <= users
    assert {"socialtjansten-huddinge", "socialtjansten-orebro", "gvi-coordinator"} <= users
    assert all(
        r["metadata"]["labels"]["strimzi.io/cluster"] == "invented-cluster" for r in resources
    )


def test_the_gateway_serves_metrics_on_their_own_port_only_to_the_token(
    deployment: Deployment,
) -> None:
    """As the manifests run it: /metrics on GVI_GATEWAY_METRICS_PORT behind
    GVI_GATEWAY_METRICS_TOKEN, none on the API's port; `healthcheck gateway --ready` passes."""
    metrics_port = free_port()
    token = "invented-metrics-token-" + "m" * 12
    with started_stack(
        deployment, gateway_metrics_port=metrics_port, gateway_metrics_token=SecretStr(token)
    ) as stack:
        assert httpx.get(f"{stack.base_url}/metrics", timeout=10).status_code == 404
        own = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(own, timeout=10).status_code == 401
        answer = httpx.get(own, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200
        assert "gvi_gateway_ready 1.0" in answer.text
        assert "gvi_gateway_request_seconds_bucket" in answer.text
        healthy = _cli(stack.settings, "healthcheck", "gateway", "--ready")
        assert healthy.returncode == 0, healthy.stderr
