"""Canaries of the quarantined corrections: the pinned versions, and every upstream method that
an override replaces or depends on, unchanged since the correction was written."""

import re
import tomllib
from pathlib import Path

import pytest
from faust.streams import current_event

from tests.support.fakes import event_on
from workers.faust_fixes import (
    PINNED,
    REPLACED,
    UnpinnedLibraries,
    installed_versions,
    require_pinned_versions,
    upstream_digest,
)
from workers.faust_fixes.internals import PRIVATE_NAMES, defines, set_current_event


def test_the_installed_libraries_are_the_pinned_ones() -> None:
    assert installed_versions() == PINNED
    require_pinned_versions()


def test_another_version_is_refused_with_a_message_that_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(PINNED, "aiokafka", "0.13.9")
    with pytest.raises(
        UnpinnedLibraries, match=r"aiokafka 0\.14\.0 \(corrections written for 0\.13\.9\)"
    ):
        require_pinned_versions()


@pytest.mark.parametrize("path", sorted(REPLACED))
def test_canary_the_upstream_code_is_the_one_the_correction_was_written_for(path: str) -> None:
    assert upstream_digest(path) == REPLACED[path], (
        f"{path} changed upstream: check the correction in workers/faust_fixes against it "
        "(it may now be broken, or no longer needed), then update its digest"
    )


def test_the_pins_in_pyproject_are_exact_and_match() -> None:

    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text("utf-8"))
    dependencies = project["project"]["dependencies"]
    for name, version in PINNED.items():
        assert any(
            d.split("[")[0].split("=")[0] == name and d.endswith(f"=={version}")
            for d in dependencies
        ), f"{name} is not pinned to =={version} in pyproject.toml"


@pytest.mark.parametrize(
    ("class_path", "name"),
    [(class_path, name) for class_path, names in PRIVATE_NAMES.items() for name in names],
)
def test_canary_each_private_name_read_or_acted_through_still_exists(
    class_path: str, name: str
) -> None:
    assert defines(class_path, name), (
        f"{class_path} no longer has {name}: the watchdog or tool that reads it through "
        "workers/faust_fixes/internals.py would fail; check the new release"
    )


def test_the_attribute_canary_notices_a_missing_name() -> None:
    assert not defines("faust.tables.recovery:Recovery", "_recovery_started_at_renamed")
    assert defines("faust.tables.recovery:Recovery", "_recovery_started_at")


def test_no_module_outside_the_quarantine_reads_a_private_library_name() -> None:
    workers = Path(__file__).parents[3] / "workers"
    private_use = re.compile(r"[\w)\]]\._[a-z]\w*")
    leaks = [
        f"{path.relative_to(workers)}:{number}: {line.strip()}"
        for path in workers.rglob("*.py")
        if "faust_fixes" not in path.parts
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        for match in private_use.finditer(line)
        if not line[: match.start() + 1].endswith(("self", "runtime", "os", "sys"))
        and not line.lstrip().startswith("#")
        and "`" not in line[: match.start()]  # a name quoted in prose
    ]
    assert leaks == []


def test_the_attribute_canary_reads_a_module_name_too() -> None:
    assert defines("faust.streams:", "_current_event")
    assert not defines("faust.streams:", "_current_event_renamed")


def test_set_current_event_is_what_faust_tables_read() -> None:
    event = event_on("gvi.incidents", "INC-TEST-1", b"{}")
    set_current_event(event)
    assert current_event() is event
