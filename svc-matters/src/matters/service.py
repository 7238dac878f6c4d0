"""Domain rules of svc-matters: the catalogue, submitting applications, who may see them, and
moving them on when the pre-review verdict arrives."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency
from kit.auth import Principal
from kit.contracts import (
    ApplicantRef,
    ApplicationStatusChanged,
    ApplicationSubmitted,
    FormFieldSpec,
    MaterialSpec,
    MatterRequirements,
    PrereviewVerdictIssued,
)
from kit.db import Database
from kit.errors import BadRequest, FieldError, NotFound, ValidationFailed
from kit.events import CloudEvent, add_event
from kit.pagination import Page, decode_cursor, encode_cursor
from matters.models import Application, ApplicationStep, MatterVersion
from matters.schemas import (
    STATUS_LABELS_ZH,
    ApplicationCreate,
    ApplicationListItem,
    ApplicationStatus,
    ApplicationView,
    MatterDetail,
    MatterSummary,
    TimelineStep,
)

log = structlog.get_logger("matters.service")

PREQUAL_ACTOR = "svc-prequal"


# --- catalogue ------------------------------------------------------------------------------

async def list_matters(session: AsyncSession, *, limit: int, cursor: str | None, kind: str | None = None,
                       q: str | None = None) -> Page[MatterSummary]:
    stmt = select(MatterVersion).where(MatterVersion.is_current.is_(True))
    if kind:
        stmt = stmt.where(MatterVersion.kind == kind)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(MatterVersion.name_zh.ilike(like), MatterVersion.name_en.ilike(like),
                              MatterVersion.code.ilike(like)))
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(or_(MatterVersion.position > after.get("p", 0),
                              and_(MatterVersion.position == after.get("p", 0), MatterVersion.code > str(after.get("c", "")))))
    rows = (await session.scalars(stmt.order_by(MatterVersion.position, MatterVersion.code).limit(limit + 1))).all()
    items = [MatterSummary.model_validate(m) for m in rows[:limit]]
    next_cursor = encode_cursor({"p": rows[limit - 1].position, "c": rows[limit - 1].code}) if len(rows) > limit else None
    return Page[MatterSummary](items=items, next_cursor=next_cursor)


async def current_matter(session: AsyncSession, code: str) -> MatterVersion | None:
    return await session.scalar(select(MatterVersion).where(MatterVersion.code == code, MatterVersion.is_current.is_(True)))


async def get_matter(session: AsyncSession, code: str) -> MatterDetail:
    matter = await current_matter(session, code)
    if matter is None:
        raise NotFound(f"事项 {code} 不存在 / no matter {code}")
    return MatterDetail.model_validate(matter)


def requirements_of(matter: MatterVersion) -> MatterRequirements:
    return MatterRequirements(code=matter.code, version=matter.version, kind=matter.kind,  # type: ignore[arg-type]
                              fields=[FormFieldSpec.model_validate(f) for f in matter.fields],
                              materials=[MaterialSpec.model_validate(m) for m in matter.materials])


# --- the shape of a submission --------------------------------------------------------------
# Whether each value has the right JSON type and allowed form is checked here, at once, with a 422.
# Whether the content is right (check digits, ranges, dates in order, required items present) is the
# pre-review's job (svc-prequal), which returns the application for correction with reasons.

_TEXT_TYPES = {"string", "text", "uscc", "resident_id", "mobile", "district", "address"}
_DEFAULT_MAX_LENGTH = {"string": 200, "text": 4000, "address": 300, "district": 20, "uscc": 18, "resident_id": 18,
                       "mobile": 20}


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _shape_error(field: FormFieldSpec, value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    t = field.type
    if t in _TEXT_TYPES:
        if not isinstance(value, str):
            return "应为文本", "must be a string"
        limit = field.max_length or _DEFAULT_MAX_LENGTH[t]
        if len(value) > limit:
            return f"长度不能超过 {limit} 个字符", f"must be at most {limit} characters"
    elif t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "应为整数", "must be an integer"
    elif t == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "应为数字", "must be a number"
    elif t == "boolean":
        if not isinstance(value, bool):
            return "应为是/否", "must be true or false"
    elif t == "date":
        if not _is_iso_date(value):
            return "应为日期（YYYY-MM-DD）", "must be a date (YYYY-MM-DD)"
    elif t == "enum":
        allowed = [o.value for o in field.options or []]
        if value not in allowed:
            return f"应为以下之一：{'、'.join(allowed)}", f"must be one of: {', '.join(allowed)}"
    return None


def check_submission_shape(requirements: MatterRequirements, form: dict[str, Any], materials: dict[str, str]) -> list[FieldError]:
    fields = {f.key: f for f in requirements.fields}
    material_codes = {m.code for m in requirements.materials}
    errors: list[FieldError] = []
    for key, value in form.items():
        spec = fields.get(key)
        if spec is None:
            errors.append(FieldError(field=f"form.{key}", code="unknown_field", message="该事项没有此填报项",
                                     message_en="this matter has no such field"))
            continue
        problem = _shape_error(spec, value)
        if problem:
            errors.append(FieldError(field=f"form.{key}", code="invalid_type", message=f"{spec.label}{problem[0]}",
                                     message_en=f"{spec.label_en or key} {problem[1]}"))
    for code, ref in materials.items():
        if code not in material_codes:
            errors.append(FieldError(field=f"materials.{code}", code="unknown_material", message="该事项不需要此材料",
                                     message_en="this matter has no such material"))
        elif not ref.strip() or len(ref) > 128:
            errors.append(FieldError(field=f"materials.{code}", code="invalid_reference", message="材料编号无效",
                                     message_en="invalid material id"))
    return errors


# --- applications ---------------------------------------------------------------------------

def _step_view(step: ApplicationStep) -> TimelineStep:
    return TimelineStep(status=step.status, status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(step.status)],
                        action=step.action, actor=step.actor_subject, actor_role=step.actor_role, reason=step.reason,
                        details=step.details or {}, occurred_at=step.occurred_at)


def application_view(app: Application, last_step: ApplicationStep | None = None) -> ApplicationView:
    return ApplicationView(
        id=app.id, matter_code=app.matter_code, matter_version=app.matter_version, status=app.status,
        status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(app.status)], attempt=app.attempt,
        applicant=app.applicant_subject, form=app.form, materials=app.materials, created_at=app.created_at,
        updated_at=app.updated_at, submitted_at=app.submitted_at,
        last_step=_step_view(last_step) if last_step else None,
    )


async def _append_step(session: AsyncSession, app: Application, *, status: ApplicationStatus, action: str,
                       actor: str, actor_role: str, reason: str | None = None,
                       details: dict[str, Any] | None = None, at: datetime) -> ApplicationStep:
    previous = app.status if app.id and app.status else None
    step = ApplicationStep(application_id=app.id, status=status.value, action=action, actor_subject=actor,
                           actor_role=actor_role, reason=reason, details=details or {}, occurred_at=at)
    session.add(step)
    app.status = status.value
    app.updated_at = at
    await add_event(session, ApplicationStatusChanged(
        application_id=app.id, matter_code=app.matter_code, applicant_subject=app.applicant_subject,
        from_status=previous if previous != status.value else None, to_status=status.value, actor=actor,
        reason=reason, occurred_at=at), subject=app.id)
    return step


class _LostIdempotencyRace(Exception):
    pass


async def submit_application(database: Database, principal: Principal, body: ApplicationCreate,
                             idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """File a new application; returns the HTTP status and body (replayed for a repeated key)."""
    key = idempotency.check_key(idempotency_key)
    scope = f"applications:{principal.subject}"
    request_fingerprint = idempotency.fingerprint(body.model_dump(mode="json"))
    try:
        async with database.transaction() as session:
            if key:
                stored = await idempotency.replay(session, scope, key, request_fingerprint)
                if stored:
                    return stored
            matter = await current_matter(session, body.matter_code)
            if matter is None:
                raise ValidationFailed("事项不存在 / unknown matter", errors=[FieldError(
                    field="matter_code", code="unknown_matter", message=f"事项 {body.matter_code} 不存在",
                    message_en=f"no matter {body.matter_code}")])
            requirements = requirements_of(matter)
            errors = check_submission_shape(requirements, body.form, body.materials)
            if errors:
                raise ValidationFailed("申请内容不符合事项要求 / the application does not fit the matter", errors=errors)
            now = datetime.now(UTC)
            app = Application(
                id=uuid.uuid4().hex, matter_code=matter.code, matter_version=matter.version,
                applicant_subject=principal.subject, applicant_kind=principal.kind.value,
                applicant_org_code=principal.org_code, form=body.form, materials=body.materials, status="",
                attempt=1, created_at=now, updated_at=now, submitted_at=now,
            )
            session.add(app)
            await session.flush()
            step = await _append_step(session, app, status=ApplicationStatus.SUBMITTED, action="submit",
                                      actor=principal.subject, actor_role="applicant", at=now)
            await add_event(session, ApplicationSubmitted(
                application_id=app.id, attempt=app.attempt, matter=requirements,
                applicant=ApplicantRef(subject=principal.subject, kind=principal.kind.value, org_code=principal.org_code),
                form=app.form, materials=app.materials, submitted_at=now), subject=app.id)
            await session.flush()
            response = application_view(app, step).model_dump(mode="json")
            if key and not await idempotency.record(session, scope, key, request_fingerprint, 201, response):
                raise _LostIdempotencyRace
            log.info("application_submitted", application_id=app.id, matter=matter.code)
            return 201, response
    except _LostIdempotencyRace:
        # A concurrent request with the same key committed first: ours was rolled back, answer with theirs.
        async with database.session() as session:
            stored = await idempotency.replay(session, scope, key or "", request_fingerprint)
            assert stored is not None
            return stored


def may_read(app: Application, principal: Principal) -> bool:
    return principal.is_staff or app.applicant_subject == principal.subject


async def readable_application(session: AsyncSession, principal: Principal, application_id: str) -> Application:
    """The application when the caller may see it; otherwise 404, so ids of others' applications leak nothing."""
    app = await session.get(Application, application_id) if len(application_id) <= 32 else None
    if app is None or not may_read(app, principal):
        raise NotFound("办件不存在 / no such application")
    return app


async def get_application(session: AsyncSession, principal: Principal, application_id: str) -> ApplicationView:
    app = await readable_application(session, principal, application_id)
    last = await session.scalar(select(ApplicationStep).where(ApplicationStep.application_id == app.id)
                                .order_by(ApplicationStep.id.desc()).limit(1))
    return application_view(app, last)


async def get_timeline(session: AsyncSession, principal: Principal, application_id: str, *, limit: int,
                       cursor: str | None) -> Page[TimelineStep]:
    app = await readable_application(session, principal, application_id)
    stmt = select(ApplicationStep).where(ApplicationStep.application_id == app.id)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(ApplicationStep.id > int(after.get("id", 0)))
    steps = (await session.scalars(stmt.order_by(ApplicationStep.id).limit(limit + 1))).all()
    next_cursor = encode_cursor({"id": steps[limit - 1].id}) if len(steps) > limit else None
    return Page[TimelineStep](items=[_step_view(s) for s in steps[:limit]], next_cursor=next_cursor)


async def list_applications(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                            status: ApplicationStatus | None, matter_code: str | None) -> Page[ApplicationListItem]:
    stmt = select(Application)
    if not principal.is_staff:
        stmt = stmt.where(Application.applicant_subject == principal.subject)
    if status:
        stmt = stmt.where(Application.status == status.value)
    if matter_code:
        stmt = stmt.where(Application.matter_code == matter_code)
    after = decode_cursor(cursor)
    if after:
        try:
            at = datetime.fromisoformat(str(after["t"]))
            last_id = str(after["id"])
        except (KeyError, ValueError):
            raise BadRequest("分页游标无效 / invalid pagination cursor") from None
        stmt = stmt.where(or_(Application.created_at < at, and_(Application.created_at == at, Application.id < last_id)))
    rows = (await session.scalars(stmt.order_by(Application.created_at.desc(), Application.id.desc()).limit(limit + 1))).all()
    items = [ApplicationListItem(id=a.id, matter_code=a.matter_code, status=a.status,
                                 status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(a.status)],
                                 created_at=a.created_at, updated_at=a.updated_at) for a in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"t": last.created_at.isoformat(), "id": last.id})
    return Page[ApplicationListItem](items=items, next_cursor=next_cursor)


async def apply_prereview_verdict(session: AsyncSession, event: CloudEvent) -> None:
    """Move a submitted application to 预审通过 or 退回补正 as svc-prequal decided."""
    verdict = PrereviewVerdictIssued.from_event(event)
    app = await session.get(Application, verdict.application_id, with_for_update=True)
    if app is None:
        log.warning("verdict_for_unknown_application", application_id=verdict.application_id)
        return
    if app.status != ApplicationStatus.SUBMITTED or app.attempt != verdict.attempt:
        # A verdict on an earlier attempt, or one that arrives after the applicant withdrew: history stands.
        log.info("stale_verdict_ignored", application_id=app.id, status=app.status, attempt=verdict.attempt)
        return
    blocking = [f for f in verdict.findings if f.severity == "blocking"]
    passed = verdict.verdict == "passed"
    reason = None if passed else "；".join(f.message_zh for f in blocking) or "预审未通过"
    await _append_step(
        session, app, status=ApplicationStatus.PREREVIEWED if passed else ApplicationStatus.RETURNED,
        action="prereview", actor=PREQUAL_ACTOR, actor_role="service", reason=reason,
        details={"findings": [f.model_dump() for f in verdict.findings], "ruleset": verdict.ruleset,
                 "verdict_event_id": event.id},
        at=datetime.now(UTC),
    )
