"""Licence status: active, suspended, revoked, expired. Each change is kept in the history, written
into the licence's 2 bits of its Token Status List in the same transaction, and published as an event."""
from __future__ import annotations

import time
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role
from kit.contracts.licences import LicenceStatusChanged
from kit.db import Database
from kit.errors import NotFound
from kit.events import add_event
from kit.statemachine import StateMachine, Transition
from licences import messages
from licences.models import Licence, LicenceStatusChange, StatusList
from licences.schemas import LicenceView
from licences.service import partner_feed
from licences.service.access import licence_view
from licences.service.credentials import LIST_VALUE, sign_status_list
from licences.service.issuer import Issuer

log = structlog.get_logger("licences.status")

ACTIVE, SUSPENDED, REVOKED, EXPIRED = "active", "suspended", "revoked", "expired"
# Staff who change a licence's status or issue new versions of it.
OFFICERS = frozenset({Role.REVIEWER, Role.WINDOW_OFFICER, Role.OPS_ADMIN})

# What staff may do to a licence, by its status. New versions (a change, a re-issue, a renewal) are
# actions on the side; a renewal is also what brings an expired licence back. Expiry itself is no
# action anyone takes: the scheduled tick (expire_due) sets it when the end date has passed.
LICENCE_STATES = StateMachine[str](messages.LICENCE, [
    Transition("suspend", frozenset({ACTIVE}), SUSPENDED, OFFICERS, reason_required=True),
    Transition("revoke", frozenset({ACTIVE, SUSPENDED}), REVOKED, OFFICERS, reason_required=True),
    Transition("reinstate", frozenset({SUSPENDED}), ACTIVE, OFFICERS, reason_required=True),
    Transition("change", frozenset({ACTIVE}), None, OFFICERS, reason_required=True),
    Transition("reissue", frozenset({ACTIVE}), None, OFFICERS, reason_required=True),
    Transition("renewal", frozenset({ACTIVE, EXPIRED}), ACTIVE, OFFICERS, reason_required=True),
])
STATUS_ACTIONS = ("suspend", "revoke", "reinstate")
# The reason an expiry is kept with in the history: both languages in one text, as it always was.
VALIDITY_ENDED = f"{messages.VALIDITY_ENDED.zh} / {messages.VALIDITY_ENDED.en}"


async def _write_bits(session: AsyncSession, licence: Licence, to_status: str) -> None:
    value = LIST_VALUE[to_status]
    byte, shift = licence.status_index // 4, (licence.status_index % 4) * 2
    # set_byte/get_byte in SQL: the list row is changed in place under its row lock, never read-modify-written.
    await session.execute(
        update(StatusList).where(StatusList.id == licence.status_list_id).values(
            bits=func.set_byte(StatusList.bits, byte,
                               func.get_byte(StatusList.bits, byte).op("&")(~(3 << shift) & 0xFF).op("|")(value << shift)),
            revision=StatusList.revision + 1, updated_at=func.now()))


async def set_status(session: AsyncSession, licence: Licence, to_status: str, *, actor: str, reason: str | None) -> None:
    from_status = licence.status
    now = datetime.now(UTC)
    licence.status = to_status
    licence.updated_at = now
    session.add(LicenceStatusChange(licence_id=licence.id, from_status=from_status, to_status=to_status,
                                    reason=reason, actor=actor, at=now))
    if LIST_VALUE[from_status] != LIST_VALUE[to_status]:
        await _write_bits(session, licence, to_status)
    await add_event(session, LicenceStatusChanged(
        licence_id=licence.id, licence_number=licence.licence_number, holder_subject=licence.holder_subject,
        from_status=from_status, to_status=to_status, reason=reason, actor=actor, occurred_at=now), subject=licence.id)
    if from_status != to_status and to_status in partner_feed.STATUS_CHANGES:
        await partner_feed.record_change(session, licence, partner_feed.STATUS_CHANGES[to_status])
    log.info("licence_status_changed", licence_id=licence.id, from_status=from_status, to_status=to_status)


async def change_status(session: AsyncSession, licence_id: str, action: str, *, actor: str, reason: str,
                        principal: Principal | None = None) -> Licence:
    """Suspend, revoke or reinstate a licence, as ``LICENCE_STATES`` allows (``principal`` None: checked before)."""
    licence = await session.get(Licence, licence_id, with_for_update=True)
    if licence is None:
        raise NotFound(messages.LICENCE_NOT_FOUND)
    transition = LICENCE_STATES.check(licence.status, action, principal, reason=reason)
    assert transition.target is not None, f"{action} is not a status action"
    await set_status(session, licence, transition.target, actor=actor, reason=reason)
    return licence


async def take_action(database: Database, principal: Principal, licence_id: str, action: str,
                      reason: str) -> LicenceView:
    """A member of staff suspends, revokes or reinstates a licence, with a reason."""
    async with database.transaction() as session:
        licence = await change_status(session, licence_id, action, actor=principal.subject, reason=reason.strip(),
                                      principal=principal)
        return licence_view(licence, reveal=False)


async def expire_due(session: AsyncSession, now: datetime, batch: int = 1000) -> int:
    """Mark licences past their end date as expired (a scheduled tick, once across replicas)."""
    due = (await session.scalars(select(Licence).where(Licence.status.in_(("active", "suspended")),
                                                       Licence.valid_until <= now)
                                 .order_by(Licence.valid_until).limit(batch).with_for_update(skip_locked=True))).all()
    for licence in due:
        await set_status(session, licence, "expired", actor="svc-licences", reason=VALIDITY_ENDED)
    return len(due)


async def signed_status_list(session: AsyncSession, issuer: Issuer, list_id: int) -> str:
    """The list as a signed JWT; signed again only when it changed or half its ttl has passed."""
    revision = await session.scalar(select(StatusList.revision).where(StatusList.id == list_id))
    if revision is None:
        raise NotFound(messages.STATUS_LIST_NOT_FOUND)
    settings = issuer.settings
    cached = issuer.signed_lists.get(list_id)
    if cached and cached[0] == revision and time.monotonic() - cached[1] < settings.status_list_ttl_seconds / 2:
        return cached[2]
    bits = await session.scalar(select(StatusList.bits).where(StatusList.id == list_id))
    if bits is None:
        raise NotFound(messages.STATUS_LIST_NOT_FOUND)
    token = sign_status_list(issuer.keys.signing_key(), issuer.url, list_id, bits,
                             ttl_seconds=settings.status_list_ttl_seconds,
                             valid_seconds=settings.status_list_valid_seconds)
    issuer.signed_lists[list_id] = (revision, time.monotonic(), token)
    return token
