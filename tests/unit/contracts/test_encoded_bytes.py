"""`encode` writes a record's bytes straight from its pydantic serializer: the same bytes as
`model_dump_json(exclude_none=True)` encoded as UTF-8 (a canary for the pinned pydantic)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from events.codec import encode
from schemas import GroupHistory, GroupProfile, IncidentReported
from schemas.common import built
from tests.support.scenario import fresh_incident, notified_group
from tests.support.strategies import groups, histories, incidents
from workers.core.messages import CreateTasks, NewTask, SourceRef
from workers.core.planner import plan
from workers.core.projection import context_for, view_of
from workers.core.records import GroupPlans, TaskRecord
from workers.policies import load_policy
from workers.stream.stored_history import entry_json, group_plans_json
from workers.stream.stores import stored_json

POLICY = load_policy()
SOURCE = SourceRef(topic="gvi.internal.group-work", partition=2, offset=41)


def _dumped(record: BaseModel) -> bytes:
    return record.model_dump_json(exclude_none=True).encode("utf-8")


def _records_of(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory
) -> tuple[list[BaseModel], int]:
    """The records an incident makes: inputs, tasks, contexts, views, task records, the
    command that keeps them; and how many tasks."""
    decision = plan(incident, {group.group_id: group}, {group.group_id: history}, POLICY)
    records: list[BaseModel] = [incident, group, history, *history.entries]
    kept = []
    for task in decision.tasks:
        context = context_for(task, incident, group, POLICY)
        kept.append(built(NewTask, task=task, context=context))
        records += [task, context, view_of(task, context, POLICY)]
        records.append(built(TaskRecord, task=task, context=context))
    if kept:
        records.append(built(CreateTasks, tasks=tuple(kept), source=SOURCE))
    return records, len(decision.tasks)


def _assert_encoded_as_dumped(records: list[BaseModel]) -> None:
    for record in records:
        assert encode(record) == _dumped(record), type(record).__name__
        assert stored_json(record) == _dumped(record), type(record).__name__


@settings(max_examples=60, deadline=None)
@given(incidents(), groups(), histories(), st.text(min_size=1, max_size=40))
def test_every_record_of_an_incident_encodes_as_model_dump_json_does(
    incident: IncidentReported, group: GroupProfile, history: GroupHistory, narrative: str
) -> None:
    # Text beyond ASCII and escapes: the serializer's bytes are UTF-8, not \u escapes.
    incident = incident.model_copy(update={"narrative": f'Försök «{narrative}» "citat"\n'})
    _assert_encoded_as_dumped(_records_of(incident, group, history)[0])


def test_the_twelve_tasks_of_a_notified_group_encode_as_model_dump_json_does() -> None:
    reported = fresh_incident("INC-ENC-1", narrative="Skottlossning vid torget, «inga skadade»")
    records, tasks = _records_of(reported, notified_group(), GroupHistory(group_id="GRP-TEST-A"))
    assert tasks >= 10
    _assert_encoded_as_dumped(records)


@settings(max_examples=30, deadline=None)
@given(histories())
def test_a_groups_stored_plans_are_its_dumped_json(history: GroupHistory) -> None:
    plans = GroupPlans(group_id=history.group_id, history=history)
    assert group_plans_json(plans) == _dumped(plans)
    for entry in history.entries:
        assert entry_json(entry) == _dumped(entry)


def test_a_record_with_nulls_leaves_them_out() -> None:
    record = SourceRef(topic="gvi.incidents", partition=0, offset=7)
    assert encode(record) == _dumped(record)
    assert (
        encode(record) == b'{"schema_version":1,"topic":"gvi.incidents","partition":0,"offset":7}'
    )
