"""Automatic data comparison (数据比对): checks that do not depend on a matter's rule set, added to every
pre-review as extra rule results with ids ``compare.*``.

* ``compare.licence.<material>``: a material exempted by a licence (``{"kind": "licence", "licence_id": …}``,
  两个免于提交) must reference a licence the applicant holds that is not revoked nor expired. The
  licences are the read model of ``kit.licence_read_model``, filled from ``lvrong.licences.licence.issued``
  and ``.licence.status_changed`` (a revocation there is what flags it); a licence this read model
  does not know yields ``not_applicable`` with a note (svc-licences may not have told us yet), never a
  false failure.
* ``compare.open_application``: the same subject (account, and the applicant it declares in the form:
  credit code or ID number) has no other open application of the same matter for the same object. The
  object of a matter is the value of a few identifying fields (``OBJECT_FIELDS``, e.g. the address of a
  sign or the site of a tree transplant); a matter absent from that table, or a form without those
  fields, is not compared. Open = anything but draft / completed / refused / denied / withdrawn, from
  ``lvrong.matters.application.status_changed`` (read model ``known_applications``).

* ``compare.business_name``: the applicant unit's name against the business data of the credit code
  the form declares (``prequal.business``, fed by ``lvrong.matters.business.changed``).
* ``compare.business_status``: that applicant unit is not deregistered (blocking) nor suspended (a warning).
* ``compare.licence_held``: for a matter whose licence a holder holds once (``ONE_PER_HOLDER``: an operator's
  licence, not one per sign or site), the applicant unit holds none in force already — a second application
  is a change or a renewal (变更、延续) of the one held; a warning, the officer decides.

A draft (``POST /v1/prequal/check``) gets the same checks and messages (``draft_results``), read-only.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.contracts import ApplicantRef, ApplicationStatusChanged, ApplicationSubmitted, MaterialRef, MatterRequirements
from kit.events import CloudEvent
from kit.licence_read_model import LicenceReadModel
from kit.protection import keyring
from prequal.models import KnownApplication, KnownBusiness, KnownLicence, Verdict
from prequal.service.business import (
    PERSON_APPLICANT_TYPES,
    applicant_code,
    business_name_result,
    business_status_result,
    declared_code,
    known_businesses,
    name_outcome,
    status_outcome,
)
from prequal.service.rules import RuleResult

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
# Matter → the licence it issues, for the matters whose licence one holder holds once: the operator's licence
# for household-waste cleaning, collection and transport (《城市生活垃圾管理办法》: one licence per operator,
# changed or renewed, not applied for again). Licences are matched by the type svc-licences issues.
ONE_PER_HOLDER: dict[str, str] = {"LR-XK-013": "生活垃圾经营许可证"}
HELD_RULE = "compare.licence_held"
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
        if form.get("applicant_type") in PERSON_APPLICANT_TYPES and key == "applicant_uscc":
            continue
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().upper()[:64]
    return None


def _result(rule_id: str, targets: list[str], outcome: str, zh: str | None = None, en: str | None = None,
            finding_code: str | None = None, severity: str = "blocking") -> RuleResult:
    return RuleResult(rule_id=rule_id, finding_code=finding_code, targets=targets, outcome=outcome,
                      severity=severity, message_zh=zh, message_en=en)


# ---- read models --------------------------------------------------------------------------------------

# Licences issued and their status changes (kit.licence_read_model): filled by the consumer
# ``KNOWN_LICENCES.subscription()``, read by pre-fill too.
KNOWN_LICENCES = LicenceReadModel(KnownLicence)


async def on_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    await record_status_changes(session, [ApplicationStatusChanged.from_event(event)])


_known_applications = cast(Table, KnownApplication.__table__)  # Core statements: no ORM bulk machinery per row
_verdicts = cast(Table, Verdict.__table__)
_status_upsert = insert(_known_applications)
_known = _known_applications.c
# Both compiled once and run for a whole batch of status changes (executemany). A later status wins,
# an earlier one redelivered does not.
_RECORD_STATUS = _status_upsert.on_conflict_do_update(
    index_elements=[_known.application_id],
    set_={"status": _status_upsert.excluded.status, "status_at": _status_upsert.excluded.status_at},
    where=_known.status_at.is_(None) | (_known.status_at <= _status_upsert.excluded.status_at))
# Verdicts given before submissions carried the department learn it from the next status change.
_LEARN_DEPARTMENT = (update(_verdicts)
                     .where(_verdicts.c.application_id == bindparam("changed_application"),
                            _verdicts.c.department.is_(None))
                     .values(department=bindparam("changed_department")))


async def record_status_changes(session: AsyncSession, changes: list[ApplicationStatusChanged]) -> None:
    """Each application's latest status (open or not), from a batch of status changes in stream order."""
    if not changes:
        return
    # Sorted by application (stable: one application's changes stay in order), one lock order for every replica.
    ordered = sorted(changes, key=lambda c: c.application_id)
    await session.execute(_RECORD_STATUS, [
        {"application_id": c.application_id, "matter_code": c.matter_code, "applicant_subject": c.applicant_subject,
         "status": c.to_status, "status_at": c.occurred_at} for c in ordered])
    departments = [{"changed_application": c.application_id, "changed_department": c.department}
                   for c in ordered if c.department]
    if departments:
        await session.execute(_LEARN_DEPARTMENT, departments)


_stmt = insert(KnownApplication)
# Compiled once, run for a batch of rows (executemany).
_REMEMBER_SUBMISSION = _stmt.on_conflict_do_update(index_elements=["application_id"], set_={
    "applicant_key": _stmt.excluded.applicant_key, "object_key": _stmt.excluded.object_key,
    "object_label": _stmt.excluded.object_label,
    "first_submitted_at": func.coalesce(KnownApplication.first_submitted_at, _stmt.excluded.first_submitted_at),
}).returning(KnownApplication.application_id, KnownApplication.first_submitted_at)


async def _remember_submissions(session: AsyncSession, batch: list[ApplicationSubmitted],
                                objects: dict[str, tuple[tuple[str, str] | None, str | None]]) -> dict[str, dt.datetime]:
    """Record each application's object (one statement); returns when each was first submitted."""
    rows = []
    for submitted in sorted(batch, key=lambda s: s.application_id):  # one lock order for every replica
        obj, who = objects[submitted.application_id]
        rows.append({"application_id": submitted.application_id, "matter_code": submitted.matter.code,
                     "applicant_subject": submitted.applicant.subject, "applicant_key": who,
                     "object_key": obj[0] if obj else None, "object_label": obj[1] if obj else None,
                     "status": "submitted", "status_at": None, "first_submitted_at": submitted.submitted_at})
    first = dict((await session.execute(_REMEMBER_SUBMISSION, rows)).all())
    return {s.application_id: first.get(s.application_id) or s.submitted_at for s in batch}


# ---- the checks ---------------------------------------------------------------------------------------

def _licence_ids(submitted: ApplicationSubmitted) -> set[str]:
    return {ref.licence_id for ref in submitted.materials.values() if ref.kind == "licence" and ref.licence_id}


async def licence_results(session: AsyncSession, submitted: ApplicationSubmitted) -> list[RuleResult]:
    return _licence_outcomes(submitted, await KNOWN_LICENCES.by_id(session, _licence_ids(submitted)))


def _licence_outcomes(submitted: ApplicationSubmitted, known: dict[str, KnownLicence]) -> list[RuleResult]:
    refs = {code: ref for code, ref in submitted.materials.items() if ref.kind == "licence"}
    if not refs:
        return [_result(LICENCE_RULE, ["materials"], "not_applicable")]
    on = submitted.submitted_at
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
        elif not lic.held_by(submitted.applicant.subject, submitted.applicant.org_code):
            out.append(_result(rule_id, targets, "failed",
                               f"材料 {code} 引用的证照 {lic.licence_number} 不属于申请人，请上传该材料",
                               f"the licence {lic.licence_number} given for material {code} is not held by the "
                               "applicant: upload the material", "compare-licence"))
        elif lic.revoked_by(on):
            out.append(_result(rule_id, targets, "failed",
                               f"材料 {code} 引用的证照 {lic.licence_number} 已被撤销，请上传该材料",
                               f"the licence {lic.licence_number} given for material {code} has been revoked: upload "
                               "the material", "compare-licence"))
        elif lic.valid_until is not None and lic.expired_by(on):
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
    other = None
    if obj is not None:
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
    return _open_outcome(submitted, obj, other)


def _open_outcome(submitted: ApplicationSubmitted, obj: tuple[str, str] | None, other: Any) -> RuleResult:
    """The result given the earlier open application found (with ``application_id`` and ``status``), if any."""
    keys = OBJECT_FIELDS.get(submitted.matter.code, ())
    targets = [f"form.{k}" for k in keys] or ["application"]
    if obj is None:
        return _result(OPEN_RULE, targets, "not_applicable", severity=OPEN_RULE_SEVERITY)
    if other is None:
        return _result(OPEN_RULE, targets, "passed", severity=OPEN_RULE_SEVERITY)
    return _result(OPEN_RULE, targets, "failed",
                   f"您已有同一事项、同一对象（{obj[1]}）的在办申请 {other.application_id}（状态：{other.status}），"
                   "请勿重复申报；如需变更请撤回原申请或在原申请上补正",
                   f"you already have an open application {other.application_id} (status: {other.status}) of this "
                   f"matter for the same object ({obj[1]}): do not apply twice; withdraw it or correct that one instead",
                   "compare-duplicate", severity=OPEN_RULE_SEVERITY)


def _object_and_applicant(submitted: ApplicationSubmitted) -> tuple[tuple[str, str] | None, str | None]:
    obj, declared = object_of(submitted.matter.code, submitted.form), applicant_key(submitted.form)
    # Kept and compared as a keyed hash: the declared applicant may be a resident ID number.
    return obj, keyring().lookup_hash(declared, purpose="applicant") if declared else None


async def compare_results(session: AsyncSession, submitted: ApplicationSubmitted) -> list[RuleResult]:
    """Every ``compare.*`` result of one submission; also records it in the applications read model."""
    return (await compare_batch(session, [submitted]))[0]


@dataclass
class Looked:
    """What the comparison of a batch of submissions looked up once for all of them."""

    objects: dict[str, tuple[tuple[str, str] | None, str | None]]  # application → (object, applicant hash)
    first_submitted: dict[str, dt.datetime]  # application → when it was first submitted (its priority)
    licences: dict[str, KnownLicence]
    businesses: dict[str, KnownBusiness]  # by credit code, of every applicant unit declared
    # open applications of the batch's subjects, matters and objects, by (subject, matter, object): each
    # submission looks at its own few, not at the whole batch's (quadratic in the batch's size)
    open_applications: dict[tuple[str, str, str], list[Any]]
    # licences of the ONE_PER_HOLDER types held by the batch's applicant units, by (credit code, type)
    held: dict[tuple[str, str], list[KnownLicence]]


async def compare_batch(session: AsyncSession, batch: list[ApplicationSubmitted]) -> list[list[RuleResult]]:
    """The ``compare.*`` results of several submissions (each application at most once), with one
    statement per read model for the whole batch; each gets what it would get alone, as if the batch
    were handled in order of first submission. Records them in the applications read model."""
    objects = {s.application_id: _object_and_applicant(s) for s in batch}
    first = await _remember_submissions(session, batch, objects)
    probes = {(s.applicant.subject, s.matter.code, obj[0]) for s in batch if (obj := objects[s.application_id][0])}
    looked = Looked(objects, first, await KNOWN_LICENCES.by_id(session, set().union(*map(_licence_ids, batch))),
                    await known_businesses(session, {code for s in batch if (code := applicant_code(s))}),
                    await _open_applications(session, probes), await _held_licences(session, batch))
    return [application_results(s, looked) for s in batch]


def _held_probe(submitted: ApplicationSubmitted) -> tuple[str, str] | None:
    licence_type = ONE_PER_HOLDER.get(submitted.matter.code)
    code = applicant_code(submitted) if licence_type else None
    return (code, licence_type) if code and licence_type else None


async def _held_licences(session: AsyncSession, batch: list[ApplicationSubmitted]
                         ) -> dict[tuple[str, str], list[KnownLicence]]:
    """The ``ONE_PER_HOLDER`` licences the batch's applicant units hold, by (credit code, type): one query."""
    probes = {probe for s in batch if (probe := _held_probe(s))}
    if not probes:
        return {}
    found: dict[tuple[str, str], list[KnownLicence]] = {}
    for lic in (await session.scalars(select(KnownLicence).where(
            tuple_(KnownLicence.holder_org_code, KnownLicence.licence_type).in_(probes)))).all():
        found.setdefault((lic.holder_org_code or "", lic.licence_type), []).append(lic)
    return found


def _held_outcome(submitted: ApplicationSubmitted, held: list[KnownLicence]) -> RuleResult:
    """The result given the licences of the matter's type the applicant unit holds (any status)."""
    targets = ["form.applicant_uscc"]
    if _held_probe(submitted) is None:
        return _result(HELD_RULE, targets, "not_applicable", severity="warning")
    on = submitted.submitted_at
    in_force = sorted((lic for lic in held if not lic.revoked_by(on) and not lic.expired_by(on)),
                      key=lambda lic: lic.licence_number)
    if not in_force:
        return _result(HELD_RULE, targets, "passed", severity="warning")
    lic = in_force[0]
    return _result(HELD_RULE, targets, "failed",
                   f"申请单位已持有有效的{lic.licence_type}（编号 {lic.licence_number}），如需调整服务范围或期满续期，"
                   "请申请变更或延续，不必重新申请",
                   f"the applicant already holds a {lic.licence_type} in force (number {lic.licence_number}): to change "
                   "its scope or renew it, apply for a change or a renewal instead of a new licence",
                   "compare-licence-held", severity="warning")


async def licence_held_result(session: AsyncSession, submitted: ApplicationSubmitted) -> RuleResult:
    return _held_outcome(submitted, (await _held_licences(session, [submitted])).get(_held_probe(submitted) or ("", ""), []))


async def _open_applications(session: AsyncSession, probes: set[tuple[str, str, str]]
                             ) -> dict[tuple[str, str, str], list[Any]]:
    """The open applications of these (subject, matter, object) triples, by triple."""
    if not probes:
        return {}
    found: dict[tuple[str, str, str], list[Any]] = {}
    for row in (await session.execute(
        select(KnownApplication.application_id, KnownApplication.status, KnownApplication.applicant_subject,
               KnownApplication.matter_code, KnownApplication.object_key, KnownApplication.applicant_key,
               KnownApplication.first_submitted_at)
        .where(tuple_(KnownApplication.applicant_subject, KnownApplication.matter_code,
                      KnownApplication.object_key).in_(probes),
               KnownApplication.status.not_in(CLOSED_STATUSES)))).all():
        found.setdefault((row.applicant_subject, row.matter_code, row.object_key), []).append(row)
    return found


def application_results(submitted: ApplicationSubmitted, looked: Looked) -> list[RuleResult]:
    """Every ``compare.*`` result of one submission of a batch, from what the batch looked up: a new
    check goes here (and in ``draft_results``)."""
    obj, who = looked.objects[submitted.application_id]
    code, unit = declared_code(submitted), applicant_code(submitted)
    return [*_licence_outcomes(submitted, looked.licences),
            name_outcome(submitted, looked.businesses.get(code) if code else None),
            status_outcome(submitted, looked.businesses.get(unit) if unit else None),
            _held_outcome(submitted, looked.held.get(_held_probe(submitted) or ("", ""), [])),
            _open_outcome(submitted, obj, _earlier_open(submitted, obj, who, looked))]


def _earlier_open(submitted: ApplicationSubmitted, obj: tuple[str, str] | None, who: str | None,
                  looked: Looked) -> Any:
    """``open_application_result``'s query, on the batch's open applications."""
    if obj is None:
        return None
    mine = (looked.first_submitted[submitted.application_id], submitted.application_id)
    earlier = [a for a in looked.open_applications.get((submitted.applicant.subject, submitted.matter.code, obj[0]), ())
               if a.applicant_key == who and a.application_id != submitted.application_id
               and a.first_submitted_at is not None and (a.first_submitted_at, a.application_id) < mine]
    return min(earlier, key=lambda a: (a.first_submitted_at, a.application_id), default=None)


DRAFT_ID = "draft"  # never an application's id (those are hex)


async def draft_results(session: AsyncSession, principal: Principal, requirements: MatterRequirements,
                        form: dict[str, Any], materials: dict[str, Any]) -> list[RuleResult]:
    """The ``compare.*`` results of the caller's draft, as if they submitted it now: the same checks and
    messages as a submission's, reading the read models only (the draft is recorded nowhere)."""
    draft = ApplicationSubmitted(
        application_id=DRAFT_ID, matter=requirements, form=form, submitted_at=dt.datetime.now(dt.UTC),
        applicant=ApplicantRef(subject=principal.subject, kind=principal.kind, org_code=principal.org_code),
        # Only licences given for materials are compared; the request schema has checked their shape.
        materials={code: MaterialRef.model_validate(ref) for code, ref in materials.items()
                   if isinstance(ref, dict) and ref.get("kind") == "licence"})
    obj, who = _object_and_applicant(draft)
    return [*await licence_results(session, draft), await business_name_result(session, draft),
            await business_status_result(session, draft), await licence_held_result(session, draft),
            await open_application_result(session, draft, obj, who, draft.submitted_at)]
