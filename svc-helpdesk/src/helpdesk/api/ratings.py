"""Routes of ratings (好差评) and rectification cases (差评整改)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from helpdesk.api.deps import ERROR_RESPONSES, SettingsDep
from helpdesk.schemas import RatingCreate, RatingView, RectificationAction, RectificationView
from helpdesk.service import ratings as service
from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page

router = APIRouter(tags=["ratings"], responses=ERROR_RESPONSES)
Handler = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT, Role.WINDOW_OFFICER, Role.REVIEWER,
                                                     Role.OPS_ADMIN, Role.INSPECTOR))]


@router.post("/v1/ratings", dependencies=[needs_scope("helpdesk:write")], status_code=201, response_model=RatingView,
             summary="Rate a finished interaction 1–5 (好差评), once per interaction; 1–2 opens a rectification case",
             responses={201: {"model": RatingView}, 404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409],
                        422: PROBLEM_RESPONSES[422]})
async def rate(request: Request, database: DatabaseDep, settings: SettingsDep, body: RatingCreate,
               principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None) -> RatingView:
    return await service.submit_rating(
        database, principal, body, idempotency_key, matters_url=settings.matters_base_url,
        authorization=request.headers.get("authorization"), rectification_days=settings.rectification_working_days)


@router.get("/v1/ratings", dependencies=[needs_scope("helpdesk:read")],
            summary="Ratings: an applicant's own, staff their department's")
async def list_ratings(session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20,
                       cursor: CursorQuery = None,
                       target_kind: Annotated[str | None, Query(pattern=r"^(ticket|hall_visit|application_step)$")] = None,
                       score: Annotated[int | None, Query(ge=1, le=5)] = None) -> Page[RatingView]:
    return await service.list_ratings(session, principal, limit=limit, cursor=cursor, target_kind=target_kind,
                                      score=score)


@router.get("/v1/rectifications", dependencies=[needs_scope("helpdesk:read")],
            summary="Rectification cases of bad ratings: open, late, closed …")
async def list_rectifications(session: SessionDep, principal: Handler, limit: LimitQuery = 20,
                              cursor: CursorQuery = None,
                              status: Literal["open", "replied", "rectified", "closed", "late"] | None = None,
                              ) -> Page[RectificationView]:
    return await service.list_rectifications(session, principal, status=status, limit=limit, cursor=cursor)


@router.post("/v1/rectifications/{rectification_id}/actions/{action}", dependencies=[needs_scope("helpdesk:handle")],
             summary="assign an owner, reply to the person, record the measures (rectify), close after the follow-up",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def act(database: DatabaseDep, principal: Handler,
              rectification_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
              action: Annotated[str, Path(max_length=32, pattern=r"^[a-z_]+$")],
              body: RectificationAction) -> RectificationView:
    return await service.act_on_rectification(database, principal, rectification_id, action, body)
