"""Submitting applications (办件), who may see them, listing them, and moving them on when the
pre-review verdict arrives."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import String, and_, any_, bindparam, literal, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency
from kit import messages as kit_messages
from kit.audit import record_audit
from kit.auth import BUREAU, Principal, Role, sees_every_department
from kit.calendar import SHANGHAI, local_date
from kit.contracts import (
    MaterialRef,
    PrereviewVerdictIssued,
)
from kit.db import Database
from kit.errors import BadRequest, Conflict, FieldError, NotFound, ValidationFailed
from kit.events import CloudEvent, outbox, outbox_row
from kit.events.consumer import handling
from kit.pagination import Page, decode_cursor, encode_cursor, newest_first_after, newest_first_cursor
from kit.protection import is_personal, mask_form
from matters import messages
from matters.models import Application, ApplicationMaterial, ApplicationStep, CompanyAuthorisation, MatterVersion
from matters.schemas import (
    STAGE_LABELS_ZH,
    STATUS_LABELS_ZH,
    ActionRequest,
    ApplicationCreate,
    ApplicationListItem,
    ApplicationSort,
    ApplicationStatus,
    ApplicationView,
    TimelineStep,
)
from matters.service import clock, handlers, lifecycle, materials, submission
from matters.service.catalogue import current_matter, forget_current, requirements_of
from matters.service.statuses import HOLDING, stage_of

log = structlog.get_logger("matters.applications")

PREQUAL_ACTOR = "svc-prequal"

# --- views ------------------------------------------------------------------------------------

def _actor_shown(step: ApplicationStep, principal: Principal | None) -> str:
    """Staff are shown to applicants by their role, not by who they are."""
    if principal is None or principal.is_staff or step.actor_role in ("applicant", "service"):
        return step.actor_subject
    return {"window_officer": "窗口工作人员", "reviewer": "审查人员"}.get(step.actor_role, "工作人员")


def step_view(step: ApplicationStep, principal: Principal | None = None) -> TimelineStep:
    return TimelineStep(id=step.id, from_status=step.from_status, status=step.status,
                        status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(step.status)], action=step.action,
                        actor=_actor_shown(step, principal), actor_role=step.actor_role, reason=step.reason,
                        details=step.details or {}, occurred_at=step.occurred_at)


def application_view(app: Application, last_step: ApplicationStep | None = None,
                     principal: Principal | None = None, *, reveal: bool = False) -> ApplicationView:
    """The application as the caller sees it: personal form values masked unless ``reveal``
    (``sees_personal_data``)."""
    stage = stage_of(app.status, app.matter_kind)
    return ApplicationView(
        id=app.id, matter_code=app.matter_code, matter_version=app.matter_version, status=app.status,
        status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(app.status)], stage=stage,
        stage_label_zh=STAGE_LABELS_ZH[stage], department=app.department, origin=app.origin, bundle_id=app.bundle_id,
        clock=clock.view(app), exempted_materials=app.exempted_materials, attempt=app.attempt,
        applicant=app.applicant_subject, form=app.form if reveal else mask_form(app.form), materials=app.materials,
        created_at=app.created_at,
        updated_at=app.updated_at, submitted_at=app.submitted_at,
        last_step=step_view(last_step, principal) if last_step else None,
        assignee=app.assignee_subject if principal is not None and principal.is_staff else None,
        assigned_at=app.assigned_at if principal is not None and principal.is_staff else None,
        allowed_actions=lifecycle.actions_open_to(app, principal) if principal is not None else [],
    )


# --- submitting -------------------------------------------------------------------------------

class MatterRepublished(Conflict):
    """The matter version an application was filed under is no longer the current one: nothing was written."""


# A new application is written by one statement: its row, its first timeline step, its materials and its
# events (the status event gets the step's id from the step's insert). Through the ORM's unit of work the
# same was a dozen round trips and most of a submission's CPU. Column lists come from the models, so a
# new column needs no change here.
def _columns(table: Any, *, skip: tuple[str, ...] = ()) -> list[Any]:
    return [c for c in table.columns if c.name not in skip]


_APPLICATION_COLUMNS = _columns(Application.__table__)
_STEP_COLUMNS = _columns(ApplicationStep.__table__, skip=("id",))
_MATERIAL_COLUMNS = _columns(ApplicationMaterial.__table__, skip=("application_id", "attempt"))
# The application is inserted only while its matter version is still the current one, so a process
# may file against the version it remembers as current (``current_matter(remembered=True)``).
_INSERT_NEW_APPLICATION = text(f"""
WITH new_application AS (
    INSERT INTO applications ({", ".join(c.name for c in _APPLICATION_COLUMNS)})
    SELECT {", ".join(":a_" + c.name for c in _APPLICATION_COLUMNS)}
    WHERE EXISTS (SELECT 1 FROM matter_versions
                  WHERE code = :a_matter_code AND version = :a_matter_version AND is_current)
    RETURNING id, attempt
), first_step AS (
    INSERT INTO application_steps ({", ".join(c.name for c in _STEP_COLUMNS)})
    SELECT {", ".join(":s_" + c.name for c in _STEP_COLUMNS)} FROM new_application
    RETURNING id
), linked_materials AS (
    INSERT INTO application_materials (application_id, attempt, {", ".join(c.name for c in _MATERIAL_COLUMNS)})
    SELECT new_application.id, new_application.attempt, {", ".join("m." + c.name for c in _MATERIAL_COLUMNS)}
    FROM new_application, jsonb_to_recordset(:material_rows) AS m({", ".join(
        f"{c.name} {c.type.compile(dialect=postgresql.dialect())}" for c in _MATERIAL_COLUMNS)})
), written_events AS (
    INSERT INTO outbox (event_id, subject, envelope)
    SELECT e.row ->> 'event_id', e.row ->> 'subject',
           CASE WHEN e.row ->> 'with_step_id' IS NOT NULL THEN jsonb_set(e.row -> 'envelope', '{{data,step_id}}', to_jsonb(first_step.id))
                ELSE e.row -> 'envelope' END
    FROM first_step, jsonb_array_elements(:events) WITH ORDINALITY AS e(row, position)
    ORDER BY e.position
)
SELECT id FROM first_step
""").bindparams(*(bindparam("a_" + c.name, type_=c.type) for c in _APPLICATION_COLUMNS),
                *(bindparam("s_" + c.name, type_=c.type) for c in _STEP_COLUMNS),
                bindparam("material_rows", type_=JSONB), bindparam("events", type_=JSONB))


async def _insert_new_application(session: AsyncSession, app: Application, step: ApplicationStep,
                                  material_rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    params = {"a_" + c.name: getattr(app, c.key) for c in _APPLICATION_COLUMNS}
    params.update({"s_" + c.name: getattr(step, c.key) for c in _STEP_COLUMNS})
    params.update(material_rows=material_rows, events=events)
    step_id = (await session.execute(_INSERT_NEW_APPLICATION, params)).scalar_one_or_none()
    if step_id is None:
        forget_current(app.matter_code)
        raise MatterRepublished(messages.MATTER_REPUBLISHED.format(code=app.matter_code), matter_code=app.matter_code)
    step.id = step_id


def new_application(matter: MatterVersion, principal: Principal, form: dict[str, Any], refs: dict[str, MaterialRef],
                    at: datetime, *, origin: str = "application", bundle_id: str | None = None) -> Application:
    return Application(
        id=uuid.uuid4().hex, matter_code=matter.code, matter_version=matter.version, matter_kind=matter.kind,
        department=matter.department, origin=origin, bundle_id=bundle_id, applicant_subject=principal.subject,
        applicant_kind=principal.kind.value, applicant_org_code=principal.org_code, form=form,
        materials=materials.stored_form(refs), status="", attempt=1, exempted_materials=0, created_at=at,
        updated_at=at, status_since=at, clock_warned_percent=0, clock_due_provisional=False,
    )


async def file_application(session: AsyncSession, principal: Principal, matter: MatterVersion, form: dict[str, Any],
                           material_inputs: dict[str, Any], *, draft: bool = False, origin: str = "application",
                           bundle_id: str | None = None) -> tuple[Application, ApplicationStep]:
    """Validate and store a new application in the caller's transaction (also used by bundles).

    The returned application and step are not in the session: read them again to change them."""
    requirements = requirements_of(matter)
    refs = await submission.validated(session, principal.subject, submission.licence_holder_org(principal.kind.value, principal.org_code),
                            requirements, form, material_inputs)
    now = datetime.now(UTC)
    app = new_application(matter, principal, form, refs, now, origin=origin, bundle_id=bundle_id)
    step, previous = lifecycle.begin_step(app, status=ApplicationStatus.DRAFT if draft else ApplicationStatus.SUBMITTED,
                                          action="save_draft" if draft else "submit", actor=principal.subject,
                                          actor_role="applicant", at=now)
    events = [{**outbox_row(session, lifecycle.status_event(app, step), subject=app.id), "with_step_id": True}]
    material_rows: list[dict[str, Any]] = []
    if not draft:
        app.submitted_at = now
        material_rows = materials.material_rows(refs)
        app.exempted_materials = sum(row["kind"] != "upload" for row in material_rows)
        events.append(outbox_row(session, submission.submitted_event(app, requirements, refs, now, current=True),
                                      subject=app.id))
    await _insert_new_application(session, app, step, material_rows, events)
    await lifecycle.step_written(session, app, previous, now)
    return app, step


async def submit_application(database: Database, principal: Principal, body: ApplicationCreate,
                             idempotency_key: str | None) -> ApplicationView:
    """File a new application (the one filed before, for a repeated key)."""

    async def _file_under_current(session: AsyncSession, *, remembered: bool) -> tuple[Application, ApplicationStep]:
        matter = await current_matter(session, body.matter_code, remembered=remembered)
        if matter is None:
            raise ValidationFailed(messages.MATTER_UNKNOWN, errors=[FieldError.of(
                "matter_code", messages.MATTER_NOT_FOUND.format(code=body.matter_code), "unknown_matter")])
        return await file_application(session, principal, matter, body.form, body.materials, draft=body.draft)

    async def create(session: AsyncSession) -> ApplicationView:
        try:
            app, step = await _file_under_current(session, remembered=True)
        except MatterRepublished:  # remembered version superseded: once more with the one just published
            app, step = await _file_under_current(session, remembered=False)
        log.info("application_filed", application_id=app.id, matter=app.matter_code, draft=body.draft)
        # Masked: this answer is also kept in clear for Idempotency-Key replays; GET shows the applicant all.
        return application_view(app, step, principal)

    # file_application writes with one statement (_INSERT_NEW_APPLICATION): without a key, no transaction.
    return await idempotency.create_once(database, f"applications:{principal.subject}", idempotency_key,
                                         body.model_dump(mode="json") if idempotency_key else None, create,
                                         ApplicationView, one_write=True)


async def act(database: Database, principal: Principal, application_id: str, action: str,
              body: ActionRequest) -> ApplicationView:
    async with database.transaction() as session:
        app = await lifecycle.locked_application(session, application_id)
        if not await may_read(session, app, principal):
            raise NotFound(messages.APPLICATION_NOT_FOUND)
        step = await lifecycle.perform_action(session, principal, app, action, body)
        reveal = await sees_personal_data(session, app, principal)
        if principal.is_staff:
            await handlers.register(session, principal, step.occurred_at)
            holding = {"assignee": app.assignee_subject} if action in HOLDING else {}
            # Last statement of the transaction: the audit chain's lock is held only for the commit.
            await record_audit(session, principal, f"application.{action}", "application", app.id,
                               owner=app.applicant_subject, details={"status": step.status, **holding,
                                                                     "personal_fields_shown": _personal_fields(app, reveal)})
        return application_view(app, step, principal, reveal=reveal)


# --- who may see what -------------------------------------------------------------------------

async def authorised_companies(session: AsyncSession, principal: Principal) -> list[str]:
    return list((await session.scalars(select(CompanyAuthorisation.org_code).where(
        CompanyAuthorisation.grantee_subject == principal.subject, CompanyAuthorisation.revoked_at.is_(None)))).all())


def staff_sees_all(principal: Principal) -> bool:
    return sees_every_department(principal)


async def may_read(session: AsyncSession, app: Application, principal: Principal) -> bool:
    if principal.is_staff:
        return staff_sees_all(principal) or app.department == principal.department
    if app.applicant_subject == principal.subject:
        return True
    if app.applicant_org_code is None:
        return False
    if principal.org_code == app.applicant_org_code and principal.kind.value == "company":
        return True
    return app.applicant_org_code in await authorised_companies(session, principal)


# Staff who handle applications see applicants' personal data in clear; the others (ops, inspectors,
# help desk) see it masked. Applicants see their own, and a company's staff its company's.
HANDLING_ROLES = (Role.WINDOW_OFFICER, Role.REVIEWER)


async def sees_personal_data(session: AsyncSession, app: Application, principal: Principal) -> bool:
    """Whether ``principal`` (who may read ``app``) sees its personal form values unmasked."""
    if principal.is_staff:
        return principal.has_role(*HANDLING_ROLES) and (principal.department in (None, BUREAU)
                                                          or app.department == principal.department)
    return await may_read(session, app, principal)


def _personal_fields(app: Application, revealed: bool) -> list[str]:
    return sorted(k for k, v in (app.form or {}).items() if revealed and v is not None and is_personal(k))


async def readable_application(session: AsyncSession, principal: Principal, application_id: str) -> Application:
    """The application when the caller may see it; otherwise 404, so ids of others' applications leak nothing."""
    app = await session.get(Application, application_id) if len(application_id) <= 32 else None
    if app is None or not await may_read(session, app, principal):
        raise NotFound(messages.APPLICATION_NOT_FOUND)
    return app


async def visibility_filter(session: AsyncSession, principal: Principal) -> Any:
    """The SQL condition selecting exactly the applications ``may_read`` admits."""
    if principal.is_staff:
        return None if staff_sees_all(principal) else Application.department == principal.department
    if not principal.has_role(Role.APPLICANT):
        return Application.id.is_(None)  # partners and services list nothing here
    conditions = [Application.applicant_subject == principal.subject]
    if principal.kind.value == "company" and principal.org_code:
        conditions.append(Application.applicant_org_code == principal.org_code)
    companies = await authorised_companies(session, principal)
    if companies:
        conditions.append(Application.applicant_org_code.in_(companies))
    return or_(*conditions)


async def get_application(session: AsyncSession, principal: Principal, application_id: str) -> ApplicationView:
    app = await readable_application(session, principal, application_id)
    last = await session.scalar(select(ApplicationStep).where(ApplicationStep.application_id == app.id)
                                .order_by(ApplicationStep.id.desc()).limit(1))
    reveal = await sees_personal_data(session, app, principal)
    if principal.subject != app.applicant_subject:
        # Read by someone other than the applicant: staff, the company, or a person it authorised.
        await record_audit(session, principal, "application.read", "application", app.id, owner=app.applicant_subject,
                           details={"personal_fields_shown": _personal_fields(app, reveal)})
        await session.commit()
    return application_view(app, last, principal, reveal=reveal)


async def get_timeline(session: AsyncSession, principal: Principal, application_id: str, *, limit: int,
                       cursor: str | None) -> Page[TimelineStep]:
    app = await readable_application(session, principal, application_id)
    stmt = select(ApplicationStep).where(ApplicationStep.application_id == app.id)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(ApplicationStep.id > int(after.get("id", 0)))
    steps = (await session.scalars(stmt.order_by(ApplicationStep.id).limit(limit + 1))).all()
    next_cursor = encode_cursor({"id": steps[limit - 1].id}) if len(steps) > limit else None
    return Page[TimelineStep](items=[step_view(s, principal) for s in steps[:limit]], next_cursor=next_cursor)


def overdue_condition(today: date) -> Any:
    return and_(Application.clock_started_on.is_not(None), Application.clock_stopped_at.is_(None),
                Application.clock_paused_since.is_(None), Application.clock_due_date < today)


def _due_date_cursor(app: Application) -> str:
    return encode_cursor({"due": app.clock_due_date.isoformat() if app.clock_due_date else None,
                          "t": app.created_at.isoformat(), "id": app.id})


def _due_date_after(cursor: str | None) -> Any:
    """The rows after ``cursor`` in (due date, nulls last; created; id) order; None without a cursor."""
    after = decode_cursor(cursor)
    if not after:
        return None
    try:
        due = date.fromisoformat(after["due"]) if after["due"] is not None else None
        at, last_id = datetime.fromisoformat(str(after["t"])), str(after["id"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(kit_messages.CURSOR_INVALID) from None
    if at.tzinfo is None:
        raise BadRequest(kit_messages.CURSOR_INVALID)
    later_same_due = tuple_(Application.created_at, Application.id) > tuple_(literal(at), literal(last_id))
    if due is None:
        return and_(Application.clock_due_date.is_(None), later_same_due)
    return or_(Application.clock_due_date > due, and_(Application.clock_due_date == due, later_same_due),
               Application.clock_due_date.is_(None))


async def list_applications(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                            status: ApplicationStatus | None = None, matter_code: str | None = None,
                            overdue: bool | None = None, created_from: date | None = None,
                            created_to: date | None = None, applicant: str | None = None,
                            department: str | None = None, assignee: str | None = None,
                            sort: ApplicationSort = ApplicationSort.CREATED) -> Page[ApplicationListItem]:
    """``assignee``: ``me``, ``none`` (nobody holds it) or a colleague's subject (staff only)."""
    stmt = select(Application)
    visible = await visibility_filter(session, principal)
    if visible is not None:
        stmt = stmt.where(visible)
    if status:
        stmt = stmt.where(Application.status == status.value)
    if matter_code:
        stmt = stmt.where(Application.matter_code == matter_code)
    if department:
        stmt = stmt.where(Application.department == department)
    if applicant:
        if not principal.is_staff:
            raise BadRequest(messages.APPLICANT_FILTER_STAFF_ONLY)
        stmt = stmt.where(or_(Application.applicant_subject == applicant, Application.applicant_org_code == applicant))
    if assignee:
        if not principal.is_staff:
            raise BadRequest(messages.ASSIGNEE_FILTER_STAFF_ONLY)
        stmt = stmt.where(Application.assignee_subject.is_(None) if assignee == "none" else
                          Application.assignee_subject == (principal.subject if assignee == "me" else assignee))
    today = local_date(datetime.now(UTC))
    if overdue is True:
        stmt = stmt.where(overdue_condition(today))
    elif overdue is False:
        stmt = stmt.where(~overdue_condition(today))
    if created_from:
        stmt = stmt.where(Application.created_at >= datetime.combine(created_from, datetime.min.time(), SHANGHAI))
    if created_to:
        stmt = stmt.where(Application.created_at < datetime.combine(created_to + timedelta(days=1), datetime.min.time(),
                                                                    SHANGHAI))
    if sort == ApplicationSort.DUE_DATE:
        after = _due_date_after(cursor)
        order: tuple[Any, ...] = (Application.clock_due_date.asc().nulls_last(), Application.created_at, Application.id)
    else:
        after = newest_first_after(cursor, Application.created_at, Application.id)
        order = (Application.created_at.desc(), Application.id.desc())
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.scalars(stmt.order_by(*order).limit(limit + 1))).all()
    items = []
    for a in rows[:limit]:
        overdue_now = (a.clock_started_on is not None and a.clock_paused_since is None and a.clock_due_date is not None
                       and (local_date(a.clock_stopped_at) if a.clock_stopped_at else today) > a.clock_due_date)
        items.append(ApplicationListItem(
            id=a.id, matter_code=a.matter_code, status=a.status, status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(a.status)],
            stage=stage_of(a.status, a.matter_kind), department=a.department, due_date=a.clock_due_date,
            due_date_provisional=a.clock_due_provisional, overdue=overdue_now,
            paused=a.clock_paused_since is not None and a.clock_stopped_at is None,
            assignee=a.assignee_subject if principal.is_staff else None, created_at=a.created_at, updated_at=a.updated_at))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (_due_date_cursor(last) if sort == ApplicationSort.DUE_DATE
                       else newest_first_cursor(last.created_at, last.id))
    return Page[ApplicationListItem](items=items, next_cursor=next_cursor)


# --- the pre-review verdict ----------------------------------------------------------------------

def _verdict_step(app: Application, verdict: PrereviewVerdictIssued, event: CloudEvent) -> dict[str, Any] | None:
    """The timeline step a verdict makes of a submitted application, or None when history stands."""
    if app.status != ApplicationStatus.SUBMITTED or app.attempt != verdict.attempt:
        # A verdict on an earlier attempt, or one that arrives after the applicant withdrew: history stands.
        log.info("stale_verdict_ignored", application_id=app.id, status=app.status, attempt=verdict.attempt)
        return None
    blocking = [f for f in verdict.findings if f.severity == "blocking"]
    # Only a blocking finding sends the application back to the applicant. "needs_human_review" (a
    # warning, or a rule that could not be evaluated) goes on to the window officer, who sees why and
    # decides at acceptance (受理) — the applicant is not asked to fix what nobody found wrong.
    returned = verdict.verdict == "returned"
    needs_human_review = verdict.verdict == "needs_human_review"
    if returned:
        reason = "；".join(f.message_zh for f in blocking) or "预审未通过"
    elif needs_human_review:
        reason = "需人工核对：" + ("；".join(f.message_zh for f in verdict.findings) or "部分规则未能自动判断")
    else:
        reason = None
    return dict(status=ApplicationStatus.RETURNED if returned else ApplicationStatus.PREREVIEWED,
                action="prereview", actor=PREQUAL_ACTOR, actor_role="service", reason=reason,
                details={"findings": [f.model_dump() for f in verdict.findings], "ruleset": verdict.ruleset,
                         "verdict": verdict.verdict, "needs_human_review": needs_human_review,
                         "verdict_event_id": event.id, "attempt": verdict.attempt})


async def apply_prereview_verdicts(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Move submitted applications to 预审通过 or 退回补正 as svc-prequal decided, a fetched batch at once:
    the applications locked by one query, their steps inserted by one flush and their events by one
    statement, where one verdict at a time took seven round trips."""
    # Without each rule's result: svc-matters keeps the findings (svc-prequal serves the results), and
    # validating a result per rule was most of the work of reading a verdict.
    verdicts = [(event, PrereviewVerdictIssued.from_event(event, without=("results",))) for event in events]
    # Locked in id order, so two replicas' batches touching the same applications cannot deadlock.
    ids = sorted({verdict.application_id for _, verdict in verdicts})
    apps = {app.id: app for app in (await session.scalars(
        select(Application).where(Application.id == any_(bindparam("ids", ids, type_=ARRAY(String))))
        .order_by(Application.id).with_for_update())).all()}
    now = datetime.now(UTC)
    written: list[tuple[CloudEvent, Application, ApplicationStep, str | None]] = []
    for event, verdict in verdicts:
        with handling(event):
            app = apps.get(verdict.application_id)
            if app is None:
                log.warning("verdict_for_unknown_application", application_id=verdict.application_id)
                continue
            step_values = _verdict_step(app, verdict, event)
            if step_values is None:
                continue
            app.prereviewed_at = app.prereviewed_at or now
            step, previous = lifecycle.begin_step(app, at=now, **step_values)
            session.add(step)
            written.append((event, app, step, previous))
    if not written:
        return
    await session.flush()
    rows = []
    for event, app, step, _ in written:
        with handling(event):  # each status event continues its verdict's trace
            rows.append(outbox_row(session, lifecycle.status_event(app, step), subject=app.id))
    await session.execute(outbox.insert(), rows)
    for event, app, _, previous in written:
        with handling(event):
            await lifecycle.step_written(session, app, previous, now)


async def apply_prereview_verdict(session: AsyncSession, event: CloudEvent) -> None:
    """One verdict (a batch that failed is handled again one event at a time)."""
    await apply_prereview_verdicts(session, [event])
