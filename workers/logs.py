"""structlog, configured once: JSON when not on a terminal, readable lines on one; narrative,
person refs and tokens redacted."""

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from workers.settings import LogFormat

_configured = False


def configure_logging(level: str = "info", log_format: LogFormat = LogFormat.AUTO) -> None:
    """Configure structlog and the standard library's root logger (faust logs through it)."""
    global _configured
    if _configured:
        return
    _configured = True
    use_json = log_format is LogFormat.JSON or (
        log_format is LogFormat.AUTO and not sys.stderr.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_sensitive,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "narrative",
        "attributions",
        "members",
        "subject_ref",
        "person_ref",
        "token",
        "authorization",
        "secret",
        "password",
    }
)
TOKEN_TEXT = re.compile(r"(gvi_[0-9a-f]{12}_[A-Za-z0-9_-]{43}|(?i:bearer)\s+\S+)")


def redact_sensitive(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the narrative, person refs (any `*_refs` field, members, a
    subject ref) and bearer tokens never reach a log line, at any depth."""
    for key in list(event):
        event[key] = _redacted(key, event[key])
    return event


def _redacted(key: str, value: Any) -> Any:
    name = key.lower()
    if name in SENSITIVE_KEYS or name.endswith("_refs"):
        return REDACTED
    if isinstance(value, str):
        return TOKEN_TEXT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(key, item) for item in value]
    return value
