"""长三角: a partner's system follows the changes of the documents of ours it relies on, by a pull feed.

Why a feed and not webhooks: the partner reads when it is ready, from where it stopped, and needs no
endpoint reachable from our network, no signature verification of ours and no retry handling; we keep
no delivery state per partner beyond its subscriptions, and a partner that was away for a week reads
the week in pages. What it costs: a change reaches the partner at its next poll, not at once.

A subscription names one document the partner may look up (the same number + holder code and the
same scope as ``partner_lookup``). Each change of a followed document — revoked, suspended, reinstated,
expired, renewed (延续), changed (变更), reissued (补发) — is one ``partner_feed`` row, written in the
transaction of the change. A partner reads the rows of its current subscriptions after its cursor,
each row after the moment it subscribed, in ``seq`` order.

No gaps: writers of the feed take one transaction-scoped advisory lock before they take a ``seq``, so
rows commit in ``seq`` order and a reader that has seen ``seq`` n will never later find a row below n
committed. No duplicates: the cursor is the last ``seq`` read, and pages are strictly after it.
A subscription and a change of its document lock the licence row, so a change is either in the
subscriber's feed or already in the state it saw when it subscribed.
"""
from __future__ import annotations

import uuid

import structlog
from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.db import Database
from kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from kit.idempotency import create_once
from kit.scheduling import lock_id
from licences import messages
from licences.models import Licence, PartnerFeedEntry, PartnerSubscription
from licences.schemas import PartnerFeedItem, PartnerFeedPage, PartnerLookup, PartnerSubscriptionView
from licences.service.partner_lookup import PARTNER_KINDS, document_in_scope, partner_province

log = structlog.get_logger("licences.partner_feed")

FEED_LOCK = lock_id("licences.partner-feed")
# A status reached → the change a partner reads; a new version's kind → the same.
STATUS_CHANGES = {"revoked": "revoked", "suspended": "suspended", "active": "reinstated", "expired": "expired"}
VERSION_CHANGES = {"renewal": "renewed", "change": "changed", "reissue": "reissued"}


async def _take_feed_lock(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})


async def record_change(session: AsyncSession, licence: Licence, change: str) -> None:
    """In the transaction of a status change or new version: the feed row, if some partner follows it."""
    if licence.type_code not in PARTNER_KINDS or not await session.scalar(
            select(exists().where(PartnerSubscription.licence_id == licence.id))):
        return
    await _take_feed_lock(session)
    session.add(PartnerFeedEntry(licence_id=licence.id, change=change, status=licence.status, version=licence.version,
                                 valid_until=licence.valid_until))
    await session.flush()
    log.info("partner_feed_change", licence_id=licence.id, change=change)


def _view(row: PartnerSubscription, licence: Licence) -> PartnerSubscriptionView:
    return PartnerSubscriptionView(id=row.id, licence_id=licence.id, licence_number=licence.licence_number,
                                   licence_type=licence.licence_type, created_at=row.created_at)


async def subscribe(database: Database, principal: Principal, body: PartnerLookup,
                    idempotency_key: str | None) -> PartnerSubscriptionView:
    """Follow a document the partner may look up (once per ``Idempotency-Key``); 409 if already followed."""
    province = partner_province(principal)

    async def create(session: AsyncSession) -> PartnerSubscriptionView:
        found = await document_in_scope(session, province, body)
        licence = await session.get(Licence, found.id, with_for_update=True)  # see the module's note
        assert licence is not None
        if await session.scalar(select(PartnerSubscription.id).where(
                PartnerSubscription.partner_subject == principal.subject, PartnerSubscription.licence_id == licence.id)):
            raise Conflict(messages.PARTNER_ALREADY_SUBSCRIBED)
        await _take_feed_lock(session)
        row = PartnerSubscription(id=uuid.uuid4().hex, partner_subject=principal.subject, province=province,
                                  licence_id=licence.id,
                                  from_seq=await session.scalar(select(func.coalesce(func.max(PartnerFeedEntry.seq), 0))))
        session.add(row)
        await session.flush()
        await session.refresh(row)
        log.info("partner_subscribed", province=province, licence_id=licence.id)
        return _view(row, licence)

    return await create_once(database, f"licences:partner-subscription:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, PartnerSubscriptionView)


async def subscriptions(session: AsyncSession, principal: Principal) -> list[PartnerSubscriptionView]:
    partner_province(principal)
    rows = (await session.execute(select(PartnerSubscription, Licence)
                                  .join(Licence, Licence.id == PartnerSubscription.licence_id)
                                  .where(PartnerSubscription.partner_subject == principal.subject)
                                  .order_by(PartnerSubscription.created_at, PartnerSubscription.id))).all()
    return [_view(row, licence) for row, licence in rows]


async def unsubscribe(database: Database, principal: Principal, subscription_id: str) -> None:
    partner_province(principal)
    async with database.transaction() as session:
        removed = await session.scalar(delete(PartnerSubscription).where(
            PartnerSubscription.id == subscription_id, PartnerSubscription.partner_subject == principal.subject)
            .returning(PartnerSubscription.id))
        if removed is None:
            raise NotFound(messages.PARTNER_SUBSCRIPTION_NOT_FOUND)


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
        raise ValidationFailed(messages.FEED_CURSOR_INVALID, errors=[
            FieldError.of("after", messages.FEED_CURSOR_FIELD_INVALID, "invalid_cursor")])
    return int(cursor)


async def feed(session: AsyncSession, principal: Principal, after: str | None, limit: int) -> PartnerFeedPage:
    """The changes of the partner's followed documents after ``after``, oldest first."""
    partner_province(principal)
    position = _after(after)
    rows = (await session.execute(
        select(PartnerFeedEntry, Licence.licence_number)
        .join(PartnerSubscription, PartnerSubscription.licence_id == PartnerFeedEntry.licence_id)
        .join(Licence, Licence.id == PartnerFeedEntry.licence_id)
        .where(PartnerSubscription.partner_subject == principal.subject, PartnerFeedEntry.seq > position,
               PartnerFeedEntry.seq > PartnerSubscription.from_seq)
        .order_by(PartnerFeedEntry.seq).limit(limit))).all()
    items = [PartnerFeedItem(cursor=str(e.seq), licence_id=e.licence_id, licence_number=number, change=e.change,
                             status=e.status, version=e.version, valid_until=e.valid_until, at=e.at) for e, number in rows]
    return PartnerFeedPage(items=items, next_cursor=items[-1].cursor if items else str(position))
