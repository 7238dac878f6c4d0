"""HTTP routes of shadow mode (影子运行): a draft version runs beside the active one."""
from __future__ import annotations

from fastapi import APIRouter

from kit.auth import needs_scope
from kit.db import DatabaseDep, SessionDep
from prequal.api.deps import MatterCode, RuleAdmin, RuleSetVersion, problems
from prequal.schemas import ShadowReport, ShadowState
from prequal.service import shadow

router = APIRouter(tags=["review rules"], responses=problems(401, 403, 404, 503))


@router.post("/v1/prequal/rulesets/{matter}/versions/{version}/shadow", dependencies=[needs_scope("rulesets:write")],
             summary="Run a draft version in shadow beside the active one (one per matter); verdicts are "
                     "not affected", responses=problems(409))
async def shadow_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode,
                         version: RuleSetVersion) -> ShadowState:
    return await shadow.start(database, principal, matter, version)


@router.post("/v1/prequal/rulesets/{matter}/versions/{version}/unshadow", dependencies=[needs_scope("rulesets:write")],
             summary="Stop running a version in shadow")
async def unshadow_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode,
                           version: RuleSetVersion) -> ShadowState:
    return await shadow.stop(database, principal, matter, version)


@router.get("/v1/prequal/rulesets/{matter}/versions/{version}/shadow-report", dependencies=[needs_scope("rulesets:read")],
            summary="Where the shadow version and the active rules disagreed on submissions, with counts")
async def shadow_report(session: SessionDep, _: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> ShadowReport:
    return await shadow.report(session, matter, version)
