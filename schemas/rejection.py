"""Rejected input on the dead-letter stream, with its source coordinates and a reason."""

from pydantic import Field

from schemas.common import Contract, ShortText, Text, Timestamp, WireEnum


class RejectionCode(WireEnum):
    """Why a message was rejected."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_GROUP = "unknown_group"
    UNKNOWN_TASK = "unknown_task"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    WRONG_AGENCY = "wrong_agency"
    INVALID_TRANSITION = "invalid_transition"
    STALE_VERSION = "stale_version"
    KEY_MISMATCH = "key_mismatch"
    UNKNOWN_INCIDENT = "unknown_incident"
    INCIDENT_RETRACTED = "incident_retracted"
    CONFLICTING_VERSION = "conflicting_version"
    UNREADABLE_BATCH = "unreadable_batch"
    TOO_LARGE = "too_large"
    UNKNOWN_PARTNERSHIP = "unknown_partnership"
    INTERNAL_ERROR = "internal_error"


class Rejection(Contract):
    """A message that was not processed; the payload is not copied (it may hold the narrative)."""

    source_topic: ShortText
    source_partition: int = Field(ge=-1)
    source_offset: int = Field(ge=-1)
    source_key: str | None = Field(default=None, max_length=256)
    error_code: RejectionCode
    message: Text
    rejected_at: Timestamp
    worker: ShortText | None = None


class Refused(Exception):
    """Input that is answered on the rejection stream with `code` instead of being processed."""

    code: RejectionCode = RejectionCode.SCHEMA_VIOLATION

    def __init__(
        self, message: str, code: RejectionCode | None = None, fields: tuple[str, ...] = ()
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.fields = fields
        """The offending fields (dotted paths), when the refusal is about fields."""
        super().__init__(message)
