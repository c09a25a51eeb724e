"""Need to know between partnerships on the real broker: Huddinge's social services on Kafka,
Örebro's over HTTP (pull and webhook), a partnership's supervisor on the API, the dashboard's
JSON and its live stream, the national supervisor, and an incident no partnership covers."""

import base64
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from events.codec import encode
from tests.support.agency_server import Agency, agency_server, verified
from tests.support.deployment import Deployment
from tests.support.gateway_stack import Stack, started_stack
from tests.support.scenario import expected_tasks, fresh_incident, notified_group

pytestmark = pytest.mark.broker
HUDDINGE, OREBRO = "socialtjansten-huddinge", "socialtjansten-orebro"
SECRET = "whsec_" + base64.b64encode(b"invented-secret-of-orebro-social-services").decode()
ROLES = ("supervisor:huddinge", f"agency:{HUDDINGE}", f"agency:{OREBRO}")


def _webhooks(path: Path, url: str) -> Path:
    document = {
        "allow_networks": ["127.0.0.0/8"],
        "webhooks": {
            OREBRO: {
                "url": f"{url}/orebro",
                "secret_env": "GVI_TEST_SECRET_OREBRO",
                "timeout_seconds": 2.0,
                "concurrency": 2,
            }
        },
    }
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def _login(stack: Stack, role: str) -> httpx.Client:
    client = httpx.Client(base_url=stack.base_url, timeout=10)
    answer = client.post("/login", data={"token": stack.tokens[role]})
    assert answer.status_code == 303 and client.cookies.get("gvi_session"), answer.text
    return client


def _live_incidents(client: httpx.Client, wanted: set[str], limit: float = 60) -> set[str]:
    """The incidents whose snapshots the live stream sends, until every one of `wanted` came."""
    seen: set[str] = set()
    deadline = time.monotonic() + limit
    with client.stream("GET", "/dashboard/events") as events:
        kind = ""
        for line in events.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "incident":
                seen.add(json.loads(line.removeprefix("data: "))["incident_id"])
            if wanted <= seen or time.monotonic() > deadline:
                return seen
    return seen


def test_each_partnership_sees_only_its_own_tasks_on_every_channel(
    deployment: Deployment, tmp_path: Path
) -> None:
    hud_group, ore_group = notified_group("GRP-PART-HUD"), notified_group("GRP-PART-ORE")
    hud = fresh_incident("INC-PART-HUD-1", hud_group.group_id, municipality="Huddinge")
    ore = fresh_incident("INC-PART-ORE-1", ore_group.group_id, municipality="Örebro")
    nowhere = fresh_incident("INC-PART-NONE-1", hud_group.group_id, municipality="Botkyrka")
    hud_tasks, ore_tasks = expected_tasks(hud, hud_group), expected_tasks(ore, ore_group)
    hud_social = {str(t.task_id) for t in hud_tasks if t.recipient == HUDDINGE}
    ore_social = {str(t.task_id) for t in ore_tasks if t.recipient == OREBRO}
    assert hud_social and ore_social, "both incidents must bring their social services tasks"
    assert {t.partnership for t in hud_tasks} == {"huddinge"}
    agency = Agency({"/orebro": lambda n, p: (204, {}, 0.0)})
    with (
        agency_server(agency) as url,
        started_stack(
            deployment,
            environment={"GVI_TEST_SECRET_OREBRO": SECRET},
            roles=ROLES,
            webhooks_file=_webhooks(tmp_path / "webhooks.yaml", url),
        ) as stack,
    ):
        deployment.register_groups(hud_group, ore_group)
        national = _login(stack, "supervisor")
        local = _login(stack, "supervisor:huddinge")
        deployment.publish(
            "incidents",
            [(i.incident_id, encode(i)) for i in (hud, ore, nowhere)],
        )

        # Kafka: Huddinge's social services read only their own topic, and it holds only theirs.
        on_kafka = deployment.wait_for(f"tasks.{HUDDINGE}", lambda v: len(v) >= len(hud_social))
        assert {v["task_id"] for v in on_kafka} == hud_social
        assert {(v["partnership"], v["incident_id"]) for v in on_kafka} == {
            ("huddinge", hud.incident_id)
        }
        assert not deployment.values(f"tasks.{OREBRO}") or all(
            v["partnership"] == "orebro" for v in deployment.values(f"tasks.{OREBRO}")
        )
        national_views = deployment.values("tasks.skatteverket")
        assert {v["partnership"] for v in national_views} == {"huddinge", "orebro"}, (
            "a national authority receives every partnership's tasks, each labelled"
        )

        # HTTP pull: each agency sees only its own partnership's tasks.
        pulled = stack.until(
            f"agency:{OREBRO}", "/api/v1/tasks", lambda page: len(page["tasks"]) >= len(ore_social)
        )
        assert {t["task_id"] for t in pulled["tasks"]} == ore_social
        assert {t["partnership"] for t in pulled["tasks"]} == {"orebro"}
        own = stack.until(
            f"agency:{HUDDINGE}",
            "/api/v1/tasks",
            lambda page: len(page["tasks"]) >= len(hud_social),
        )
        assert {t["task_id"] for t in own["tasks"]} == hud_social
        with stack.client(f"agency:{OREBRO}") as orebro:
            someone_else = next(iter(hud_social))
            assert orebro.get(f"/api/v1/tasks/{someone_else}").status_code == 404

        # Webhook: Örebro's endpoint gets Örebro's tasks and nothing else.
        deadline = time.monotonic() + 60
        while len(agency.delivered("/orebro")) < len(ore_social):
            assert time.monotonic() < deadline, f"webhooks: {len(agency.delivered('/orebro'))}"
            time.sleep(0.3)
        pushed = [verified(SECRET, r)["data"] for r in agency.delivered("/orebro")]
        assert {p["task_id"] for p in pushed} == ore_social
        assert {p["partnership"] for p in pushed} == {"orebro"}

        # A partnership's supervisor: only its partnership on the API and the dashboard JSON.
        stack.until("supervisor", f"/api/v1/incidents/{ore.incident_id}", lambda s: True)
        with stack.client("supervisor:huddinge") as supervisor:
            assert supervisor.get(f"/api/v1/incidents/{ore.incident_id}").status_code == 404
            mine = supervisor.get(f"/api/v1/incidents/{hud.incident_id}")
            assert mine.status_code == 200 and mine.json()["partnership"] == "huddinge"
            assert supervisor.get("/api/v1/incidents/INC-PART-NONE-1").status_code == 404
            with stack.client(f"agency:{HUDDINGE}") as agency_client:
                assert agency_client.get(f"/api/v1/incidents/{hud.incident_id}").status_code == 403
        overview = local.get("/dashboard/overview").json()
        assert overview["scope"] == "huddinge"
        assert {i["incident_id"] for i in overview["incidents"]} == {hud.incident_id}
        assert [p["partnership"] for p in overview["partnerships"]] == ["huddinge"]
        assert overview["partnerships"][0]["tasks"] == len(hud_tasks)
        assert local.get(f"/dashboard/incidents/{ore.incident_id}").status_code == 404
        everything = national.get("/dashboard/overview").json()
        assert everything["scope"] is None
        assert {hud.incident_id, ore.incident_id} <= {
            i["incident_id"] for i in everything["incidents"]
        }
        assert {"huddinge", "orebro"} <= {p["partnership"] for p in everything["partnerships"]}
        assert national.get(f"/dashboard/incidents/{ore.incident_id}").status_code == 200
        with stack.client("supervisor") as brå:
            assert brå.post("/api/v1/incidents", content=encode(hud)).status_code == 403, (
                "a supervisor reads; it publishes nothing"
            )

        # The live stream: a new incident in each partnership; Huddinge's supervisor gets one.
        hud2 = fresh_incident("INC-PART-HUD-2", hud_group.group_id, municipality="Huddinge")
        ore2 = fresh_incident("INC-PART-ORE-2", ore_group.group_id, municipality="Örebro")
        later = [(i.incident_id, encode(i)) for i in (ore2, hud2)]
        threading.Timer(1.0, deployment.publish, ("incidents", later)).start()
        seen = _live_incidents(local, {hud2.incident_id})
        assert hud2.incident_id in seen
        assert not {ore.incident_id, ore2.incident_id} & seen, seen
        local.close()
        national.close()

    # An incident in a municipality that no partnership covers is answered with its own code.
    rejected = deployment.wait_for(
        "rejected", lambda v: any(r.get("source_key") == nowhere.incident_id for r in v)
    )
    answer = next(r for r in rejected if r.get("source_key") == nowhere.incident_id)
    assert answer["error_code"] == "unknown_partnership"
    assert "'Botkyrka'" in answer["message"]
