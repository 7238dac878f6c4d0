"""HTTP routes of 免申即享: business data, the eligibility rules, matching runs and the grants."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.pagination import CursorQuery, LimitQuery, Page
from matters.schemas import BenefitGrantView, BenefitRulesView, BenefitRunReport, BusinessImportReport
from matters.service import benefits as service

router = APIRouter(tags=["benefits"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

Ops = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
OpsReader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]
MAX_IMPORT_LINES = 5000


@router.post("/v1/benefits/businesses", dependencies=[needs_scope("matters:admin")],
             summary="Import registered businesses with their licences (create or update)",
             description="A JSON list; every line is checked on its own (the USCC with its check character) and "
                         "the report says for each whether it was created, updated or rejected and why.",
             responses={422: PROBLEM_RESPONSES[422]})
async def import_businesses(database: DatabaseDep, _: Ops,
                            lines: Annotated[list[Any], Body(min_length=1, max_length=MAX_IMPORT_LINES)]) -> BusinessImportReport:
    return await service.import_businesses(database, lines)


@router.get("/v1/benefits/vehicle-washing/rules", dependencies=[needs_scope("matters:read")],
            summary="The eligibility rules of the vehicle-washing filing, with their version")
async def vehicle_washing_rules(_: CurrentPrincipal) -> BenefitRulesView:
    return service.rules_view(service.VEHICLE_WASHING)


@router.post("/v1/benefits/vehicle-washing/runs", dependencies=[needs_scope("matters:admin")],
             summary="Match the registered businesses and file and complete the filing of each eligible one not yet granted",
             description="Safe to repeat and to run concurrently: a business is granted at most once.")
async def run_vehicle_washing(database: DatabaseDep, _: Ops) -> BenefitRunReport:
    return await service.run(database, service.VEHICLE_WASHING)


@router.get("/v1/benefits/vehicle-washing/grants", dependencies=[needs_scope("ops:read")],
            summary="Businesses granted the vehicle-washing filing, newest first")
async def vehicle_washing_grants(session: SessionDep, _: OpsReader, limit: LimitQuery = 20,
                                 cursor: CursorQuery = None) -> Page[BenefitGrantView]:
    return await service.list_grants(session, service.VEHICLE_WASHING, limit=limit, cursor=cursor)
