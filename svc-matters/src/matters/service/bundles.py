"""一件事 (integrated services): one submission that files linked applications in several matters
and departments, with the applicant's data and materials given once, one combined status, and a
``BundleCompleted`` event when the last part is completed.

A bundle type is data (``BUNDLE_TYPES``): its member matters and the form values the bundle itself
fixes (e.g. the temporary use of green space in a road excavation is for ``road_excavation``).

Filing is all-or-nothing: every part is checked before anything is written, and a bad value is
reported under the part it belongs to (``parts.<matter>.form.<key>``), or under ``shared.<key>`` /
``shared_materials.<code>`` when it came from the shared values.

The combined status (``BundleStatus``) is recomputed whenever a part's status changes, in the
transaction of that change (``lifecycle.step_written``), with the bundle
row locked so that two parts completing at once cannot both miss that the bundle completed.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency
from kit.auth import Principal, Role
from kit.db import Database
from kit.errors import FieldError, NotFound, ServiceUnavailable, ValidationFailed
from kit.i18n import Text
from kit.pagination import Page, newest_first_after, newest_first_cursor
from matters import messages
from matters.models import Application, Bundle, MatterVersion
from matters.schemas import (
    BUNDLE_STATUS_LABELS_ZH,
    STAGE_LABELS_ZH,
    STATUS_LABELS_ZH,
    ApplicationStatus,
    BundleCreate,
    BundleMember,
    BundlePart,
    BundleStatus,
    BundleTypeView,
    BundleView,
    Stage,
)
from matters.service import applications, materials, submission
from matters.service.catalogue import current_matter, requirements_of
from matters.service.statuses import bundle_status, stage_of

log = structlog.get_logger("matters.bundles")


@dataclass(frozen=True)
class BundleType:
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    matters: tuple[str, ...]
    # Matter code → form values the bundle fixes for that matter (the applicant may not contradict them).
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


BUNDLE_TYPES: dict[str, BundleType] = {t.code: t for t in (
    BundleType(
        "road-excavation-greening", "道路挖掘绿化配套审批", "Road excavation: the greening approvals",
        "道路挖掘需临时使用绿地并迁移树木时，一次提交同时申请临时使用绿地许可和迁移树木许可。",
        "A road excavation that uses green space for a while and moves trees: both permits in one submission.",
        # The excavation uses the green space temporarily and restores it (临时使用绿地, not the permanent
        # 占用已建成绿地 of LR-XK-012), and the trees in its way are moved (迁移树木).
        ("LR-XK-007", "LR-XK-008"),
        presets={"LR-XK-007": {"purpose": "road_excavation", "affects_trees": True}},
    ),
    BundleType(
        "shop-signboard", "店招店牌设置", "Shop signboards",
        "新店开业同时设置一层门头招牌（备案）和二层以上外墙、屋顶或悬挑招牌（审批），一次提交。",
        "A shop putting up its ground-floor signboard (filing) and one on an upper wall, the roof or projecting "
        "(approval): one submission.",
        ("LR-BA-003", "LR-XK-005"),
    ),
    BundleType(
        "plant-quarantine", "林业植物检疫一件事", "Forestry plant quarantine",
        "苗圃产地检疫与种苗调出本市的调运检疫一次申请。",
        "Quarantine of the nursery where plants are produced and of their shipment out of Shanghai, in one submission.",
        ("LR-XK-010", "LR-XK-001"),
        presets={"LR-XK-010": {"planned_dispatch": True}},
    ),
)}

WAITING_FOR_APPLICANT = frozenset({ApplicationStatus.RETURNED, ApplicationStatus.CORRECTION_REQUESTED,
                                   ApplicationStatus.DRAFT})


# --- the types --------------------------------------------------------------------------------

async def _members(session: AsyncSession, bundle_type: BundleType) -> list[MatterVersion]:
    found = []
    for code in bundle_type.matters:
        matter = await current_matter(session, code)
        if matter is None:  # the catalogue lost a member: a configuration fault, not the caller's
            raise ServiceUnavailable(messages.BUNDLE_MATTER_UNAVAILABLE.format(bundle=bundle_type.code, code=code))
        found.append(matter)
    return found


def _type_view(bundle_type: BundleType, members: list[MatterVersion]) -> BundleTypeView:
    field_count: dict[str, int] = {}
    material_count: dict[str, int] = {}
    for m in members:
        for f in m.fields:
            field_count[f["key"]] = field_count.get(f["key"], 0) + 1
        for x in m.materials:
            material_count[x["code"]] = material_count.get(x["code"], 0) + 1
    return BundleTypeView(
        code=bundle_type.code, name_zh=bundle_type.name_zh, name_en=bundle_type.name_en,
        description_zh=bundle_type.description_zh, description_en=bundle_type.description_en,
        matters=[BundleMember(code=m.code, name_zh=m.name_zh, name_en=m.name_en, kind=m.kind, department=m.department,
                              preset_form=bundle_type.presets.get(m.code, {})) for m in members],
        shared_fields=sorted(k for k, n in field_count.items() if n > 1),
        shared_materials=sorted(k for k, n in material_count.items() if n > 1))


async def list_types(session: AsyncSession) -> list[BundleTypeView]:
    return [_type_view(t, await _members(session, t)) for t in BUNDLE_TYPES.values()]


# --- filing a bundle ----------------------------------------------------------------------------

def _check_parts(bundle_type: BundleType, body: BundleCreate) -> list[FieldError]:
    errors = [FieldError.of(f"parts.{code}", messages.BUNDLE_PART_MISSING.format(code=code), "missing_part")
              for code in bundle_type.matters if code not in body.parts]
    errors += [FieldError.of(f"parts.{code}", messages.BUNDLE_PART_UNKNOWN.format(code=code), "unknown_part")
               for code in body.parts if code not in bundle_type.matters]
    return errors


async def _prepare(session: AsyncSession, principal: Principal, bundle_type: BundleType, members: list[MatterVersion],
                   body: BundleCreate) -> tuple[dict[str, tuple[dict[str, Any], dict[str, Any]]], list[FieldError]]:
    """Every part's form and materials with the shared values merged in, and every problem found."""
    errors: list[FieldError] = []
    field_keys = {f["key"] for m in members for f in m.fields}
    material_codes = {x["code"] for m in members for x in m.materials}
    errors += [FieldError.of(f"shared.{k}", messages.BUNDLE_SHARED_FIELD_UNKNOWN, "unknown_field")
               for k in body.shared if k not in field_keys]
    errors += [FieldError.of(f"shared_materials.{c}", messages.BUNDLE_SHARED_MATERIAL_UNKNOWN, "unknown_material")
               for c in body.shared_materials if c not in material_codes]
    prepared: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for matter in members:
        part = body.parts[matter.code]
        keys = {f["key"] for f in matter.fields}
        codes = {x["code"] for x in matter.materials}
        presets = bundle_type.presets.get(matter.code, {})
        # Where each value comes from, so that an error names what the applicant has to change.
        origin: dict[str, str] = {}
        form: dict[str, Any] = {}
        for k, v in body.shared.items():
            if k in keys:
                form[k], origin[k] = v, f"shared.{k}"
        for k, v in part.form.items():
            form[k], origin[k] = v, f"parts.{matter.code}.form.{k}"
        for k, v in presets.items():
            if k in form and form[k] != v:
                errors.append(FieldError.of(origin[k], messages.BUNDLE_FIELD_FIXED.format(value=repr(v)), "fixed_by_bundle"))
            form[k] = v
            origin.setdefault(k, f"parts.{matter.code}.form.{k}")
        material_inputs: dict[str, Any] = {}
        material_origin: dict[str, str] = {}
        for c, v in body.shared_materials.items():
            if c in codes:
                material_inputs[c], material_origin[c] = v, f"shared_materials.{c}"
        for c, v in part.materials.items():
            material_inputs[c], material_origin[c] = v, f"parts.{matter.code}.materials.{c}"
        requirements = requirements_of(matter)
        part_errors = submission.check_form_shape(requirements, form)
        _, material_errors = await materials.resolve_materials(
            session, principal.subject, requirements, material_inputs,
            owner_org_code=submission.licence_holder_org(principal.kind.value, principal.org_code))
        for e in part_errors + material_errors:
            kind, _, key = e.field.partition(".")
            where = (origin if kind == "form" else material_origin).get(key, f"parts.{matter.code}.{e.field}")
            errors.append(e.model_copy(update={"field": where}))
        prepared[matter.code] = (form, material_inputs)
    unique: dict[tuple[str, str | None], FieldError] = {}
    for e in errors:  # a bad shared value is reported once, not once per part
        unique.setdefault((e.field, e.code), e)
    return prepared, list(unique.values())


async def create_bundle(database: Database, principal: Principal, body: BundleCreate,
                        idempotency_key: str | None) -> BundleView:
    """File every part of a bundle in one transaction (the one filed before, for a repeated key)."""

    async def create(session: AsyncSession) -> BundleView:
        bundle_type = BUNDLE_TYPES.get(body.bundle_type)
        if bundle_type is None:
            known = Text("、".join(BUNDLE_TYPES), ", ".join(BUNDLE_TYPES))
            raise ValidationFailed(messages.BUNDLE_TYPE_UNKNOWN, errors=[FieldError.of(
                "bundle_type", messages.BUNDLE_TYPE_UNKNOWN_FIELD.format(bundle_type=body.bundle_type, known=known),
                "unknown_bundle_type")])
        errors = _check_parts(bundle_type, body)
        if errors:
            raise ValidationFailed(messages.BUNDLE_PARTS_MISMATCH, errors=errors)
        members = await _members(session, bundle_type)
        prepared, errors = await _prepare(session, principal, bundle_type, members, body)
        if errors:
            raise ValidationFailed(messages.BUNDLE_UNFIT, errors=errors)
        now = datetime.now(UTC)
        bundle = Bundle(id=uuid.uuid4().hex, bundle_type=bundle_type.code, applicant_subject=principal.subject,
                        status=BundleStatus.IN_PROGRESS.value, created_at=now)
        session.add(bundle)
        await session.flush()
        for matter in members:
            form, material_inputs = prepared[matter.code]
            await applications.file_application(session, principal, matter, form, material_inputs,
                                                origin="bundle", bundle_id=bundle.id)
        log.info("bundle_filed", bundle_id=bundle.id, bundle_type=bundle.bundle_type, parts=len(members))
        return await _view(session, bundle)

    return await idempotency.create_once(database, f"bundles:{principal.subject}", idempotency_key,
                                         body.model_dump(mode="json"), create, BundleView)


# --- reading ----------------------------------------------------------------------------------

async def _views(session: AsyncSession, bundles: Sequence[Bundle]) -> list[BundleView]:
    if not bundles:
        return []
    rows = (await session.execute(
        select(Application.id, Application.bundle_id, Application.matter_code, Application.matter_kind,
               Application.department, Application.status, Application.updated_at, MatterVersion.name_zh)
        .join(MatterVersion, and_(MatterVersion.code == Application.matter_code,
                                  MatterVersion.version == Application.matter_version))
        .where(Application.bundle_id.in_([b.id for b in bundles])))).all()
    by_bundle: dict[str, list[Any]] = {}
    for r in rows:
        by_bundle.setdefault(r.bundle_id, []).append(r)
    views = []
    for b in bundles:
        bundle_type = BUNDLE_TYPES.get(b.bundle_type)
        order = bundle_type.matters if bundle_type else ()
        parts = sorted(by_bundle.get(b.id, []), key=lambda r: (order.index(r.matter_code) if r.matter_code in order
                                                               else len(order), r.matter_code))
        status, stage = bundle_status([(p.status, p.matter_kind) for p in parts])
        part_views = []
        for p in parts:
            part_stage = stage_of(p.status, p.matter_kind)
            part_views.append(BundlePart(
                application_id=p.id, matter_code=p.matter_code, matter_name_zh=p.name_zh, department=p.department,
                status=p.status, status_label_zh=STATUS_LABELS_ZH[ApplicationStatus(p.status)], stage=part_stage,
                stage_label_zh=STAGE_LABELS_ZH[part_stage], updated_at=p.updated_at))
        views.append(BundleView(
            id=b.id, bundle_type=b.bundle_type, name_zh=bundle_type.name_zh if bundle_type else b.bundle_type,
            name_en=bundle_type.name_en if bundle_type else b.bundle_type, status=status,
            status_label_zh=BUNDLE_STATUS_LABELS_ZH[status], stage=stage, stage_label_zh=STAGE_LABELS_ZH[stage],
            needs_applicant=any(p.status in WAITING_FOR_APPLICANT for p in part_views),
            parts_total=len(part_views), parts_completed=sum(p.stage == Stage.COMPLETED for p in part_views),
            parts_closed=sum(p.stage == Stage.CLOSED for p in part_views), parts=part_views,
            applicant=b.applicant_subject, created_at=b.created_at, completed_at=b.completed_at))
    return views


async def _view(session: AsyncSession, bundle: Bundle) -> BundleView:
    return (await _views(session, [bundle]))[0]


def _visibility(principal: Principal) -> Any:
    """Who sees a bundle: its applicant; staff who see every department, or one of its parts' department."""
    if principal.is_staff:
        if applications.staff_sees_all(principal):
            return None
        return exists().where(Application.bundle_id == Bundle.id, Application.department == principal.department)
    if not principal.has_role(Role.APPLICANT):
        return Bundle.id.is_(None)
    return Bundle.applicant_subject == principal.subject


async def get_bundle(session: AsyncSession, principal: Principal, bundle_id: str) -> BundleView:
    stmt = select(Bundle).where(Bundle.id == bundle_id)
    visible = _visibility(principal)
    if visible is not None:
        stmt = stmt.where(visible)
    bundle = await session.scalar(stmt) if len(bundle_id) <= 32 else None
    if bundle is None:  # someone else's bundle and no bundle at all look the same
        raise NotFound(messages.BUNDLE_NOT_FOUND)
    return await _view(session, bundle)


async def list_bundles(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None) -> Page[BundleView]:
    stmt = select(Bundle)
    visible = _visibility(principal)
    if visible is not None:
        stmt = stmt.where(visible)
    after = newest_first_after(cursor, Bundle.created_at, Bundle.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.scalars(stmt.order_by(Bundle.created_at.desc(), Bundle.id.desc()).limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        next_cursor = newest_first_cursor(rows[limit - 1].created_at, rows[limit - 1].id)
    return Page[BundleView](items=await _views(session, rows[:limit]), next_cursor=next_cursor)
