"""Report routes, and what the back office asks about its caller and the approvals queue."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from schemas.api import CallerOut, ReasonOut
from schemas.appeasements import AppeasementOut
from schemas.reports import GroupBy, ReportOut
from service.entrypoints.appeasement_routes import CallerDep, HistoryDep, Reader
from service.entrypoints.bulk_routes import CSV, wants_csv
from service.entrypoints.problems import problem_responses
from service.service_layer.reports import Reports, report_csv

router = APIRouter()


async def reports(request: Request) -> Reports:
    return request.app.state.service.reports


ReportsDep = Annotated[Reports, Depends(reports)]


@router.get(
    "/v1/reports/appeasements",
    response_model=ReportOut,
    responses={**problem_responses(), 200: {"content": {CSV: {}}, "description":
               "The report; text/csv (Accept or format=csv): one row per group, then totals"}},
    tags=["reports"],
    summary="Counts and sums (gross, net, tax), refusals by code, approval rate and time",
)
async def appeasements_report(
    request: Request, _: Reader, service: ReportsDep,
    from_: Annotated[date | None, Query(alias="from", description="First day (UTC)")] = None,
    to: Annotated[date | None, Query(description="Last day, inclusive (UTC)")] = None,
    group_by: GroupBy = "reason",
    currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")] = None,
    format: Literal["json", "csv"] | None = None,
) -> ReportOut | Response:
    report = await service.appeasements(from_, to, group_by, currency)
    if wants_csv(request, format):
        return Response(report_csv(report), media_type=CSV, headers={
            "Content-Disposition": 'attachment; filename="appeasements-report.csv"'})
    return report


@router.get(
    "/v1/me", response_model=CallerOut, responses=problem_responses(), tags=["back office"],
    summary="Who the token names, what the role may do, and the reasons it may give",
)
async def me(request: Request, who: CallerDep) -> CallerOut:
    policy = request.app.state.service.policy
    role = policy.role(who.role)
    may = [action for action, roles in sorted(policy.access.items()) if who.role in roles]
    return CallerOut(
        user=who.user, role=who.role, may=may,
        max_per_appeasement=_text(role.max_per_appeasement),
        max_per_order=_text(role.max_per_order), above_limit=role.above_limit,
        reasons=[
            ReasonOut(code=r.code, label=r.label, buckets=sorted(r.buckets))
            for r in policy.reasons.values()
        ],
    )


@router.get(
    "/v1/approvals", response_model=list[AppeasementOut], responses=problem_responses(),
    tags=["appeasements"], summary="Appeasements held for approval, oldest first",
)
async def approvals(request: Request, who: CallerDep, service: HistoryDep) -> list[AppeasementOut]:
    request.app.state.service.policy.check_may(who.role, "approve")
    return await service.held()


def _text(value: object) -> str | None:
    return None if value is None else str(value)

