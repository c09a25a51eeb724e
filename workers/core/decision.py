"""The one shape of every stage's decision: the slot to store, the outputs to send before it,
and the outcome, named."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from workers.core.outputs import Output


class Outcome(StrEnum):
    """What a decision did; its value is the log line."""

    NOTHING_CHANGED = "nothing changed"
    # tasks
    TASK_KEPT = "task kept"
    TASK_ALREADY_KNOWN = "task already known"
    PARKED_UPDATES_APPLIED = "parked status updates applied"
    UPDATE_PARKED = "status update parked until its task is known"
    STATUS_CHANGED = "task status changed"
    REPEATED_UPDATE = "repeated status update ignored"
    UNDELIVERED_TASK_CANCELLED = "undelivered task cancelled"
    TASK_CANCELLED = "task cancelled"
    DELIVERED_LATE = "task delivered late"
    CANCELLED_BEFORE_LATE_DELIVERY = "task cancelled before its late delivery; recipient told"
    TASK_OVERDUE = "task overdue"
    TASK_REMINDED = "task reminded"
    PARKED_UPDATES_REJECTED = "parked status updates rejected"
    # planning
    VERSION_ALREADY_PLANNED = "incident version already planned"
    GROUP_PLANNED = "group planned"
    INCIDENT_PARKED = "incident parked until its group is known"
    PARKED_INCIDENT_GIVEN_UP = "parked incident given up: group unknown"
    PARKED_INCIDENT_PLANNED = "parked incident planned now that its group is known"
    PARKED_INCIDENT_REFUSED = "parked incident refused"
    # completion
    PROGRESS_CHANGED = "completion"

    @property
    def routine(self) -> bool:
        """Logged at debug level, and counted in its batch's line: it happens for every
        incident or task, and one line per message would tell an operator nothing more."""
        return self in ROUTINE


ROUTINE = frozenset(
    {
        Outcome.TASK_KEPT,
        Outcome.TASK_ALREADY_KNOWN,
        Outcome.STATUS_CHANGED,
        Outcome.TASK_CANCELLED,
        Outcome.GROUP_PLANNED,
        Outcome.PROGRESS_CHANGED,
    }
)

Slot = TypeVar("Slot")


@dataclass(frozen=True)
class Decision(Generic[Slot]):
    """A decision: the slot to store, what to send first, and what happened."""

    slot: Slot
    outputs: tuple[Output, ...] = ()
    outcome: Outcome = Outcome.NOTHING_CHANGED
