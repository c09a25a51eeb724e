"""`gvi-sanctions report` and `policy what-if` on a generated scenario, run as an evaluator
would (a process reading the topics), against counts this test makes from the scenario itself;
the what-if writes nothing."""

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from events.codec import encode
from schemas import TaskStatus
from schemas.incident import IncidentRetracted
from schemas.task import SanctionTask
from tests.support.deployment import Deployment
from tests.support.outside_clients import librdkafka_report
from tests.support.scenario import expected_tasks, fresh_incident, notified_group, update
from workers.policies import DEFAULT_POLICY_FILE, DEFAULT_POLICY_PACKAGE
from workers.tools.processes import settings_environment

pytestmark = pytest.mark.broker

DECLINE_REASON = "no debts registered (invented)"


def _cli(deployment: Deployment, *arguments: str) -> str:
    environment = {**os.environ, **settings_environment(deployment.settings)}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _report(deployment: Deployment, day: str, *options: str) -> str:
    return _cli(deployment, "report", "--from", day, "--to", day, *options)


def _counted(tasks: list[tuple[SanctionTask, str, str]]) -> dict[tuple[str, str], Counter[str]]:
    """The expected counts, from what the scenario did to each task."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for task, municipality, fate in tasks:
        row = counts.setdefault((task.recipient, municipality), Counter())
        row["planned"] += 1
        row["delivered"] += 1
        row["acknowledged"] += fate in ("acknowledged", "completed")
        row["completed"] += fate == "completed"
        row["declined"] += fate == "declined"
        row["cancelled"] += fate == "cancelled"
        row["open"] += fate in ("delivered", "acknowledged")
    return counts


def test_the_report_and_the_what_if_match_an_independent_count(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.start_worker()
    groups = [notified_group(f"GRP-EV-{n}") for n in range(3)]
    deployment.register_groups(*groups)
    acted = fresh_incident("INC-EV-JAR-1", groups[0].group_id, municipality="Järfälla")
    idle = fresh_incident("INC-EV-JAR-2", groups[1].group_id, municipality="Järfälla")
    withdrawn = fresh_incident("INC-EV-HUD-1", groups[2].group_id, municipality="Huddinge")
    incidents = [acted, idle, withdrawn]
    deployment.publish("incidents", [(i.incident_id, encode(i)) for i in incidents])
    plans = {i.incident_id: expected_tasks(i, g) for i, g in zip(incidents, groups, strict=True)}
    every = [t for tasks in plans.values() for t in tasks]
    deployment.wait_for(
        "completion",
        lambda values: {v["incident_id"] for v in values} >= {i.incident_id for i in incidents},
    )

    fates: dict[str, str] = {str(t.task_id): "delivered" for t in every}
    updates: list[tuple[str, bytes]] = []
    for task in plans[acted.incident_id]:
        task_id = str(task.task_id)
        if task.recipient == "skatteverket":
            for status in (TaskStatus.ACKNOWLEDGED, TaskStatus.COMPLETED):
                updates.append((task_id, encode(update(task_id, task.recipient, status))))
            fates[task_id] = "completed"
        elif task.recipient == "socialtjansten-jarfalla-upplands-bro":
            ack = update(task_id, task.recipient, TaskStatus.ACKNOWLEDGED)
            updates.append((task_id, encode(ack)))
            fates[task_id] = "acknowledged"
        elif task.recipient == "kronofogden":
            refusal = update(task_id, task.recipient, TaskStatus.DECLINED, DECLINE_REASON)
            updates.append((task_id, encode(refusal)))
            fates[task_id] = "declined"
    librdkafka_report(deployment.bootstrap, deployment.settings.topic_prefix, updates)
    first_skv = next(t for t in plans[acted.incident_id] if t.recipient == "skatteverket")
    backwards = update(str(first_skv.task_id), "skatteverket", TaskStatus.ACKNOWLEDGED)
    wrong_agency = update(str(first_skv.task_id), "kronofogden", TaskStatus.COMPLETED)
    deployment.wait_for(
        "completion",
        lambda values: any(
            v["incident_id"] == acted.incident_id and v["tasks_completed"] > 0 for v in values
        ),
    )
    librdkafka_report(
        deployment.bootstrap,
        deployment.settings.topic_prefix,
        [(str(first_skv.task_id), encode(u)) for u in (backwards, wrong_agency)],
    )
    retraction = IncidentRetracted(
        incident_id=withdrawn.incident_id,
        version=2,
        retracted_at=datetime.now(UTC),
        reason="invented: attributed in error",
        source_system="test-feed",
    )
    deployment.publish("incidents", [(withdrawn.incident_id, encode(retraction))])
    for task in plans[withdrawn.incident_id]:
        fates[str(task.task_id)] = "cancelled"
    done = Counter(fates.values())
    deployment.wait_for("rejected", lambda values: len(values) >= 2)

    def settled(values: list[dict[str, Any]]) -> bool:
        last = {v["incident_id"]: v for v in values}
        acted_done = last[acted.incident_id]["by_status"].get("completed", 0)
        gone = last[withdrawn.incident_id]["by_status"].get("cancelled", 0)
        return acted_done == done["completed"] and gone == len(plans[withdrawn.incident_id])

    deployment.wait_for("completion", settled)

    today = datetime.now(UTC).date().isoformat()
    chart = tmp_path / "report.png"
    made = json.loads(_report(deployment, today, "--format", "json", "--chart", str(chart)))
    municipality_of = {i.incident_id: i.municipality for i in incidents}
    expected = _counted([(t, municipality_of[t.incident_id], fates[str(t.task_id)]) for t in every])
    rows = {(r["recipient"], r["municipality"]): r for r in made["rows"]}
    assert set(rows) == set(expected)
    for key, counts in expected.items():
        for name in (
            "planned",
            "delivered",
            "acknowledged",
            "completed",
            "declined",
            "cancelled",
            "open",
        ):
            assert rows[key][name] == counts[name], (key, name, rows[key], counts)
    assert made["incidents"] == 3
    skv = rows[("skatteverket", "Järfälla")]
    assert skv["on_time_share"] == 1.0
    assert skv["acknowledge_hours_median"] is not None and skv["acknowledge_hours_median"] >= 0
    assert skv["complete_hours_p90"] >= skv["complete_hours_median"] >= 0
    assert rows[("kronofogden", "Järfälla")]["declined_reasons"] == {
        DECLINE_REASON: sum(1 for t in plans[acted.incident_id] if t.recipient == "kronofogden")
    }
    steps = {(s["step"], s["municipality"]): s for s in made["steps"]}
    follow_ups = Counter(
        municipality_of[t.incident_id] for t in every if t.kind.value == "follow_up"
    )
    offers = Counter(municipality_of[t.incident_id] for t in every if t.action == "offer-of-help")
    for municipality, planned in follow_ups.items():
        assert steps[("follow-up", municipality)]["planned"] == planned
    for municipality, planned in offers.items():
        assert steps[("offer of help", municipality)]["planned"] == planned
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    only = json.loads(_report(deployment, today, "--municipality", "Huddinge", "--format", "json"))
    assert {r["municipality"] for r in only["rows"]} == {"Huddinge"}
    assert sum(r["cancelled"] for r in only["rows"]) == len(plans[withdrawn.incident_id])
    for partnership, municipality in (
        ("huddinge", "Huddinge"),
        ("jarfalla-upplands-bro", "Järfälla"),
    ):
        scoped = json.loads(
            _report(deployment, today, "--partnership", partnership, "--format", "json")
        )
        assert scoped["partnership"] == partnership
        assert {r["municipality"] for r in scoped["rows"]} == {municipality}
        assert all(r == rows[(r["recipient"], r["municipality"])] for r in scoped["rows"]), (
            "a partnership's rows are the same rows, only fewer"
        )
    table = list(csv.DictReader(io.StringIO(_report(deployment, today))))
    assert sum(int(r["planned"]) for r in table) == len(every)
    page = _report(deployment, today, "--format", "html")
    assert "<table>" in page and "Järfälla" in page

    proposed = yaml.safe_load(
        resources.files(DEFAULT_POLICY_PACKAGE).joinpath(DEFAULT_POLICY_FILE).read_text("utf-8")
    )
    proposed["policy_version"] = "2026.12-proposed"
    for rule in proposed["rules"]:
        rule["tasks"] = [t for t in rule["tasks"] if t["recipient"] != "kronofogden"]
    proposed_file = tmp_path / "proposed.yaml"
    proposed_file.write_text(yaml.safe_dump(proposed, allow_unicode=True), "utf-8")
    before = _positions(deployment)
    groups_before = _consumer_groups(deployment)
    what_if = json.loads(_cli(deployment, "policy", "what-if", str(proposed_file), "--json"))
    assert _positions(deployment) == before, "the what-if wrote to a topic"
    assert _consumer_groups(deployment) == groups_before, "the what-if joined a consumer group"
    live = [acted, idle]
    dropped = sum(1 for i in live for t in plans[i.incident_id] if t.recipient == "kronofogden")
    assert what_if["incidents"] == len(live), "a retracted incident is not replayed"
    assert what_if["totals"] == {"kronofogden": {"dropped": dropped}}
    assert {d["incident_id"] for d in what_if["diffs"]} == {i.incident_id for i in live}
    text = _cli(deployment, "policy", "what-if", str(proposed_file))
    assert f"kronofogden: dropped {dropped}" in text
    jarfalla = json.loads(
        _cli(
            deployment,
            "policy",
            "what-if",
            str(proposed_file),
            "--partnership",
            "jarfalla-upplands-bro",
            "--json",
        )
    )
    assert jarfalla["incidents"] == len(live) and jarfalla["totals"] == what_if["totals"]
    huddinge = json.loads(
        _cli(
            deployment,
            "policy",
            "what-if",
            str(proposed_file),
            "--partnership",
            "huddinge",
            "--json",
        )
    )
    assert huddinge["incidents"] == 0, "Huddinge's only incident was retracted"


def _positions(deployment: Deployment) -> dict[tuple[str, int], int]:
    async def read() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=deployment.bootstrap)
        await consumer.start()
        try:
            topics = [
                t for t in await consumer.topics() if t.startswith(deployment.settings.topic_prefix)
            ]
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in consumer.partitions_for_topic(topic) or ()
            ]
            ends = await consumer.end_offsets(partitions)
            return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _consumer_groups(deployment: Deployment) -> set[str]:
    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
        await admin.start()
        try:
            return {group[0] for group in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    return asyncio.run(listed())
