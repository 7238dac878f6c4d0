"""HTTP route of smart pre-fill (智能预填): a draft form with every field the platform can fill."""
from __future__ import annotations

from fastapi import APIRouter

from kit.auth import needs_scope
from kit.db import DatabaseDep
from prequal.api.deps import Applicant, problems
from prequal.schemas import PrefillRequest, PrefillResult
from prequal.service.prefill import prefill_for

router = APIRouter(tags=["pre-fill"], responses=problems(401, 403, 503))


@router.post("/v1/prequal/prefill", dependencies=[needs_scope("applications:write")],
             summary="A draft form with every field the platform can fill, each with its source and freshness",
             responses=problems(404, 422))
async def prefill(database: DatabaseDep, principal: Applicant, body: PrefillRequest) -> PrefillResult:
    return await prefill_for(database, principal, body.matter_code)
