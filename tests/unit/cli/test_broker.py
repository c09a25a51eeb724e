"""A command that talks to Kafka, run without a broker named, says so in one line (exit 2)."""

import pytest

from workers.cli.main import main


@pytest.mark.parametrize(
    ("arguments", "example"),
    [
        (["tail", "completion"], "kafka://127.0.0.1:9092"),
        (["report", "--from", "2026-11-01", "--to", "2026-11-30"], "kafka://127.0.0.1:9092"),
        (["topics", "--apply"], "kafka://kafka-1:9092"),
        (["acls", "--apply"], "kafka://127.0.0.1:9092"),
    ],
)
def test_no_broker_is_one_line_and_exit_2(
    arguments: list[str],
    example: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GVI_BROKER_URL", raising=False)
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error == f"gvi-sanctions {arguments[0]}: set GVI_BROKER_URL (e.g. {example})\n"
