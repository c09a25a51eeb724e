"""Revoking on Apache Kafka (StandardAuthorizer): `acls --stale` lists the broker's rules for the
deployment that its set no longer holds, `acls --apply --revoke` deletes exactly those, and the
principal they served loses the access at once; rules of anything else on the cluster stay."""

import time
from collections.abc import Callable

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported names
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from events.acls import HeldAcl, Pattern, Resource
from events.connection import EXIT_AUTHORISATION
from tests.secure.conftest import ADMIN, SecureCluster
from tests.secure.processes import cli, may_describe
from workers.cli.acls import acl_admin, held_acls
from workers.settings import Settings

pytestmark = pytest.mark.broker
DEPLOYMENT = {"topic_prefix": "rev.", "app_id": "rev-app", "partitions": 1}


def _grant(admin: Settings, principal: str, topic: str, operation: str, host: str = "*") -> None:
    binding = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        principal,
        host,
        AclOperation[operation],
        AclPermissionType.ALLOW,
    )
    client = AdminClient(dict(admin.kafka.librdkafka()))
    for future in client.create_acls([binding], request_timeout=30).values():
        future.result(timeout=30)


def _until(condition: Callable[[], bool], what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_revoke_deletes_only_the_deployments_rules_beyond_its_set(
    secure_cluster: SecureCluster,
) -> None:
    admin = secure_cluster.settings(ADMIN, **DEPLOYMENT)
    skatteverket = secure_cluster.settings("skatteverket", **DEPLOYMENT)
    created = cli(admin, "topics", "--apply")
    assert created.returncode == 0, created.stderr
    applied = cli(admin, "acls", "--apply")
    assert applied.returncode == 0, applied.stderr
    before = cli(admin, "acls", "--stale")
    assert before.returncode == 0, before.stderr
    assert "0 ACL(s)" in before.stderr and before.stdout == "", before.stdout

    # By hand: Skatteverket may read Kronofogden's tasks (a leak), and write its own task
    # topic; then two rules that are not the deployment's: another application's topic, and
    # a rule bound to one host.
    _grant(admin, "User:skatteverket", "rev.tasks.kronofogden", "READ")
    _grant(admin, "User:skatteverket", "rev.tasks.skatteverket", "WRITE")
    _grant(admin, "User:skatteverket", "other-app.ledger", "READ")
    _grant(admin, "User:skatteverket", "rev.completion", "READ", host="10.0.0.7")
    _until(
        lambda: may_describe(skatteverket, "rev.tasks.kronofogden"), "the leak never took effect"
    )

    listed = cli(admin, "acls", "--stale", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "2 ACL(s)" in listed.stderr, listed.stderr
    assert "rev.tasks.kronofogden" in listed.stdout and "other-app" not in listed.stdout
    assert may_describe(skatteverket, "rev.tasks.kronofogden"), "--stale changed something"

    revoked = cli(admin, "acls", "--apply", "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked 2 ACL(s)" in revoked.stderr, revoked.stderr
    _until(
        lambda: not may_describe(skatteverket, "rev.tasks.kronofogden"), "the leak was not revoked"
    )
    assert may_describe(skatteverket, "rev.tasks.skatteverket"), "its own tasks were revoked"

    held = set(held_acls(acl_admin(admin)))
    user = "User:skatteverket"
    assert HeldAcl(user, Resource.TOPIC, Pattern.LITERAL, "other-app.ledger", "READ") in held
    assert (
        HeldAcl(user, Resource.TOPIC, Pattern.LITERAL, "rev.completion", "READ", "10.0.0.7") in held
    )
    own_tasks = {
        acl.operation
        for acl in held
        if acl.principal == user and acl.name == "rev.tasks.skatteverket"
    }
    assert own_tasks == {"READ"}, own_tasks
    after = cli(admin, "acls", "--stale")
    assert "0 ACL(s)" in after.stderr, after.stderr


def test_a_principal_that_may_not_describe_acls_is_refused_in_one_line(
    secure_cluster: SecureCluster,
) -> None:
    police = secure_cluster.settings("police", **DEPLOYMENT)
    refused = cli(police, "acls", "--stale")
    assert refused.returncode == EXIT_AUTHORISATION, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "describe" in lines[0], refused.stderr
