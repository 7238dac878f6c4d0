"""Route of the measured reports (JSON or CSV)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from helpdesk.api.deps import ERROR_RESPONSES
from helpdesk.service import reports as service
from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep
from kit.openapi import business_rules
from kit.params import IsoDate

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR, Role.HELPDESK_AGENT))]


@router.get("/v1/helpdesk/reports", dependencies=[needs_scope("helpdesk:read")],
            openapi_extra=business_rules((422, "the period is 1–366 days within the years 2000–2100, `to` not before `from`")),
            summary="Measured figures of every promise for a period (JSON, or CSV)",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def report(request: Request, database: DatabaseDep, principal: Reader,
                 start: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai), default: 1st of this month")] = None,
                 end: Annotated[IsoDate | None, Query(alias="to", description="Last day, inclusive, default: today")] = None,
                 group_by: Literal["none", "matter", "department", "agent"] = "none",
                 format: Literal["json", "csv"] | None = None) -> Any:
    figures = await service.build_report(database, start, end, group_by)
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        name = "helpdesk-{from}-{to}.csv".format(**figures)
        return PlainTextResponse(service.report_csv(figures), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return figures
