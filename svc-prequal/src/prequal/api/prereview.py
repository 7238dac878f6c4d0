"""HTTP routes of the pre-review (智能预审): verdicts, the latest review, the dry run of a draft."""
from __future__ import annotations

from fastapi import APIRouter

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.pagination import Page
from prequal.api.deps import AppId, problems
from prequal.schemas import CheckRequest, CheckResult, ReviewView, VerdictView
from prequal.service import prereview

router = APIRouter(tags=["pre-review"], responses=problems(401, 403, 503))


@router.get("/v1/prequal/applications/{application_id}/verdicts", dependencies=[needs_scope("applications:read")],
            summary="Pre-review (预审) verdicts of an application, one per submission attempt",
            responses=problems(404))
async def application_verdicts(database: DatabaseDep, principal: CurrentPrincipal, application_id: AppId,
                               ) -> Page[VerdictView]:
    rows = await prereview.verdicts_for(database, principal, application_id)
    return Page[VerdictView](items=[VerdictView.model_validate(v) for v in rows])


@router.get("/v1/prequal/reviews/{application_id}", dependencies=[needs_scope("applications:read")],
            summary="The latest pre-review of an application with every rule's result (owner or staff)",
            responses=problems(404))
async def latest_review(database: DatabaseDep, principal: CurrentPrincipal, application_id: AppId) -> ReviewView:
    return ReviewView.model_validate(await prereview.latest_review(database, principal, application_id))


@router.post("/v1/prequal/check", dependencies=[needs_scope("applications:read")],
             summary="Dry-run the pre-review on the caller's draft, the comparison (数据比对) included: every problem "
                     "at once, nothing stored",
             responses=problems(404, 422))
async def check(session: SessionDep, principal: CurrentPrincipal, body: CheckRequest) -> CheckResult:
    return await prereview.dry_run(session, principal, body.matter_code, body.form, body.materials)
