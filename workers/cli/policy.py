"""`gvi-sanctions policy publish` and the playbook versions published on `gvi.policies`."""

import argparse
import asyncio
import hashlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from events.codec import encode
from events.connection import check_access
from schemas.playbook import PublishedPlaybook
from workers.cli.broker import broker_settings
from workers.core.policy import PolicyInvalid
from workers.core.policy_checks import load_policy_text
from workers.policies import load_policy
from workers.settings import Settings
from workers.tools.kafka_clients import publish, read_topic

MINIMUM_LEAD = timedelta(seconds=5)
"""How far ahead of now a version must take effect (unless forced): every worker reads it
(within a second) before any incident it plans is reported."""


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (e.g. 2027-01-01T00:00+01:00)")
    return moment


async def published_versions(settings: Settings, topic: str) -> dict[str, PublishedPlaybook]:
    """Every playbook version on `topic` that reads as a contract, by version (first wins)."""
    versions: dict[str, PublishedPlaybook] = {}
    for record in await read_topic(settings.kafka, topic, idle_timeout=0.5, max_wait=60):
        try:
            playbook = PublishedPlaybook.model_validate_json(record.value or b"")
        except ValueError:
            continue
        versions.setdefault(playbook.policy_version, playbook)
    return versions


def run_publish_policy_command(arguments: argparse.Namespace) -> int:
    """Validate a playbook file and publish it with the moment it takes effect."""
    settings = broker_settings()
    path: Path = arguments.file
    try:
        text = path.read_text("utf-8")
        policy = load_policy_text(text, str(path))
        deployed = load_policy(settings.policy_path)
    except PolicyInvalid as invalid:
        print(f"not published: {invalid}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cannot read {path}: {error}", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    effective_from: datetime = arguments.effective_from
    if effective_from < now + MINIMUM_LEAD and not arguments.force:
        print(
            f"not published: it would take effect at {effective_from.isoformat()}, less than "
            f"{MINIMUM_LEAD.seconds} s from now ({now.isoformat(timespec='seconds')}); incidents "
            "already reported would be planned differently by workers that read it and workers "
            "that did not yet. Use --force to publish a version in force from the past.",
            file=sys.stderr,
        )
        return 1
    unknown = sorted(set(policy.recipient_ids) - set(deployed.recipient_ids))
    if unknown:
        print(
            f"not published: recipients without a topic or ACLs in this deployment: {unknown}; "
            "add them to the deployment's playbook (GVI_POLICY_PATH), run `topics --apply` and "
            "`acls --apply`, then publish",
            file=sys.stderr,
        )
        return 1
    catalogue = settings.catalogue(deployed.recipient_ids)
    topic = catalogue.policies.name
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    asyncio.run(check_access(settings.kafka, [topic]))
    earlier = asyncio.run(published_versions(settings, topic)).get(policy.policy_version)
    if earlier is not None:
        if earlier.digest != digest or earlier.effective_from != effective_from:
            print(
                f"not published: version {policy.policy_version} was already published with "
                f"other content or another effective time ({earlier.effective_from.isoformat()}, "
                f"by {earlier.published_by}); a change needs a new policy_version",
                file=sys.stderr,
            )
            return 1
        print(f"version {policy.policy_version} was already published with this content")
        return 0
    playbook = PublishedPlaybook(
        policy_version=policy.policy_version,
        effective_from=effective_from,
        published_at=now,
        published_by=arguments.published_by,
        digest=digest,
        text=text,
    )
    ((_, offset),) = asyncio.run(
        publish(settings.kafka, topic, [(policy.policy_version, encode(playbook))])
    )
    partnerships = ", ".join(p.id for p in policy.partnerships) or "none"
    print(
        f"published {policy.policy_version} (partnerships: {partnerships}) to {topic} "
        f"at offset {offset}; in force from {effective_from.isoformat()}"
    )
    return 0


def add_publish_command(policy_commands: Any) -> None:
    publisher = policy_commands.add_parser(
        "publish",
        help="validate a playbook and publish it on gvi.policies with the moment it takes effect",
    )
    publisher.add_argument("file", type=Path)
    publisher.add_argument(
        "--effective-from",
        type=_moment,
        required=True,
        help="ISO 8601 with a time zone; incidents reported from then on are planned with it",
    )
    publisher.add_argument(
        "--force", action="store_true", help="allow an effective time in the past (or too near)"
    )
    publisher.add_argument(
        "--published-by", default="gvi-coordinator", help="who publishes (kept on the record)"
    )
    publisher.set_defaults(run=run_publish_policy_command)
