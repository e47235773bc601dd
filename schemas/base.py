"""Shared building blocks of the wire models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema


class _FiniteDecimal:
    """A finite Decimal, checked inside pydantic-core: MCOM amounts are many per message.
    JSON numbers arrive as Decimal already (schemas.envelope.decode_json); a Python float
    given in code becomes the Decimal of its shortest repr, never of its binary value."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.decimal_schema(allow_inf_nan=False)


#: An MCOM amount: a JSON number (read as Decimal) or a numeric string.
McomAmount = Annotated[Decimal, _FiniteDecimal]


class McomStruct(BaseModel):
    """MCOM structs are extensible: unknown fields are kept, never fatal."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CustomAttribute(McomStruct):
    name: str
    value: Any = None


def _printable(value: str) -> str:
    """No control characters but tab and line breaks: PostgreSQL cannot store NUL, and
    nothing downstream should have to render the rest."""
    if any(ord(char) < 32 and char not in "\t\n\r" for char in value):
        raise ValueError("control characters are not allowed")
    return value


#: What `_printable` lets through, for the JSON Schema.
PRINTABLE = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F]*$"
#: Free text from a person (comments, descriptions): at most 1,000 characters.
FreeText = Annotated[str, Field(max_length=1000, json_schema_extra={"pattern": PRINTABLE}),
                     AfterValidator(_printable)]
#: A reference, code or name: at most 200 characters.
Reference = Annotated[str, Field(min_length=1, max_length=200,
                                 json_schema_extra={"pattern": PRINTABLE}),
                      AfterValidator(_printable)]


def _json_integer(value: Any) -> Any:
    """A JSON integer (5 or 5.0), never a string or a boolean coerced into one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


def json_int(minimum: int, maximum: int) -> Any:
    """An integer of a request body as JSON Schema's `integer` means it, within bounds (the
    bounds come first: after the validator pydantic would not render them as JSON Schema)."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_json_integer)]


#: How many lines one request may name.
MAX_LINES = 500
