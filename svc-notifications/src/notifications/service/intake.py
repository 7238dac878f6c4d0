"""The events that should reach a person, each made one notification in the recipient's inbox (站内信)
and one pending delivery per outside channel the recipient wants for that kind.

Idempotent twice over: the kit's consumer records each handled event id, and a notification is unique
per event id and a delivery per (event id, channel), so an event delivered again adds nothing."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import ApplicationStatusChanged, BenefitGranted, ClockWarning
from kit.contracts.booking import BookingExpired, BookingPromoted
from kit.contracts.helpdesk import RectificationReplied, TicketAnswered
from kit.contracts.licences import LicenceExpiring
from kit.contracts.notifications import NotificationCreated
from kit.events import CloudEvent, outbox, outbox_row
from kit.events.consumer import handling
from kit.i18n import Text
from notifications import messages
from notifications.models import Delivery, Notification, Recipient
from notifications.service.channels import wanted_channels

log = structlog.get_logger("notifications.intake")

# The statuses in which the applicant must correct something (退回补正, 补正材料).
CORRECTION_STATUSES = {"returned": (messages.RETURNED_TITLE, messages.RETURNED_BODY),
                       "correction_requested": (messages.CORRECTION_TITLE, messages.CORRECTION_BODY)}
# The statuses a status change makes a notification for: the subjects the consumer of status changes
# subscribes to (``notifications.events``) are derived from it, so a status added here is received.
NOTIFYING_STATUSES = frozenset(CORRECTION_STATUSES)


@dataclass(frozen=True)
class Draft:
    recipient: str
    kind: str
    title: Text
    body: Text
    ref_type: str | None = None
    ref_id: str | None = None


def person(subject: str) -> str:
    return f"subject:{subject}"


def company(org_code: str) -> str:
    return f"org:{org_code}"


def applicant_of(subject: str, org_code: str | None) -> str:
    """A company's application reaches the company's inbox (whoever logs in for it); a person's, the person's."""
    return company(org_code) if org_code else person(subject)


def from_status_change(event: CloudEvent) -> Draft | None:
    c = ApplicationStatusChanged.from_event(event)
    templates = CORRECTION_STATUSES.get(c.to_status)
    if templates is None or c.from_status == c.to_status:
        return None
    title, body = templates
    # The findings are in the step's reason (svc-matters joins the blocking findings' texts), in Chinese.
    findings = Text(c.reason, c.reason) if c.reason else messages.NO_FINDINGS
    return Draft(applicant_of(c.applicant_subject, c.applicant_org_code), "application_returned",
                 title.format(matter_code=c.matter_code),
                 body.format(application_id=c.application_id, findings=findings), "application", c.application_id)


def from_expiring(event: CloudEvent) -> Draft:
    c = LicenceExpiring.from_event(event)
    return Draft(person(c.holder_subject), "licence_expiring",
                 messages.EXPIRING_TITLE.format(licence_number=c.licence_number, days=c.days_before),
                 Text(c.message_zh, c.message_en), "licence", c.licence_id)


def from_benefit(event: CloudEvent) -> Draft:
    c = BenefitGranted.from_event(event)
    benefit = Text(c.benefit, c.benefit)
    return Draft(company(c.uscc), "benefit_granted", messages.BENEFIT_TITLE.format(benefit=benefit),
                 messages.BENEFIT_BODY.format(business_name=c.business_name, benefit=benefit,
                                              application_id=c.application_id), "application", c.application_id)


def from_rectification(event: CloudEvent) -> Draft:
    c = RectificationReplied.from_event(event)
    return Draft(person(c.rater_subject), "rectification_replied", messages.RECTIFICATION_TITLE,
                 messages.RECTIFICATION_BODY.format(department=c.department, reply=c.reply), "rating", c.rating_id)


def from_ticket_answer(event: CloudEvent) -> Draft:
    c = TicketAnswered.from_event(event)
    return Draft(person(c.applicant_subject), "ticket_answered", messages.TICKET_TITLE,
                 messages.TICKET_BODY.format(ticket_id=c.ticket_id), "ticket", c.ticket_id)


def from_clock_warning(event: CloudEvent) -> Draft | None:
    c = ClockWarning.from_event(event)
    if not c.assignee_subject:
        return None  # nobody holds it: the department's work list shows it (svc-matters' cockpit)
    return Draft(person(c.assignee_subject), "clock_warning",
                 messages.CLOCK_TITLE.format(application_id=c.application_id, percent=c.percent),
                 messages.CLOCK_BODY.format(matter_code=c.matter_code, application_id=c.application_id,
                                            due_date=c.due_date, days_left=c.working_days_left),
                 "application", c.application_id)


def from_booking(event: CloudEvent) -> Draft | None:
    """候补成功 or 候补未成功 for a booking made with our login; a partner province's app tells its own users of the
    bookings it made (``channel`` ``partner:<province>``: ``booked_by`` is the app, not a person of ours)."""
    c = BookingPromoted.from_event(event) if event.type == BookingPromoted.event_type else BookingExpired.from_event(event)
    if c.channel != "web":
        return None
    venue = Text(c.venue_name or c.venue_id, c.venue_name or c.venue_id)
    title, body, kind = ((messages.BOOKING_PROMOTED_TITLE, messages.BOOKING_PROMOTED_BODY, "booking_promoted")
                         if isinstance(c, BookingPromoted) else
                         (messages.BOOKING_EXPIRED_TITLE, messages.BOOKING_EXPIRED_BODY, "booking_expired"))
    return Draft(person(c.booked_by), kind, title.format(venue=venue),
                 body.format(venue=venue, day=c.day.isoformat(), slot=c.slot_start, code=c.code), "booking", c.booking_id)


async def deliver(session: AsyncSession, event: CloudEvent, draft: Draft | None, *, now: datetime | None = None) -> int | None:
    """Put ``draft`` in its recipient's inbox and queue its outside deliveries; the notification's id, or
    None when there was nothing to do (no draft, or the event had already made one)."""
    made = await deliver_all(session, [(event, draft)], now=now)
    return made[0] if made else None


async def deliver_all(session: AsyncSession, drafted: Sequence[tuple[CloudEvent, Draft | None]], *,
                      now: datetime | None = None) -> list[int]:
    """``deliver`` for a fetched batch, in a fixed number of statements whatever its size (the notifications,
    the recipients' preferences, the deliveries, the outbox rows): a batch of returned applications is one
    round trip per table, not four per notification. The ids of the notifications made, in the batch's order."""
    wanted = [(event, draft) for event, draft in drafted if draft is not None]
    if not wanted:
        return []
    now = now or datetime.now(UTC)
    made = dict((await session.execute(insert(Notification).values([dict(
        event_id=event.id, recipient=draft.recipient, kind=draft.kind, title_zh=draft.title.zh,
        title_en=draft.title.en, body_zh=draft.body.zh, body_en=draft.body.en, ref_type=draft.ref_type,
        ref_id=draft.ref_id, created_at=now) for event, draft in wanted]).on_conflict_do_nothing(index_elements=["event_id"])
        .returning(Notification.event_id, Notification.id))).tuples().all())
    if len(made) < len(wanted):
        log.info("notifications_exist", count=len(wanted) - len(made))
    new = [(event, draft, made[event.id]) for event, draft in wanted if event.id in made]
    if not new:
        return []
    recipients = {r.recipient: r for r in (await session.execute(select(Recipient).where(
        Recipient.recipient == any_(bindparam("keys", type_=ARRAY(String)))), {"keys": sorted({d.recipient for _, d, _ in new})}
    )).scalars()}
    deliveries, events = [], []
    for event, draft, notification_id in new:
        channels = wanted_channels(recipients.get(draft.recipient), draft.kind, draft.recipient)
        deliveries += [dict(notification_id=notification_id, event_id=event.id, channel=channel,
                            recipient=draft.recipient, status="pending", attempts=0, next_attempt_at=now,
                            created_at=now) for channel in channels]
        with handling(event):  # the notification's event continues the trace of the event that made it
            events.append(outbox_row(session, NotificationCreated(notification_id=notification_id, recipient=draft.recipient,
                                                                  kind=draft.kind, created_at=now), subject=draft.recipient))
        log.info("notification_created", notification_id=notification_id, kind=draft.kind, channels=channels)
    if deliveries:
        await session.execute(insert(Delivery).values(deliveries).on_conflict_do_nothing(constraint="uq_deliveries_event_channel"))
    await session.execute(outbox.insert(), events)
    return [notification_id for _, _, notification_id in new]


async def on_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    await deliver(session, event, from_status_change(event))


async def on_status_changes(session: AsyncSession, events: list[CloudEvent]) -> None:
    """A fetched batch of status changes (returned applications come in bursts behind a deadline day's
    submissions): one statement per table for the whole batch."""
    await deliver_all(session, [(event, from_status_change(event)) for event in events])


async def on_licence_expiring(session: AsyncSession, event: CloudEvent) -> None:
    await deliver(session, event, from_expiring(event))


async def on_benefit_granted(session: AsyncSession, event: CloudEvent) -> None:
    await deliver(session, event, from_benefit(event))


async def on_helpdesk_answer(session: AsyncSession, event: CloudEvent) -> None:
    draft = from_ticket_answer(event) if event.type == TicketAnswered.event_type else from_rectification(event)
    await deliver(session, event, draft)


async def on_clock_warning(session: AsyncSession, event: CloudEvent) -> None:
    await deliver(session, event, from_clock_warning(event))


async def on_booking_outcome(session: AsyncSession, event: CloudEvent) -> None:
    await deliver(session, event, from_booking(event))
