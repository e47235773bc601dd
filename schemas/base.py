"""Shared building blocks of the wire models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _no_float(value: Any) -> Any:
    """MCOM sends JSON numbers; they must reach us as Decimal, never through binary float."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


#: An MCOM amount: a JSON number (read as Decimal) or a numeric string.
McomAmount = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False),
]


class McomStruct(BaseModel):
    """MCOM structs are extensible: unknown fields are kept, never fatal."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CustomAttribute(McomStruct):
    name: str
    value: Any = None
