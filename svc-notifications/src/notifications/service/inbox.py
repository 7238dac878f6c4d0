"""A recipient's inbox: their notifications (newest first), the unread count, marking read, and their
contacts and channel preferences. Everyone sees only their own inbox: a person theirs, a company
account the company's as well (notifications about its applications reach whoever logs in for it)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit import messages as kit_messages
from kit.audit import record_audit
from kit.auth import Principal, SubjectKind
from kit.db import Database
from kit.errors import BadRequest, Forbidden, NotFound
from kit.pagination import Page, decode_cursor, encode_cursor
from kit.protection import mask_phone
from notifications import messages
from notifications.models import Delivery, Notification, Recipient
from notifications.schemas import CHANNELS, KINDS, DeliveryView, NotificationView, Preferences, PreferencesUpdate
from notifications.service.channels import wants
from notifications.service.intake import company, person


def inbox_keys(principal: Principal) -> list[str]:
    """The inboxes ``principal`` reads: their own, and their company's when they log in for one."""
    if principal.kind == SubjectKind.SERVICE:
        raise Forbidden(messages.NO_INBOX)
    keys = [person(principal.subject)]
    if principal.kind == SubjectKind.COMPANY and principal.org_code:
        keys.append(company(principal.org_code))
    return keys


def own_key(principal: Principal) -> str:
    """Whose contacts and preferences ``principal`` sets: the company's for a company account."""
    keys = inbox_keys(principal)
    return keys[-1]


def view(n: Notification, english: bool) -> NotificationView:
    return NotificationView(id=n.id, kind=n.kind, title=n.title_en if english else n.title_zh,
                            body=n.body_en if english else n.body_zh, title_zh=n.title_zh, title_en=n.title_en,
                            body_zh=n.body_zh, body_en=n.body_en, ref_type=n.ref_type, ref_id=n.ref_id,
                            created_at=n.created_at, read=n.read_at is not None, read_at=n.read_at)


async def list_notifications(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                             unread: bool | None, english: bool) -> Page[NotificationView]:
    stmt = select(Notification).where(Notification.recipient.in_(inbox_keys(principal)))
    if after := decode_cursor(cursor):
        before = after.get("id")
        if not isinstance(before, int):
            raise BadRequest(kit_messages.CURSOR_INVALID)
        stmt = stmt.where(Notification.id < before)
    if unread is not None:
        stmt = stmt.where(Notification.read_at.is_(None) if unread else Notification.read_at.is_not(None))
    rows = (await session.scalars(stmt.order_by(Notification.id.desc()).limit(limit + 1))).all()
    items = [view(n, english) for n in rows[:limit]]
    return Page[NotificationView](items=items, next_cursor=encode_cursor({"id": rows[limit - 1].id})
                                  if len(rows) > limit else None)


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    return int(await session.scalar(select(func.count()).select_from(Notification).where(
        Notification.recipient.in_(inbox_keys(principal)), Notification.read_at.is_(None))) or 0)


async def _own(session: AsyncSession, principal: Principal, notification_id: int) -> Notification:
    n = await session.get(Notification, notification_id, with_for_update=True)
    if n is None or n.recipient not in inbox_keys(principal):
        raise NotFound(messages.NOTIFICATION_NOT_FOUND)  # another's is as if it did not exist
    return n


async def mark_read(database: Database, principal: Principal, notification_id: int, english: bool) -> NotificationView:
    async with database.transaction() as session:
        n = await _own(session, principal, notification_id)
        n.read_at = n.read_at or datetime.now(UTC)
        return view(n, english)


async def mark_all_read(database: Database, principal: Principal) -> int:
    async with database.transaction() as session:
        result = await session.execute(update(Notification).where(
            Notification.recipient.in_(inbox_keys(principal)), Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC)))
        return int(result.rowcount)  # type: ignore[attr-defined]


async def deliveries(session: AsyncSession, principal: Principal, notification_id: int) -> list[DeliveryView]:
    n = await session.get(Notification, notification_id)
    if n is None or n.recipient not in inbox_keys(principal):
        raise NotFound(messages.NOTIFICATION_NOT_FOUND)
    rows = (await session.scalars(select(Delivery).where(Delivery.notification_id == n.id)
                                  .order_by(Delivery.channel))).all()
    return [DeliveryView(channel=d.channel, status=d.status, attempts=d.attempts,
                         next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
                         last_error=d.last_error, sent_at=d.sent_at) for d in rows]


def mask_email(value: str) -> str:
    """zhang.san@example.org → z*******@example.org."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"


def preferences_view(recipient: Recipient | None) -> Preferences:
    return Preferences(
        email=mask_email(recipient.email) if recipient is not None and recipient.email else None,
        phone=mask_phone(recipient.phone) if recipient is not None and recipient.phone else None,
        channels={kind: {channel: wants(recipient, kind, channel) for channel in CHANNELS} for kind in KINDS})


async def preferences(session: AsyncSession, principal: Principal) -> Preferences:
    return preferences_view(await session.get(Recipient, own_key(principal)))


async def update_preferences(database: Database, principal: Principal, body: PreferencesUpdate) -> Preferences:
    key = own_key(principal)
    async with database.transaction() as session:
        recipient = await session.get(Recipient, key, with_for_update=True)
        if recipient is None:
            recipient = Recipient(recipient=key, channels={}, updated_at=datetime.now(UTC))
            session.add(recipient)
        changed: list[str] = []
        given = body.model_fields_set
        if "email" in given:
            recipient.email = body.email
            changed.append("email")
        if "phone" in given:
            recipient.phone = body.phone
            changed.append("phone")
        if body.channels:
            merged: dict[str, Any] = {k: dict(v) for k, v in (recipient.channels or {}).items()}
            for kind, chosen in body.channels.items():
                merged.setdefault(kind, {}).update(chosen)
            recipient.channels = merged
            changed.append("channels")
        recipient.updated_at = datetime.now(UTC)
        # The fields changed, never their values (personal data stays out of the audit log).
        await record_audit(session, principal, "notifications.preferences", "recipient", key, owner=principal.subject,
                           details={"fields": changed})
        await session.flush()
        return preferences_view(recipient)
