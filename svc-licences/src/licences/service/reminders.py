"""Expiry reminders (到期提醒) for 建筑垃圾处置证, 生活垃圾经营许可证 and the temporary green-space and
forest-land permits: an event at each threshold (90, 30, 7 days by default, ``LICENCES_REMINDER_DAYS``)
before a licence version expires, exactly once per licence, version and threshold even with several
replicas — the tick runs under ``kit.scheduling``'s advisory lock, and the reminder row's primary key
makes a second insert a no-op in any case."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts.licences import LicenceExpiring
from kit.events import add_event
from licences import messages
from licences.models import ExpiryReminder, Licence
from licences.service import catalogue

REMINDED_TYPES = tuple(code for code, t in catalogue.TYPES.items() if t.reminders)


async def send_due(session: AsyncSession, now: datetime, thresholds: list[int], batch: int = 2000) -> int:
    sent = 0
    # Largest threshold first: a licence found late (e.g. 20 days left) gets only the nearest reminder.
    for days in sorted(set(thresholds), reverse=True):
        nearer = [d for d in thresholds if d < days]
        window_start = now + timedelta(days=max(nearer)) if nearer else now
        reminded = select(ExpiryReminder.licence_id).where(and_(
            ExpiryReminder.licence_id == Licence.id, ExpiryReminder.version == Licence.version,
            ExpiryReminder.days_before == days))
        due = (await session.scalars(select(Licence).where(
            Licence.type_code.in_(REMINDED_TYPES), Licence.status.in_(("active", "suspended")),
            Licence.valid_until > window_start, Licence.valid_until <= now + timedelta(days=days),
            ~reminded.exists()).order_by(Licence.valid_until).limit(batch))).all()
        for licence in due:
            claimed = await session.scalar(insert(ExpiryReminder).values(
                licence_id=licence.id, version=licence.version, days_before=days, valid_until=licence.valid_until,
                sent_at=now).on_conflict_do_nothing().returning(ExpiryReminder.licence_id))
            if claimed is None:
                continue
            message = messages.EXPIRY_REMINDER.format(licence_type=licence.licence_type,
                                                      licence_number=licence.licence_number,
                                                      days=max(0, (licence.valid_until - now).days))
            await add_event(session, LicenceExpiring(
                licence_id=licence.id, licence_number=licence.licence_number, licence_type=licence.licence_type,
                holder_subject=licence.holder_subject, valid_until=licence.valid_until, days_before=days,
                message_zh=message.zh, message_en=message.en), subject=licence.id)
            sent += 1
    return sent


async def reminders_of(session: AsyncSession, licence_id: str) -> list[ExpiryReminder]:
    return list((await session.scalars(select(ExpiryReminder).where(ExpiryReminder.licence_id == licence_id)
                                       .order_by(ExpiryReminder.sent_at))).all())

