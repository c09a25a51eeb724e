"""Shared building blocks of the wire contracts: the base model and constrained field types."""

from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

SCHEMA_VERSION: Literal[1] = 1


class WireEnum(StrEnum):
    """An enumeration of the contracts, a string on the wire."""

    @property
    def value(self) -> str:
        """The member's string, as `Enum.value` gives it: pydantic reads this for every member it
        encodes, and the enum module's own descriptor takes two Python calls (Python 3.11)."""
        return self._value_


IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
RECIPIENT_PATTERN = r"^[a-z0-9][a-z0-9\-]*$"

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)
]
"""An opaque id: incident, group, source system, agency; no spaces, at most 128 characters."""

PersonRef = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)
]
"""A pseudonymous person reference; never a name or a personal identity number."""

RecipientId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=RECIPIENT_PATTERN)
]
"""A recipient of tasks as the policy names it, e.g. `skatteverket`."""

FlagName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Narrative = Annotated[str, StringConstraints(max_length=20000)]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


OUT_OF_BOUNDS = "must lie in the years 2000 to 2099 (with a time zone)"

Timestamp = Annotated[
    AwareDatetime,
    Field(
        ge=EARLIEST,
        lt=LATEST,
        description="RFC 3339 date-time with a time zone, in the years 2000 to 2099",
    ),
]
"""A moment with its time zone. Bounded so that every deadline computed from it stays a date
(pydantic-core's own bounds: a third of the cost of a validator in Python, on every one of the
70 timestamps an incident's records carry)."""


class Contract(BaseModel):
    """Base of every wire contract: immutable, unknown fields rejected, versioned."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        str_strip_whitespace=False,
        use_enum_values=False,
        validate_default=True,
    )

    schema_version: Literal[1] = SCHEMA_VERSION


IMMUTABLE_DEFAULTS = (type(None), str, int, float, bool, Enum, tuple, frozenset, datetime, UUID)
Model = TypeVar("Model", bound=BaseModel)
_BLANK: dict[type[BaseModel], tuple[BaseModel, frozenset[str], frozenset[str]]] = {}
_PLAIN: dict[type[BaseModel], frozenset[str]] = {}
_set_attribute = object.__setattr__


def built(model: type[Model], **fields: Any) -> Model:
    """A record made from values taken from validated records, not validated again: what
    `model.model_construct(**fields)` makes (these fields set, the defaults for the rest, the
    fields in their declared order, so the same JSON bytes), from one record of the defaults
    per model, at about a quarter of its cost. A required field left out or a name the model
    does not have is refused (`model_construct` would leave the one out and drop the other
    without a word)."""
    known = _BLANK.get(model)
    if known is None:
        known = _BLANK[model] = _blank(model)
    blank, names, required = known
    if not required <= fields.keys() <= names:
        missing, unknown = sorted(required - fields.keys()), sorted(fields.keys() - names)
        raise TypeError(f"{model.__name__}: missing {missing}, unknown {unknown}")
    return _made(model, {**blank.__dict__, **fields}, set(fields))


def amended(record: Model, **fields: Any) -> Model:
    """A copy of `record` with `fields` replaced by values taken from validated records, not
    validated again: what `record.model_copy(update=fields)` makes, at 80–90 % of its cost
    (the whole gain of `built`, about 60 %, comes from the same construction). A name the
    model does not have is refused (`model_copy` would put it in the record)."""
    model = type(record)
    names = _PLAIN.get(model)
    if names is None:
        names = _PLAIN[model] = _plain_fields(model)
    if not fields.keys() <= names:
        raise TypeError(f"{model.__name__}: unknown {sorted(fields.keys() - names)}")
    return _made(
        model, {**record.__dict__, **fields}, record.__pydantic_fields_set__ | fields.keys()
    )


def _made(model: type[Model], values: dict[str, Any], fields_set: set[str]) -> Model:
    # What pydantic's model_construct and __copy__ set on a model without extra fields,
    # private attributes or model_post_init (`_plain_fields`; canary in tests/unit/contracts).
    record = model.__new__(model)
    _set_attribute(record, "__dict__", values)
    _set_attribute(record, "__pydantic_fields_set__", fields_set)
    _set_attribute(record, "__pydantic_extra__", None)
    _set_attribute(record, "__pydantic_private__", None)
    return record


def _plain_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names of the model's fields, once it is known to hold nothing else."""
    if (
        model.model_config.get("extra") == "allow"
        or model.__private_attributes__
        or model.__pydantic_post_init__ is not None
        or model.__pydantic_root_model__
    ):
        raise TypeError(
            f"{model.__name__}: only a model of plain fields is built without validation"
        )
    return frozenset(model.model_fields)


def _blank(model: type[BaseModel]) -> tuple[BaseModel, frozenset[str], frozenset[str]]:
    """The model's defaults, which its copies share (so only immutable ones are allowed), with
    a place for each required field; the names of its fields; those of the required ones."""
    names = _plain_fields(model)
    required = frozenset(name for name, field in model.model_fields.items() if field.is_required())
    defaults = model.model_construct()
    places = {name: getattr(defaults, name, None) for name in model.model_fields}
    for name, value in places.items():
        if not isinstance(value, IMMUTABLE_DEFAULTS):
            raise TypeError(f"{model.__name__}.{name}: a mutable default cannot be shared")
    return model.model_construct(_fields_set=set(), **places), names, required


def describe_validation_error(error: ValidationError, limit: int = 1500) -> str:
    """A one-line account of a validation error that names every offending field."""
    parts = [f"{field}: {message}" for field, message in offending_fields(error)]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def offending_fields(error: ValidationError) -> list[tuple[str, str]]:
    """Each offending field of a validation error (a dotted path) with what is wrong with it."""
    found = []
    for detail in error.errors(include_url=False):
        location = [str(part) for part in detail["loc"]]
        if location and location[0] in _UNION_TAGS:
            location = location[1:]
        field = ".".join(location) or detail.get("ctx", {}).get("discriminator", "").strip("'")
        found.append((field or "(document)", error_message(detail)))
    return found


_BOUNDS = (("greater_than_equal", "ge", EARLIEST), ("less_than", "lt", LATEST))


def error_message(detail: Any) -> str:
    """The message of one of a validation error's details: pydantic's, or for a timestamp
    outside the years 2000 to 2099, ours."""
    for kind, name, bound in _BOUNDS:
        if detail["type"] == kind and _moment(detail.get("ctx", {}).get(name)) == bound:
            moment = detail.get("input")
            shown = moment.isoformat() if isinstance(moment, datetime) else str(moment)
            return f"{OUT_OF_BOUNDS}, not {shown}"
    return str(detail["msg"])


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


_UNION_TAGS = frozenset({"reported", "corrected", "retracted"})
