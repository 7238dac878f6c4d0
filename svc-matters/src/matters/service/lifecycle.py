"""The life of an application (办件): its actions, each checked against the state machine
(``statuses.APPLICATION_MACHINE``), and the timeline steps they write.

Each action is allowed only from the listed statuses and to the listed roles; anything else is a 409
naming what is possible now (or a 403 when the action is possible but not for this caller). Every
step is appended to the timeline with the status before and after, in the transaction that changes
the status, together with its event and the combined status of the bundle the application is part of.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.contracts import ApplicationStatusChanged, BundleCompleted, LicenceIssued
from kit.errors import FieldError, NotFound, ValidationFailed
from kit.events import CloudEvent, add_event
from kit.statemachine import Transition
from matters import messages
from matters.models import Application, ApplicationStep, Bundle, MatterVersion
from matters.schemas import ActionRequest, ApplicationStatus, BundleStatus
from matters.service import clock, handlers, submission
from matters.service.statuses import (
    APPLICATION_MACHINE,
    BUNDLE_ENDED,
    HOLDING,
    OWNER_ONLY,
    RESUBMITTING,
    bundle_status,
    stage_of,
)

log = structlog.get_logger("matters.lifecycle")

S = ApplicationStatus
SERVICE = "service"  # the actor role of steps the platform takes itself


def _actor_role(principal: Principal, transition: Transition[ApplicationStatus]) -> str:
    return next((r for r in sorted(transition.roles) if principal.has_role(r)), "unknown")


def begin_step(app: Application, *, status: ApplicationStatus, action: str, actor: str, actor_role: str,
               actor_name: str | None = None, reason: str | None = None, details: dict[str, Any] | None = None,
               at: datetime) -> tuple[ApplicationStep, str | None]:
    """The next timeline step of ``app`` (not yet written) and the status it leaves; moves ``app`` to ``status``."""
    previous = app.status or None
    # Time spent in the status being left, kept on the step for the cockpit's time per stage.
    spent = (at - app.status_since).total_seconds() if previous and previous != status.value and app.status_since \
        else None
    step = ApplicationStep(application_id=app.id, from_status=previous, status=status.value, action=action,
                           actor_subject=actor, actor_role=actor_role, actor_name=actor_name, reason=reason,
                           details=details or {}, occurred_at=at, matter_code=app.matter_code,
                           department=app.department, application_created_at=app.created_at or at,
                           from_status_seconds=spent)
    if previous != status.value:
        app.status_since = at
    app.status = status.value
    app.updated_at = at
    return step, previous


def status_event(app: Application, step: ApplicationStep) -> ApplicationStatusChanged:
    """The event announcing ``step`` (its ``step_id`` is None until the step is written)."""
    return ApplicationStatusChanged(
        application_id=app.id, matter_code=app.matter_code, applicant_subject=app.applicant_subject,
        applicant_org_code=app.applicant_org_code, department=app.department, bundle_id=app.bundle_id,
        step_id=step.id, from_status=step.from_status, to_status=step.status,
        stage=stage_of(step.status, app.matter_kind).value, action=step.action, actor=step.actor_subject,
        reason=step.reason, occurred_at=step.occurred_at)


async def step_written(session: AsyncSession, app: Application, previous: str | None, at: datetime) -> None:
    """What follows a written step in the same transaction: the bundle's combined status."""
    if app.bundle_id and previous != app.status:
        await _bundle_part_changed(session, app, at)


async def _bundle_part_changed(session: AsyncSession, app: Application, at: datetime) -> None:
    """Recompute the bundle of ``app`` after its status changed (the change is flushed already)."""
    # The lock serialises the parts of one bundle changing at once: the second waits, then reads the
    # first one's committed status, so the last part to complete always sees the others completed.
    bundle = await session.scalar(select(Bundle).where(Bundle.id == app.bundle_id).with_for_update()
                                  .execution_options(populate_existing=True))
    if bundle is None:
        log.warning("part_of_unknown_bundle", application_id=app.id, bundle_id=app.bundle_id)
        return
    # Columns, not entities: the values in the database, never a stale copy held by this session.
    parts = (await session.execute(select(Application.id, Application.status, Application.matter_kind)
                                   .where(Application.bundle_id == bundle.id).order_by(Application.id))).all()
    status, _ = bundle_status([(p.status, p.matter_kind) for p in parts])
    if status.value == bundle.status:
        return
    previous = bundle.status
    bundle.status = status.value
    bundle.completed_at = at if status in BUNDLE_ENDED else None
    if status == BundleStatus.COMPLETED and previous != BundleStatus.COMPLETED:
        await add_event(session, BundleCompleted(
            bundle_id=bundle.id, bundle_type=bundle.bundle_type, applicant_subject=bundle.applicant_subject,
            application_ids=[p.id for p in parts], completed_at=at), subject=bundle.id)
    log.info("bundle_status_changed", bundle_id=bundle.id, from_status=previous, to_status=status.value)


async def record_step(session: AsyncSession, app: Application, *, status: ApplicationStatus, action: str,
                      actor: str, actor_role: str, actor_name: str | None = None, reason: str | None = None,
                      details: dict[str, Any] | None = None, at: datetime) -> ApplicationStep:
    """Append one timeline step, move the application to ``status`` and write the status event."""
    step, previous = begin_step(app, status=status, action=action, actor=actor, actor_role=actor_role,
                                actor_name=actor_name, reason=reason, details=details, at=at)
    session.add(step)
    await session.flush()
    await add_event(session, status_event(app, step), subject=app.id)
    await step_written(session, app, previous, at)
    return step


def _check(app: Application, action: str, principal: Principal, body: ActionRequest) -> Transition[ApplicationStatus]:
    transition = APPLICATION_MACHINE.check(app.status, action, principal, kind=app.matter_kind, reason=body.reason)
    if action in OWNER_ONLY and app.applicant_subject != principal.subject:
        raise NotFound(messages.APPLICATION_NOT_FOUND)
    handlers.check_holding(app, action, principal, body)
    if action == "extend" and not body.working_days:
        raise ValidationFailed(messages.EXTEND_NEEDS_DAYS, errors=[
            FieldError.of("working_days", messages.EXTEND_DAYS_FIELD, "required")])
    if action != "extend" and body.working_days is not None:
        raise ValidationFailed(messages.WORKING_DAYS_ONLY_FOR_EXTEND, errors=[
            FieldError.of("working_days", messages.WORKING_DAYS_FIELD_UNEXPECTED, "unexpected")])
    if (body.form is not None or body.materials is not None) and action not in RESUBMITTING:
        raise ValidationFailed(messages.FORM_ONLY_ON_RESUBMISSION, errors=[
            FieldError.of("form", messages.FORM_FIELD_UNEXPECTED, "unexpected")])
    return transition


async def perform_action(session: AsyncSession, principal: Principal, app: Application, action: str,
                         body: ActionRequest) -> ApplicationStep:
    """Apply ``action`` to ``app`` (locked by the caller) for ``principal``."""
    transition = _check(app, action, principal, body)
    now = datetime.now(UTC)
    details: dict[str, Any] = {}
    target = transition.target or ApplicationStatus(app.status)
    if action in RESUBMITTING:
        details = await submission.resubmit(session, app, body, now)
        if target == S.UNDER_REVIEW:
            await clock.resume(session, app, now)
    elif action == "accept":
        matter = await session.get(MatterVersion, (app.matter_code, app.matter_version))
        assert matter is not None
        clock.start(app, matter.statutory_days, now)
        app.accepted_at = now
        details = clock.due_details(app)
    elif action == "request_correction":
        clock.pause(session, app, now, body.reason)
    elif action == "extend":
        clock.extend(session, app, body.working_days or 0, body.reason or "", principal.subject, now)
        details = {"working_days": body.working_days, **clock.due_details(app)}
    elif action in ("approve", "deny", "refuse", "withdraw"):
        clock.stop(app, now)
        if action in ("approve", "deny"):
            app.decided_at = now
    elif action == "complete":
        app.completed_at = now
    elif action in HOLDING:
        details = await handlers.hold(session, app, action, principal, body, now)
    step = await record_step(session, app, status=target, action=action, actor=principal.subject,
                             actor_role=_actor_role(principal, transition), actor_name=principal.name,
                             reason=body.reason, details=details, at=now)
    log.info("application_action", application_id=app.id, action=action, status=target.value)
    return step


def actions_open_to(app: Application, principal: Principal) -> list[str]:
    """The actions ``principal`` may take on ``app`` now (what ``perform_action`` would not refuse for the
    status, the role, the owner or the holder), for views that show only those."""
    names = APPLICATION_MACHINE.action_names(app.status, principal, kind=app.matter_kind)
    mine, held = app.assignee_subject == principal.subject, app.assignee_subject is not None
    if principal.is_staff and handlers.held_by_colleague(app, principal):
        return []
    return [a for a in names if not (
        (a in OWNER_ONLY and app.applicant_subject != principal.subject)
        or (a == "claim" and held) or (a == "release" and not mine))]


async def record_licence_issued(session: AsyncSession, event: CloudEvent) -> None:
    """出证: svc-licences reports the licence of an approved licence application."""
    issued = LicenceIssued.from_event(event)
    app = await session.get(Application, issued.application_id, with_for_update=True)
    if app is None:
        log.warning("licence_for_unknown_application", application_id=issued.application_id)
        return
    if app.status != S.APPROVED or app.matter_kind != "licence":
        log.warning("licence_for_application_not_awaiting_one", application_id=app.id, status=app.status)
        return
    await record_step(session, app, status=S.LICENCE_ISSUED, action="issue_licence", actor="svc-licences",
                      actor_role=SERVICE, details={"licence_id": issued.licence_id, "licence_number": issued.licence_number,
                                                   "licence_type": issued.licence_type}, at=datetime.now(UTC))


async def locked_application(session: AsyncSession, application_id: str) -> Application:
    app = await session.scalar(select(Application).where(Application.id == application_id).with_for_update())
    if app is None:
        raise NotFound(messages.APPLICATION_NOT_FOUND)
    return app
