"""HTTP routes of 一件事 bundles: the types, filing one, reading and listing them."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from kit.auth import CurrentPrincipal, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from matters.api.deps import Applicant
from matters.schemas import BundleCreate, BundleTypeView, BundleView
from matters.service import bundles as service

router = APIRouter(tags=["bundles"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

BundleId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/v1/bundles/types", dependencies=[needs_scope("applications:read")],
            summary="The kinds of 一件事 (integrated services) and their member matters")
async def list_types(session: SessionDep, _: CurrentPrincipal) -> list[BundleTypeView]:
    return await service.list_types(session)


@router.post("/v1/bundles", dependencies=[needs_scope("applications:write")],
             status_code=201, response_model=BundleView,
             summary="File a 一件事: one application per member matter, all or none",
             description="Shared form values go to every part whose matter has the field (a part's own value wins); "
                         "shared materials to every part whose matter lists the material. Any bad part answers 422 "
                         "naming it (`parts.<matter>.form.<key>`) and nothing is filed.",
             responses={201: {"model": BundleView}, 422: PROBLEM_RESPONSES[422]})
async def create_bundle(database: DatabaseDep, response: Response, body: BundleCreate, principal: Applicant,
                        idempotency_key: IdempotencyKey = None) -> BundleView:
    bundle = await service.create_bundle(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/bundles/{bundle.id}"
    return bundle


@router.get("/v1/bundles", dependencies=[needs_scope("applications:read")],
            summary="The caller's bundles, newest first (staff: those of their department)")
async def list_bundles(session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20,
                       cursor: CursorQuery = None) -> Page[BundleView]:
    return await service.list_bundles(session, principal, limit=limit, cursor=cursor)


@router.get("/v1/bundles/{bundle_id}", dependencies=[needs_scope("applications:read")],
            summary="A bundle with its parts and one combined status",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_bundle(session: SessionDep, principal: CurrentPrincipal, bundle_id: BundleId) -> BundleView:
    return await service.get_bundle(session, principal, bundle_id)
