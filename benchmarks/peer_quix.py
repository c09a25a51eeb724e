"""The peer: a Quix Streams application doing the worker's catch-up job (consume incidents,
plan each with the same pure planner, produce every task's view), for `make bench`.

Runs in its own virtualenv (`.venv-quix`, from benchmarks/quix-requirements.txt): Quix Streams
pins other confluent-kafka and pydantic versions than the worker.
"""

import argparse
from typing import Any

from quixstreams import Application

from events.codec import decode
from schemas import GroupProfile, IncidentReported
from workers.core.partnerships import PolicyBook
from workers.core.planner import plan
from workers.core.projection import project_task
from workers.policies import load_policy

BOOK = PolicyBook(load_policy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--groups", required=True, help="a file of group profiles, one per line")
    parser.add_argument("--state-dir", required=True, help="Quix Streams' state folder")
    arguments = parser.parse_args()
    with open(arguments.groups, "rb") as lines:
        groups = {
            profile.group_id: profile
            for profile in (
                GroupProfile.model_validate_json(line) for line in lines if line.strip()
            )
        }

    def tasks_of(raw: bytes) -> list[dict[str, Any]]:
        incident = decode(IncidentReported, raw)
        policy = BOOK.for_incident(incident, None)
        return [
            project_task(task, incident, groups[task.group_id], policy).model_dump(
                mode="json", exclude_none=True
            )
            for task in plan(incident, groups, {}, policy).tasks
        ]

    app = Application(
        broker_address=arguments.bootstrap,
        consumer_group=f"peer-{arguments.source}",
        auto_offset_reset="earliest",
        loglevel="WARNING",
        use_changelog_topics=False,
        state_dir=arguments.state_dir,
        producer_extra_config={"acks": "all"},
    )
    source = app.topic(arguments.source, value_deserializer="bytes", key_deserializer="bytes")
    sink = app.topic(arguments.sink, value_serializer="json", key_serializer="str")
    frame = app.dataframe(source).apply(tasks_of, expand=True)
    frame.to_topic(sink, key=lambda view: view["task_id"])
    app.run()


if __name__ == "__main__":
    main()
