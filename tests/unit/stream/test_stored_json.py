"""A table keeps its records without their null fields: every model a table keeps reads an
absent field back as None, so a record read back equals the one written, and the timers' cheap
filters answer the same for records written with their nulls (before) and without."""

import re
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.group import GroupProfile
from tests.support.scenario import expected_tasks, fresh_incident, notified_group
from workers.core.intake import IncidentRecord
from workers.core.messages import TaskLine
from workers.core.partnerships import policy_for_incident
from workers.core.planner import PlannedTask
from workers.core.projection import context_for
from workers.core.records import (
    GroupPlans,
    GroupTaskLines,
    IncidentPlan,
    IncidentTasks,
    ParkedIncident,
    ParkedUpdates,
    TaskRecord,
)
from workers.policies import load_policy
from workers.stream.stores import not_yet_sent, past_deadline, past_reminder, stored_json

POLICY = load_policy()
STORED = {
    model.__name__: model
    for model in (
        TaskRecord,
        ParkedUpdates,
        GroupProfile,
        GroupPlans,
        IncidentPlan,
        ParkedIncident,
        IncidentTasks,
        GroupTaskLines,
        IncidentRecord,
    )
}
STREAM = Path(__file__).parents[3] / "workers" / "stream"


def test_the_list_holds_every_model_a_table_keeps() -> None:
    constructed = {
        name
        for path in STREAM.rglob("*.py")
        for name in re.findall(r"\bStore\(\s*[^,()]+,\s*(\w+)\)", path.read_text())
    }
    assert constructed == set(STORED)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is types.NoneType:
        return True
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and any(
        _admits_none(argument) for argument in typing.get_args(annotation)
    )


def _every_model_below(roots: list[type[BaseModel]]) -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    waiting = list(roots)
    while waiting:
        model = waiting.pop()
        if model not in seen:
            seen.add(model)
            for field in model.model_fields.values():
                waiting.extend(_models_in(field.annotation))
    return seen


def test_every_field_that_may_be_null_reads_back_as_null_when_it_is_left_out() -> None:
    models = _every_model_below(list(STORED.values()))
    assert TaskLine in models and PlannedTask in models, "the walk reaches nested models"
    wrong = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if _admits_none(field.annotation) and (field.is_required() or field.default is not None)
    ]
    assert wrong == []


def _records() -> list[TaskRecord]:
    group = notified_group("GRP-STORED-1")
    reported = fresh_incident("INC-STORED-1", group.group_id)
    policy = policy_for_incident(POLICY, reported)
    return [
        TaskRecord(task=task, context=context_for(task, reported, group, policy))
        for task in expected_tasks(reported, group)
    ]


def test_a_task_record_reads_back_equal_and_smaller_without_its_nulls() -> None:
    for record in _records():
        kept, before = stored_json(record), record.model_dump_json().encode()
        assert b":null" not in kept
        assert TaskRecord.model_validate_json(kept) == record
        assert len(kept) < len(before)
        reminded = record.model_copy(update={"reminded_at": record.task.created_at})
        assert TaskRecord.model_validate_json(stored_json(reminded)) == reminded


def test_the_timers_filters_answer_the_same_with_and_without_the_nulls() -> None:
    for record in _records():
        reminded = record.model_copy(update={"reminded_at": record.task.created_at})
        overdue = record.model_copy(
            update={"task": record.task.model_copy(update={"overdue": True})}
        )
        start, deadline = record.task.created_at, record.task.deadline
        moments = [start + (deadline - start) * share for share in (0.1, 0.6, 0.99)] + [
            deadline + timedelta(seconds=1)
        ]
        for variant in (record, reminded, overdue):
            kept, before = stored_json(variant), variant.model_dump_json().encode()
            assert not_yet_sent(kept) == not_yet_sent(before)
            for at in moments:
                assert past_deadline(at)(kept) == past_deadline(at)(before)
                assert past_reminder(at, 0.5)(kept) == past_reminder(at, 0.5)(before)
        assert past_reminder(moments[1], 0.5)(stored_json(record))
        assert not past_reminder(moments[1], 0.5)(stored_json(reminded))
