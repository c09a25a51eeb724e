"""Logs never carry the narrative, person refs or tokens (worker and gateway alike)."""

import io
import json

import structlog

from workers.logs import REDACTED, redact_sensitive

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
