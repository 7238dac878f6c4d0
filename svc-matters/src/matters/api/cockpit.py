"""HTTP route of the data cockpit (数据驾驶舱): JSON for front-ends, CSV for Excel."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, Response

from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from kit.params import IsoDate
from matters.service import cockpit as service
from matters.service.cockpit import Cockpit, CockpitSeries

router = APIRouter(tags=["cockpit"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

# Ops and inspectors see every department; officers and reviewers their own department's matters.
Staff = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR, Role.WINDOW_OFFICER, Role.REVIEWER))]


MatterCode = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="Matter code")]


@router.get("/v1/cockpit", dependencies=[needs_scope("applications:read")],
            openapi_extra=business_rules((422, "`from` is not after `to`, the period spans at most 366 days within the years 2000–2100")),
            summary="Per matter and period: received, accepted, rates, time per stage, backlog, overdue",
            description=(service.__doc__ or "").split("\n\n", 1)[-1] + "\nCSV (UTF-8 with BOM) with "
                        "`Accept: text/csv` or `?format=csv`.",
            response_model=Cockpit, response_model_by_alias=True,
            responses={200: {"content": {"text/csv": {}}}, 404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def get_cockpit(
    session: SessionDep, principal: Staff,
    matter: MatterCode = None,
    from_date: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai), default: 1st of this month")] = None,
    to_date: Annotated[IsoDate | None, Query(alias="to", description="Last day (Asia/Shanghai), default: today")] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="Overrides the Accept header")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    report = await service.cockpit(session, principal, matter_code=matter, from_date=from_date, to_date=to_date)
    if format == "csv" or (format is None and accept is not None and "text/csv" in accept.lower()):
        name = f"cockpit-{matter or 'all'}-{report.from_date.isoformat()}-{report.to_date.isoformat()}.csv"
        return Response(service.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Vary": "Accept"})
    return JSONResponse(report.model_dump(mode="json", by_alias=True), headers={"Vary": "Accept"})


@router.get("/v1/cockpit/series", dependencies=[needs_scope("applications:read")],
            openapi_extra=business_rules((422, "`from` is not after `to`, the period spans at most 366 days within the years 2000–2100")),
            summary="The cockpit over time: per day or week, received, accepted, decided, overdue, time per stage",
            description=(service.series.__doc__ or "") + "\n\nOps and inspectors see every department; officers and "
                        "reviewers their own department's matters (scope `applications:read`). Every bucket of the "
                        "period is listed, empty ones with zeros.",
            response_model_by_alias=True, responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def get_cockpit_series(
    session: SessionDep, principal: Staff, matter: MatterCode = None,
    from_date: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai), default: 1st of this month")] = None,
    to_date: Annotated[IsoDate | None, Query(alias="to", description="Last day (Asia/Shanghai), default: today")] = None,
    interval: Annotated[Literal["day", "week"], Query(description="One bucket per day, or per week (Monday to Sunday)")] = "day",
) -> CockpitSeries:
    return await service.series(session, principal, matter_code=matter, from_date=from_date, to_date=to_date,
                                interval=interval)
