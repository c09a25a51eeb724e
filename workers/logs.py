"""structlog, configured once: JSON when not on a terminal, readable lines on one; narrative,
person refs and tokens redacted, in structlog's lines and every standard-library record."""

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
    redact_standard_library_records()
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
_ONE = r"(?:narrative|subject_ref|person_ref|password|secret|token)"
_MANY = r"(?:\w*_refs|members|attributions)"
TEXT_PATTERNS = (
    # JSON, also inside a bytes or str repr: "narrative": "…", "focus_person_refs": […]
    (re.compile(rf'("{_ONE}"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)'), r'\1"[redacted]"'),
    (re.compile(rf'("{_MANY}"\s*:\s*)\[[^\]]*(?:\]|$)'), r'\1["[redacted]"]'),
    # a task's subject: {"kind": "member", "ref": "…"} or TaskSubject(kind=…, ref='…')
    (re.compile(r'("subject"\s*:\s*)\{[^}]*(?:\}|$)'), r'\1"[redacted]"'),
    (
        re.compile(r"(['\"]?\bsubject['\"]?\s*[=:]\s*)(?:\w*\([^)]*(?:\)|$)|\{[^}]*(?:\}|$))"),
        r"\1[redacted]",
    ),
    # Python reprs: 'narrative': '…', narrative='…', focus_person_refs=('…',)
    (
        re.compile(
            rf"""(['"]?\b{_ONE}['"]?\s*[=:]\s*)(?:'(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$))"""
        ),
        r"\1'[redacted]'",
    ),
    (re.compile(rf"""(['"]?\b{_MANY}['"]?\s*[=:]\s*)[\[(][^\])]*(?:[\])]|$)"""), r"\1[redacted]"),
    # pydantic's errors repeat the offending input
    (
        re.compile(r"(input_value=)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s]+)"),
        r"\1[redacted]",
    ),
    (TOKEN_TEXT, REDACTED),
)


def redact_text(text: str) -> str:
    """Free text (a library's log message, a traceback) with every narrative, person ref,
    secret and token it holds as JSON or a Python repr replaced."""
    for pattern, replacement in TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def route_standard_library_logs(level: str) -> None:
    """For a process without faust (the gateway, the CLI): the standard library's records
    (aiokafka, uvicorn) go to stderr at the same level, redacted like everything else."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.getLevelName(level.upper()))


def redact_standard_library_records() -> None:
    """Every record of every standard-library logger (faust, mode, aiokafka, uvicorn) is
    redacted as it is made, at every level, its traceback included: whatever handler or
    formatter a library installs then prints only the redacted text."""
    if getattr(logging.getLogRecordFactory(), "redacting", False):
        return
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    redacted_record.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacted_record)


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
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(key, item) for item in value]
    return value
