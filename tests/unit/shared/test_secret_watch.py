"""A running process's secret files watched: which files, what counts as a change, one stop."""

import asyncio
import os
from pathlib import Path

import pytest

from workers.secret_watch import (
    EXIT_SECRETS_CHANGED,
    SecretFilesWatch,
    changed,
    digests,
    watched_files,
)
from workers.settings import SECRETS_DIR, Settings


def mounted_secret(folder: Path, version: str, files: dict[str, str]) -> None:
    """A folder as the kubelet writes a mounted Secret: the files in a dated folder, `..data`
    a link to it, each name a link through `..data`; a new version swaps `..data`."""
    dated = folder / f"..{version}"
    dated.mkdir()
    for name, content in files.items():
        (dated / name).write_text(content, "utf-8")
    swap = folder / "..data_tmp"
    swap.symlink_to(dated.name)
    os.replace(swap, folder / "..data")
    for name in files:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    folder = tmp_path / "secrets"
    folder.mkdir()
    mounted_secret(folder, "2026_12_07_1", {"GVI_KAFKA_SASL_PASSWORD": "invented-1"})
    monkeypatch.delenv("GVI_KAFKA_SASL_PASSWORD", raising=False)
    monkeypatch.setenv(SECRETS_DIR, str(folder))
    (tmp_path / "ca.pem").write_text("an invented CA", "utf-8")
    return Settings(
        broker_url="kafka://127.0.0.1:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="gvi-worker",
        kafka_ssl_cafile=tmp_path / "ca.pem",
        secrets_watch_seconds=0.01,
        secrets_restart_spread_seconds=0,
    )


def test_the_watched_files_are_the_secrets_folders_and_the_tls_files(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "secrets"
    watch = SecretFilesWatch.of(settings)
    assert watch.files() == (folder / "GVI_KAFKA_SASL_PASSWORD", tmp_path / "ca.pem")
    assert sorted(watch.started_with) == sorted(str(path) for path in watch.files())
    assert watched_files(None, ()) == ()
    off = SecretFilesWatch.of(settings.model_copy(update={"secrets_watch_seconds": 0}))
    assert off.files() == () and off.started_with == {}


def test_a_new_version_of_a_mounted_secret_is_a_change_and_the_same_content_is_not(
    settings: Settings, tmp_path: Path
) -> None:
    folder, watch = tmp_path / "secrets", SecretFilesWatch.of(settings)
    before = digests(watch.files())
    mounted_secret(folder, "2026_12_07_2", {"GVI_KAFKA_SASL_PASSWORD": "invented-1"})
    assert changed(before, digests(watch.files())) == []
    mounted_secret(folder, "2026_12_07_3", {"GVI_KAFKA_SASL_PASSWORD": "invented-2"})
    assert changed(before, digests(watch.files())) == [str(folder / "GVI_KAFKA_SASL_PASSWORD")]
    (tmp_path / "ca.pem").unlink()
    assert str(tmp_path / "ca.pem") in changed(before, digests(watch.files())), "a file gone"


def test_a_file_added_to_the_folder_is_a_change(settings: Settings, tmp_path: Path) -> None:
    folder, watch = tmp_path / "secrets", SecretFilesWatch.of(settings)
    mounted_secret(
        folder,
        "2026_12_07_2",
        {"GVI_KAFKA_SASL_PASSWORD": "invented-1", "GVI_WEBHOOK_SECRET_A": "whsec_aW52ZW50ZWQ="},
    )
    added = folder / "GVI_WEBHOOK_SECRET_A"
    assert changed(watch.started_with, digests(watch.files())) == [str(added)]


async def test_the_watch_stops_the_process_once_when_a_file_changes(
    settings: Settings, tmp_path: Path
) -> None:
    stops: list[str] = []
    watch = SecretFilesWatch.of(settings)
    watch.stop = lambda: stops.append("stop")
    running = asyncio.create_task(watch.run())
    await asyncio.sleep(0.1)
    assert stops == [] and watch.exit_code(0) == 0, "nothing changed yet"
    (tmp_path / "ca.pem").write_text("a renewed invented CA", "utf-8")
    async with asyncio.timeout(5):
        await running
    assert stops == ["stop"]
    assert watch.changed_files == [str(tmp_path / "ca.pem")]
    assert watch.exit_code(0) == EXIT_SECRETS_CHANGED == 75


async def test_nothing_to_watch_ends_the_watch_at_once() -> None:
    watch = SecretFilesWatch.of(Settings(broker_url="kafka://127.0.0.1:9092", secrets_dir=None))
    async with asyncio.timeout(1):
        await watch.run()
    assert watch.exit_code(3) == 3
