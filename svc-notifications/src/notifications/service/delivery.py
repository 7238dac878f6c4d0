"""Sending queued deliveries on the outside channels: retries with a doubling wait, quiet hours, and
never twice for one (event, channel).

Each tick (``kit.scheduling.every``, one replica at a time) takes the due pending deliveries, locked,
and for each: in quiet hours an SMS or push waits until they end (deferred, not dropped); a
recipient who has since removed the address or switched the channel off gets nothing (``skipped``);
otherwise the channel sends. A failure the server may get over waits ``retry_base × 2^(attempts-1)``
(capped) and is tried again until ``delivery_max_attempts``; a refusal, or the last attempt, is
``failed``. The row is marked in the tick's transaction right after its send, so a send is repeated
only if the process dies between the server's acceptance and that commit (at least once, the
channels' own idempotency keys, the message key, let their servers drop such a copy)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.calendar import SHANGHAI
from notifications.models import Delivery, Notification, Recipient
from notifications.service.channels import Channel, Outgoing, Refused, RetryLater, address_of, wants
from notifications.settings import Settings

log = structlog.get_logger("notifications.delivery")

DELIVERIES = Counter("lvrong_notification_deliveries_total", "Delivery attempts by channel and outcome",
                     ["channel", "outcome"])

# Channels that wake a phone: held back in quiet hours. E-mail waits in a mailbox and is not.
QUIET_CHANNELS = frozenset({"sms", "push"})


def in_quiet_hours(moment: datetime, period: tuple[time, time] | None) -> bool:
    if period is None:
        return False
    start, end = period
    local = moment.astimezone(SHANGHAI).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a period across midnight, e.g. 22:00-08:00


def quiet_hours_end(moment: datetime, period: tuple[time, time]) -> datetime:
    """The first moment after ``moment`` at which the quiet period ends (local time)."""
    local = moment.astimezone(SHANGHAI)
    end = local.replace(hour=period[1].hour, minute=period[1].minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    return timedelta(seconds=min(settings.retry_base_seconds * 2 ** max(attempts - 1, 0), settings.retry_max_seconds))


def outgoing(delivery: Delivery, notification: Notification) -> Outgoing:
    return Outgoing(key=f"{delivery.event_id}-{delivery.channel}", kind=notification.kind,
                    title_zh=notification.title_zh, title_en=notification.title_en, body_zh=notification.body_zh,
                    body_en=notification.body_en, ref_type=notification.ref_type, ref_id=notification.ref_id)


async def send_due(session: AsyncSession, now: datetime, channels: dict[str, Channel], settings: Settings) -> int:
    """Send the deliveries due at ``now``; returns how many were sent."""
    due = (await session.scalars(
        select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(settings.delivery_batch_size)
        .with_for_update(skip_locked=True))).all()
    sent = 0
    for d in due:
        period = settings.quiet_period
        if d.channel in QUIET_CHANNELS and period is not None and in_quiet_hours(now, period):
            d.next_attempt_at, d.last_error = quiet_hours_end(now, period), "quiet_hours"
            DELIVERIES.labels(d.channel, "deferred").inc()
            continue
        notification = await session.get(Notification, d.notification_id)
        recipient = await session.get(Recipient, d.recipient)
        channel = channels.get(d.channel)
        address = address_of(recipient, d.channel, d.recipient)
        if notification is None or channel is None or address is None or not wants(recipient, notification.kind,
                                                                                   d.channel):
            d.status, d.last_error = "skipped", "no_channel" if channel is None else "no_address_or_switched_off"
            DELIVERIES.labels(d.channel, "skipped").inc()
            continue
        d.attempts += 1
        try:
            await channel.send(address, outgoing(d, notification))
        except Refused as e:
            d.status, d.last_error = "failed", str(e)[:300]
            DELIVERIES.labels(d.channel, "refused").inc()
            log.warning("delivery_refused", delivery_id=d.id, channel=d.channel, error=str(e)[:200])
        except RetryLater as e:
            d.last_error = str(e)[:300]
            if d.attempts >= settings.delivery_max_attempts:
                d.status = "failed"
                DELIVERIES.labels(d.channel, "gave_up").inc()
                log.warning("delivery_gave_up", delivery_id=d.id, channel=d.channel, attempts=d.attempts)
            else:
                d.next_attempt_at = now + retry_delay(d.attempts, settings)
                DELIVERIES.labels(d.channel, "retry").inc()
                log.info("delivery_retry", delivery_id=d.id, channel=d.channel, attempts=d.attempts, error=str(e)[:200])
        else:
            d.status, d.sent_at, d.last_error = "sent", now, None
            DELIVERIES.labels(d.channel, "sent").inc()
            sent += 1
        await session.flush()
    return sent
