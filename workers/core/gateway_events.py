"""The gateway's reports, as the worker writes them: (event) -> outputs on the audit and
escalation streams, which only the worker may write."""

from schemas.gateway_event import GatewayEvent
from workers.core.outputs import Audited, Escalate, Output


def relayed(event: GatewayEvent) -> tuple[Output, ...]:
    """The audit record of an HTTP disclosure, or the escalation of a failed webhook."""
    if event.audit is not None:
        return (Audited(event.audit),)
    assert event.escalation is not None  # the contract holds one of the two
    return (Escalate(event.escalation),)
