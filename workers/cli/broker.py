"""What every command that talks to Kafka needs first: the settings, with a broker named."""

from workers.settings import Settings

EXIT_USAGE = 2


class NoBroker(Exception):
    """A command that talks to Kafka was run without `GVI_BROKER_URL`."""

    exit_code = EXIT_USAGE

    def __init__(self, example: str = "kafka://127.0.0.1:9092") -> None:
        super().__init__(f"set GVI_BROKER_URL (e.g. {example})")


def broker_settings(example: str = "kafka://127.0.0.1:9092") -> Settings:
    """The settings; raises NoBroker (answered by `main` in one line) when no broker is set."""
    settings = Settings()
    if settings.broker_url is None:
        raise NoBroker(example)
    return settings
