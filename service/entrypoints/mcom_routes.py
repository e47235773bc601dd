"""MCOM's integration bus delivers JSON-RPC 2.0 over HTTP here: check its shared secret,
hand the bytes to the ingress, render its answer as a JSON-RPC response.

No `from __future__ import annotations` here: the route's annotation names a local object.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer

from schemas.commands import RpcError, RpcErrorData, RpcResponse
from schemas.envelope import JsonRpcRequest
from service.entrypoints.problems import problem, problem_response, problem_responses
from service.service_layer.answers import Answer
from service.service_layer.mcom_ingress import Delivery
from service.service_layer.refusals import rpc_error
from service.settings import Settings

#: Dead-letter codes as JSON-RPC 2.0's own error codes and messages.
RPC_ERRORS = {
    "MALFORMED_JSON": (-32700, "Parse error"),
    "INVALID_ENVELOPE": (-32600, "Invalid Request"),
    "UNKNOWN_METHOD": (-32601, "Method not found"),
    "SCHEMA_VALIDATION": (-32602, "Invalid params"),
    "UNKNOWN_CURRENCY": (-32602, "Invalid params"),
}
INTERNAL_ERROR = (-32603, "Internal error")


def router_for(settings: Settings) -> APIRouter:
    """The route at MCOM_PATH; the OpenAPI document names the header that carries the secret."""
    router = APIRouter(tags=["mcom"])
    header, scheme = settings.mcom_auth_header, settings.mcom_auth_scheme
    about = ("The secret registered with MCOM for this URL (MCOM_SHARED_SECRET), in "
             f"`{header}: {scheme + ' ' if scheme else ''}<secret>`")
    secret_scheme: HTTPBearer | APIKeyHeader = (
        HTTPBearer(auto_error=False, scheme_name="McomSharedSecret", description=about)
        if header.lower() == "authorization" and scheme.lower() == "bearer"
        else APIKeyHeader(name=header, auto_error=False, scheme_name="McomSharedSecret",
                          description=about)
    )
    responses: dict[int | str, dict[str, Any]] = {
        status: response for status, response in problem_responses(404).items()
        if status not in (403, 422)
    }
    responses[204] = {"description": "A notification (no `id`): no response, per JSON-RPC 2.0"}

    @router.post(
        settings.mcom_path,
        response_model=RpcResponse,
        responses=responses,
        summary="MCOM's integration bus: one JSON-RPC 2.0 message per request",
        description="Handled like a record of the method's topic (same inbox, dead letters "
        "and replies). 200 with a JSON-RPC response; 401 without the shared secret; 404 "
        "while no MCOM_SHARED_SECRET is configured; 503 DATABASE_UNAVAILABLE: nothing was "
        "written, deliver again.",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": JsonRpcRequest.model_json_schema()}
        }}},
    )
    async def mcom(
        request: Request, _: Annotated[Any, Security(secret_scheme)] = None
    ) -> Response:
        service = request.app.state.service
        secret = service.mcom_secret
        if secret is None:
            return problem_response(problem(404, "NOT_FOUND", "no such route"), request)
        if not secret.admits(request.headers.get(secret.header)):
            return problem_response(
                problem(401, "UNAUTHENTICATED", "no or a wrong MCOM shared secret"), request,
                {"WWW-Authenticate": secret.scheme} if secret.scheme else None,
            )
        delivery = await service.mcom.deliver(await request.body())
        if delivery.notification:
            return Response(status_code=204)
        return JSONResponse(rpc_response(delivery))

    return router


def rpc_response(delivery: Delivery) -> dict[str, Any]:
    """The JSON-RPC 2.0 response: `result`, or `error` with our code in `data.code`."""
    answer = delivery.answer
    response = RpcResponse(id=delivery.request_id, result=answer.result, error=_error(answer))
    body = response.model_dump(mode="json", exclude_none=True)
    body["id"] = delivery.request_id  # null stays null
    return body


def _error(answer: Answer) -> RpcError | None:
    if answer.refusal is not None:
        return rpc_error(answer.refusal)
    letter = answer.letter
    if letter is None:
        return None
    code, message = RPC_ERRORS.get(letter.code, INTERNAL_ERROR)
    # a defect's own words stay in the log and the dead letter
    reason = letter.message if letter.code in RPC_ERRORS else "the message could not be applied"
    return RpcError(code=code, message=message, data=RpcErrorData(
        code=letter.code, reason=reason, dead_letter=letter.letter_id,
    ))
