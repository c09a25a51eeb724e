"""Codecs between contracts and Kafka bytes; decoding failures become typed rejections."""

import functools
import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.common import describe_validation_error, offending_fields
from schemas.rejection import Refused, RejectionCode

Model = TypeVar("Model", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    """The JSON bytes of a contract; None fields of a recipient view are left out. The same
    bytes as `model.model_dump_json(exclude_none=True).encode()`, from the model's serializer
    (`BaseModel.__pydantic_serializer__`), without the text made and encoded again in
    between: 1.2–1.7 µs less per record, about 50 records per incident."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True)


class DuplicateKey(ValueError):
    """A JSON object names one key twice; which value counts would depend on the reader."""


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise DuplicateKey(f"a JSON object names {', '.join(map(repr, repeated[:5]))} twice")
    return dict(pairs)


def decode_with(adapter: TypeAdapter[Model], raw: bytes | None, *, outside: bool = True) -> Model:
    """Decode JSON bytes with a type adapter in strict mode, or raise Refused naming what is wrong.

    Strict as the published JSON Schemas are: no bool for a number, no number for a timestamp,
    no string for a number; an object that names a key twice is refused. The worker's own
    internal messages (`outside=False`) skip that second parse: its encoder never repeats a key.
    """
    if raw is None or raw == b"":
        raise Refused("the message has no value", RejectionCode.MALFORMED_JSON)
    try:
        if outside:
            json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    except DuplicateKey as duplicate:
        raise Refused(f"not valid JSON: {duplicate}", RejectionCode.MALFORMED_JSON) from None
    except (ValueError, RecursionError):
        pass  # pydantic names the JSON error below, with its position
    try:
        return adapter.validate_json(raw, strict=True)
    except ValidationError as error:
        if any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise Refused(
                f"not valid JSON: {error.errors()[0]['msg']}", RejectionCode.MALFORMED_JSON
            ) from None
        fields = tuple(dict.fromkeys(field for field, _ in offending_fields(error)))
        raise Refused(
            describe_validation_error(error), RejectionCode.SCHEMA_VIOLATION, fields
        ) from None


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def decode(model: type[Model], raw: bytes | None) -> Model:
    """Decode an outside system's JSON bytes as `model`, or raise Refused."""
    decoded: Model = decode_with(_adapter(model), raw)
    return decoded


def decode_internal(model: type[Model], raw: bytes | None) -> Model:
    """Decode one of the worker's own internal messages as `model`, or raise Refused."""
    decoded: Model = decode_with(_adapter(model), raw, outside=False)
    return decoded


def key_text(key: bytes | str | None) -> str | None:
    """A message key as text, for checks and for the rejection record."""
    if key is None:
        return None
    if isinstance(key, str):
        return key
    return key.decode("utf-8", errors="replace")


def require_key(key: bytes | str | None, expected: str) -> None:
    """Reject a message whose key is not the id its value names."""
    actual = key_text(key)
    if actual != expected:
        raise Refused(
            f"the message key {actual!r} is not the id its value names ({expected!r})",
            RejectionCode.KEY_MISMATCH,
        )
