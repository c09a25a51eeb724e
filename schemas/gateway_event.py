"""What the gateway tells the worker: a disclosure over HTTP, or a webhook delivery that failed."""

from typing import Literal

from pydantic import model_validator

from schemas.audit import AuditRecord, DisclosureChannel
from schemas.common import Contract
from schemas.escalation import Escalation, EscalationReason


class GatewayEvent(Contract):
    """One record of `gvi.gateway-events` (key: the task id), written only by the gateway's
    principal. The worker writes its audit record to `gvi.audit` or its escalation to
    `gvi.escalations`, which nobody but the worker may write."""

    kind: Literal["disclosure", "delivery_failed"]
    audit: AuditRecord | None = None
    escalation: Escalation | None = None

    @model_validator(mode="after")
    def _one_record_of_its_kind(self) -> "GatewayEvent":
        if self.kind == "disclosure":
            if self.audit is None or self.escalation is not None:
                raise ValueError("a disclosure carries an audit record and nothing else")
            if self.audit.channel is DisclosureChannel.KAFKA:
                raise ValueError("the gateway discloses over HTTP (pull or webhook), not Kafka")
        else:
            if self.escalation is None or self.audit is not None:
                raise ValueError("a delivery failure carries an escalation and nothing else")
            if self.escalation.reason is not EscalationReason.DELIVERY_FAILED:
                raise ValueError("the gateway escalates only delivery_failed")
        return self

    @property
    def task_id(self) -> str:
        record = self.audit if self.audit is not None else self.escalation
        assert record is not None
        return str(record.task_id)
