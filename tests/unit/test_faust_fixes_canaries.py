"""Canaries of the quarantined corrections: the pinned versions, and every upstream method that
an override replaces or depends on, unchanged since the correction was written."""

import tomllib
from pathlib import Path

import pytest

from workers.faust_fixes import (
    PINNED,
    REPLACED,
    UnpinnedLibraries,
    installed_versions,
    require_pinned_versions,
    upstream_digest,
)


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

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    dependencies = project["project"]["dependencies"]
    for name, version in PINNED.items():
        assert any(
            d.split("[")[0].split("=")[0] == name and d.endswith(f"=={version}")
            for d in dependencies
        ), f"{name} is not pinned to =={version} in pyproject.toml"
