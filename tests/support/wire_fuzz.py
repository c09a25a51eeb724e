"""A seeded generator of wire messages, good and bad, as outside systems might send them."""

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from events.codec import encode
from schemas import GroupProfile, IncidentReported, TaskStatus
from tests.support.builders import attribution
from tests.support.scenario import fresh_incident, notified_group, update


@dataclass(frozen=True)
class WireMessage:
    """One message to publish, and what must answer it."""

    topic: str
    key: bytes | None
    value: bytes | None
    bad: bool
    kind: str
    incident: IncidentReported | None = None


def _incident_json(incident: IncidentReported) -> dict[str, Any]:
    return dict(json.loads(encode(incident)))


def _with_duplicate_key(document: dict[str, Any], name: str, value: Any) -> bytes:
    text = json.dumps(document)
    return (text[:-1] + f", {json.dumps(name)}: {json.dumps(value)}}}").encode()


class WireFuzz:
    """Seeded messages over the known groups `groups`; every bad message names its kind."""

    def __init__(self, seed: int, groups: list[GroupProfile]) -> None:
        self.random = random.Random(seed)
        self.groups = groups
        self.serial = 0
        # One moment for every incident, so that each is its group's first violence (tier 1).
        self.moment = datetime.now(UTC).replace(microsecond=0)
        self.makers: list[tuple[str, Callable[[], WireMessage]]] = [
            ("good_incident", self._good_incident),
            ("malformed_json", self._malformed_json),
            ("missing_field", self._missing_field),
            ("bool_for_int", self._bool_for_int),
            ("number_for_timestamp", self._number_for_timestamp),
            ("year_9999", self._year_9999),
            ("duplicate_key", self._duplicate_key),
            ("key_mismatch", self._key_mismatch),
            ("no_key", self._no_key),
            ("huge_key", self._huge_key),
            ("huge_value", self._huge_value),
            ("unknown_groups", self._unknown_groups),
            ("group_wrong_types", self._group_wrong_types),
            ("update_unknown_task", self._update_unknown_task),
            ("update_malformed", self._update_malformed),
        ]

    def messages(self, count: int) -> list[WireMessage]:
        """`count` messages with exact repeats: about a third good incidents in a few hundred,
        and some hundred good ones among thousands (each brings some twenty tasks)."""
        produced: list[WireMessage] = []
        good_weight = 6 * min(1.0, 300 / max(count, 1))
        weights = [good_weight if name == "good_incident" else 1 for name, _ in self.makers]
        while len(produced) < count:
            [(name, maker)] = self.random.choices(self.makers, weights=weights)
            message = maker()
            produced.append(message)
            if name == "update_unknown_task" and self.random.random() < 0.3:
                produced.append(message)  # an exact repeat is another message: another answer
        return produced[:count]

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.random.randrange(10**6):06d}-{self.serial}"

    def _reported(self, *group_ids: str) -> IncidentReported:
        chosen = group_ids or (self.random.choice(self.groups).group_id,)
        return fresh_incident(
            self._id("INC-FZ"),
            attributions=tuple(attribution(g) for g in chosen),
            occurred_at=self.moment - timedelta(minutes=30),
            reported_at=self.moment - timedelta(minutes=5),
        )

    def _good_incident(self) -> WireMessage:
        incident = self._reported()
        return WireMessage(
            "incidents", incident.incident_id.encode(), encode(incident), False, "good", incident
        )

    def _bad_incident(self, kind: str, document: dict[str, Any] | bytes) -> WireMessage:
        value = document if isinstance(document, bytes) else json.dumps(document).encode()
        key = (
            json.loads(value)["incident_id"].encode()
            if kind not in ("malformed_json", "duplicate_key")
            else self._id("INC-FZ-BAD").encode()
        )
        return WireMessage("incidents", key, value, True, kind)

    def _malformed_json(self) -> WireMessage:
        text = json.dumps(_incident_json(self._reported()))
        cut = self.random.randrange(1, len(text) - 1)
        return self._bad_incident("malformed_json", text[:cut].encode())

    def _missing_field(self) -> WireMessage:
        document = _incident_json(self._reported())
        document.pop(self.random.choice(["occurred_at", "municipality", "incident_type"]))
        return self._bad_incident("missing_field", document)

    def _bool_for_int(self) -> WireMessage:
        return self._bad_incident(
            "bool_for_int", {**_incident_json(self._reported()), "version": True}
        )

    def _number_for_timestamp(self) -> WireMessage:
        document = _incident_json(self._reported())
        return self._bad_incident("number_for_timestamp", {**document, "occurred_at": 0})

    def _year_9999(self) -> WireMessage:
        document = _incident_json(self._reported())
        late = "9999-12-31T23:00:00+00:00"
        return self._bad_incident(
            "year_9999", {**document, "occurred_at": late, "reported_at": late}
        )

    def _duplicate_key(self) -> WireMessage:
        document = _incident_json(self._reported())
        value = _with_duplicate_key(document, "version", 2)
        return WireMessage(
            "incidents", document["incident_id"].encode(), value, True, "duplicate_key"
        )

    def _key_mismatch(self) -> WireMessage:
        incident = self._reported()
        return WireMessage("incidents", b"INC-FZ-OTHER", encode(incident), True, "key_mismatch")

    def _no_key(self) -> WireMessage:
        return WireMessage("incidents", None, encode(self._reported()), True, "no_key")

    def _huge_key(self) -> WireMessage:
        key = ("K" * self.random.randrange(2_000, 20_000)).encode()
        return WireMessage("incidents", key, encode(self._reported()), True, "huge_key")

    def _huge_value(self) -> WireMessage:
        document = {**_incident_json(self._reported()), "narrative": "x" * 300_000}
        return self._bad_incident("huge_value", document)

    def _unknown_groups(self) -> WireMessage:
        unknown = [self._id("GRP-FZ-NONE") for _ in range(self.random.randint(1, 3))]
        incident = self._reported(*unknown)
        return WireMessage(
            "incidents", incident.incident_id.encode(), encode(incident), True, "unknown_groups"
        )

    def _group_wrong_types(self) -> WireMessage:
        profile = json.loads(encode(notified_group(self._id("GRP-FZ-WRONG"))))
        field, value = self.random.choice(
            [
                ("members", "P-AAA1"),
                ("active", "yes"),
                ("updated_at", 1_700_000_000),
                ("notifications", [{"kind": "call_in", "delivered_at": 0, "agency": "x"}]),
                ("members", [{"person_ref": 12}]),
            ]
        )
        profile[field] = value
        return WireMessage(
            "groups", profile["group_id"].encode(), json.dumps(profile).encode(), True, "group"
        )

    def _update_unknown_task(self) -> WireMessage:
        task_id = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
        change = update(task_id, "kronofogden", TaskStatus.ACKNOWLEDGED)
        return WireMessage(
            "task-updates.kronofogden", task_id.encode(), encode(change), True, "unknown_task"
        )

    def _update_malformed(self) -> WireMessage:
        task_id = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
        document = json.loads(encode(update(task_id, "kronofogden", TaskStatus.COMPLETED)))
        document["changed_at"] = self.random.choice([0, True, "yesterday", None])
        return WireMessage(
            "task-updates.kronofogden",
            task_id.encode(),
            json.dumps(document).encode(),
            True,
            "update_bad",
        )
