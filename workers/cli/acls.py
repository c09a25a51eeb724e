"""`gvi-sanctions acls`: print each principal's least-privilege ACLs, and apply them."""

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from events.acls import Acl, Pattern, Principals, Resource, derive_acls, render
from events.catalogue import build_catalogue
from events.connection import EXIT_AUTHORISATION, KafkaAccessRefused, check_access
from workers.cli.broker import NoBroker
from workers.policies import load_policy
from workers.settings import Settings


def principals_of(settings: Settings) -> Principals:
    return Principals(
        worker=settings.acl_worker_principal,
        gateway=settings.acl_gateway_principal,
        police=settings.acl_police_principal,
        agency=settings.acl_agency_principal,
        supervisor=settings.acl_supervisor_principal,
        evaluator=settings.acl_evaluator_principal,
        coordinator=settings.acl_coordinator_principal,
    )


def deployment_acls(settings: Settings) -> list[Acl]:
    """The ACLs of this deployment: its catalogue (prefix, the policy's recipients), its app id
    and the principals named in settings."""
    policy = load_policy(settings.policy_path)
    catalogue = build_catalogue(settings.topic_prefix, settings.partitions, policy.recipient_ids)
    return derive_acls(catalogue, principals_of(settings), settings.app_id)


def apply_acls(settings: Settings, acls: list[Acl], within: float = 60.0) -> int:
    """Create every ACL with confluent-kafka's AdminClient (aiokafka has no ACL API), as the
    principal of the settings (an operator's, allowed to alter ACLs); returns how many the
    broker took. Creating an ACL that exists changes nothing."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported names
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    config: dict[str, str | int | float | bool] = {**settings.kafka.librdkafka()}
    admin = AdminClient(config)
    bindings = [
        AclBinding(
            ResourceType.TOPIC if acl.resource is Resource.TOPIC else ResourceType.GROUP,
            acl.name,
            ResourcePatternType.PREFIXED
            if acl.pattern is Pattern.PREFIXED
            else ResourcePatternType.LITERAL,
            acl.principal,
            "*",
            AclOperation[acl.operation.value],
            AclPermissionType.ALLOW,
        )
        for acl in acls
    ]
    created = 0
    for binding, future in admin.create_acls(bindings, request_timeout=within).items():
        try:
            future.result(timeout=within)
        except KafkaException as error:
            raise KafkaAccessRefused(
                f"the broker refused ACL {binding} ({error.args[0]}): apply them as a "
                "principal allowed to alter ACLs (GVI_KAFKA_SASL_USERNAME)",
                EXIT_AUTHORISATION,
            ) from None
        created += 1
    return created


def run_acls_command(arguments: argparse.Namespace) -> int:
    settings = Settings()
    acls = deployment_acls(settings)
    if arguments.json:
        print(json.dumps([acl.as_json() for acl in acls], indent=2))
    else:
        print(render(acls), end="")
    if not arguments.apply:
        return 0
    if settings.broker_url is None:
        raise NoBroker()
    # A broker that is not there or refuses the login is told apart from a refused ACL.
    asyncio.run(check_access(settings.kafka))
    started = time.monotonic()
    created = apply_acls(settings, acls)
    print(
        f"applied {created} ACLs for {len({acl.principal for acl in acls})} principals in "
        f"{time.monotonic() - started:.1f} s (brokers enforce them within moments)",
        file=sys.stderr,
    )
    return 0


def add_acl_command(commands: Any) -> None:
    """Add `acls` to the CLI."""
    acls = commands.add_parser(
        "acls", help="print (and --apply) each principal's least-privilege Kafka ACLs"
    )
    acls.add_argument("--json", action="store_true", help="print the ACLs as JSON")
    acls.add_argument(
        "--apply", action="store_true", help="create them on the broker (as an ACL admin)"
    )
    acls.set_defaults(run=run_acls_command)
