"""HTTP routes of svc-prequal."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kit.auth import CurrentPrincipal
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.pagination import Page
from prequal import service
from prequal.schemas import VerdictView

router = APIRouter(tags=["pre-review"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})


@router.get("/v1/prequal/applications/{application_id}/verdicts",
            summary="Pre-review (预审) verdicts of an application, one per submission attempt",
            responses={404: PROBLEM_RESPONSES[404]})
async def application_verdicts(session: SessionDep, principal: CurrentPrincipal,
                               application_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
                               ) -> Page[VerdictView]:
    rows = await service.verdicts_for(session, principal, application_id)
    return Page[VerdictView](items=[VerdictView.model_validate(v) for v in rows])
