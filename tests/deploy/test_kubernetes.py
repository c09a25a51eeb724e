"""deploy/k8s: every overlay rendered by kustomize and valid by kubernetes-validate (strict,
with the schemas its wheel bundles); Pod Security "restricted" on every pod; the worker and
gateway shapes operators rely on; the Strimzi overlay's resources valid and current."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run, tool
from workers.cli.strimzi import render_resources
from workers.settings import Settings

K8S = DEPLOY / "k8s"
OVERLAYS = ["base", "overlays/production", "overlays/strimzi", "overlays/strimzi-tls"]


def rendered(overlay: str, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    output = run(tool("kustomize"), "build", K8S / overlay).stdout
    path = tmp_path / f"{overlay.replace('/', '-')}.yaml"
    path.write_text(output, "utf-8")
    return path, [document for document in yaml.safe_load_all(output) if document]


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


def pod_specs(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (document["metadata"]["name"], document["spec"]["template"]["spec"])
        for document in documents
        if document["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_and_validates_strictly(overlay: str, tmp_path: Path) -> None:
    path, documents = rendered(overlay, tmp_path)
    assert documents
    run(tool("kubernetes-validate"), "--strict", "--quiet", path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_pod_security_restricted(overlay: str, tmp_path: Path) -> None:
    _, documents = rendered(overlay, tmp_path)
    specs = pod_specs(documents)
    assert {name for name, _ in specs} >= {"gvi-worker", "gvi-gateway"}
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("hostNetwork") is not True and spec.get("hostPID") is not True, name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert "add" not in context["capabilities"], (name, container["name"])
            assert container["resources"]["requests"] and container["resources"]["limits"]
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, name


def test_the_production_namespace_enforces_restricted(tmp_path: Path) -> None:
    _, documents = rendered("overlays/production", tmp_path)
    (namespace,) = by_kind(documents, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"} == {
        "gvi-sanctions"
    }


def test_the_worker_keeps_rocksdb_per_pod_and_survives_a_long_recovery(tmp_path: Path) -> None:
    _, documents = rendered("overlays/production", tmp_path)
    (worker,) = by_kind(documents, "StatefulSet")
    (template,) = worker["spec"]["volumeClaimTemplates"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert {"name": "tables", "mountPath": "/var/lib/gvi/tables"} in container["volumeMounts"]
    assert template["metadata"]["name"] == "tables"
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800, "30 min to recover"
    assert liveness["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    (settings,) = [
        c for c in by_kind(documents, "ConfigMap") if c["metadata"]["name"] == "gvi-settings"
    ]
    assert settings["data"]["GVI_STANDBY_REPLICAS"] == "1"
    assert settings["data"]["GVI_TABLE_STORE"] == "rocksdb://"
    assert settings["data"]["GVI_REPLICATION_FACTOR"] == "3"
    assert settings["data"]["GVI_MIN_INSYNC_REPLICAS"] == "2"


def test_the_gateway_runs_two_replicas_with_a_shared_session_key(tmp_path: Path) -> None:
    _, documents = rendered("overlays/production", tmp_path)
    gateway = next(
        d for d in by_kind(documents, "Deployment") if d["metadata"]["name"] == "gvi-gateway"
    )
    assert gateway["spec"]["replicas"] >= 2
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    names = {variable["name"] for variable in container["env"]}
    assert "GVI_GATEWAY_METRICS_PORT" in names
    files = secret_files(gateway["spec"]["template"]["spec"])
    assert files["GVI_GATEWAY_SESSION_SECRET"] == ("gvi-gateway-keys", "session-secret")
    assert files["GVI_GATEWAY_METRICS_TOKEN"] == ("gvi-gateway-keys", "metrics-token")
    budgets = {d["metadata"]["name"]: d["spec"] for d in by_kind(documents, "PodDisruptionBudget")}
    assert set(budgets) == {"gvi-worker", "gvi-gateway"}


def test_only_the_gateway_is_reachable_from_outside_the_namespace(tmp_path: Path) -> None:
    _, documents = rendered("overlays/production", tmp_path)
    policies = {d["metadata"]["name"]: d["spec"] for d in by_kind(documents, "NetworkPolicy")}
    deny = policies["gvi-default-deny-ingress"]
    assert (
        deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    )
    opened = [spec for name, spec in policies.items() if name != "gvi-default-deny-ingress"]
    for spec in opened:
        for rule in spec["ingress"]:
            if "from" not in rule:  # from anywhere: only the gateway's HTTP port
                assert spec["podSelector"] == {
                    "matchLabels": {"app.kubernetes.io/name": "gvi-gateway"}
                }
                assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_the_topics_job_creates_topics_then_applies_acls(tmp_path: Path) -> None:
    _, documents = rendered("overlays/production", tmp_path)
    (job,) = by_kind(documents, "Job")
    spec = job["spec"]["template"]["spec"]
    assert [c["args"] for c in spec["initContainers"]] == [["topics", "--apply"]]
    assert [c["args"] for c in spec["containers"]] == [["acls", "--apply"]]
    secrets = {s["metadata"]["name"]: s for s in by_kind(documents, "Secret")}
    assert {"worker-password", "gateway-password", "admin-password"} <= set(
        secrets["gvi-kafka"]["stringData"]
    )
    assert "credentials.json" in secrets["gvi-gateway-keys"]["stringData"]
    assert secrets["gvi-webhook-secrets"]["stringData"]


def test_the_strimzi_overlay_has_topics_and_users_instead_of_the_job(tmp_path: Path) -> None:
    _, documents = rendered("overlays/strimzi", tmp_path)
    assert not by_kind(documents, "Job")
    _validate_strimzi_resources(documents, tmp_path)
    for kind, user in (("StatefulSet", "gvi-worker"), ("Deployment", "gvi-gateway")):
        (workload,) = by_kind(documents, kind)
        files = secret_files(workload["spec"]["template"]["spec"])
        assert files["GVI_KAFKA_SASL_PASSWORD"] == (user, "password"), (
            f"{kind} reads the password the User Operator writes for {user}"
        )


def secret_files(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files of the one container's secrets folder (`GVI_SECRETS_DIR`): file name →
    (Secret, key)."""
    (container,) = pod["containers"]
    env = {v["name"]: v.get("value") for v in container.get("env", [])}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    (volume,) = [v for v in pod["volumes"] if v["name"] == mounts[env["GVI_SECRETS_DIR"]]]
    sources = (
        [s["secret"] for s in volume["projected"]["sources"]]
        if "projected" in volume
        else [{"name": volume["secret"]["secretName"], "items": volume["secret"].get("items")}]
    )
    files: dict[str, tuple[str, str]] = {}
    for source in sources:
        for item in source.get("items") or [{"key": "*", "path": "*"}]:
            files[item["path"]] = (source["name"], item["key"])
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_process_holds_a_secret_in_its_environment(overlay: str, tmp_path: Path) -> None:
    """Secrets reach every process as files of its secrets folder (GVI_SECRETS_DIR), never as
    variables, which its children, crash reports and /proc/<pid>/environ could read."""
    _, documents = rendered(overlay, tmp_path)
    for name, pod in pod_specs(documents):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert not [
                source for source in container.get("envFrom", []) if "secretRef" in source
            ], f"{name}/{container['name']} takes a Secret as variables"
            from_secrets = [
                v["name"]
                for v in container.get("env", [])
                if "secretKeyRef" in v.get("valueFrom", {})
            ]
            assert not from_secrets, f"{name}/{container['name']}: {from_secrets}"
    by_name = {name: pod for name, pod in pod_specs(documents)}
    gateway = secret_files(by_name["gvi-gateway"])
    assert {"GVI_GATEWAY_SESSION_SECRET", "GVI_GATEWAY_METRICS_TOKEN"} <= gateway.keys()
    assert gateway["*"] == ("gvi-webhook-secrets", "*"), "each webhook's secret, by its name"
    if overlay in ("base", "overlays/production"):
        assert secret_files(by_name["gvi-worker"]) == {
            "GVI_KAFKA_SASL_PASSWORD": ("gvi-kafka", "worker-password")
        }
        assert gateway["GVI_KAFKA_SASL_PASSWORD"] == ("gvi-kafka", "gateway-password")
        assert secret_files(by_name["gvi-topics"]) == {
            "GVI_KAFKA_SASL_PASSWORD": ("gvi-kafka", "admin-password")
        }


def _validate_strimzi_resources(documents: list[dict[str, Any]], tmp_path: Path) -> None:
    schemas = K8S / "overlays" / "strimzi" / "schemas"
    for kind, schema in (("KafkaTopic", "kafka-topic.json"), ("KafkaUser", "kafka-user.json")):
        resources = by_kind(documents, kind)
        assert resources
        for number, resource in enumerate(resources):
            one = tmp_path / f"{kind}-{number}.yaml"
            one.write_text(yaml.safe_dump(resource), "utf-8")
            run(tool("check-jsonschema"), "--schemafile", schemas / schema, one)


def test_the_strimzi_tls_overlay_logs_every_process_in_by_its_users_certificate(
    tmp_path: Path,
) -> None:
    _, documents = rendered("overlays/strimzi-tls", tmp_path)
    assert not by_kind(documents, "Job")
    _validate_strimzi_resources(documents, tmp_path)
    users = by_kind(documents, "KafkaUser")
    assert {u["spec"]["authentication"]["type"] for u in users} == {"tls"}
    (settings,) = [
        c for c in by_kind(documents, "ConfigMap") if c["metadata"]["name"] == "gvi-settings"
    ]
    assert settings["data"]["GVI_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert "GVI_KAFKA_SASL_MECHANISM" not in settings["data"]
    for kind, user in (("StatefulSet", "gvi-worker"), ("Deployment", "gvi-gateway")):
        (workload,) = by_kind(documents, kind)
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        assert not {name for name in env if name.startswith("GVI_KAFKA_SASL")}, env
        files = secret_files(spec)
        assert "GVI_KAFKA_SASL_PASSWORD" not in files
        for setting, file in (
            ("GVI_KAFKA_SSL_CERTFILE", "user.crt"),
            ("GVI_KAFKA_SSL_KEYFILE", "user.key"),
        ):
            folder, _, name = env[setting].rpartition("/")
            assert folder == env["GVI_SECRETS_DIR"] and name == file
            assert files[file] == (user, file), f"{kind} must read its own user's certificate"
        assert any(u["metadata"]["name"] == user for u in users)


@pytest.mark.parametrize(
    ("overlay", "authentication"), [("strimzi", "scram-sha-512"), ("strimzi-tls", "tls")]
)
def test_the_strimzi_resources_are_current(overlay: str, authentication: str) -> None:
    """kafka-resources.yaml is what `gvi-sanctions strimzi gvi-kafka` makes with the base
    settings: a new recipient or topic shows here as a failing test until it is remade."""
    base = yaml.safe_load((K8S / "base" / "config.yaml").read_text("utf-8").split("---")[0])["data"]
    settings = Settings(
        topic_prefix=base["GVI_TOPIC_PREFIX"],
        app_id=base["GVI_APP_ID"],
        partitions=int(base["GVI_PARTITIONS"]),
        output_partitions=int(base["GVI_OUTPUT_PARTITIONS"]),
        replication_factor=int(base["GVI_REPLICATION_FACTOR"]),
        min_insync_replicas=int(base["GVI_MIN_INSYNC_REPLICAS"]),
    )
    committed = (K8S / "overlays" / overlay / "kafka-resources.yaml").read_text("utf-8")
    assert committed == render_resources(settings, "gvi-kafka", authentication), (
        "remake it: GVI_PARTITIONS=12 GVI_OUTPUT_PARTITIONS=1 GVI_REPLICATION_FACTOR=3 "
        "GVI_MIN_INSYNC_REPLICAS=2 "
        f"gvi-sanctions strimzi gvi-kafka --authentication {authentication} "
        f"> deploy/k8s/overlays/{overlay}/kafka-resources.yaml"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_rotated_secret_reaches_the_files_the_running_processes_watch(
    overlay: str, tmp_path: Path
) -> None:
    """The kubelet updates a mounted Secret's or ConfigMap's files in place, except under a
    `subPath` mount; the worker and the gateway watch their secrets folder and TLS files (the
    watch not switched off) and restart for a change (configuration.md, "Secrets that
    change")."""
    _, documents = rendered(overlay, tmp_path)
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in by_kind(documents, "ConfigMap")
    }
    watching = {name: pod for name, pod in pod_specs(documents)}
    for name in ("gvi-worker", "gvi-gateway"):
        (container,) = watching[name]["containers"]
        settings: dict[str, str] = {}
        for source in container.get("envFrom", []):
            settings.update(config_maps[source["configMapRef"]["name"]])
        settings.update({v["name"]: v["value"] for v in container.get("env", []) if "value" in v})
        assert float(settings.get("GVI_SECRETS_WATCH_SECONDS", "30")) > 0, name
        tls = ("GVI_KAFKA_SSL_CAFILE", "GVI_KAFKA_SSL_CERTFILE", "GVI_KAFKA_SSL_KEYFILE")
        watched = [settings["GVI_SECRETS_DIR"], *(settings[key] for key in tls if key in settings)]
        assert len(watched) >= 2, f"{name}: a secrets folder and a CA at least"
        for path in watched:
            mounts = [
                mount
                for mount in container["volumeMounts"]
                if path == mount["mountPath"] or path.startswith(mount["mountPath"] + "/")
            ]
            assert mounts, f"{name}: nothing mounted at {path}"
            assert not [mount for mount in mounts if "subPath" in mount], f"{name}: {path}"
