"""Bulk appeasement routes: translate, call the service layer, map the result."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from schemas.bulk import BulkOut, BulkRequest, BulkSummaryOut
from service.entrypoints.appeasement_routes import CallerDep, Id, Reader
from service.entrypoints.problems import problem_responses
from service.service_layer.bulk import Bulks
from service.service_layer.bulk_views import bulk_csv

router = APIRouter(tags=["bulk appeasements"])
CSV = "text/csv"


async def bulks(request: Request) -> Bulks:
    return request.app.state.service.bulks


BulksDep = Annotated[Bulks, Depends(bulks)]


def wants_csv(request: Request, format: str | None) -> bool:
    """CSV when asked by `format=csv` or by the Accept header."""
    return format == "csv" or CSV in request.headers.get("accept", "")


@router.post(
    "/v1/bulk-appeasements",
    response_model=BulkOut,
    status_code=201,
    responses=problem_responses(body=True),
    summary="Select orders and dry-run one request shape on each; nothing is granted yet",
)
async def create(body: BulkRequest, who: CallerDep, service: BulksDep) -> BulkOut:
    return await service.create(body, who)


@router.get(
    "/v1/bulk-appeasements",
    response_model=list[BulkSummaryOut],
    responses=problem_responses(),
    summary="The latest bulk appeasements with their progress",
)
async def recent(_: Reader, service: BulksDep) -> list[BulkSummaryOut]:
    return await service.recent()


@router.get(
    "/v1/bulk-appeasements/{bulk_id}",
    response_model=BulkOut,
    responses={**problem_responses(404), 200: {"content": {CSV: {}}, "description":
               "Progress and per-order results; text/csv (Accept or format=csv): one row "
               "per order"}},
    summary="Progress (done, granted, held, refused by code) and per-order results",
)
async def one(
    bulk_id: Id, request: Request, _: Reader, service: BulksDep, format: Literal["json", "csv"] | None = None
) -> BulkOut | Response:
    bulk = await service.get(bulk_id)
    if wants_csv(request, format):
        return Response(bulk_csv(bulk), media_type=CSV, headers={
            "Content-Disposition": f'attachment; filename="{bulk.id}.csv"'})
    return bulk


@router.post(
    "/v1/bulk-appeasements/{bulk_id}/run",
    response_model=BulkOut,
    responses=problem_responses(404),
    summary="Grant one appeasement per order, in the background, as the caller",
)
async def run(bulk_id: Id, who: CallerDep, service: BulksDep) -> BulkOut:
    return await service.run(bulk_id, who)


@router.post(
    "/v1/bulk-appeasements/{bulk_id}/cancel",
    response_model=BulkOut,
    responses=problem_responses(404),
    summary="Stop: orders not granted yet never will be; grants made stay",
)
async def cancel(bulk_id: Id, who: CallerDep, service: BulksDep) -> BulkOut:
    return await service.cancel(bulk_id, who)
