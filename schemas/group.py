"""The group profile kept by the police: members, supervision and notification history."""

from datetime import datetime

from pydantic import Field, model_validator

from schemas.common import Contract, FlagName, Identifier, PersonRef, ShortText, Timestamp, WireEnum


class SupervisionStatus(WireEnum):
    """Kriminalvården's hold on a member."""

    NONE = "none"
    PROBATION = "probation"
    PAROLE = "parole"
    IN_CUSTODY = "in_custody"


class NotificationKind(WireEnum):
    """How a group was told in advance what violence will bring."""

    CALL_IN = "call_in"
    CUSTOM_NOTIFICATION = "custom_notification"


class GroupMember(Contract):
    """One member, by pseudonymous reference only."""

    person_ref: PersonRef
    supervision: SupervisionStatus = SupervisionStatus.NONE
    flags: tuple[FlagName, ...] = Field(default=(), max_length=20)


class Notification(Contract):
    """A call-in attended or a custom notification delivered."""

    kind: NotificationKind
    delivered_at: Timestamp
    agency: Identifier


class GroupProfile(Contract):
    """A criminal group as the GVI partnership knows it."""

    group_id: Identifier
    alias: ShortText
    municipality: ShortText
    members: tuple[GroupMember, ...] = Field(default=(), max_length=200)
    notifications: tuple[Notification, ...] = Field(default=(), max_length=100)
    active: bool = True
    updated_at: Timestamp

    @model_validator(mode="after")
    def _unique_members(self) -> "GroupProfile":
        refs = [member.person_ref for member in self.members]
        if len(refs) != len(set(refs)):
            raise ValueError("members name the same person_ref more than once")
        return self

    def notified_before(self, moment: datetime) -> bool:
        """Whether the group had been notified before `moment`."""
        return any(notification.delivered_at < moment for notification in self.notifications)
