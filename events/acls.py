"""Least-privilege Kafka ACLs of every principal, derived from the topic catalogue (DESIGN §9)."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TypeVar

from events.catalogue import Catalogue, TopicSpec
from schemas.common import RECIPIENT_PATTERN


class Resource(StrEnum):
    TOPIC = "topic"
    GROUP = "group"


class Pattern(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"


class Operation(StrEnum):
    """Kafka's ACL operations used here (READ and WRITE imply DESCRIBE)."""

    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: `principal` may do `operation` on the resource (from any host)."""

    principal: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation
    why: str = ""

    def as_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Principals:
    """The Kafka principal of each party; an agency's is a template with `{recipient}`."""

    worker: str
    gateway: str
    police: str
    agency: str
    supervisor: str
    evaluator: str
    coordinator: str

    def of_agency(self, recipient: str) -> str:
        return self.agency.format(recipient=recipient)

    def named(self, principal: str) -> bool:
        """Whether `principal` is one of these, an agency's for any recipient id among them."""
        parties = (self.worker, self.gateway, self.police, self.supervisor, self.evaluator)
        if principal in (*parties, self.coordinator):
            return True
        before, _, after = self.agency.partition("{recipient}")
        recipient = RECIPIENT_PATTERN.removeprefix("^").removesuffix("$")
        return re.fullmatch(re.escape(before) + recipient + re.escape(after), principal) is not None


@dataclass(frozen=True, order=True)
class HeldAcl:
    """An ALLOW rule as a broker holds it; its operation may be one this project never grants
    (`ALL`, `ALTER`, ...), its host other than any."""

    principal: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: str
    host: str = "*"

    def as_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


def stale_acls(
    held: Iterable[HeldAcl], wanted: Iterable[Acl], principals: Principals, prefix: str, app_id: str
) -> list[HeldAcl]:
    """The rules a broker holds for this deployment that its ACL set no longer has: a recipient
    taken out of the playbook, a grant an operator added by hand. A rule is the deployment's
    when its principal is one of `principals` (any agency's by the template), it names a topic
    or group whose name starts with the topic prefix or the app id, and it applies from any
    host; everything else on the cluster (other applications, host-bound rules) is left alone.
    """
    keep = {
        (acl.principal, acl.resource, acl.pattern, acl.name, str(acl.operation)) for acl in wanted
    }

    def ours(acl: HeldAcl) -> bool:
        named = (
            acl.name.startswith(prefix) or acl.name == app_id or acl.name.startswith(f"{app_id}-")
        )
        return acl.host == "*" and named and principals.named(acl.principal)

    return sorted(
        acl
        for acl in set(held)
        if ours(acl)
        and (acl.principal, acl.resource, acl.pattern, acl.name, acl.operation) not in keep
    )


Rule = TypeVar("Rule", Acl, HeldAcl)


def derive_acls(catalogue: Catalogue, principals: Principals, app_id: str) -> list[Acl]:
    """Every ACL of the deployment; nothing else is allowed (the broker denies by default).

    Only the worker writes tasks, completion, escalations, audit and rejections; each agency
    reads only its own task topic and writes only its own status topic.
    """
    acls: list[Acl] = []

    def allow(
        principal: str,
        topics: Iterable[TopicSpec],
        operations: Iterable[Operation],
        why: str,
    ) -> None:
        for spec in topics:
            for operation in operations:
                acls.append(
                    Acl(principal, Resource.TOPIC, Pattern.LITERAL, spec.name, operation, why)
                )

    def allow_prefix(
        principal: str, resource: Resource, prefix: str, operations: Iterable[Operation], why: str
    ) -> None:
        for operation in operations:
            acls.append(Acl(principal, resource, Pattern.PREFIXED, prefix, operation, why))

    read, write = (Operation.READ,), (Operation.WRITE,)
    inputs = (catalogue.incidents, catalogue.groups)
    updates = tuple(catalogue.task_updates.values())
    task_topics = tuple(catalogue.tasks.values())
    worker_outputs = (
        *task_topics,
        catalogue.completion,
        catalogue.escalations,
        catalogue.audit,
        catalogue.rejected,
    )
    readable = (catalogue.completion, catalogue.escalations, catalogue.audit)
    public = (*inputs, *updates, catalogue.gateway_events, catalogue.policies, *worker_outputs)
    prefix = catalogue.incidents.name.removesuffix("incidents")

    allow(principals.police, inputs, write, "police publish incidents and group profiles")
    allow(
        principals.coordinator,
        (catalogue.policies,),
        (Operation.READ, Operation.WRITE),
        "the national coordination publishes playbook versions (and reads the ones published)",
    )

    for recipient in catalogue.tasks:
        agency = principals.of_agency(recipient)
        allow(agency, (catalogue.tasks[recipient],), read, "its own tasks")
        allow(agency, (catalogue.task_updates[recipient],), write, "its own status reports")
        allow_prefix(agency, Resource.GROUP, f"{prefix}{recipient}.", read, "its consumer groups")

    worker = principals.worker
    allow(
        worker,
        (*inputs, *updates, catalogue.gateway_events, catalogue.policies),
        read,
        "the worker's inputs and the playbook versions",
    )
    allow(worker, worker_outputs, write, "only the worker writes these")
    allow(
        worker,
        public,
        (Operation.CREATE, Operation.DESCRIBE_CONFIGS),
        "the worker creates and checks the catalogue's topics at start",
    )
    internal_operations = (
        Operation.READ,
        Operation.WRITE,
        Operation.CREATE,
        Operation.DESCRIBE_CONFIGS,
    )
    allow_prefix(
        worker, Resource.TOPIC, f"{prefix}internal.", internal_operations, "internal topics"
    )
    allow_prefix(
        worker, Resource.TOPIC, f"{app_id}-", internal_operations, "table changelogs (faust)"
    )
    acls.append(Acl(worker, Resource.GROUP, Pattern.LITERAL, app_id, Operation.READ, "its group"))

    gateway = principals.gateway
    allow(gateway, (*task_topics, *readable), read, "the gateway's read model and webhooks")
    allow(
        gateway,
        (*inputs, *updates, catalogue.gateway_events),
        write,
        "inputs on behalf of authenticated HTTP callers, and its own disclosures",
    )
    allow(
        gateway,
        (*task_topics, *readable, *inputs, *updates, catalogue.gateway_events),
        (Operation.DESCRIBE_CONFIGS,),
        "the gateway checks its topics at start",
    )
    allow_prefix(
        gateway, Resource.GROUP, f"{app_id}-webhook-", read, "one webhook group per recipient"
    )

    for reader, name in (
        (principals.supervisor, "supervisor"),
        (principals.evaluator, "evaluator"),
    ):
        allow(
            reader,
            (*readable, catalogue.policies),
            read,
            f"{name}s read completion, escalations, audit and the playbook versions",
        )
        allow_prefix(reader, Resource.GROUP, f"{prefix}{name}.", read, "its consumer groups")
    return sorted(set(acls))


def by_principal(acls: Iterable[Rule]) -> Mapping[str, list[Rule]]:
    grouped: dict[str, list[Rule]] = {}
    for acl in acls:
        grouped.setdefault(acl.principal, []).append(acl)
    return grouped


def render(acls: Iterable[Rule]) -> str:
    """The ACL set, readably: per principal, per resource, its operations."""
    lines: list[str] = []
    for principal, own in by_principal(acls).items():
        lines.append(principal)
        resources: dict[tuple[Resource, Pattern, str], list[str]] = {}
        for acl in own:
            resources.setdefault((acl.resource, acl.pattern, acl.name), []).append(
                str(acl.operation)
            )
        for (resource, pattern, name), operations in resources.items():
            shown = f"{name}*" if pattern is Pattern.PREFIXED else name
            lines.append(f"  {resource.value:<6} {shown:<60} {', '.join(operations)}")
    return "\n".join(lines) + "\n"
