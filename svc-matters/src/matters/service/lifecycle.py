"""The life of an application (办件) as a state machine written as data.

申请 draft → submitted → 预审通过 prereviewed | 退回补正 returned → 受理 accepted | 不予受理 refused →
审查 under_review (⇄ correction_requested, clock paused) → 决定 approved | denied →
出证 licence_issued (licence matters, reported by svc-licences) → 办结 completed; the applicant may
withdraw at any point before the decision.

Each action is allowed only from the listed statuses and to the listed roles; anything else is a 409
naming what is possible now (or a 403 when the action is possible but not for this caller). Every
step is appended to the timeline with the status before and after, in the transaction that changes
the status, together with its event.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role
from kit.contracts import ApplicationStatusChanged, LicenceIssued
from kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kit.events import CloudEvent, add_event
from matters.models import Application, ApplicationStep, MatterVersion
from matters.schemas import ActionRequest, AllowedAction, ApplicationStatus, Stage
from matters.service import clock

log = structlog.get_logger("matters.lifecycle")

S = ApplicationStatus
APPLICANT = Role.APPLICANT.value
OFFICER = Role.WINDOW_OFFICER.value
REVIEWER = Role.REVIEWER.value
SERVICE = "service"

OPEN_BEFORE_DECISION = frozenset({S.DRAFT, S.SUBMITTED, S.PREREVIEWED, S.RETURNED, S.ACCEPTED, S.UNDER_REVIEW,
                                  S.CORRECTION_REQUESTED})
CLOCK_RUNNING = frozenset({S.ACCEPTED, S.UNDER_REVIEW, S.CORRECTION_REQUESTED})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[ApplicationStatus]
    target: ApplicationStatus | None  # None: the status does not change (e.g. extend)
    roles: frozenset[str]
    owner_only: bool = False  # the applicant must be the one who filed it
    reason_required: bool = False
    kinds: frozenset[str] = frozenset({"licence", "filing", "public_service"})


TRANSITIONS: tuple[Transition, ...] = (
    Transition("submit", frozenset({S.DRAFT}), S.SUBMITTED, frozenset({APPLICANT}), owner_only=True),
    Transition("supplement", frozenset({S.RETURNED}), S.SUBMITTED, frozenset({APPLICANT}), owner_only=True),
    Transition("supplement", frozenset({S.CORRECTION_REQUESTED}), S.UNDER_REVIEW, frozenset({APPLICANT}),
               owner_only=True),
    Transition("accept", frozenset({S.PREREVIEWED}), S.ACCEPTED, frozenset({OFFICER})),
    Transition("refuse", frozenset({S.PREREVIEWED}), S.REFUSED, frozenset({OFFICER}), reason_required=True),
    Transition("review", frozenset({S.ACCEPTED}), S.UNDER_REVIEW, frozenset({REVIEWER})),
    Transition("request_correction", frozenset({S.UNDER_REVIEW}), S.CORRECTION_REQUESTED, frozenset({REVIEWER}),
               reason_required=True),
    Transition("extend", CLOCK_RUNNING, None, frozenset({REVIEWER}), reason_required=True),
    Transition("approve", frozenset({S.UNDER_REVIEW}), S.APPROVED, frozenset({REVIEWER})),
    Transition("deny", frozenset({S.UNDER_REVIEW}), S.DENIED, frozenset({REVIEWER}), reason_required=True),
    Transition("complete", frozenset({S.LICENCE_ISSUED}), S.COMPLETED, frozenset({OFFICER}), kinds=frozenset({"licence"})),
    Transition("complete", frozenset({S.APPROVED}), S.COMPLETED, frozenset({OFFICER}),
               kinds=frozenset({"filing", "public_service"})),
    Transition("withdraw", OPEN_BEFORE_DECISION, S.WITHDRAWN, frozenset({APPLICANT}), owner_only=True),
)
ACTIONS = sorted({t.action for t in TRANSITIONS})


def stage_of(status: str, matter_kind: str) -> Stage:
    s = ApplicationStatus(status)
    if s in (S.DRAFT, S.RETURNED):
        return Stage.APPLY
    if s == S.SUBMITTED:
        return Stage.PREREVIEW
    if s == S.PREREVIEWED:
        return Stage.ACCEPTANCE
    if s in CLOCK_RUNNING:
        return Stage.REVIEW
    if s == S.APPROVED:
        return Stage.ISSUANCE if matter_kind == "licence" else Stage.DECISION
    if s == S.LICENCE_ISSUED:
        return Stage.ISSUANCE
    if s == S.COMPLETED:
        return Stage.COMPLETED
    return Stage.CLOSED


def transitions_from(app: Application) -> list[Transition]:
    return [t for t in TRANSITIONS if ApplicationStatus(app.status) in t.sources and app.matter_kind in t.kinds]


def allowed_actions(app: Application) -> list[AllowedAction]:
    return [AllowedAction(action=t.action, roles=sorted(t.roles), to_status=t.target.value if t.target else None)
            for t in transitions_from(app)]


def _actor_role(principal: Principal, transition: Transition) -> str:
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
        # Imported here: bundles files its parts through applications, which imports this module.
        from matters.service import bundles

        await bundles.on_part_changed(session, app, at)


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


def _check(app: Application, action: str, principal: Principal, body: ActionRequest) -> Transition:
    if action not in ACTIONS:
        raise NotFound(f"没有名为 {action} 的操作 / no action named {action}", actions=ACTIONS)
    possible = transitions_from(app)
    candidates = [t for t in possible if t.action == action]
    if not candidates:
        raise Conflict(
            f"办件当前状态为 {app.status}，不能执行 {action} / the application is {app.status}: {action} is not possible now",
            status_now=app.status, allowed_actions=[a.model_dump() for a in allowed_actions(app)])
    transition = candidates[0]
    if not principal.has_role(*transition.roles):
        raise Forbidden(f"{action} 需要以下角色之一 / {action} requires one of the roles: {', '.join(sorted(transition.roles))}")
    if transition.owner_only and app.applicant_subject != principal.subject:
        raise NotFound("办件不存在 / no such application")
    if transition.reason_required and not (body.reason and body.reason.strip()):
        raise ValidationFailed(f"{action} 须说明理由 / {action} requires a reason", errors=[{
            "field": "reason", "message": "请填写理由", "message_en": "a reason is required", "code": "required"}])
    if action == "extend" and not body.working_days:
        raise ValidationFailed("延期须给出工作日数 / extend requires working_days", errors=[{
            "field": "working_days", "message": "请填写延长的工作日数", "message_en": "working_days is required",
            "code": "required"}])
    if action != "extend" and body.working_days is not None:
        raise ValidationFailed("working_days 仅用于延期 / working_days is only for extend", errors=[{
            "field": "working_days", "message": "仅延期操作可填写", "message_en": "only for extend", "code": "unexpected"}])
    if (body.form is not None or body.materials is not None) and action not in ("submit", "supplement"):
        raise ValidationFailed("仅提交或补正时可更改表单与材料 / form and materials change only on submit or supplement",
                               errors=[{"field": "form", "message": "此操作不接受表单或材料",
                                        "message_en": "this action takes no form or materials", "code": "unexpected"}])
    return transition


async def perform_action(session: AsyncSession, principal: Principal, app: Application, action: str,
                         body: ActionRequest, *, resubmit: Any = None) -> ApplicationStep:
    """Apply ``action`` to ``app`` (locked by the caller) for ``principal``.

    ``resubmit`` is the coroutine that re-validates and stores a new form and materials for
    ``submit``/``supplement`` (it lives with the submission rules in ``applications``).
    """
    transition = _check(app, action, principal, body)
    now = datetime.now(UTC)
    details: dict[str, Any] = {}
    target = transition.target or ApplicationStatus(app.status)
    if action in ("submit", "supplement"):
        if resubmit is not None:
            details = await resubmit(session, app, body, now)
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
    step = await record_step(session, app, status=target, action=action, actor=principal.subject,
                             actor_role=_actor_role(principal, transition), actor_name=principal.name,
                             reason=body.reason, details=details, at=now)
    log.info("application_action", application_id=app.id, action=action, status=target.value)
    return step


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
        raise NotFound("办件不存在 / no such application")
    return app
