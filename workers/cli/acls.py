"""`gvi-sanctions acls`: print each principal's least-privilege ACLs, apply them, and revoke
what the broker holds beyond them."""

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from events.acls import (
    Acl,
    HeldAcl,
    Pattern,
    Principals,
    Resource,
    Rule,
    derive_acls,
    render,
    stale_acls,
)
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
    catalogue = settings.catalogue(policy.recipient_ids)
    return derive_acls(catalogue, principals_of(settings), settings.app_id)


def acl_admin(settings: Settings) -> Any:
    """confluent-kafka's AdminClient (aiokafka has no ACL API), as the principal of the settings
    (an operator's, allowed to describe and alter ACLs); one per command, held until its
    futures are done (a dropped client fails them)."""
    from confluent_kafka.admin import AdminClient

    config: dict[str, str | int | float | bool] = {**settings.kafka.librdkafka()}
    return AdminClient(config)


def _refused(error: Exception, what: str) -> KafkaAccessRefused:
    return KafkaAccessRefused(
        f"the broker refused {what} ({error.args[0] if error.args else error}): run it as a "
        "principal allowed to describe and alter ACLs (GVI_KAFKA_SASL_USERNAME, or the client "
        "certificate of GVI_KAFKA_SSL_CERTFILE)",
        EXIT_AUTHORISATION,
    )


def apply_acls(admin: Any, acls: list[Acl], within: float = 60.0) -> int:
    """Create every ACL; returns how many the broker took. Creating an ACL that exists changes
    nothing."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported names
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

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
            raise _refused(error, f"ACL {binding}") from None
        created += 1
    return created


def held_acls(admin: Any, within: float = 60.0) -> dict[HeldAcl, Any]:
    """Every ALLOW rule the broker holds on a topic or a group, literal or prefixed, each with
    the binding that names exactly it (to delete it)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported names
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    # None matches any name, principal and host (documented; the stubs say str).
    everything = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ALLOW,
    )
    try:
        # Apache Kafka answers DescribeAcls of a principal without DESCRIBE on the cluster with
        # no rules rather than an error (as librdkafka reads it): "nothing stale" would be a lie.
        cluster = admin.describe_cluster(
            request_timeout=within, include_authorized_operations=True
        ).result(within)
        if AclOperation.DESCRIBE not in (cluster.authorized_operations or ()):
            raise _refused(
                KafkaException("DESCRIBE on the cluster not granted"), "to describe its ACLs"
            )
        bindings = admin.describe_acls(everything, request_timeout=within).result(within)
    except KafkaException as error:
        raise _refused(error, "to describe its ACLs") from None
    resources = {ResourceType.TOPIC: Resource.TOPIC, ResourceType.GROUP: Resource.GROUP}
    patterns = {
        ResourcePatternType.LITERAL: Pattern.LITERAL,
        ResourcePatternType.PREFIXED: Pattern.PREFIXED,
    }
    return {
        HeldAcl(
            binding.principal,
            resources[binding.restype],
            patterns[binding.resource_pattern_type],
            binding.name,
            binding.operation.name,
            binding.host,
        ): binding
        for binding in bindings
        if binding.restype in resources and binding.resource_pattern_type in patterns
    }


def deployment_stale_acls(settings: Settings, admin: Any, acls: list[Acl]) -> dict[HeldAcl, Any]:
    """The broker's rules for this deployment's principals and names that `acls` lacks."""
    held = held_acls(admin)
    stale = stale_acls(held, acls, principals_of(settings), settings.topic_prefix, settings.app_id)
    return {acl: held[acl] for acl in stale}


def revoke_acls(admin: Any, stale: dict[HeldAcl, Any], within: float = 60.0) -> int:
    """Delete each of the `stale` rules, by a filter that matches exactly its binding."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AclBindingFilter  # type: ignore[attr-defined]

    if not stale:
        return 0
    filters = [
        AclBindingFilter(
            binding.restype,
            binding.name,
            binding.resource_pattern_type,
            binding.principal,
            binding.host,
            binding.operation,
            binding.permission_type,
        )
        for binding in stale.values()
    ]
    deleted = 0
    for rule, future in admin.delete_acls(filters, request_timeout=within).items():
        try:
            deleted += len(future.result(timeout=within))
        except KafkaException as error:
            raise _refused(error, f"to delete ACL {rule}") from None
    return deleted


def _print_acls(acls: list[Rule], as_json: bool) -> None:
    if as_json:
        print(json.dumps([acl.as_json() for acl in acls], indent=2))
    elif acls:
        print(render(acls), end="")


def run_acls_command(arguments: argparse.Namespace) -> int:
    settings = Settings()
    acls = deployment_acls(settings)
    if arguments.revoke and not arguments.apply:
        raise SystemExit("acls: --revoke goes with --apply (see --stale for what it would revoke)")
    if not (arguments.apply or arguments.stale):
        _print_acls(acls, arguments.json)
        return 0
    if settings.broker_url is None:
        raise NoBroker()
    # A broker that is not there or refuses the login is told apart from a refused ACL.
    asyncio.run(check_access(settings.kafka))
    admin = acl_admin(settings)
    if arguments.stale:
        stale = list(deployment_stale_acls(settings, admin, acls))
        _print_acls(stale, arguments.json)
        print(
            f"{len(stale)} ACL(s) on the broker for this deployment's principals that its set "
            "does not hold" + ("; `acls --apply --revoke` deletes them" if stale else ""),
            file=sys.stderr,
        )
        return 0
    _print_acls(acls, arguments.json)
    started = time.monotonic()
    created = apply_acls(admin, acls)
    print(
        f"applied {created} ACLs for {len({acl.principal for acl in acls})} principals in "
        f"{time.monotonic() - started:.1f} s (brokers enforce them within moments)",
        file=sys.stderr,
    )
    if arguments.revoke:
        stale_bindings = deployment_stale_acls(settings, admin, acls)
        if stale_bindings:
            print("revoking:\n" + render(list(stale_bindings)), end="", file=sys.stderr)
        revoked = revoke_acls(admin, stale_bindings)
        print(f"revoked {revoked} ACL(s) the set no longer holds", file=sys.stderr)
    return 0


def add_acl_command(commands: Any) -> None:
    """Add `acls` to the CLI."""
    acls = commands.add_parser(
        "acls", help="print (and --apply) each principal's least-privilege Kafka ACLs"
    )
    acls.add_argument("--json", action="store_true", help="print the ACLs as JSON")
    action = acls.add_mutually_exclusive_group()
    action.add_argument(
        "--apply", action="store_true", help="create them on the broker (as an ACL admin)"
    )
    action.add_argument(
        "--stale",
        action="store_true",
        help="list the broker's ACLs for this deployment's principals and topics that the set "
        "does not hold (changes nothing)",
    )
    acls.add_argument(
        "--revoke",
        action="store_true",
        help="with --apply: also delete those stale ACLs (a recipient taken out of the playbook, "
        "a grant added by hand)",
    )
    acls.set_defaults(run=run_acls_command)
