"""Topics that key state share one partition count; the output topics have one of their own."""

import pytest

from events.admin import expected_topics, problems_of
from events.catalogue import Catalogue, Direction, TopicSpec, build_catalogue
from workers.policies import load_policy
from workers.settings import Settings

POLICY = load_policy()


def test_outputs_have_their_own_count_and_state_topics_share_one() -> None:
    catalogue = Settings(partitions=6, output_partitions=2).catalogue(POLICY.recipient_ids)
    outputs = {
        catalogue.completion.name,
        catalogue.escalations.name,
        catalogue.audit.name,
        catalogue.rejected.name,
        *(spec.name for spec in catalogue.tasks.values()),
    }
    counts = {spec.name: spec.partitions for spec in catalogue.all()}
    written_by_the_worker_only = {
        name for name, spec in _by_name(catalogue).items() if spec.direction is Direction.OUT
    }
    assert written_by_the_worker_only == outputs
    assert {counts[name] for name in outputs} == {2}
    assert counts[catalogue.policies.name] == 1
    keyed = set(counts) - outputs - {catalogue.policies.name}
    assert catalogue.incidents.name in keyed and catalogue.task_commands.name in keyed
    assert {counts[name] for name in keyed} == {6}
    assert catalogue.output_partitions == 2


def test_by_default_an_output_topic_has_one_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GVI_PARTITIONS", raising=False)
    monkeypatch.delenv("GVI_OUTPUT_PARTITIONS", raising=False)
    catalogue = Settings().catalogue(POLICY.recipient_ids)
    assert catalogue.output_partitions == 1
    assert catalogue.tasks["skatteverket"].partitions == 1
    assert catalogue.incidents.partitions == 4


def test_a_count_that_does_not_fit_names_the_setting_that_would() -> None:
    catalogue = build_catalogue("gvi.", 4, POLICY.recipient_ids, 1)
    expected = expected_topics(catalogue, ["gvi-sanctions-tasks-changelog"])
    found = {
        "gvi.tasks.skatteverket": 4,
        "gvi.incidents": 2,
        "gvi.policies": 3,
        "gvi-sanctions-tasks-changelog": 8,
        "gvi.audit": 1,
    }
    problems = problems_of(expected, found, {})
    assert len(problems) == 4, problems
    output, incidents, policies, changelog = sorted(problems, key=_order)
    assert "gvi.tasks.skatteverket has 4 partition(s), not 1 (GVI_OUTPUT_PARTITIONS)" in output
    assert "set GVI_OUTPUT_PARTITIONS=4" in output
    assert "gvi.incidents has 2 partition(s), not 4 (GVI_PARTITIONS)" in incidents
    assert "gvi-sanctions-tasks-changelog has 8 partition(s), not 4 (GVI_PARTITIONS)" in changelog
    assert (
        "gvi.policies has 3 partition(s), not 1: every worker must read it in one order" in policies
    )


def _by_name(catalogue: Catalogue) -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in catalogue.all()}


def _order(problem: str) -> int:
    for rank, name in enumerate(("gvi.tasks", "gvi.incidents", "gvi.policies", "gvi-sanctions")):
        if problem.startswith(name):
            return rank
    raise AssertionError(problem)
