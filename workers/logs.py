"""structlog, configured once: JSON when not on a terminal, readable lines on one."""

import logging
import sys

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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
