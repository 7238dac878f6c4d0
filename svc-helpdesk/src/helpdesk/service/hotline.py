"""12345 hotline three-way transfers (三方转接): every attempt is recorded as it happened (time,
department, connected or not, ringing time), so the connect rate is computed, never typed in."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import HotlineTransfer
from helpdesk.schemas import TransferCreate, TransferView
from helpdesk.service.common import new_id, newest_first_page, sees_every_department, utcnow
from kit.auth import Principal
from kit.db import Database
from kit.errors import FieldError, ValidationFailed
from kit.idempotency import create_once
from kit.pagination import Page, newest_first_after

# Clocks of the hotline system and ours may differ a little; an attempt further ahead is a mistake.
CLOCK_SKEW = timedelta(minutes=5)


def _view(t: HotlineTransfer) -> TransferView:
    return TransferView(id=t.id, call_id=t.call_id, department=t.department, matter_code=t.matter_code,
                        attempted_at=t.attempted_at, connected=t.connected, wait_seconds=t.wait_seconds,
                        agent_subject=t.agent_subject, ticket_id=t.ticket_id)


async def record_transfer(database: Database, principal: Principal, body: TransferCreate,
                          idempotency_key: str | None) -> TransferView:
    if body.attempted_at > utcnow() + CLOCK_SKEW:
        raise ValidationFailed(messages.TRANSFER_IN_FUTURE,
                               errors=[FieldError.of("attempted_at", messages.LATER_THAN_NOW, "future")])
    if not body.connected and body.agent_subject:
        raise ValidationFailed(messages.UNCONNECTED_HAS_NO_AGENT, errors=[
            FieldError.of("agent_subject", messages.EMPTY_WHEN_NOT_CONNECTED, "inconsistent")])

    async def create(session: AsyncSession) -> TransferView:
        transfer = HotlineTransfer(id=new_id(), call_id=body.call_id, department=body.department,
                                   matter_code=body.matter_code, attempted_at=body.attempted_at,
                                   connected=body.connected, wait_seconds=body.wait_seconds,
                                   agent_subject=body.agent_subject, ticket_id=body.ticket_id,
                                   recorded_by=principal.subject)
        session.add(transfer)
        await session.flush()
        return _view(transfer)

    return await create_once(database, f"hotline:{principal.subject}", idempotency_key, body.model_dump(mode="json"),
                             create, TransferView)


async def list_transfers(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                         call_id: str | None, department: str | None, attempted_from: datetime | None,
                         attempted_to: datetime | None) -> Page[TransferView]:
    stmt = select(HotlineTransfer)
    if not sees_every_department(principal):
        stmt = stmt.where(HotlineTransfer.department == principal.department)
    if call_id:
        stmt = stmt.where(HotlineTransfer.call_id == call_id)
    if department:
        stmt = stmt.where(HotlineTransfer.department == department)
    if attempted_from:
        stmt = stmt.where(HotlineTransfer.attempted_at >= attempted_from)
    if attempted_to:
        stmt = stmt.where(HotlineTransfer.attempted_at < attempted_to)
    after = newest_first_after(cursor, HotlineTransfer.attempted_at, HotlineTransfer.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.scalars(stmt.order_by(HotlineTransfer.attempted_at.desc(), HotlineTransfer.id.desc())
                                  .limit(limit + 1))).all()
    return newest_first_page(rows, limit, _view, lambda t: t.attempted_at, lambda t: t.id)
