"""deploy/Dockerfile: hadolint finds nothing (no rule ignored), and it keeps the promises the
image's users rely on (checked on the built image by deploy/image/check.sh, `make image`)."""

import re

from tests.deploy.conftest import DEPLOY, run, tool

DOCKERFILE = DEPLOY / "Dockerfile"


def test_hadolint_finds_nothing_and_no_rule_is_ignored() -> None:
    run(tool("hadolint"), "--failure-threshold", "info", DOCKERFILE)
    text = DOCKERFILE.read_text("utf-8")
    assert "hadolint ignore" not in text, "an ignored rule must be explained; none is needed"


def test_the_dockerfile_has_a_slim_base_by_argument_a_fixed_user_and_an_exec_healthcheck() -> None:
    text = DOCKERFILE.read_text("utf-8")
    assert re.search(r"^ARG BASE=\S*python:3\.11-slim", text, re.M)
    assert text.count("FROM ${BASE}") == 2, "multi-stage, both stages on the BASE argument"
    assert "-c constraints.txt" in text, "installed from the same pins as make test"
    assert "wheelhouse" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert re.search(r'^VOLUME \["/var/lib/gvi/tables", "/var/lib/gvi/gateway"\]$', text, re.M)
    assert re.search(r'^  CMD \["gvi-sanctions", "healthcheck"\]$', text, re.M), "exec form"
    assert re.search(r'^ENTRYPOINT \["gvi-sanctions"\]$', text, re.M)
