"""Automatic data comparison (数据比对): checks that do not depend on a matter's rule set, added to every
pre-review as extra rule results with ids ``compare.*``.

* ``compare.licence.<material>``: a material exempted by a licence (``{"kind": "licence", "licence_id": …}``,
  两个免于提交) must reference a licence the applicant holds that is not revoked nor expired. The
  licences are a read model filled from ``lvrong.licences.licence.issued``; a licence this read model
  does not know yields ``not_applicable`` with a note (svc-licences may not have told us yet), never a
  false failure.
* ``compare.open_application``: the same subject (account, and the applicant it declares in the form:
  credit code or ID number) has no other open application of the same matter for the same object. The
  object of a matter is the value of a few identifying fields (``OBJECT_FIELDS``, e.g. the address of a
  sign or the site of a tree transplant); a matter absent from that table, or a form without those
  fields, is not compared. Open = anything but draft / completed / refused / denied / withdrawn, from
  ``lvrong.matters.application.status_changed`` (read model ``known_applications``).

Not implemented: the applicant's name against business data for the credit code — no event carries
business registrations yet.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted
from kit.contracts.licences import LicenceIssued
from kit.events import CloudEvent
from kit.protection import keyring
from prequal.models import KnownApplication, KnownLicence
from prequal.rules import RuleResult

# The identifying fields of each matter's object: two applications of one matter by one subject with the
# same values in these fields are about the same thing (one sign, one site, one consignment…). Matters
# whose applications are each a separate transaction with no place to tell them apart (wildlife
# import/export and trade approvals LR-XK-003/004/011: the same species may be shipped again) and the
# operator licence LR-XK-013 (no object field but the service area) are not compared.
OBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "LR-XK-001": ("plant_name", "origin_address", "destination", "ship_date"),
    "LR-XK-002": ("site_address",),
    "LR-XK-005": ("address",),
    "LR-XK-006": ("address",),
    "LR-XK-007": ("address",),
    "LR-XK-008": ("from_address",),
    "LR-XK-009": ("event_name", "address"),
    "LR-XK-010": ("address",),
    "LR-XK-012": ("address",),
    "LR-XK-014": ("address",),
    "LR-BA-001": ("address",),
    "LR-BA-002": ("address", "declaration_year"),
    "LR-BA-003": ("address",),
    "LR-BA-004": ("address",),
}
CLOSED_STATUSES = ("draft", "completed", "refused", "denied", "withdrawn")
_SPACE = re.compile(r"[\s　,，。.、·\-－—_]+")

OPEN_RULE = "compare.open_application"
# A warning, not a block: a second application for the same object can be legitimate (a second sign
# at one address, a re-filing after a change), so the window officer sees the other application and
# decides at acceptance instead of the applicant being turned away automatically.
OPEN_RULE_SEVERITY = "warning"
LICENCE_RULE = "compare.licence"


def _norm(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACE.sub("", str(value)).upper()


def object_of(matter_code: str, form: dict[str, Any]) -> tuple[str, str] | None:
    """(normalised key, readable label) of the application's object, or None when it cannot be told."""
    keys = OBJECT_FIELDS.get(matter_code)
    if not keys:
        return None
    values = [form.get(k) for k in keys]
    if any(v is None or (isinstance(v, str) and not v.strip()) for v in values):
        return None
    return "|".join(_norm(v) for v in values)[:400], " / ".join(str(v).strip() for v in values)[:400]


def applicant_key(form: dict[str, Any]) -> str | None:
    """The applicant declared in the form (credit code, else ID number): an agent applying for two
    different companies at one address is not applying twice."""
    for key in ("applicant_uscc", "applicant_id_number"):
        if form.get("applicant_type") == "person" and key == "applicant_uscc":
            continue
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().upper()[:64]
    return None


def _result(rule_id: str, targets: list[str], outcome: str, zh: str | None = None, en: str | None = None,
            finding_code: str | None = None, severity: str = "blocking") -> RuleResult:
    return RuleResult(rule_id=rule_id, finding_code=finding_code, targets=targets, outcome=outcome,  # type: ignore[arg-type]
                      severity=severity, message_zh=zh, message_en=en)  # type: ignore[arg-type]


# ---- read models --------------------------------------------------------------------------------------

async def on_licence_issued(session: AsyncSession, event: CloudEvent) -> None:
    issued = LicenceIssued.from_event(event)
    stmt = insert(KnownLicence).values(licence_id=issued.licence_id, licence_number=issued.licence_number,
                                       licence_type=issued.licence_type, application_id=issued.application_id,
                                       holder_subject=issued.holder_subject, issued_at=issued.issued_at)
    await session.execute(stmt.on_conflict_do_update(index_elements=["licence_id"], set_={
        "licence_number": stmt.excluded.licence_number, "licence_type": stmt.excluded.licence_type,
        "holder_subject": stmt.excluded.holder_subject, "issued_at": stmt.excluded.issued_at,
        "observed_at": func.now()}))


async def on_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    changed = ApplicationStatusChanged.from_event(event)
    stmt = insert(KnownApplication).values(application_id=changed.application_id, matter_code=changed.matter_code,
                                           applicant_subject=changed.applicant_subject, status=changed.to_status,
                                           status_at=changed.occurred_at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["application_id"], set_={"status": stmt.excluded.status, "status_at": stmt.excluded.status_at},
        where=(KnownApplication.status_at.is_(None)) | (KnownApplication.status_at <= stmt.excluded.status_at)))


async def _remember_submission(session: AsyncSession, submitted: ApplicationSubmitted,
                               obj: tuple[str, str] | None, who: str | None) -> dt.datetime:
    """Record the application's object; returns when it was first submitted (its priority)."""
    stmt = insert(KnownApplication).values(
        application_id=submitted.application_id, matter_code=submitted.matter.code,
        applicant_subject=submitted.applicant.subject, applicant_key=who, object_key=obj[0] if obj else None,
        object_label=obj[1] if obj else None, status="submitted", status_at=None,
        first_submitted_at=submitted.submitted_at)
    first = await session.scalar(stmt.on_conflict_do_update(index_elements=["application_id"], set_={
        "applicant_key": stmt.excluded.applicant_key, "object_key": stmt.excluded.object_key,
        "object_label": stmt.excluded.object_label,
        "first_submitted_at": func.coalesce(KnownApplication.first_submitted_at, stmt.excluded.first_submitted_at),
    }).returning(KnownApplication.first_submitted_at))
    return first or submitted.submitted_at


# ---- the checks ---------------------------------------------------------------------------------------

async def licence_results(session: AsyncSession, submitted: ApplicationSubmitted) -> list[RuleResult]:
    refs = {code: ref for code, ref in submitted.materials.items() if ref.kind == "licence"}
    if not refs:
        return [_result(LICENCE_RULE, ["materials"], "not_applicable")]
    ids = {ref.licence_id for ref in refs.values() if ref.licence_id}
    known = {r.licence_id: r for r in (await session.scalars(
        select(KnownLicence).where(KnownLicence.licence_id.in_(ids)))).all()} if ids else {}
    on = submitted.submitted_at
    holders = {submitted.applicant.subject} | ({submitted.applicant.org_code} if submitted.applicant.org_code else set())
    out = []
    for code, ref in sorted(refs.items()):
        rule_id, targets = f"{LICENCE_RULE}.{code}", [f"materials.{code}"]
        lic = known.get(ref.licence_id or "")
        if not ref.licence_id:
            out.append(_result(rule_id, targets, "failed", f"材料 {code} 以证照免于提交，但未注明证照编号",
                               f"material {code} is exempted by a licence but names none", "compare-licence"))
        elif lic is None:
            out.append(_result(rule_id, targets, "not_applicable",
                               f"证照 {ref.licence_id} 尚未同步到预审，未能比对，请人工核验",
                               f"licence {ref.licence_id} is not known to the pre-review yet: not compared, check it by hand"))
        elif lic.holder_subject not in holders:
            out.append(_result(rule_id, targets, "failed",
                               f"材料 {code} 引用的证照 {lic.licence_number} 不属于申请人，请上传该材料",
                               f"the licence {lic.licence_number} given for material {code} is not held by the "
                               "applicant: upload the material", "compare-licence"))
        elif lic.revoked_at is not None and lic.revoked_at <= on:
            out.append(_result(rule_id, targets, "failed",
                               f"材料 {code} 引用的证照 {lic.licence_number} 已被撤销，请上传该材料",
                               f"the licence {lic.licence_number} given for material {code} has been revoked: upload "
                               "the material", "compare-licence"))
        elif lic.valid_until is not None and lic.valid_until < on:
            out.append(_result(rule_id, targets, "failed",
                               f"材料 {code} 引用的证照 {lic.licence_number} 已于 {lic.valid_until.date()} 过期，请上传该材料",
                               f"the licence {lic.licence_number} given for material {code} expired on "
                               f"{lic.valid_until.date()}: upload the material", "compare-licence"))
        else:
            out.append(_result(rule_id, targets, "passed"))
    return out


async def open_application_result(session: AsyncSession, submitted: ApplicationSubmitted,
                                  obj: tuple[str, str] | None, who: str | None, first: dt.datetime) -> RuleResult:
    """Only an application submitted before this one counts: the later duplicate is returned, never the
    original (which may be resubmitted after a correction while the duplicate is still open)."""
    keys = OBJECT_FIELDS.get(submitted.matter.code, ())
    targets = [f"form.{k}" for k in keys] or ["application"]
    if obj is None:
        return _result(OPEN_RULE, targets, "not_applicable", severity=OPEN_RULE_SEVERITY)
    other = (await session.execute(
        select(KnownApplication.application_id, KnownApplication.status)
        .where(KnownApplication.applicant_subject == submitted.applicant.subject,
               KnownApplication.matter_code == submitted.matter.code,
               KnownApplication.object_key == obj[0],
               KnownApplication.applicant_key.is_not_distinct_from(who),
               KnownApplication.application_id != submitted.application_id,
               KnownApplication.status.not_in(CLOSED_STATUSES),
               tuple_(KnownApplication.first_submitted_at, KnownApplication.application_id)
               < tuple_(literal(first), literal(submitted.application_id)))
        .order_by(KnownApplication.first_submitted_at).limit(1))).first()
    if other is None:
        return _result(OPEN_RULE, targets, "passed", severity=OPEN_RULE_SEVERITY)
    return _result(OPEN_RULE, targets, "failed",
                   f"您已有同一事项、同一对象（{obj[1]}）的在办申请 {other.application_id}（状态：{other.status}），"
                   "请勿重复申报；如需变更请撤回原申请或在原申请上补正",
                   f"you already have an open application {other.application_id} (status: {other.status}) of this "
                   f"matter for the same object ({obj[1]}): do not apply twice; withdraw it or correct that one instead",
                   "compare-duplicate", severity=OPEN_RULE_SEVERITY)


async def compare_results(session: AsyncSession, submitted: ApplicationSubmitted) -> list[RuleResult]:
    """Every ``compare.*`` result of one submission; also records it in the applications read model."""
    obj, declared = object_of(submitted.matter.code, submitted.form), applicant_key(submitted.form)
    # Kept and compared as a keyed hash: the declared applicant may be a resident ID number.
    who = keyring().lookup_hash(declared, purpose="applicant") if declared else None
    first = await _remember_submission(session, submitted, obj, who)
    return [*await licence_results(session, submitted), await open_application_result(session, submitted, obj, who, first)]
