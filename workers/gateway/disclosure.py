"""What the gateway's disclosure channels share: the producer call, and the audit record of a
task shown to a caller (with the worker's legal basis, policy version and rule, and the
receiving principal)."""

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from events.codec import encode
from schemas.audit import AuditRecord, DisclosureChannel
from schemas.gateway_event import GatewayEvent
from schemas.task import RecipientTaskView
from workers.core.projection import disclosed_fields
from workers.gateway.credentials import Caller
from workers.gateway.read_model import AUDIT_FACTS, ReadModel, lines_of, only_held

AUDIT_NAMESPACE = uuid.UUID("5d0c7b8e-2f41-5a9b-b6e3-0c1d2e3f4a5b")
SNAPSHOT_LINE_FIELDS = (
    "action",
    "deadline",
    "escalated",
    "group_id",
    "kind",
    "overdue",
    "recipient",
    "status",
    "task_id",
)
"""What a supervisor sees of a task in a completion snapshot."""
SUPERVISOR_DETAIL_FIELDS = (*SNAPSHOT_LINE_FIELDS, "reason", "rule_id")
"""What the dashboard's incident page shows of a task: the snapshot's line, its rule and the
plain-language reason; nothing else of the recipient's view (no narrative, no attribution,
no person refs)."""

Send = Callable[[str, str, bytes], Awaitable[None]]
"""Produce (topic, key, value) and return once the broker acknowledged it."""


def disclosure_record(
    view: dict[str, Any],
    facts: dict[str, Any],
    channel: DisclosureChannel,
    audit_id: uuid.UUID,
    at: datetime,
    receiver: str,
    fields: tuple[str, ...] | None = None,
    attempt: int | None = None,
    outcome: Literal["delivered", "refused", "unanswered"] | None = None,
) -> AuditRecord:
    """The audit record of showing `view` (or only its `fields`) to `receiver` over `channel`;
    `facts` are what the worker's own audit record of the task said (the view may leave them
    out)."""
    return AuditRecord(
        audit_id=audit_id,
        task_id=view["task_id"],
        incident_id=facts.get("incident_id") or view.get("incident_id") or "unknown",
        recipient=view["recipient"],
        channel=channel,
        disclosed_at=at,
        legal_basis=facts.get("legal_basis") or view["legal_basis"],
        policy_version=facts.get("policy_version") or view.get("policy_version") or "unknown",
        rule_id=facts.get("rule_id") or view.get("rule_id") or "unknown",
        partnership=facts.get("partnership") or view.get("partnership"),
        fields=fields
        if fields is not None
        else disclosed_fields(RecipientTaskView.model_validate(view)),
        receiver=receiver[:2000],
        attempt=attempt,
        outcome=outcome,
    )


FACTS_WAIT_SECONDS = 5.0
"""How long a disclosure (one answer's, or one webhook attempt's) waits for the feed to read
the worker's audit facts of a task whose view does not carry them."""


async def worker_facts(
    model: ReadModel, view: dict[str, Any], deadline: float | None = None
) -> dict[str, Any]:
    """The worker's audit facts of a task (its own audit record on `gvi.audit`, which the feed
    reads beside the task topics, in no set order). While they are not read yet and the view
    does not carry them all itself (a recipient's allowlist may leave out the incident, the
    policy version or the rule), wait for the feed until `deadline` (`time.monotonic()`;
    `FACTS_WAIT_SECONDS` from now by default); then {} (the record says `unknown` for what
    neither holds)."""
    if deadline is None:
        deadline = time.monotonic() + FACTS_WAIT_SECONDS
    while True:
        facts = await model.audit_facts(view["task_id"])
        if facts is not None:
            return facts
        if all(view.get(name) for name in AUDIT_FACTS) or time.monotonic() >= deadline:
            return {}
        await asyncio.sleep(0.1)


def view_digest(view: dict[str, Any]) -> str:
    """What a view says, as a digest: a re-read after a change is a new disclosure."""
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Shown:
    """One task shown to a caller: its stored view (for the audit facts), what was shown of
    it, and the names of the fields shown."""

    view: dict[str, Any]
    content: dict[str, Any]
    fields: tuple[str, ...] | None = None


@dataclass
class Disclosures:
    """The audit of what the gateway shows over HTTP: each task shown to a principal for the
    first time in its present state becomes an audit record, sent (as a gateway event, for the
    worker to write to `gvi.audit`) before the answer leaves."""

    read_model: Callable[[], ReadModel]
    send: Send
    topic: str

    async def shown(self, who: Caller, channel: DisclosureChannel, items: list[Shown]) -> None:
        model = self.read_model()
        pairs = [(item.view["task_id"], view_digest(item.content)) for item in items]
        new = set(await model.undisclosed(pairs, who.token_id))
        if not new:
            return
        now = datetime.now(UTC)
        facts_by = time.monotonic() + FACTS_WAIT_SECONDS  # one wait for the whole answer
        for item, (task_id, digest) in zip(items, pairs, strict=True):
            if task_id not in new:
                continue
            record = disclosure_record(
                item.view,
                await worker_facts(model, item.view, facts_by),
                channel,
                uuid.uuid5(AUDIT_NAMESPACE, f"{channel}:{task_id}:{who.token_id}:{digest}"),
                now,
                receiver=who.principal,
                fields=item.fields,
            )
            reported = GatewayEvent(kind="disclosure", audit=record)
            await self.send(self.topic, task_id, encode(reported))
        await model.mark_disclosed([pair for pair in pairs if pair[0] in new], who.token_id)


async def supervisor_read(
    disclosures: Disclosures, who: Caller, items: list[dict[str, Any]]
) -> set[str]:
    """Audit what a supervisor is about to be shown of tasks: snapshot lines and escalations
    (each item names its task), as channel `dashboard`, with the fields shown. Answers the
    task ids audited: those whose view the model holds. An item of any other task (its topic
    not read yet) cannot be audited with its legal basis and must not be shown."""
    model = disclosures.read_model()
    views = await model.views(str(item["task_id"]) for item in items if "task_id" in item)
    shown = [
        Shown(views[str(item["task_id"])], item, shown_fields(item))
        for item in items
        if str(item.get("task_id")) in views
    ]
    await disclosures.shown(who, DisclosureChannel.DASHBOARD, shown)
    return set(views)


def shown_fields(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(name for name in item if name != "schema_version"))


async def supervisor_event(
    disclosures: Disclosures, who: Caller, kind: str, value: dict[str, Any]
) -> dict[str, Any] | None:
    """A live update (`incident`: a completion snapshot, or `escalation`) as it may be sent to
    a supervisor, audited: the snapshot with only the lines of tasks whose view the model
    holds; an escalation only once its task's is (None: not sent)."""
    held = await supervisor_read(disclosures, who, event_items(kind, value))
    if kind == "incident":
        return only_held(value, held)
    return value if str(value.get("task_id")) in held else None


def event_items(kind: str, value: dict[str, Any]) -> list[dict[str, Any]]:
    """What a live update shows of tasks, each naming its task: a snapshot's lines, or the
    escalation itself."""
    return lines_of([value]) if kind == "incident" else [value]
