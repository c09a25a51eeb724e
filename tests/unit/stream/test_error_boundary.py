"""The error boundary: bad messages are rejected once; undelivered output is retried, not lost."""

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError
from hypothesis import given
from hypothesis import strategies as st

from events.partitioning import partition_of
from schemas import Refused, RejectionCode
from tests.support.builders import T0, group, incident
from tests.support.fakes import RecordingTopic, in_process_runtime
from tests.support.producers import Producer, app_on
from workers.core.messages import SourceRef
from workers.core.outputs import Answer, Disclosure
from workers.core.planner import plan
from workers.core.projection import context_for, view_of
from workers.policies import load_policy
from workers.stream.boundary import guarded
from workers.stream.changelog import InProcessTables, TableWrite
from workers.stream.runtime import HandledRuns, RetryBackoff, Runtime, delivery_failure
from workers.stream.stores import Store, Writes

POLICY = load_policy()


def _runtime() -> Runtime:
    return in_process_runtime(POLICY)


def _event(offset: int = 7, partition: int | None = None) -> Any:
    owner = partition_of("INC-TEST-1", 4)
    message = SimpleNamespace(
        topic="gvi.incidents",
        partition=owner if partition is None else partition,
        offset=offset,
        key=b"INC-TEST-1",
        value=b"{}",
        headers=None,
    )
    return SimpleNamespace(message=message)


def _rejections(runtime: Runtime) -> list[dict[str, Any]]:
    topic = runtime.topics[runtime.catalogue.rejected.name]
    return [json.loads(value) for _key, value in topic.sent]


def _failing(errors: list[Exception]) -> tuple[Callable[[Any], Awaitable[None]], list[int]]:
    calls: list[int] = []

    async def handle(event: Any) -> None:
        calls.append(event.message.offset)
        if errors:
            raise errors.pop(0)

    return handle, calls


async def test_a_broker_timeout_handles_the_message_again_and_rejects_nothing() -> None:
    runtime = _runtime()
    handle, calls = _failing([KafkaTimeoutError(), KafkaTimeoutError()])
    await guarded(runtime, _event(), handle)
    assert calls == [7, 7, 7]
    assert _rejections(runtime) == []


async def test_a_wrapped_retriable_send_error_is_retried() -> None:
    runtime = _runtime()
    wrapped = ProducerSendError("Error while sending")
    wrapped.__cause__ = NotLeaderForPartitionError()
    handle, calls = _failing([wrapped])
    await guarded(runtime, _event(), handle)
    assert len(calls) == 2
    assert _rejections(runtime) == []


async def test_a_lasting_delivery_failure_keeps_the_agent_on_the_message() -> None:
    runtime = _runtime()
    handle, calls = _failing([KafkaTimeoutError() for _ in range(10_000)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(guarded(runtime, _event(), handle), 0.3)
    assert len(calls) > 3
    assert _rejections(runtime) == []


async def test_output_the_broker_can_never_take_is_rejected_once() -> None:
    runtime = _runtime()
    handle, calls = _failing([MessageSizeTooLargeError()])
    await guarded(runtime, _event(), handle)
    assert calls == [7]
    [rejection] = _rejections(runtime)
    assert rejection["error_code"] == RejectionCode.INTERNAL_ERROR.value
    assert "MessageSizeTooLargeError" in rejection["message"]


async def test_a_refusal_is_rejected_with_its_code_and_coordinates() -> None:
    runtime = _runtime()
    handle, calls = _failing([Refused("no such group", RejectionCode.UNKNOWN_GROUP)])
    await guarded(runtime, _event(offset=11), handle)
    [rejection] = _rejections(runtime)
    assert calls == [11]
    assert rejection["error_code"] == RejectionCode.UNKNOWN_GROUP.value
    assert (rejection["source_topic"], rejection["source_partition"]) == (
        "gvi.incidents",
        partition_of("INC-TEST-1", 4),
    )
    assert (rejection["source_offset"], rejection["source_key"]) == (11, "INC-TEST-1")


async def test_a_rejection_that_times_out_is_written_on_the_next_attempt() -> None:
    runtime = _runtime()
    runtime.topics[runtime.catalogue.rejected.name].failures.append(KafkaTimeoutError())
    handle, calls = _failing([ValueError("invented bug"), ValueError("invented bug")])
    await guarded(runtime, _event(), handle)
    assert calls == [7, 7]
    [rejection] = _rejections(runtime)
    assert rejection["error_code"] == RejectionCode.INTERNAL_ERROR.value
    assert rejection["message"] == "ValueError: invented bug"


def test_only_passing_broker_failures_count_as_undelivered() -> None:
    assert delivery_failure(KafkaTimeoutError())
    assert delivery_failure(NotLeaderForPartitionError())
    assert not delivery_failure(MessageSizeTooLargeError())
    assert not delivery_failure(ValueError("invented"))
    assert not delivery_failure(ProducerSendError("no cause"))


@given(st.floats(0.001, 5.0), st.floats(0.001, 60.0), st.integers(0, 200))
def test_retry_pauses_grow_and_stay_within_the_longest(
    first: float, longest: float, attempt: int
) -> None:
    backoff = RetryBackoff(first=first, longest=longest)
    assert backoff.delay(attempt) <= max(longest, 0.0)
    assert backoff.delay(attempt) <= backoff.delay(attempt + 1)
    assert backoff.delay(0) == min(first, longest)


async def test_a_message_off_its_owner_partition_is_forwarded_with_its_coordinates() -> None:
    runtime = _runtime()
    owner = partition_of("INC-TEST-1", 4)
    handle, calls = _failing([])
    await guarded(runtime, _event(offset=11, partition=(owner + 1) % 4), handle)
    assert calls == []
    routed = runtime.topics["gvi.internal.routed.incidents"]
    assert routed.sent == [(b"INC-TEST-1", b"{}")]
    forwarded = SimpleNamespace(
        topic="gvi.internal.routed.incidents",
        partition=owner,
        offset=0,
        key=b"INC-TEST-1",
        value=b"{}",
        headers=routed.headers[0],
    )
    source = runtime.source_of(SimpleNamespace(message=forwarded))
    assert (source.topic, source.partition, source.offset) == ("gvi.incidents", (owner + 1) % 4, 11)


async def test_coordinates_in_headers_are_trusted_only_on_the_routed_topics() -> None:
    runtime = _runtime()
    forged = SimpleNamespace(
        topic="gvi.incidents",
        partition=2,
        offset=5,
        key=b"INC-TEST-1",
        value=b"{}",
        headers=[
            ("gvi-source-topic", b"gvi.groups"),
            ("gvi-source-partition", b"0"),
            ("gvi-source-offset", b"1"),
        ],
    )
    source = runtime.source_of(SimpleNamespace(message=forged))
    assert (source.topic, source.partition, source.offset) == ("gvi.incidents", 2, 5)


async def test_a_message_delivered_again_after_a_seek_is_answered_once() -> None:
    runtime = _runtime()
    handle, calls = _failing([Refused("bad", RejectionCode.SCHEMA_VIOLATION)])
    for offset in (7, 8, 9, 7, 8, 9, 10):
        await guarded(runtime, _event(offset=offset), handle)
    assert calls == [7, 8, 9, 10]
    assert [r["source_offset"] for r in _rejections(runtime)] == [7]


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=60))
def test_only_offsets_inside_a_handled_unbroken_run_are_skipped(offsets: list[int]) -> None:
    runs = HandledRuns()
    handled: list[int] = []
    for offset in offsets:
        if runs.already_handled("t", 0, offset):
            assert offset in handled
            start, end = runs.runs[("t", 0)]
            assert all(o in handled for o in range(start, end + 1))
            continue
        handled.append(offset)
        runs.mark("t", 0, offset)


async def test_an_offset_of_an_unreadable_batch_is_answered_with_its_coordinates() -> None:
    runtime = _runtime()
    handle, calls = _failing([])
    event = _event(offset=12, partition=3)
    event.message.key = None
    event.message.value = None
    event.message.headers = [("gvi-unreadable-batch", b"UnsupportedCodecError: codec 5")]
    await guarded(runtime, event, handle)
    [rejection] = _rejections(runtime)
    assert calls == []
    assert rejection["error_code"] == "unreadable_batch"
    assert (rejection["source_partition"], rejection["source_offset"]) == (3, 12)
    assert "codec 5" in rejection["message"]


class HeldChangelog(InProcessTables):
    """Table writes whose changelog records settle when the test says so."""

    def __init__(self) -> None:
        self.writes: list[asyncio.Future[None]] = []

    async def record(self, writes: Sequence[TableWrite]) -> list[Awaitable[Any]]:
        sends: list[Awaitable[Any]] = []
        for _ in writes:
            sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.writes.append(sent)
            sends.append(sent)
        return sends


def _held(runtime: Runtime) -> HeldChangelog:
    runtime.table_writer = held = HeldChangelog()
    return held


def _answer() -> Answer:
    source = SourceRef(topic="gvi.incidents", partition=0, offset=1, key="INC-TEST-1")
    return Answer(source, RejectionCode.SCHEMA_VIOLATION, "invented refusal")


async def test_no_output_is_sent_before_the_earlier_table_writes_are_on_the_changelog() -> None:
    runtime = _runtime()
    table = _held(runtime)
    store = Store({}, SourceRef)
    writes = Writes()
    writes.put(store, "one", SourceRef(topic="t", partition=0, offset=1, key="one"))
    runtime.apply(writes)
    await asyncio.sleep(0)
    sending = asyncio.ensure_future(runtime.emit([_answer()]))
    await asyncio.sleep(0.05)
    assert not sending.done()
    assert _rejections(runtime) == []
    table.writes[0].set_result(None)
    await sending
    assert len(_rejections(runtime)) == 1
    assert runtime.unsettled_state == []


async def test_a_refused_changelog_write_crashes_the_worker_and_answers_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashed: list[BaseException] = []

    async def crash(app: Any, error: BaseException) -> None:
        crashed.append(error)

    monkeypatch.setattr("workers.stream.runtime.crash_within", crash)
    runtime = _runtime()
    table = _held(runtime)
    writes = Writes()
    writes.put(Store({}, SourceRef), "one", SourceRef(topic="t", partition=0, offset=1))
    runtime.apply(writes)
    await asyncio.sleep(0)
    table.writes[0].set_exception(MessageSizeTooLargeError())
    sending = asyncio.ensure_future(runtime.emit([_answer()]))
    await asyncio.sleep(0.05)
    assert [type(error) for error in crashed] == [MessageSizeTooLargeError]
    assert not sending.done()
    assert _rejections(runtime) == []
    sending.cancel()


class SilentTopic(RecordingTopic):
    """A topic whose sends are refused the way a deleted or unauthorised topic refuses them."""

    async def send(
        self, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Awaitable[None]:
        refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        refused.set_exception(TopicAuthorizationFailedError())
        return refused


async def test_a_recipient_topic_that_refuses_is_noted_then_forgotten_once_it_takes_one() -> None:
    runtime = _runtime()
    topic = runtime.catalogue.tasks["skatteverket"].name
    runtime.topics[topic] = SilentTopic()
    checks: list[bool] = []

    async def no_admin() -> None:
        checks.append(True)

    runtime.recreate_missing_topics = no_admin  # type: ignore[method-assign]
    message = _answer()
    with pytest.raises(TopicAuthorizationFailedError):
        await runtime.emit([message, _disclosure_to("skatteverket")])
    assert runtime.unreachable_recipients() == {"skatteverket"}
    assert checks == [True]
    assert delivery_failure(TopicAuthorizationFailedError())
    runtime.topics[topic] = RecordingTopic()
    await runtime.emit([_disclosure_to("skatteverket")])
    assert runtime.unreachable_recipients() == frozenset()


async def test_only_recipient_topics_are_noted_as_unreachable() -> None:
    runtime = _runtime()
    runtime.topics[runtime.catalogue.rejected.name] = SilentTopic()
    with pytest.raises(TopicAuthorizationFailedError):
        await runtime.emit([_answer()])
    assert runtime.unreachable_topics == set()


def _disclosure_to(recipient: str) -> Disclosure:
    reported, profile = incident(), group()
    tasks = plan(reported, {profile.group_id: profile}, {}, POLICY).tasks
    task = next(t for t in tasks if t.recipient == recipient)
    view = view_of(task, context_for(task, reported, profile, POLICY), POLICY)
    return Disclosure.of(task, view, "created", T0)


async def test_acknowledged_changelog_writes_are_not_kept_but_a_failed_one_is() -> None:
    runtime = _runtime()
    table = _held(runtime)
    store = Store({}, SourceRef)
    recorded: list[Any] = []
    for key in ("one", "two", "three"):
        writes = Writes()
        writes.put(store, key, SourceRef(topic="t", partition=0, offset=1, key=key))
        runtime.apply(writes)
        recorded.append(runtime.unsettled_state[-1])
        await asyncio.sleep(0)
        if key == "one":
            table.writes[0].set_result(None)
        if key == "two":
            table.writes[1].set_exception(MessageSizeTooLargeError())
        await asyncio.sleep(0)
    assert recorded[0] not in runtime.unsettled_state
    assert recorded[1] in runtime.unsettled_state, "a failed write is kept to be reported"
    assert recorded[2] in runtime.unsettled_state


@pytest.mark.parametrize("misplaced", [False, True])
async def test_a_message_larger_than_the_contracts_allow_is_answered_once_and_never_forwarded(
    misplaced: bool,
) -> None:
    runtime = _runtime()
    owner = partition_of("INC-TEST-1", 4)
    event = _event(offset=5, partition=(owner + 1) % 4 if misplaced else owner)
    event.message.value = b'{"narrative": "' + b"x" * 2_000_000 + b'"}'
    handle, calls = _failing([])
    await guarded(runtime, event, handle)
    await guarded(runtime, event, handle)
    assert calls == []
    assert runtime.topics["gvi.internal.routed.incidents"].sent == []
    [rejection] = _rejections(runtime)
    assert rejection["error_code"] == "too_large"
    assert (rejection["source_partition"], rejection["source_offset"]) == (
        event.message.partition,
        5,
    )


async def test_an_update_is_forwarded_with_its_agencys_topic_so_the_reporter_stays_known() -> None:
    runtime = _runtime()
    catalogue = runtime.catalogue
    topic = catalogue.task_updates["kronofogden"].name
    key = "7d0b8e34-6a1e-4a3b-9c55-0e7f2b1a9d11"
    wrong = (partition_of(key, 4) + 1) % 4
    message = SimpleNamespace(
        topic=topic, partition=wrong, offset=3, key=key.encode(), value=b"{}", headers=None
    )
    handle, calls = _failing([])
    await guarded(runtime, SimpleNamespace(message=message), handle)
    assert calls == [], "handled only where its key's state lives"
    routed = runtime.topics[catalogue.routed_updates.name]
    forwarded = SimpleNamespace(
        topic=catalogue.routed_updates.name,
        partition=partition_of(key, 4),
        offset=0,
        key=key.encode(),
        value=b"{}",
        headers=routed.headers[0],
    )
    source = runtime.source_of(SimpleNamespace(message=forwarded))
    assert catalogue.reporter_of(source.topic) == "kronofogden"
    assert catalogue.reporter_of(catalogue.routed_updates.name) is None


async def test_a_worker_s_outputs_go_out_in_record_batches_and_mark_where_they_were_written() -> (
    None
):
    runtime = _runtime()
    producer = Producer()
    runtime.app = app_on(producer)
    disclosure = _disclosure_to("skatteverket")
    await runtime.emit([disclosure, _answer()])
    topics = {topic for topic, _, _, _ in producer.sent}
    assert topics == {
        runtime.catalogue.tasks["skatteverket"].name,
        runtime.catalogue.audit.name,
        runtime.catalogue.rejected.name,
    }
    assert producer.batches == len(producer.sent) == 3, "one batch per topic partition"
    ends = sorted(runtime.written_ends[(topic, p)] for topic, _, _, p in producer.sent)
    assert ends == [42, 43, 44], "each batch acknowledged at 41, 42, 43: one past its record"


async def test_a_written_end_and_start_move_one_way_unless_the_topic_starts_over() -> None:
    runtime = _runtime()
    producer = Producer()
    runtime.app = app_on(producer)
    topic = runtime.catalogue.tasks["skatteverket"].name
    producer.first_offset = 50_000
    await runtime.emit([_disclosure_to("skatteverket")])
    [(written, end)] = [(w, e) for w, e in runtime.written_ends.items() if w[0] == topic]
    assert end == 50_002
    assert runtime.written_starts[written] == 50_001
    runtime._note_end(topic, written[1], 49_990, 3)
    assert runtime.written_ends[written] == 50_002, "an acknowledgement noted late moves nothing"
    assert runtime.written_starts[written] == 49_990, "but an earlier first offset is the start"
    producer.first_offset = -producer.batches - 1  # the topic was deleted and created again
    await runtime.emit([_disclosure_to("skatteverket")])
    assert runtime.written_ends[written] == 1, "its first batch: the old end is gone"
    assert runtime.written_starts[written] == 0
    runtime.forget_written_ends([topic])
    assert [w for w in (*runtime.written_ends, *runtime.written_starts) if w[0] == topic] == []
    assert runtime.written_ends, "other topics' ends are kept"
