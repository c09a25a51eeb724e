"""The core's name-based ids are the standard library's uuid5."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from workers.core.ids import uuid5
from workers.core.outputs import AUDIT_NAMESPACE
from workers.core.planner import TASK_ID_NAMESPACE


@given(
    namespace=st.sampled_from([TASK_ID_NAMESPACE, AUDIT_NAMESPACE, uuid.NAMESPACE_URL]),
    name=st.text(),
)
def test_uuid5_is_the_standard_librarys(namespace: uuid.UUID, name: str) -> None:
    made = uuid5(namespace, name)
    expected = uuid.uuid5(namespace, name)
    assert made == expected and str(made) == str(expected)
    assert made.version == 5 and made.variant == uuid.RFC_4122


def test_a_known_task_id_is_unchanged() -> None:
    name = "\x1f".join(("INC-1", "rule-a", "action", "G-1", "P-AAA1"))
    assert str(uuid5(TASK_ID_NAMESPACE, name)) == str(uuid.uuid5(TASK_ID_NAMESPACE, name))
    assert str(uuid5(uuid.NAMESPACE_DNS, "python.org")) == "886313e1-3b8a-5372-9b90-0c9aee199e5d"
