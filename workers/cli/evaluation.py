"""The evaluators' commands: `report` (planned versus delivered, from the topics) and `policy
what-if` (past incidents under a proposed policy). Both only read; neither writes to a topic."""

import argparse
import asyncio
import contextlib
import csv
import html
import io
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from events.catalogue import Catalogue
from events.connection import check_access
from schemas.completion import CompletionSnapshot
from schemas.group import GroupProfile
from schemas.incident import parse_incident_event
from schemas.rejection import Rejection
from schemas.task import RecipientTaskView, TaskStatusChange
from workers.cli.broker import broker_settings
from workers.core.evaluation import (
    IncidentEvent,
    Report,
    Window,
    latest_incidents,
    report,
    retracted,
)
from workers.core.evaluation import task_facts as facts_of
from workers.core.partnerships import PolicyBook
from workers.core.policy import Policy, PolicyInvalid
from workers.core.what_if import WhatIf, compare
from workers.policies import load_policy
from workers.settings import Settings
from workers.stream.policy_feed import UnusablePlaybook, published_policy
from workers.tools.kafka_clients import Record, read_topics

FORMATS = ("csv", "json", "html")


def _read_all(settings: Settings, topics: list[str]) -> dict[str, list[Record]]:
    """Every message of `topics`, from the beginning, with a spinner on stderr."""
    asyncio.run(check_access(settings.kafka, topics))
    console = Console(stderr=True)
    with console.status(f"reading {len(topics)} topics", spinner="dots"):
        return asyncio.run(read_topics(settings.kafka, topics))


def _values(records: list[Record], parse: Callable[[bytes], Any]) -> list[Any]:
    """The records that parse; others (not the worker's to answer here) are left out."""
    parsed = []
    for record in records:
        if record.value is None:
            continue
        try:
            parsed.append(parse(record.value))
        except (ValidationError, ValueError):
            continue
    return parsed


def _incidents(records: list[Record]) -> list[IncidentEvent]:
    return _values(records, lambda raw: parse_incident_event(raw.decode("utf-8")))


def build_report(settings: Settings, catalogue: Catalogue, window: Window) -> Report:
    """Read the public topics and count (`workers/core/evaluation.py`)."""
    task_topics = [spec.name for spec in catalogue.tasks.values()]
    update_topics = [spec.name for spec in catalogue.task_updates.values()]
    topics = [
        catalogue.incidents.name,
        catalogue.completion.name,
        catalogue.rejected.name,
        *update_topics,
        *task_topics,
    ]
    found = _read_all(settings, topics)
    refused = {
        (r.source_topic, r.source_partition, r.source_offset)
        for r in _values(found[catalogue.rejected.name], Rejection.model_validate_json)
    }
    accepted: list[TaskStatusChange] = []
    for record in (record for topic in update_topics for record in found[topic]):
        if (record.topic, record.partition, record.offset) in refused or record.value is None:
            continue
        accepted += _values([record], TaskStatusChange.model_validate_json)
    deliveries: list[tuple[RecipientTaskView, datetime]] = []
    for topic in task_topics:
        for record in found[topic]:
            views = _values([record], RecipientTaskView.model_validate_json)
            if views and record.timestamp_ms:
                stamp = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
                deliveries.append((views[0], stamp))
    facts = facts_of(
        latest_incidents(_incidents(found[catalogue.incidents.name])),
        _values(found[catalogue.completion.name], CompletionSnapshot.model_validate_json),
        deliveries,
        accepted,
        window,
    )
    return report(facts, window, datetime.now(UTC))


def report_csv(made: Report) -> str:
    out = io.StringIO()
    columns = [name for name in made.rows[0] if name != "declined_reasons"] if made.rows else []
    writer = csv.DictWriter(out, [*columns, "declined_reasons"], lineterminator="\n")
    writer.writeheader()
    for row in made.rows:
        reasons = row.get("declined_reasons") or {}
        assert isinstance(reasons, dict)
        listed = "; ".join(f"{reason} ({count})" for reason, count in reasons.items())
        writer.writerow({**row, "declined_reasons": listed})
    return out.getvalue()


def report_json(made: Report) -> str:
    document = {
        "from": made.window.first.isoformat(),
        "to": made.window.last.isoformat(),
        "municipality": made.window.municipality,
        "partnership": made.window.partnership,
        "as_of": made.as_of.isoformat(),
        "incidents": made.incidents,
        "rows": list(made.rows),
        "steps": list(made.steps),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def report_html(made: Report, chart: Path | None) -> str:
    def cell(value: object) -> str:
        return html.escape("—" if value is None else str(value))

    columns = [name for name in made.rows[0]] if made.rows else []
    head = "".join(
        f"<th scope='col'>{html.escape(name.replace('_', ' '))}</th>" for name in columns
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row[name])}</td>" for name in columns) + "</tr>"
        for row in made.rows
    )
    steps = "".join(
        f"<tr><td>{cell(s['step'])}</td><td>{cell(s['municipality'])}</td>"
        f"<td>{cell(s['planned'])}</td><td>{cell(s['completed'])}</td>"
        f"<td>{cell(s['skipped_share'])}</td></tr>"
        for s in made.steps
    )
    place = html.escape(
        made.window.municipality
        or (f"partnership {made.window.partnership}" if made.window.partnership else None)
        or "all municipalities"
    )
    image = f"<img src='{html.escape(chart.name)}' alt='Tasks by recipient'>" if chart else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>GVI sanctions: evaluation report</title></head><body><main>"
        f"<h1>Evaluation report {made.window.first} to {made.window.last}, {place}</h1>"
        f"<p>{made.incidents} incidents; as of {made.as_of.isoformat(timespec='minutes')}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<h2>The steps most often skipped</h2><table><thead><tr><th scope='col'>step</th>"
        "<th scope='col'>municipality</th><th scope='col'>planned</th>"
        "<th scope='col'>completed</th><th scope='col'>skipped share</th></tr></thead>"
        f"<tbody>{steps}</tbody></table>{image}</main></body></html>\n"
    )


def report_chart(made: Report, path: Path) -> None:
    """Planned, delivered and completed tasks per recipient (all municipalities summed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals: dict[str, list[int]] = {}
    for row in made.rows:
        counts = totals.setdefault(str(row["recipient"]), [0, 0, 0])
        for index, name in enumerate(("planned", "delivered", "completed")):
            value = row[name]
            counts[index] += value if isinstance(value, int) else 0
    recipients = sorted(totals)
    figure, axes = plt.subplots(figsize=(10, 5))
    width = 0.27
    for index, name in enumerate(("planned", "delivered", "completed")):
        axes.bar(
            [n + (index - 1) * width for n in range(len(recipients))],
            [totals[r][index] for r in recipients],
            width,
            label=name,
        )
    axes.set_xticks(range(len(recipients)), recipients, rotation=30, ha="right")
    axes.set_ylabel("tasks")
    axes.set_title(f"Tasks {made.window.first} to {made.window.last}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _in_partnership(window: Window, policy: Policy, partnership_id: str) -> Window | None:
    """The window limited to a partnership's municipalities; None (said on stderr) for a
    partnership the playbook does not have."""
    partnership = next((p for p in policy.partnerships if p.id == partnership_id), None)
    if partnership is None:
        known = ", ".join(p.id for p in policy.partnerships) or "none"
        print(f"no partnership {partnership_id!r} (known: {known})", file=sys.stderr)
        return None
    return replace(
        window, partnership=partnership.id, partnership_municipalities=partnership.municipalities
    )


def run_report_command(arguments: argparse.Namespace) -> int:
    settings = broker_settings()
    policy = load_policy(settings.policy_path)
    catalogue = settings.catalogue(policy.recipient_ids)
    window = Window(arguments.first, arguments.last, arguments.municipality)
    if arguments.partnership is not None:
        scoped = _in_partnership(window, policy, arguments.partnership)
        if scoped is None:
            return 2
        window = scoped
    made = build_report(settings, catalogue, window)
    chart = arguments.chart
    if chart is not None:
        report_chart(made, chart)
    text = {
        "csv": lambda: report_csv(made),
        "json": lambda: report_json(made),
        "html": lambda: report_html(made, chart),
    }[arguments.format]()
    if arguments.output is None:
        sys.stdout.write(text)
    else:
        arguments.output.write_text(text, "utf-8")
    return 0


def what_if_document(result: WhatIf) -> dict[str, Any]:
    def task(t: Any) -> dict[str, Any]:
        return {
            "recipient": t.recipient,
            "action": t.action,
            "group_id": t.group_id,
            "subject": f"{t.subject.kind}:{t.subject.ref}",
            "deadline": t.deadline.isoformat(),
            "rule_id": t.rule_id,
        }

    return {
        "current_policy": result.current_version,
        "proposed_policy": result.proposed_version,
        "incidents": result.incidents,
        "totals": result.totals,
        "diffs": [
            {
                "incident_id": d.incident_id,
                "note": d.note,
                "added": [task(t) for t in d.added],
                "dropped": [task(t) for t in d.dropped],
                "changed": [
                    {"before": task(c.before), "after": task(c.after), "fields": list(c.fields)}
                    for c in d.changed
                ],
            }
            for d in result.diffs
            if d.differs or d.note
        ],
    }


def what_if_text(result: WhatIf) -> str:
    lines = [
        f"Policy {result.current_version} → {result.proposed_version}, "
        f"{result.incidents} incident(s) replayed",
    ]
    for diff in result.diffs:
        if not (diff.differs or diff.note):
            continue
        lines.append(f"\n{diff.incident_id}" + (f": {diff.note}" if diff.note else ""))
        lines += [
            f"  + {t.recipient}: {t.action} ({t.subject.ref}), due {t.deadline:%Y-%m-%d %H:%M}"
            for t in diff.added
        ]
        lines += [f"  - {t.recipient}: {t.action} ({t.subject.ref})" for t in diff.dropped]
        for change in diff.changed:
            after = change.after
            changed = ", ".join(change.fields)
            lines.append(f"  ~ {after.recipient}: {after.action} ({after.subject.ref}): {changed}")
    lines.append("\nTotals per recipient:")
    for recipient, counts in result.totals.items():
        listed = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        lines.append(f"  {recipient}: {listed}")
    if not result.totals:
        lines.append("  no differences")
    return "\n".join(lines) + "\n"


def run_what_if_command(arguments: argparse.Namespace) -> int:
    settings = broker_settings()
    try:
        deployed: Policy = load_policy(settings.policy_path)
        proposed: Policy = load_policy(arguments.file)
    except PolicyInvalid as invalid:
        print(f"gvi-sanctions policy what-if: {invalid}", file=sys.stderr)
        return 2
    catalogue = settings.catalogue(deployed.recipient_ids)
    found = _read_all(
        settings, [catalogue.incidents.name, catalogue.groups.name, catalogue.policies.name]
    )
    book = PolicyBook(deployed)
    for record in found[catalogue.policies.name]:
        with contextlib.suppress(UnusablePlaybook):
            book.add(published_policy(record.value, record.offset))
    current = book.in_force(datetime.now(UTC))
    window = Window(arguments.first or date.min, arguments.last or date.max)
    if arguments.partnership is not None:
        scoped = _in_partnership(window, current, arguments.partnership)
        if scoped is None:
            return 2
        window = scoped
    events = _incidents(found[catalogue.incidents.name])
    withdrawn = retracted(events)
    incidents = [
        incident
        for incident in latest_incidents(events).values()
        if incident.incident_id not in withdrawn
        and window.holds(incident.reported_at, incident.municipality)
    ]
    groups: dict[str, GroupProfile] = {}
    for record in found[catalogue.groups.name]:
        if record.value is None and record.key:
            groups.pop(record.key, None)
            continue
        for profile in _values([record], GroupProfile.model_validate_json):
            groups[profile.group_id] = profile
    result = compare(incidents, groups, current, proposed)
    if arguments.json:
        sys.stdout.write(json.dumps(what_if_document(result), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(what_if_text(result))
    return 0


def add_evaluation_commands(commands: Any, policy_commands: Any) -> None:
    """Add `report` and `policy what-if` to the CLI."""
    report_parser = commands.add_parser(
        "report", help="planned versus delivered, per recipient and municipality (from the topics)"
    )
    report_parser.add_argument("--from", dest="first", type=_day, required=True, help="YYYY-MM-DD")
    report_parser.add_argument("--to", dest="last", type=_day, required=True, help="YYYY-MM-DD")
    report_parser.add_argument("--municipality", default=None)
    report_parser.add_argument(
        "--partnership",
        default=None,
        help="only the incidents in this partnership's municipalities (its id, e.g. huddinge)",
    )
    report_parser.add_argument("--format", choices=FORMATS, default="csv")
    report_parser.add_argument("--output", type=Path, default=None, help="default: stdout")
    report_parser.add_argument("--chart", type=Path, default=None, help="write a PNG chart here")
    report_parser.set_defaults(run=run_report_command)

    what_if = policy_commands.add_parser(
        "what-if", help="replay past incidents under a proposed policy; writes nothing"
    )
    what_if.add_argument("file", type=Path, help="the proposed policy")
    what_if.add_argument("--from", dest="first", type=_day, default=None)
    what_if.add_argument("--to", dest="last", type=_day, default=None)
    what_if.add_argument("--json", action="store_true", help="print the differences as JSON")
    what_if.add_argument(
        "--partnership",
        default=None,
        help="replay only this partnership's past incidents (against the version in force now)",
    )
    what_if.set_defaults(run=run_what_if_command)
