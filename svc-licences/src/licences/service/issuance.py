"""Issuing licences (出证): from an approved decision of svc-matters, once per decision; and new
versions of a licence (变更 change, 延续 renewal, 补发 re-issue) with its history kept."""
from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel
from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.contracts import ApplicantRef, ApplicationStatusChanged
from kit.contracts.licences import LicenceIssued
from kit.db import Database
from kit.errors import FieldError, NotFound, ValidationFailed
from kit.events import add_event
from kit.events.consumer import handling
from kit.events.envelope import CloudEvent
from kit.idempotency import create_once
from kit.protection import keyring
from kit.scheduling import lock_id
from licences import messages
from licences.models import KnownApplication, Licence, LicenceStatusChange, LicenceVersion, StatusList
from licences.schemas import LicenceView, VersionCreate
from licences.service import catalogue, partner_feed, sm2docs
from licences.service.access import licence_view
from licences.service.catalogue import LicenceType
from licences.service.credentials import PERSONAL_FIELDS, sign_credential
from licences.service.issuer import Issuer
from licences.service.status import LICENCE_STATES

log = structlog.get_logger("licences.issuance")

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Form fields that identify or reach a person: kept out of the licence's matter-specific data.
PERSONAL_FORM_FIELDS = frozenset({"applicant_uscc", "applicant_id_number", "applicant_type", "contact_name",
                                  "contact_mobile", "technical_lead_name"})
NAME_FIELDS = ("applicant_name", "business_name", "shop_name", "nursery_name", "contact_name")
_SLOT_LOCK = lock_id("licences.status-slot")


class _Submission(BaseModel):
    """The part of an ``ApplicationSubmitted`` a licence is issued from, validated without the matter's
    requirements (its fields and materials, most of the event) that svc-licences never reads."""

    class _Matter(BaseModel):
        code: str
        kind: str

    application_id: str
    matter: _Matter
    applicant: ApplicantRef
    form: dict[str, Any]
    submitted_at: datetime


_known_applications = cast(Table, KnownApplication.__table__)  # a Core statement: no ORM bulk machinery per row
_upsert = insert(_known_applications)
# Built once and run for a whole batch (executemany); a later submission (a supplement) replaces the form,
# an older one redelivered does not.
_REMEMBER_SUBMISSIONS = _upsert.on_conflict_do_update(
    index_elements=[_known_applications.c.application_id],
    set_={name: _upsert.excluded[name] for name in ("matter_code", "matter_kind", "applicant_subject",
                                                    "applicant_kind", "applicant_org_code", "form", "submitted_at")},
    where=_known_applications.c.submitted_at <= _upsert.excluded.submitted_at)


async def remember_submissions(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Read model: the latest submitted form of every application of a licence matter (a supplement
    replaces the form); the other matters' submissions are never issued from, so they are not kept."""
    rows = []
    for event in events:
        if event.data.get("matter", {}).get("code") not in catalogue.BY_MATTER:
            continue
        with handling(event):
            submitted = _Submission.model_validate(event.data)
        rows.append({"application_id": submitted.application_id, "matter_code": submitted.matter.code,
                     "matter_kind": submitted.matter.kind, "applicant_subject": submitted.applicant.subject,
                     "applicant_kind": submitted.applicant.kind, "applicant_org_code": submitted.applicant.org_code,
                     "form": submitted.form, "submitted_at": submitted.submitted_at})
    if rows:
        await session.execute(_REMEMBER_SUBMISSIONS, rows)


def may_issue(event: CloudEvent) -> bool:
    """Whether a status change could issue a licence (an approval of a licence matter): a look at the
    event's data, so the many other status changes cost no validation."""
    data = event.data
    return (data.get("action") == "approve" and data.get("to_status") == "approved"
            and data.get("matter_code") in catalogue.BY_MATTER)


async def on_decision(session: AsyncSession, event: CloudEvent, issuer: Issuer) -> None:
    """An approval of a licence matter issues its licence; any other status change is ignored."""
    if not may_issue(event):
        return
    changed = ApplicationStatusChanged.from_event(event)
    licence_type = catalogue.BY_MATTER.get(changed.matter_code)
    if licence_type is None:
        return  # a filing or a public-service item: nothing to issue
    if await session.scalar(select(Licence.id).where(Licence.application_id == changed.application_id)):
        log.info("licence_already_issued", application_id=changed.application_id)
        return
    application = await session.get(KnownApplication, changed.application_id)
    if application is None:
        # Raised so the bus delivers the approval again once the submission has been read.
        raise LookupError(f"approval of an application not seen yet: {changed.application_id}")
    await issue_from_application(session, issuer, application, licence_type, changed.occurred_at,
                                 actor=changed.actor)


def _holder(application: KnownApplication) -> dict[str, str]:
    form = application.form
    company = application.applicant_org_code or (form.get("applicant_type") != "person" and form.get("applicant_uscc"))
    if company:
        code, code_type = str(application.applicant_org_code or form.get("applicant_uscc")), "uscc"
    else:
        code, code_type = str(form.get("applicant_id_number") or ""), "resident_id"
    name = next((str(form[k]) for k in NAME_FIELDS if form.get(k)), application.applicant_subject)
    return {"holder_name": name, "holder_code": code, "holder_code_type": code_type}


def holder_code_hash(code: str) -> str:
    return keyring().lookup_hash(code, purpose="licence_holder_code")


def local_day(value: Any, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return None
    moment = datetime.combine(day, time(23, 59, 59) if end else time(0, 0), SHANGHAI)
    return moment.astimezone(UTC)


def validity(licence_type: LicenceType, form: dict[str, Any], decided_at: datetime) -> tuple[datetime, datetime]:
    """From the decision (or the later start date applied for) to the end date applied for, else the type's term."""
    start = max(decided_at, local_day(form.get("start_date"), end=False) or decided_at)
    end = local_day(form.get("end_date"), end=True) if form.get("end_date") else None
    if end is None or end <= start:
        end = start + timedelta(days=licence_type.validity_days)
    return start.replace(microsecond=0), end.replace(microsecond=0)


async def allocate_status_slot(session: AsyncSession, size: int) -> tuple[int, int]:
    """A random free index in a status list (the index reveals nothing about the order of issue)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SLOT_LOCK})
    status_list = await session.scalar(select(StatusList).where(StatusList.allocated < StatusList.size * 3 // 4)
                                       .order_by(StatusList.id).limit(1))
    if status_list is None:
        next_id = (await session.scalar(select(StatusList.id).order_by(StatusList.id.desc()).limit(1)) or 0) + 1
        status_list = StatusList(id=next_id, size=size, bits=bytes(size // 4), allocated=0, revision=0)
        session.add(status_list)
        await session.flush()
    while True:
        index = secrets.randbelow(status_list.size)
        taken = await session.scalar(select(Licence.id).where(Licence.status_list_id == status_list.id,
                                                               Licence.status_index == index))
        if taken is None:
            break
    status_list.allocated += 1
    return status_list.id, index


def signed_fields(licence: Licence, version: LicenceVersion | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields a version's SD-JWT VC and SM2 document sign, visible and personal: the licence's current
    version, or an earlier ``version`` of its history (its identifier, validity and data; the rest, which a
    new version never changes, from the licence)."""
    of = version or licence
    visible = {"licence_identifier": of.identifier, "licence_number": licence.licence_number,
               "licence_type": licence.licence_type, "licence_type_code": licence.type_code,
               "issuer_name": licence.issuer_name, "issuer_code": licence.issuer_code, "region": licence.region,
               "version": of.version, "issued_at": licence.issued_at.astimezone(SHANGHAI).isoformat(),
               "valid_from": of.valid_from.astimezone(SHANGHAI).isoformat(),
               "valid_until": of.valid_until.astimezone(SHANGHAI).isoformat(),
               "data": of.data}
    return visible, {name: getattr(licence, name) for name in PERSONAL_FIELDS}


def sign_sm2(issuer: Issuer, licence: Licence, version: LicenceVersion | None = None) -> str:
    """The SM2 document of the licence's current version (or of an earlier ``version``)."""
    visible, personal = signed_fields(licence, version)
    return sm2docs.sign_document(issuer.keys.sm2_signing_key(), issuer.url, {**visible, **personal},
                                 status_list_id=licence.status_list_id, status_index=licence.status_index)


def _sign(issuer: Issuer, licence: Licence) -> None:
    """The version's SD-JWT VC (ES256) and its SM2 document, over the same fields."""
    visible, personal = signed_fields(licence)
    licence.credential = sign_credential(
        issuer.keys.signing_key(), issuer.url, visible, personal, valid_from=int(licence.valid_from.timestamp()),
        valid_until=int(licence.valid_until.timestamp()), status_list_id=licence.status_list_id,
        status_index=licence.status_index)
    licence.sm2_document = sign_sm2(issuer, licence)


async def issue(session: AsyncSession, issuer: Issuer, licence_type: LicenceType, *, holder_subject: str,
                holder_kind: str, holder: dict[str, str], data: dict[str, Any], valid_from: datetime,
                valid_until: datetime, actor: str, application_id: str | None = None,
                matter_code: str | None = None, holder_org_code: str | None = None,
                licence_number: str | None = None, issued_at: datetime | None = None) -> Licence:
    """Issue a licence: its number, identifier and status slot, signed (SD-JWT VC and SM2), announced.
    ``licence_number`` and ``issued_at``: a paper licence's own (应归尽归, ``licences.service.imports``)."""
    settings = issuer.settings
    serial = int(await session.scalar(text("SELECT nextval('licence_serial')")))
    list_id, index = await allocate_status_slot(session, settings.status_list_size)
    now = issued_at or datetime.now(UTC).replace(microsecond=0)
    licence = Licence(
        id=uuid.uuid4().hex, application_id=application_id, matter_code=matter_code, type_code=licence_type.code,
        licence_type=licence_type.name, serial=serial, version=1, status="active",
        licence_number=licence_number or f"沪绿证〔{now.astimezone(SHANGHAI).year}〕{licence_type.code[-5:]}第{serial:08d}号",
        identifier=catalogue.licence_identifier(licence_type.code, settings.issuer_code, serial, 1),
        holder_subject=holder_subject, holder_kind=holder_kind, issuer_name=settings.issuer_name,
        issuer_code=settings.issuer_code, region=settings.region, issued_at=now, valid_from=valid_from,
        valid_until=valid_until, data=data, status_list_id=list_id, status_index=index,
        holder_code_hash=holder_code_hash(holder["holder_code"]), **holder)
    _sign(issuer, licence)
    session.add(licence)
    await session.flush()
    session.add(LicenceVersion(licence_id=licence.id, version=1, kind="issue", identifier=licence.identifier,
                               valid_from=valid_from, valid_until=valid_until, data=data, actor=actor,
                               credential=licence.credential, sm2_document=licence.sm2_document))
    session.add(LicenceStatusChange(licence_id=licence.id, from_status=None, to_status="active", actor=actor))
    await add_event(session, _issued_event(licence, "issue", holder_org_code), subject=licence.id)
    log.info("licence_issued", licence_id=licence.id, type_code=licence.type_code, application_id=application_id)
    return licence


def _issued_event(licence: Licence, change: str, holder_org_code: str | None = None) -> LicenceIssued:
    return LicenceIssued(
        licence_id=licence.id, licence_number=licence.licence_number, licence_type=licence.licence_type,
        application_id=licence.application_id or "", holder_subject=licence.holder_subject,
        issued_at=licence.issued_at, identifier=licence.identifier, licence_type_code=licence.type_code,
        holder_org_code=holder_org_code or (licence.holder_code if licence.holder_code_type == "uscc" else None),
        version=licence.version, change=change, valid_from=licence.valid_from, valid_until=licence.valid_until)


async def issue_from_application(session: AsyncSession, issuer: Issuer, application: KnownApplication,
                                 licence_type: LicenceType, decided_at: datetime, *, actor: str) -> Licence:
    valid_from, valid_until = validity(licence_type, application.form, decided_at)
    data = {k: v for k, v in application.form.items() if k not in PERSONAL_FORM_FIELDS}
    return await issue(session, issuer, licence_type, holder_subject=application.applicant_subject,
                       holder_kind=application.applicant_kind, holder=_holder(application), data=data,
                       valid_from=valid_from, valid_until=valid_until, actor=actor,
                       application_id=application.application_id, matter_code=application.matter_code,
                       holder_org_code=application.applicant_org_code)


async def create_version(database: Database, issuer: Issuer, principal: Principal, licence_id: str,
                         body: VersionCreate, idempotency_key: str | None) -> LicenceView:
    """A member of staff issues a new version of a licence (once per ``Idempotency-Key``)."""
    async def create(session: AsyncSession) -> LicenceView:
        licence = await session.get(Licence, licence_id, with_for_update=True)
        if licence is None:
            raise NotFound(messages.LICENCE_NOT_FOUND)
        await new_version(session, issuer, licence, kind=body.kind, actor=principal.subject, reason=body.reason,
                          data_changes=body.data_changes, valid_until=body.valid_until, principal=principal)
        return licence_view(licence, reveal=False)

    return await create_once(database, f"licences:version:{licence_id}", idempotency_key,
                             body.model_dump(mode="json"), create, LicenceView)


async def new_version(session: AsyncSession, issuer: Issuer, licence: Licence, *, kind: str, actor: str,
                      reason: str, data_changes: dict[str, Any] | None, valid_until: datetime | None,
                      principal: Principal | None = None) -> Licence:
    """变更 (new data), 延续 (a later end date) or 补发 (the same content again): a new version with a new
    identifier; the earlier versions stay in the history. ``LICENCE_STATES`` says which licence can get one
    (``principal`` None: the caller's right was checked before)."""
    LICENCE_STATES.check(licence.status, kind, principal, reason=reason)
    if kind == "change":
        if not data_changes:
            raise ValidationFailed(messages.CHANGE_NEEDS_DATA, errors=[
                FieldError.of("data_changes", messages.CHANGE_DATA_FIELD_REQUIRED, "required")])
        licence.data = {**licence.data, **data_changes}
    elif data_changes:
        raise ValidationFailed(messages.DATA_ONLY_FOR_CHANGE, errors=[
            FieldError.of("data_changes", messages.DATA_FIELD_ONLY_FOR_CHANGE, "unexpected")])
    if kind == "renewal":
        if valid_until is None or valid_until <= licence.valid_until:
            raise ValidationFailed(messages.RENEWAL_NEEDS_LATER_END, errors=[
                FieldError.of("valid_until", messages.RENEWAL_END_FIELD_TOO_EARLY, "too_early")])
        licence.valid_until = valid_until
        if licence.status == "expired":
            session.add(LicenceStatusChange(licence_id=licence.id, from_status="expired", to_status="active",
                                            reason=reason, actor=actor))
            licence.status = "active"
    elif valid_until is not None:
        raise ValidationFailed(messages.END_ONLY_FOR_RENEWAL, errors=[
            FieldError.of("valid_until", messages.END_FIELD_ONLY_FOR_RENEWAL, "unexpected")])
    licence.version += 1
    licence.identifier = catalogue.licence_identifier(licence.type_code, licence.issuer_code, licence.serial,
                                                      licence.version)
    licence.updated_at = datetime.now(UTC)
    _sign(issuer, licence)
    session.add(LicenceVersion(licence_id=licence.id, version=licence.version, kind=kind,
                               identifier=licence.identifier, valid_from=licence.valid_from,
                               valid_until=licence.valid_until, data=licence.data, reason=reason, actor=actor,
                               credential=licence.credential, sm2_document=licence.sm2_document))
    await add_event(session, _issued_event(licence, kind), subject=licence.id)
    await partner_feed.record_change(session, licence, partner_feed.VERSION_CHANGES.get(kind, "changed"))
    log.info("licence_version", licence_id=licence.id, version=licence.version, kind=kind)
    return licence
