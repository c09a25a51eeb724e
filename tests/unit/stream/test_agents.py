"""The agents' handlers in process, against fakes (no broker): the incident's whole path from
intake to completion, a bad message answered once, outputs acknowledged before state is
written, and a message read again changing nothing."""

import json
from typing import Any

import pytest

from events.codec import encode
from schemas.task import TaskStatus, TaskStatusChange
from tests.support.builders import T0, group, incident
from tests.support.fakes import event_on, in_process_runtime, sent_on
from workers.policies import load_policy
from workers.stream import runner
from workers.stream.agents import completion, intake, planning, tasks
from workers.stream.boundary import guarded
from workers.stream.runtime import Runtime

POLICY = load_policy()


class Worker:
    """The stages' handlers bound to one in-process runtime, each message inside the error
    boundary, as the runner subscribes them."""

    def __init__(self) -> None:
        self.journal: list[tuple[str, str]] = []
        self.runtime: Runtime = in_process_runtime(POLICY, self.journal)
        self.handlers: dict[str, Any] = {}
        for agent in (intake, planning, tasks, completion):
            context = agent.context(self.runtime)
            for topic, handler in agent.handlers(self.runtime.catalogue).items():
                self.handlers[topic] = (handler, context)

    async def deliver(
        self, topic: str, key: str | None, value: bytes | None
    ) -> list[tuple[str, str]]:
        """Hand one message to its agent; returns the journal of what it sent and wrote."""
        handler, context = self.handlers[topic]
        start = len(self.journal)

        async def handle(event: Any) -> None:
            await handler(context, event)

        await guarded(self.runtime, event_on(topic, key, value), handle)
        return self.journal[start:]

    async def pass_on(self, topic: str) -> list[tuple[str, str]]:
        """Deliver every message sent so far on an internal topic to its agent, once."""
        journal: list[tuple[str, str]] = []
        delivered = getattr(self, "_delivered", {})
        self._delivered = delivered
        messages = sent_on(self.runtime, topic)
        for key, value in messages[delivered.get(topic, 0) :]:
            journal += await self.deliver(topic, key.decode(), value)
        delivered[topic] = len(messages)
        return journal

    def rejections(self) -> list[dict[str, Any]]:
        rejected = self.runtime.catalogue.rejected.name
        return [json.loads(value) for _key, value in sent_on(self.runtime, rejected)]


def _sends_before_writes(journal: list[tuple[str, str]]) -> bool:
    kinds = [kind for kind, _ in journal]
    return "write" not in kinds or "send" not in kinds[kinds.index("write") :]


async def _planned_worker() -> tuple[Worker, list[list[tuple[str, str]]]]:
    """A worker that took a group profile and an incident through intake, planning, the task
    agent and completion; with each stage's journal."""
    worker = Worker()
    catalogue = worker.runtime.catalogue
    profile = group()
    await worker.deliver(catalogue.groups.name, profile.group_id, encode(profile))
    reported = incident(reported_at=T0)
    journals = [
        await worker.deliver(catalogue.incidents.name, reported.incident_id, encode(reported))
    ]
    journals.append(await worker.pass_on(catalogue.group_work.name))
    journals.append(await worker.pass_on(catalogue.task_commands.name))
    journals.append(await worker.pass_on(catalogue.task_events.name))
    return worker, journals


async def test_an_incident_goes_from_intake_to_completion_in_process() -> None:
    worker, journals = await _planned_worker()
    catalogue = worker.runtime.catalogue
    assert worker.rejections() == []
    assert sent_on(worker.runtime, catalogue.group_work.name)
    tasks_sent = sum(len(sent_on(worker.runtime, spec.name)) for spec in catalogue.tasks.values())
    assert tasks_sent > 0
    [*_, (_, last)] = sent_on(worker.runtime, catalogue.completion.name)
    snapshot = json.loads(last)
    assert snapshot["incident_id"] == "INC-TEST-1"
    assert snapshot["tasks_total"] == tasks_sent
    assert not _sends_before_writes([("write", "tasks"), ("send", "gvi.completion")])
    for journal in journals:
        assert journal, "each stage sent or wrote something"
        assert _sends_before_writes(journal), journal


async def test_a_bad_message_is_answered_once_and_writes_nothing() -> None:
    worker = Worker()
    incidents = worker.runtime.catalogue.incidents.name
    journal = await worker.deliver(incidents, "INC-TEST-9", b'{"incident_id": "INC-TEST-9"')
    [rejection] = worker.rejections()
    assert rejection["error_code"] == "malformed_json"
    assert rejection["source_topic"] == incidents
    assert [kind for kind, _ in journal] == ["send"]


async def test_an_incident_read_again_writes_nothing_and_plans_no_new_task() -> None:
    worker, _ = await _planned_worker()
    catalogue = worker.runtime.catalogue
    reported = incident(reported_at=T0)
    tasks_before = {
        spec.name: len(sent_on(worker.runtime, spec.name)) for spec in catalogue.tasks.values()
    }
    again = await worker.deliver(catalogue.incidents.name, reported.incident_id, encode(reported))
    assert ("write", "incidents") not in again
    planning_again = await worker.pass_on(catalogue.group_work.name)
    assert [entry for entry in planning_again if entry[0] == "write"] == []
    tasks_after = {
        spec.name: len(sent_on(worker.runtime, spec.name)) for spec in catalogue.tasks.values()
    }
    assert tasks_after == tasks_before
    assert worker.rejections() == []


@pytest.mark.parametrize("repeat", [1, 2])
async def test_a_status_update_applies_once_and_a_repeat_is_a_no_op(repeat: int) -> None:
    worker, _ = await _planned_worker()
    catalogue = worker.runtime.catalogue
    recipient = "skatteverket"
    [(key, value), *_] = sent_on(worker.runtime, catalogue.tasks[recipient].name)
    view = json.loads(value)
    change = TaskStatusChange(
        task_id=view["task_id"],
        recipient=recipient,
        status=TaskStatus.ACKNOWLEDGED,
        changed_at=T0,
        reported_by="handlaggare-test",
    )
    updates = catalogue.task_updates[recipient].name
    first = await worker.deliver(updates, key.decode(), encode(change))
    assert ("write", "tasks") in first and _sends_before_writes(first)
    for _ in range(repeat):
        again = await worker.deliver(updates, key.decode(), encode(change))
        assert again == [], "a repeated update neither sends nor writes"
    assert worker.rejections() == []


def _acknowledgement(
    worker: Worker, recipient: str, reported_by: str | None = None
) -> tuple[bytes, TaskStatusChange]:
    """The key of `recipient`'s first task, and an acknowledgement of it in the name of
    `reported_by` (the recipient itself unless given)."""
    [(key, value), *_] = sent_on(worker.runtime, worker.runtime.catalogue.tasks[recipient].name)
    change = TaskStatusChange(
        task_id=json.loads(value)["task_id"],
        recipient=reported_by or recipient,
        status=TaskStatus.ACKNOWLEDGED,
        changed_at=T0,
        reported_by="handlaggare-test",
    )
    return key, change


async def test_an_update_on_another_agencys_topic_is_refused_once() -> None:
    worker, _ = await _planned_worker()
    catalogue = worker.runtime.catalogue
    key, change = _acknowledgement(worker, "skatteverket", reported_by="kronofogden")
    journal = await worker.deliver(
        catalogue.task_updates["kronofogden"].name, key.decode(), encode(change)
    )
    [rejection] = worker.rejections()
    assert rejection["error_code"] == "wrong_agency"
    assert [kind for kind, _ in journal] == ["send"]


def test_every_stage_has_one_agent_module_with_its_handlers() -> None:
    runtime = in_process_runtime(POLICY)
    topics = [
        topic
        for agent in (intake, planning, tasks, completion)
        for topic in agent.handlers(runtime.catalogue)
    ]
    assert len(topics) == len(set(topics)), "each topic has one handler"
    assert {agent.NAME for agent in (intake, planning, tasks, completion)} == {
        "incident-intake",
        "group-planning",
        "task-state",
        "completion",
    }
    assert runner.register.__doc__


async def test_the_task_gauges_follow_every_task_write_without_reading_the_table() -> None:
    worker, _ = await _planned_worker()
    catalogue, tally = worker.runtime.catalogue, worker.runtime.task_tally
    key, change = _acknowledgement(worker, "skatteverket")
    await worker.deliver(catalogue.task_updates["skatteverket"].name, key.decode(), encode(change))
    every_partition = range(worker.runtime.settings.partitions)
    kept = tally.totals(every_partition)
    tasks_sent = sum(len(sent_on(worker.runtime, spec.name)) for spec in catalogue.tasks.values())
    assert sum(kept.by_status.values()) == tasks_sent
    assert kept.by_status[("skatteverket", "acknowledged")] == 1
    await tally.recount(worker.runtime.tables["tasks"], generation=1)
    assert tally.totals(every_partition) == kept
