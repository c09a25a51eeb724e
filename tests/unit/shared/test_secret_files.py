"""Secrets read from files: `GVI_SECRETS_DIR` names a folder (a mounted Kubernetes Secret,
compose's /run/secrets) with one file per secret, named as its variable."""

import subprocess
import sys
from pathlib import Path

import pytest

from workers.settings import SECRETS_DIR, SecretsFolderMissing, Settings, secrets_named


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GVI_KAFKA_SASL_PASSWORD", "GVI_TEST_SIGNING_A", "GVI_KAFKA_SASL_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SECRETS_DIR, str(tmp_path))
    (tmp_path / "GVI_KAFKA_SASL_PASSWORD").write_text("invented-password\n", "utf-8")
    (tmp_path / "GVI_TEST_SIGNING_A").write_text("whsec_aW52ZW50ZWQ=", "utf-8")
    (tmp_path / "ca.crt").write_text("not a setting: ignored", "utf-8")
    return tmp_path


def test_a_secret_setting_is_read_from_its_file(folder: Path) -> None:
    settings = Settings(
        broker_url="kafka://127.0.0.1:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="police",
    )
    assert settings.secrets_dir == folder
    assert settings.kafka.password == "invented-password", "the file's line end is not kept"
    assert "invented-password" not in repr(settings)


def test_the_environment_wins_over_a_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVI_KAFKA_SASL_PASSWORD", "from-the-environment")
    settings = Settings(
        broker_url="kafka://127.0.0.1:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="police",
    )
    assert settings.kafka.password == "from-the-environment"


def test_webhook_signing_secrets_are_read_from_files_named_as_their_variables(
    folder: Path,
) -> None:
    read = secrets_named(["GVI_TEST_SIGNING_A", "GVI_TEST_SIGNING_B"])
    secret = read["GVI_TEST_SIGNING_A"]
    assert secret is not None and secret.get_secret_value() == "whsec_aW52ZW50ZWQ="
    assert read["GVI_TEST_SIGNING_B"] is None


def test_a_folder_that_is_not_there_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRETS_DIR, str(tmp_path / "not-mounted"))
    with pytest.raises(SecretsFolderMissing, match="not-mounted is not a folder"):
        Settings()
    run = subprocess.run(
        [sys.executable, "-m", "workers.cli", "topics"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 78, run.stderr
    missing = tmp_path / "not-mounted"
    assert run.stderr.strip().splitlines() == [
        f"gvi-sanctions: the GVI_ settings: {SECRETS_DIR}={missing} is not a folder"
    ]
