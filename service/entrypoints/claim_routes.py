"""Claim routes: translate, call the service layer, map the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from schemas.appeasements import ClaimOut, ClaimRequest, CloseClaimRequest
from service.entrypoints.appeasement_routes import ClaimHandler, Id, Reader
from service.entrypoints.problems import problem_responses
from service.service_layer.claims import Claims

router = APIRouter(tags=["claims"])


async def claims(request: Request) -> Claims:
    return request.app.state.service.claims


ClaimsDep = Annotated[Claims, Depends(claims)]


@router.post(
    "/v1/orders/{order_id}/claims",
    response_model=ClaimOut,
    status_code=201,
    responses=problem_responses(404, body=True),
    summary="Open a claim (reclamation) on an order: all its lines or some",
)
async def open_claim(
    order_id: Id, body: ClaimRequest, who: ClaimHandler, service: ClaimsDep
) -> ClaimOut:
    return await service.open(order_id, body, who.user)


@router.get(
    "/v1/orders/{order_id}/claims",
    response_model=list[ClaimOut],
    responses=problem_responses(404),
    summary="The order's claims, each with its appeasements and their statuses",
)
async def order_claims(order_id: Id, _: Reader, service: ClaimsDep) -> list[ClaimOut]:
    return await service.for_order(order_id)


@router.post(
    "/v1/claims/{claim_id}/close",
    response_model=ClaimOut,
    responses=problem_responses(404, body=True),
    summary="Close a claim for good: it takes no new appeasement and cannot be reopened",
)
async def close_claim(
    claim_id: Id, who: ClaimHandler, service: ClaimsDep, body: CloseClaimRequest | None = None
) -> ClaimOut:
    return await service.close(claim_id, who.user, body.comment if body else None)
