"""Appeasement routes: read the caller and the body, call the service layer, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.appeasements import (
    AppeasementOut,
    AppeasementRequest,
    DecisionRequest,
    OrderAppeasementsOut,
    PreviewOut,
)
from service.entrypoints.problems import problem_responses
from service.service_layer.appeasements import (
    Appeasements,
    Caller,
    DecideAppeasement,
    GrantAppeasement,
)
from service.service_layer.history import History

router = APIRouter(tags=["appeasements"])


bearer = HTTPBearer(auto_error=False, description="A token of the tokens file, or a JWT")


async def caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Caller:
    """The caller named by the bearer token: a 401 problem without a valid one."""
    identity = await request.app.state.service.authenticator.identify_async(
        request.headers.get("authorization")
    )
    return Caller(user=identity.user, role=identity.role)


async def appeasements(request: Request) -> Appeasements:
    return request.app.state.service.appeasements


CallerDep = Annotated[Caller, Depends(caller)]
#: An id in a path: printable, at most 200 characters.
Id = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
AppeasementsDep = Annotated[Appeasements, Depends(appeasements)]


async def history(request: Request) -> History:
    return request.app.state.service.history


HistoryDep = Annotated[History, Depends(history)]


def _allowed_to(action: str) -> Callable[[Request, Caller], Awaitable[Caller]]:
    """The caller, when the policy lets the caller's role do `action`: else 403 FORBIDDEN."""

    async def check(request: Request, who: CallerDep) -> Caller:
        request.app.state.service.policy.check_may(who.role, action)
        return who

    return check


#: Reads and claims are checked here; grants and decisions by their use case, which audits
#: a refusal and answers it on the command topic too.
Reader = Annotated[Caller, Depends(_allowed_to("read"))]
ClaimHandler = Annotated[Caller, Depends(_allowed_to("claims"))]


@router.post(
    "/v1/orders/{order_id}/appeasements/preview",
    response_model=PreviewOut,
    responses=problem_responses(404, body=True),
    summary="The full allocation of a request; nothing is stored",
)
async def preview(
    order_id: Id, body: AppeasementRequest, who: CallerDep, service: AppeasementsDep
) -> PreviewOut:
    return await service.preview(order_id, body, who)


@router.post(
    "/v1/orders/{order_id}/appeasements",
    response_model=AppeasementOut,
    status_code=201,
    responses={
        200: {"model": AppeasementOut, "description": "A replay: the first answer, unchanged"},
        **problem_responses(404, 409, body=True),
    },
    summary="Grant an appeasement (Idempotency-Key required)",
)
async def grant(
    order_id: Id,
    body: AppeasementRequest,
    who: CallerDep,
    service: AppeasementsDep,
    idempotency_key: Annotated[
        str, Header(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                    description="Same key, same request: replay")
    ],
) -> JSONResponse:
    granted = await service.grant(
        GrantAppeasement(
            order_id=order_id, request=body, caller=who, channel="http",
            idempotency_key=idempotency_key,
        )
    )
    return JSONResponse(granted.appeasement, status_code=200 if granted.replayed else 201)


@router.get(
    "/v1/orders/{order_id}/appeasements",
    response_model=OrderAppeasementsOut,
    responses=problem_responses(404),
    summary="The order's appeasements with their transitions, and refused commands",
)
async def for_order(order_id: Id, _: Reader, service: HistoryDep) -> OrderAppeasementsOut:
    return await service.for_order(order_id)


@router.get(
    "/v1/appeasements/{appeasement_id}",
    response_model=AppeasementOut,
    responses=problem_responses(404),
    summary="One appeasement, its allocation and transitions",
)
async def one(appeasement_id: Id, _: Reader, service: HistoryDep) -> AppeasementOut:
    return await service.get(appeasement_id)


@router.post(
    "/v1/appeasements/{appeasement_id}/approve",
    response_model=AppeasementOut,
    responses=problem_responses(404, body=True),
    summary="Approve a held appeasement (four eyes): it becomes PENDINGRELEASE",
)
async def approve(
    appeasement_id: Id, who: CallerDep, service: AppeasementsDep,
    body: DecisionRequest | None = None,
) -> JSONResponse:
    return await _decide(service, appeasement_id, "approve", who, body)


@router.post(
    "/v1/appeasements/{appeasement_id}/decline",
    response_model=AppeasementOut,
    responses=problem_responses(404, body=True),
    summary="Decline a held appeasement: it becomes DECLINED and its money creditable again",
)
async def decline(
    appeasement_id: Id, who: CallerDep, service: AppeasementsDep,
    body: DecisionRequest | None = None,
) -> JSONResponse:
    return await _decide(service, appeasement_id, "decline", who, body)


async def _decide(
    service: Appeasements, appeasement_id: str, decision: Literal["approve", "decline"],
    who: Caller, body: DecisionRequest | None,
) -> JSONResponse:
    decided = await service.decide(DecideAppeasement(
        appeasement_id, decision, who, comment=body.comment if body else None,
    ))
    return JSONResponse(decided)
