"""Logs never carry the narrative, person refs or tokens (worker and gateway alike)."""

import io
import json
import logging

import pytest
import structlog

from workers.logs import REDACTED, redact_sensitive, redact_standard_library_records, redact_text

NARRATIVE = "NARRATIVE-SECRET invented narrative text"
PERSON = "P-INVENTED-77"
TOKEN = "gvi_0123456789ab_" + "S" * 43


def test_a_line_built_with_a_narrative_a_person_ref_and_a_token_prints_none_of_them() -> None:
    printed = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=printed),
        processors=[redact_sensitive, structlog.processors.JSONRenderer()],
    )
    logger.info(
        f"request with Authorization: Bearer {TOKEN}",
        narrative=NARRATIVE,
        focus_person_refs=[PERSON],
        incident={"narrative": NARRATIVE, "group_member_refs": [PERSON], "id": "INC-1"},
        subject_ref=PERSON,
        members=[{"person_ref": PERSON}],
        note=f"token {TOKEN} used",
        task_id="T-1",
    )
    line = printed.getvalue()
    for secret in (NARRATIVE, PERSON, TOKEN):
        assert secret not in line
    logged = json.loads(line)
    assert logged["narrative"] == REDACTED
    assert logged["incident"]["id"] == "INC-1"
    assert logged["task_id"] == "T-1"


@pytest.mark.parametrize(
    "text",
    [
        'Sending b\'{"narrative": "NARRATIVE-SECRET x", "focus_person_refs": ["P-INVENTED-77"]}\'',
        "{'narrative': 'NARRATIVE-SECRET x', 'members': [{'person_ref': 'P-INVENTED-77'}]}",
        "IncidentReported(narrative='NARRATIVE-SECRET x', focus_person_refs=('P-INVENTED-77',))",
        'cut short: {"narrative": "NARRATIVE-SECRET and the rest was not logged',
        "1 validation error [type=too_long, input_value='NARRATIVE-SECRET x', input_type=str]",
        '"subject":{"schema_version":1,"kind":"member","ref":"P-INVENTED-77"}',
        "subject=TaskSubject(kind=<SubjectKind.MEMBER: 'member'>, ref='P-INVENTED-77')",
        f"Authorization: Bearer {TOKEN}",
        f"token {TOKEN}",
    ],
)
def test_free_text_of_any_library_loses_every_narrative_person_ref_and_token(text: str) -> None:
    redacted = redact_text(text)
    for secret in ("NARRATIVE-SECRET", PERSON, TOKEN):
        assert secret not in redacted


def test_standard_library_records_and_their_tracebacks_are_redacted_as_they_are_made() -> None:
    redact_standard_library_records()
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    logger = logging.getLogger("aiokafka.invented")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("fetched %r", {"narrative": NARRATIVE, "focus_person_refs": [PERSON]})
        try:
            raise ValueError(f'bad value {{"narrative": "{NARRATIVE}"}}')
        except ValueError:
            logger.exception("while decoding")
    finally:
        logger.removeHandler(handler)
    output = printed.getvalue()
    assert "fetched" in output and "Traceback" in output and "ValueError" in output
    assert NARRATIVE not in output and PERSON not in output
