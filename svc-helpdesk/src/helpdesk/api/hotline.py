"""Routes of 12345 hotline three-way transfers (三方转接)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from helpdesk.api.deps import ERROR_RESPONSES, Staff
from helpdesk.schemas import TransferCreate, TransferView
from helpdesk.service import hotline as service
from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDateTime

router = APIRouter(tags=["hotline"], responses=ERROR_RESPONSES)
Recorder = Annotated[Principal, Depends(require_roles(Role.HELPDESK_AGENT, Role.OPS_ADMIN, Role.SERVICE))]


@router.post("/v1/hotline/transfers", dependencies=[needs_scope("hotline:write")],
             status_code=201, response_model=TransferView,
             summary="Record one three-way transfer attempt of a 12345 call (connected or not, and the wait)",
             responses={201: {"model": TransferView}, 422: PROBLEM_RESPONSES[422]})
async def record_transfer(database: DatabaseDep, body: TransferCreate, principal: Recorder,
                          idempotency_key: IdempotencyKey = None) -> TransferView:
    return await service.record_transfer(database, principal, body, idempotency_key)


@router.get("/v1/hotline/transfers", dependencies=[needs_scope("helpdesk:read")],
            summary="Transfer attempts, newest first")
async def list_transfers(session: SessionDep, principal: Staff, limit: LimitQuery = 50, cursor: CursorQuery = None,
                         call_id: Annotated[str | None, Query(max_length=64)] = None,
                         department: Annotated[str | None, Query(max_length=200)] = None,
                         attempted_from: Annotated[IsoDateTime | None, Query(alias="from")] = None,
                         attempted_to: Annotated[IsoDateTime | None, Query(alias="to")] = None) -> Page[TransferView]:
    return await service.list_transfers(session, principal, limit=limit, cursor=cursor, call_id=call_id,
                                        department=department, attempted_from=attempted_from, attempted_to=attempted_to)
