"""The `gvi-sanctions` command line."""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from events.connection import KafkaAccessRefused, refusal_of
from schemas.common import describe_validation_error
from schemas.export import json_schemas, render
from schemas.group import GroupProfile
from schemas.history import GroupHistory
from schemas.incident import IncidentRetracted, parse_incident_event
from workers.cli.acls import add_acl_command
from workers.cli.broker import NoBroker
from workers.cli.evaluation import add_evaluation_commands
from workers.cli.explain import partnership_of, render_decision
from workers.cli.operations import add_operations_commands
from workers.cli.policy import add_publish_command
from workers.cli.stream import add_demo_command, add_gateway_commands, add_stream_commands
from workers.cli.strimzi import add_strimzi_command
from workers.core.partnerships import UnknownPartnership, policy_for_incident
from workers.core.planner import UnknownGroup, plan
from workers.core.policy import PolicyInvalid
from workers.policies import load_policy
from workers.settings import SecretsFolderMissing, Settings

Command = Callable[[argparse.Namespace], int]
EXIT_SETTINGS = 78
"""sysexits' EX_CONFIG: a GVI_ setting is not valid."""


def _export_schemas(arguments: argparse.Namespace) -> int:
    directory: Path = arguments.directory
    directory.mkdir(parents=True, exist_ok=True)
    schemas = json_schemas()
    for name, schema in schemas.items():
        (directory / f"{name}.json").write_text(render(schema), encoding="utf-8")
    print(f"wrote {len(schemas)} JSON Schemas to {directory}")
    return 0


def _export_openapi(arguments: argparse.Namespace) -> int:
    from workers.gateway.server import openapi_document

    arguments.file.write_text(openapi_document(), encoding="utf-8")
    print(f"wrote the gateway's OpenAPI document to {arguments.file}")
    return 0


def _validate_policy(arguments: argparse.Namespace) -> int:
    try:
        policy = load_policy(arguments.file)
    except PolicyInvalid as error:
        print(error, file=sys.stderr)
        return 1
    partnerships = ", ".join(p.id for p in policy.partnerships) or "none"
    print(
        f"{arguments.file}: policy {policy.policy_version} is valid: "
        f"{len(policy.rules)} rules, {len(policy.recipients)} recipient roles, "
        f"{len(policy.recipient_ids)} recipients; partnerships: {partnerships}"
    )
    return 0


def _read_groups(path: Path) -> dict[str, GroupProfile]:
    document = json.loads(path.read_text("utf-8"))
    documents = document if isinstance(document, list) else [document]
    profiles = [GroupProfile.model_validate(item) for item in documents]
    return {profile.group_id: profile for profile in profiles}


def _read_histories(path: Path | None) -> dict[str, GroupHistory]:
    if path is None:
        return {}
    document = json.loads(path.read_text("utf-8"))
    documents = document if isinstance(document, list) else [document]
    histories = [GroupHistory.model_validate(item) for item in documents]
    return {history.group_id: history for history in histories}


def _explain(arguments: argparse.Namespace) -> int:
    try:
        policy = load_policy(arguments.policy)
        incident = parse_incident_event(arguments.incident.read_bytes())
        groups = _read_groups(arguments.group)
        histories = _read_histories(arguments.history)
    except PolicyInvalid as error:
        print(error, file=sys.stderr)
        return 1
    except (ValidationError, ValueError, OSError) as error:
        print(f"cannot read the input: {error}", file=sys.stderr)
        return 1
    if isinstance(incident, IncidentRetracted):
        print(
            f"Incident {incident.incident_id} is retracted (v{incident.version}): every open task "
            f"is cancelled. Reason: {incident.reason}"
        )
        return 0
    try:
        effective = policy_for_incident(policy, incident)
        decision = plan(incident, groups, histories, effective)
    except (UnknownGroup, UnknownPartnership) as error:
        print(f"cannot plan: {error}", file=sys.stderr)
        return 1
    if arguments.json:
        print(decision.model_dump_json(indent=2))
    else:
        print(render_decision(incident, decision, partnership_of(policy, effective)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gvi-sanctions",
        description="Swift, predictable sanction tasks for Group Violence Intervention.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    schemas_parser = commands.add_parser("schemas", help="the wire contracts")
    schemas_commands = schemas_parser.add_subparsers(dest="schemas_command", required=True)
    export = schemas_commands.add_parser("export", help="write one JSON Schema per contract")
    export.add_argument("directory", type=Path)
    export.set_defaults(run=_export_schemas)
    openapi = schemas_commands.add_parser("openapi", help="write the gateway's OpenAPI document")
    openapi.add_argument("file", type=Path, nargs="?", default=Path("schemas/openapi.json"))
    openapi.set_defaults(run=_export_openapi)

    policy_parser = commands.add_parser("policy", help="the sanction playbook")
    policy_commands = policy_parser.add_subparsers(dest="policy_command", required=True)
    validate = policy_commands.add_parser("validate", help="check a policy file")
    validate.add_argument("file", type=Path)
    validate.set_defaults(run=_validate_policy)
    explain = policy_commands.add_parser(
        "explain", help="print the decision for an incident, without a broker"
    )
    explain.add_argument("--policy", type=Path, default=None, help="default: the shipped playbook")
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")
    explain.add_argument("incident", type=Path)
    explain.add_argument("group", type=Path, help="a group profile, or a JSON list of them")
    explain.add_argument("history", type=Path, nargs="?", default=None)
    explain.set_defaults(run=_explain)
    add_publish_command(policy_commands)

    add_evaluation_commands(commands, policy_commands)
    add_acl_command(commands)
    add_operations_commands(commands)
    add_strimzi_command(commands)
    add_stream_commands(commands)
    add_gateway_commands(commands)
    add_demo_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gvi-sanctions` console script. A broker that refuses the
    connection, the login or an authorisation is reported in one line naming the setting to
    fix, with an exit code of its own (events.connection), never with a stack trace."""
    arguments = build_parser().parse_args(argv)
    run: Command = arguments.run
    try:
        return run(arguments)
    except ValidationError as error:
        if error.title != "Settings":
            raise
        print(
            f"gvi-sanctions: the GVI_ settings: {describe_validation_error(error)}", file=sys.stderr
        )
        return EXIT_SETTINGS
    except SecretsFolderMissing as missing:
        print(f"gvi-sanctions: the GVI_ settings: {missing}", file=sys.stderr)
        return EXIT_SETTINGS
    except NoBroker as missing:
        print(f"gvi-sanctions {arguments.command}: {missing}", file=sys.stderr)
        return missing.exit_code
    except KafkaAccessRefused as refused:
        print(f"gvi-sanctions {arguments.command}: {refused}", file=sys.stderr)
        return refused.exit_code
    except KafkaError as error:
        refusal = refusal_of(_principal(), error)
        if refusal is None:
            raise
        print(f"gvi-sanctions {arguments.command}: {refusal}", file=sys.stderr)
        return refusal.exit_code


def _principal() -> str:
    try:
        return Settings().kafka.who
    except (ValidationError, ValueError):
        return "this principal"
