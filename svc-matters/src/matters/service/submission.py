"""What is submitted with an application (办件): the shape of its form values, its materials, and the
new attempt a ``submit`` or ``supplement`` (补正) makes of them.

Whether each value has the right JSON type and allowed form is checked here, at once, with a 422.
Whether the content is right (check digits, ranges, dates in order, required items present) is the
pre-review's job (svc-prequal), which returns the application for correction with reasons.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import SubjectKind
from kit.contracts import ApplicantRef, ApplicationSubmitted, FormFieldSpec, MaterialRef, MatterRequirements
from kit.errors import FieldError, ValidationFailed
from kit.events import add_event
from kit.i18n import Text
from kit.protection import protect_form
from matters import messages
from matters.models import Application, MatterVersion
from matters.schemas import ActionRequest, ApplicationStatus
from matters.service import materials
from matters.service.catalogue import requirements_of

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


def _shape_error(field: FormFieldSpec, value: Any) -> Text | None:
    if value is None:
        return None
    t = field.type
    if t in _TEXT_TYPES:
        if not isinstance(value, str):
            return messages.MUST_BE_STRING
        limit = field.max_length or _DEFAULT_MAX_LENGTH[t]
        if len(value) > limit:
            return messages.MUST_BE_AT_MOST_CHARACTERS.format(limit=limit)
    elif t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return messages.MUST_BE_INTEGER
    elif t == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return messages.MUST_BE_NUMBER
    elif t == "boolean":
        if not isinstance(value, bool):
            return messages.MUST_BE_BOOLEAN
    elif t == "date":
        if not _is_iso_date(value):
            return messages.MUST_BE_DATE
    elif t == "enum":
        allowed = [o.value for o in field.options or []]
        if value not in allowed:
            return messages.MUST_BE_ONE_OF.format(options=Text("、".join(allowed), ", ".join(allowed)))
    return None


def check_form_shape(requirements: MatterRequirements, form: dict[str, Any]) -> list[FieldError]:
    fields = {f.key: f for f in requirements.fields}
    errors: list[FieldError] = []
    for key, value in form.items():
        spec = fields.get(key)
        if spec is None:
            errors.append(FieldError.of(f"form.{key}", messages.FIELD_UNKNOWN, "unknown_field"))
            continue
        problem = _shape_error(spec, value)
        if problem:
            label = Text(spec.label, spec.label_en or key)
            errors.append(FieldError.of(f"form.{key}", messages.FIELD_SHAPE.format(label=label, problem=problem),
                                        "invalid_type"))
    return errors


def licence_holder_org(kind: str, org_code: str | None) -> str | None:
    """The company whose licences an applicant may use for materials: a company applicant's own."""
    return org_code if kind == SubjectKind.COMPANY.value else None


async def validated(session: AsyncSession, applicant: str, org_code: str | None, requirements: MatterRequirements,
                    form: dict[str, Any], material_inputs: dict[str, Any]) -> dict[str, MaterialRef]:
    """The materials the submission names, resolved; a 422 naming every value that does not fit."""
    errors = check_form_shape(requirements, form)
    refs, material_errors = await materials.resolve_materials(session, applicant, requirements, material_inputs,
                                                              owner_org_code=org_code)
    errors += material_errors
    if errors:
        raise ValidationFailed(messages.APPLICATION_UNFIT, errors=errors)
    return refs


def submitted_event(app: Application, requirements: MatterRequirements, refs: dict[str, MaterialRef],
                    at: datetime, *, current: bool = False) -> ApplicationSubmitted:
    """``current``: the version is the matter's current one, whose ``matter.published`` every consumer has
    (or will have: it is retried until then), so the event names it instead of carrying its requirements
    (~6 kB: most of the event, stored, sent and parsed for every submission). A resubmission carries them:
    its version may be older than anything a consumer set up since was told."""
    return ApplicationSubmitted(
        application_id=app.id, attempt=app.attempt, matter=requirements.reference() if current else requirements,
        applicant=ApplicantRef(subject=app.applicant_subject, kind=app.applicant_kind, org_code=app.applicant_org_code),
        # Personal values stay encrypted in the outbox and on the bus; svc-prequal reveals them.
        form=protect_form(app.form), materials=refs, submitted_at=at, department=app.department)


async def _announce_submission(session: AsyncSession, app: Application, requirements: MatterRequirements,
                               refs: dict[str, MaterialRef], at: datetime) -> None:
    if app.submitted_at != at:
        app.submitted_at = at
    exempted = await materials.record_application_materials(session, app, refs)
    if app.exempted_materials != exempted:
        app.exempted_materials = exempted
    await add_event(session, submitted_event(app, requirements, refs, at), subject=app.id)


async def resubmit(session: AsyncSession, app: Application, body: ActionRequest, at: datetime) -> dict[str, Any]:
    """New form values and materials for ``submit`` or ``supplement`` (补正): a new attempt, pre-reviewed
    again; the step's details."""
    matter = await session.get(MatterVersion, (app.matter_code, app.matter_version))
    assert matter is not None
    requirements = requirements_of(matter)
    form = {**app.form, **(body.form or {})}
    kept = {code: (ref["material_id"] if ref.get("kind") == "upload" else
                   {"licence_id": ref["licence_id"]} if ref.get("kind") == "licence" else
                   {"from_application": ref["from_application"]})
            for code, ref in (app.materials or {}).items()}
    inputs = {**kept, **(body.materials or {})}
    refs = await validated(session, app.applicant_subject, licence_holder_org(app.applicant_kind, app.applicant_org_code),
                           requirements, form, inputs)
    if app.status == ApplicationStatus.RETURNED or app.status == ApplicationStatus.DRAFT:
        if app.status == ApplicationStatus.RETURNED:
            app.attempt += 1
        app.form = form
        app.materials = materials.stored_form(refs)
        await _announce_submission(session, app, requirements, refs, at)
        return {"attempt": app.attempt, "changed_fields": sorted((body.form or {}).keys()),
                "changed_materials": sorted((body.materials or {}).keys())}
    # After acceptance the correction goes straight back to the reviewer (no second pre-review).
    app.form = form
    app.materials = materials.stored_form(refs)
    return {"changed_fields": sorted((body.form or {}).keys()), "changed_materials": sorted((body.materials or {}).keys())}
