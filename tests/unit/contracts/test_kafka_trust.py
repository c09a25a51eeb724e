"""Trust on Kafka, pure parts: connection options, settings checks, the ACL set, the catalogue's
status topics, and the gateway events the worker writes on."""

import ssl
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiokafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError
from pydantic import SecretStr, ValidationError

from events.acls import Operation, Pattern, Principals, Resource, derive_acls, render
from events.catalogue import build_catalogue
from events.connection import (
    EXIT_AUTHORISATION,
    EXIT_UNREACHABLE,
    KafkaAccessRefused,
    KafkaConnection,
    SaslMechanism,
    SecurityProtocol,
    check_access,
    connection_of,
    refusal_of,
)
from schemas.audit import AuditRecord, DisclosureChannel
from schemas.escalation import Escalation, EscalationReason
from schemas.gateway_event import GatewayEvent
from workers.core.gateway_events import relayed
from workers.core.outputs import Audited, Escalate
from workers.policies import load_policy
from workers.settings import Settings
from workers.tools.embedded_broker import free_port

POLICY = load_policy()
CATALOGUE = build_catalogue("gvi.", 4, POLICY.recipient_ids)
PRINCIPALS = Principals(
    worker="User:gvi-worker",
    gateway="User:gvi-gateway",
    police="User:police",
    agency="User:{recipient}",
    supervisor="User:gvi-supervisor",
    evaluator="User:gvi-evaluator",
    coordinator="User:gvi-coordinator",
)
ACLS = derive_acls(CATALOGUE, PRINCIPALS, "gvi-sanctions")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _allowed(principal: str, operation: Operation, topic: str) -> bool:
    for acl in ACLS:
        if acl.principal != principal or acl.resource is not Resource.TOPIC:
            continue
        if acl.operation is not operation:
            continue
        if acl.name == topic or (acl.pattern is Pattern.PREFIXED and topic.startswith(acl.name)):
            return True
    return False


def test_plaintext_is_the_default_and_a_bare_address_is_plaintext() -> None:
    options = connection_of("127.0.0.1:9092").aiokafka()
    assert options == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert Settings(broker_url="kafka://127.0.0.1:9092").kafka == connection_of("127.0.0.1:9092")


def test_sasl_ssl_settings_become_every_clients_options(tmp_path: Path) -> None:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings = Settings(
        broker_url="kafka://a:9093;b:9093",
        kafka_security_protocol=SecurityProtocol.SASL_SSL,
        kafka_sasl_mechanism=SaslMechanism.SCRAM_SHA_256,
        kafka_sasl_username="skatteverket",
        kafka_sasl_password=SecretStr("invented-secret"),
        kafka_ssl_cafile=tmp_path / "ca.pem",
    )
    options = settings.kafka.aiokafka()
    assert options["bootstrap_servers"] == "a:9093,b:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "skatteverket"
    assert options["sasl_plain_password"] == "invented-secret"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    librdkafka = settings.kafka.librdkafka()
    assert librdkafka == {
        "bootstrap.servers": "a:9093,b:9093",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(tmp_path / "ca.pem"),
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "skatteverket",
        "sasl.password": "invented-secret",
    }
    assert "invented-secret" not in repr(settings) and "invented-secret" not in repr(settings.kafka)
    assert settings.kafka.who == "User:skatteverket"


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "GVI_KAFKA_SASL_USERNAME"),
        ({"kafka_ssl_certfile": "/tmp/c.pem", "kafka_security_protocol": "SSL"}, "KEYFILE"),
        ({"kafka_ssl_cafile": "/tmp/ca.pem"}, "does not use TLS"),
    ],
)
def test_settings_that_cannot_connect_are_refused_naming_the_setting(
    fields: dict[str, str], names: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(fields)
    assert names in str(refused.value)


def test_only_the_worker_writes_tasks_completion_escalations_audit_and_rejections() -> None:
    worker_only = [
        *(spec.name for spec in CATALOGUE.tasks.values()),
        CATALOGUE.completion.name,
        CATALOGUE.escalations.name,
        CATALOGUE.audit.name,
        CATALOGUE.rejected.name,
    ]
    writers = {acl.principal for acl in ACLS if acl.operation is Operation.WRITE}
    for topic in worker_only:
        assert [p for p in writers if _allowed(p, Operation.WRITE, topic)] == [PRINCIPALS.worker]


def test_each_agency_reads_only_its_own_tasks_and_writes_only_its_own_status_topic() -> None:
    for recipient in CATALOGUE.tasks:
        agency = PRINCIPALS.of_agency(recipient)
        for other in CATALOGUE.tasks:
            mine = other == recipient
            assert _allowed(agency, Operation.READ, CATALOGUE.tasks[other].name) is mine
            assert _allowed(agency, Operation.WRITE, CATALOGUE.task_updates[other].name) is mine
        own = {acl.name for acl in ACLS if acl.principal == agency}
        assert len(own) == 3, own  # its task topic, its status topic, its group prefix
    huddinge = PRINCIPALS.of_agency("socialtjansten-huddinge")
    groups = [a.name for a in ACLS if a.principal == huddinge and a.resource is Resource.GROUP]
    assert groups == ["gvi.socialtjansten-huddinge."], "a prefix no other recipient's groups share"
    assert "socialtjansten" not in CATALOGUE.tasks, "the local role itself has no topic"
    assert {"socialtjansten-huddinge", "socialtjansten-orebro"} <= set(CATALOGUE.tasks)


def test_police_write_inputs_and_read_nothing_supervisors_and_evaluators_only_read_outputs() -> (
    None
):
    police = {(a.operation, a.name) for a in ACLS if a.principal == PRINCIPALS.police}
    assert police == {(Operation.WRITE, "gvi.incidents"), (Operation.WRITE, "gvi.groups")}
    for reader in (PRINCIPALS.supervisor, PRINCIPALS.evaluator):
        topics = {
            (a.operation, a.name)
            for a in ACLS
            if a.principal == reader and a.resource is Resource.TOPIC
        }
        assert topics == {
            (Operation.READ, "gvi.completion"),
            (Operation.READ, "gvi.escalations"),
            (Operation.READ, "gvi.audit"),
            (Operation.READ, "gvi.policies"),
        }


def test_the_gateway_writes_inputs_for_its_callers_and_its_own_events_and_no_output() -> None:
    gateway = PRINCIPALS.gateway
    assert _allowed(gateway, Operation.WRITE, "gvi.incidents")
    assert _allowed(gateway, Operation.WRITE, "gvi.task-updates.skatteverket")
    assert _allowed(gateway, Operation.WRITE, "gvi.gateway-events")
    assert _allowed(gateway, Operation.READ, "gvi.tasks.skatteverket")
    assert not _allowed(gateway, Operation.WRITE, "gvi.audit")
    assert not _allowed(gateway, Operation.READ, "gvi.incidents")
    assert not _allowed(gateway, Operation.READ, "gvi.internal.group-work")


def test_the_readable_listing_names_every_principal() -> None:
    listing = render(ACLS)
    for principal in {acl.principal for acl in ACLS}:
        assert f"\n{principal}\n" in f"\n{listing}"
    assert "gvi.internal.*" in listing


def test_each_recipient_has_its_own_status_topic_and_one_routed_topic_serves_them_all() -> None:
    names = {spec.name for spec in CATALOGUE.task_updates.values()}
    assert names == {f"gvi.task-updates.{r}" for r in POLICY.recipient_ids}
    assert "gvi.task-updates" not in {spec.name for spec in CATALOGUE.all()}
    assert {CATALOGUE.reporter_of(name) for name in names} == set(POLICY.recipient_ids)
    assert {CATALOGUE.routed[name] for name in names} == {CATALOGUE.routed_updates}
    assert len([s for s in CATALOGUE.all() if s == CATALOGUE.routed_updates]) == 1


def _audit(channel: DisclosureChannel) -> AuditRecord:
    return AuditRecord(
        audit_id=uuid.uuid4(),
        task_id=uuid.uuid4(),
        incident_id="INC-TEST-1",
        recipient="skatteverket",
        channel=channel,
        disclosed_at=NOW,
        legal_basis="invented basis",
        policy_version="v-test",
        rule_id="rule-test",
        fields=("task_id",),
    )


def _escalation(reason: EscalationReason) -> Escalation:
    return Escalation(
        task_id=uuid.uuid4(),
        incident_id="INC-TEST-1",
        recipient="skatteverket",
        reason=reason,
        deadline=NOW,
        detected_at=NOW,
        message="invented",
    )


def test_gateway_events_become_the_audit_record_or_escalation_they_carry() -> None:
    audit = _audit(DisclosureChannel.PULL)
    assert relayed(GatewayEvent(kind="disclosure", audit=audit)) == (Audited(audit),)
    failed = _escalation(EscalationReason.DELIVERY_FAILED)
    assert relayed(GatewayEvent(kind="delivery_failed", escalation=failed)) == (Escalate(failed),)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "disclosure", "audit": _audit(DisclosureChannel.KAFKA)},
        {"kind": "delivery_failed", "escalation": _escalation(EscalationReason.OVERDUE)},
        {"kind": "disclosure", "escalation": _escalation(EscalationReason.DELIVERY_FAILED)},
        {"kind": "delivery_failed"},
    ],
)
def test_the_gateway_cannot_claim_kafka_disclosures_or_other_escalations(
    fields: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        GatewayEvent.model_validate(fields)


def test_a_connection_keeps_its_password_out_of_its_repr() -> None:
    connection = KafkaConnection("h:1", SecurityProtocol.SASL_PLAINTEXT, password="invented-pw")
    assert "invented-pw" not in repr(connection)


async def test_no_broker_at_the_address_is_one_line_naming_the_broker_url() -> None:
    closed = free_port()  # nothing listens there
    with pytest.raises(KafkaAccessRefused) as refused:
        await check_access(KafkaConnection(f"127.0.0.1:{closed}"), within=5)
    assert refused.value.exit_code == EXIT_UNREACHABLE
    assert "GVI_BROKER_URL" in str(refused.value) and "\n" not in str(refused.value)


def test_an_authorisation_error_met_while_running_is_one_line_naming_the_acls() -> None:
    refusal = refusal_of("User:skatteverket", TopicAuthorizationFailedError())
    assert refusal is not None and refusal.exit_code == EXIT_AUTHORISATION
    assert "User:skatteverket" in str(refusal) and "acls --apply" in str(refusal)
    assert refusal_of("User:x", KafkaTimeoutError()) is None


def test_only_the_coordination_publishes_playbooks_and_every_worker_reads_them() -> None:
    writers = {a.principal for a in ACLS if a.operation is Operation.WRITE}
    assert [p for p in writers if _allowed(p, Operation.WRITE, "gvi.policies")] == [
        PRINCIPALS.coordinator
    ]
    assert _allowed(PRINCIPALS.worker, Operation.READ, "gvi.policies")
    for recipient in CATALOGUE.tasks:
        assert not _allowed(PRINCIPALS.of_agency(recipient), Operation.READ, "gvi.policies")
    coordinator = {(a.operation, a.name) for a in ACLS if a.principal == PRINCIPALS.coordinator}
    assert coordinator == {(Operation.READ, "gvi.policies"), (Operation.WRITE, "gvi.policies")}
