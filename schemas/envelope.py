"""JSON-RPC 2.0 messages (and CloudEvents 1.0 on input), read without binary floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: JSON numbers with a fraction or exponent become Decimal from their own digits, never a float.
_JSON = msgspec.json.Decoder(float_hook=Decimal)


def decode_json(value: bytes | None) -> Any:
    """One JSON document from bytes, amounts as Decimal; msgspec.DecodeError if it is not."""
    return _JSON.decode(value or b"")

#: The header on every message this service publishes, naming it: its own messages are
#: recognised before they are read.
PRODUCER_HEADER = "x-producer"


class JsonRpcRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int = Field(description="Unique per message; consumers dedupe on it")
    method: str = Field(description="The MCOM method; also the default topic name")
    params: dict[str, Any] = Field(default_factory=dict)


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: str
    type: str = Field(description="Read as the JSON-RPC method")
    source: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class WireError(Exception):
    """A message that cannot be read; it goes to the dead-letter topic with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    method: str
    params: dict[str, Any]


def read_envelope(value: bytes | None) -> Envelope:
    """Accept a JSON-RPC 2.0 request or a structured CloudEvent; amounts become Decimal."""
    try:
        document = decode_json(value)
    # msgspec.DecodeError is a ValueError; also: nested too deep, a 5,000-digit number
    except (ValueError, RecursionError) as error:
        raise WireError("MALFORMED_JSON", f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise WireError("INVALID_ENVELOPE", "a message must be a JSON object")
    try:
        if "specversion" in document:
            event = CloudEvent.model_validate(document)
            return Envelope(event.id, event.type, event.data)
        request = JsonRpcRequest.model_validate(document)
    except ValidationError as error:
        raise WireError("INVALID_ENVELOPE", describe(error)) from None
    return Envelope(str(request.id), request.method, request.params)


def describe(error: ValidationError) -> str:
    """One line naming each bad field by its path."""
    parts = []
    for item in error.errors(include_url=False):
        path = ".".join(str(piece) for piece in item["loc"]) or "(root)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)
