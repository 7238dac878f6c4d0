"""一人（企）一码 — a person's or company's code: a QR the holder generates, short-lived and signed like 亮证
(a CWT under the issuer's ES256 key, ``LC1:`` + base45), which an inspector or a window officer scans to see,
as far as the holder consented when generating it, the holder's valid licences and open applications.

The code carries only a random ``cti``, its lifetime and the consent, under the issuer's signature; who the
holder is stays in ``holder_codes``. It rotates: a code works for ``LICENCES_HOLDER_CODE_TTL_SECONDS`` (300)
and a newer code of the same holder supersedes it at once, so a photograph of yesterday's code shows nothing.
Within its lifetime it may be scanned more than once (the inspector and then the window). Every scan — shown
or refused — is recorded for the holder (``holder_code_scans``) and in the hash-chained audit log; what is
shown is masked (the holder's name and codes) as for any reader other than the holder.

Open applications come from this service's own read model of svc-matters' events (``holder_applications``:
every submission and status change), never from svc-matters' tables or an import of its code."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, SubjectKind
from kit.contracts import ApplicationStatusChanged
from kit.contracts.matters import FINAL_APPLICATION_STATUSES
from kit.db import Database
from kit.errors import Conflict, FieldError, ValidationFailed
from kit.events.consumer import handling
from kit.events.envelope import CloudEvent
from kit.idempotency import create_once
from kit.identifiers import mask_uscc
from licences import messages
from licences.models import HolderApplication, HolderCode, HolderCodeScan, Licence
from licences.schemas import (
    HolderApplicationView,
    HolderCodeCreate,
    HolderCodeScanRecord,
    HolderCodeScanView,
    HolderCodeView,
    HolderRef,
)
from licences.service.access import licence_view, mask_name
from licences.service.credentials import (
    CWT_CTI,
    CWT_EXP,
    CWT_IAT,
    PresentationInvalid,
    sign_es256_claims,
    verify_es256_claims,
)
from licences.service.issuance import holder_code_hash
from licences.service.issuer import Issuer
from licences.service.verification import qr_code

log = structlog.get_logger("licences.onecode")

HOLDER_CODE_PREFIX = "LC1:"
CWT_CONSENT = -65541  # private claim: what the holder consented to show (binds the consent into the signature)
SHOWN_AT_MOST = 100  # licences, and applications, a scan lists


# ---- the read model of applications -------------------------------------------------------------

_applications = cast(Table, HolderApplication.__table__)
_upsert = insert(_applications)
# A submission (or a supplement's resubmission) and a status change each set the status as of their moment:
# whichever is later wins, so a redelivered or late event never brings back an older status.
_REMEMBER = _upsert.on_conflict_do_update(
    index_elements=[_applications.c.application_id],
    set_={name: _upsert.excluded[name] for name in ("matter_code", "applicant_subject", "applicant_org_code",
                                                    "status", "status_at")},
    where=_applications.c.status_at < _upsert.excluded.status_at)


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _application_row(event: CloudEvent) -> dict[str, Any]:
    """The read model's row of a submission or a status change: read from the event's data, not validated as
    the whole contract (most of a submission is the matter's requirements, which this never reads)."""
    data = event.data
    if event.type == ApplicationStatusChanged.event_type:
        at = _moment(data["occurred_at"])
        return {"application_id": str(data["application_id"]), "matter_code": str(data["matter_code"]),
                "applicant_subject": str(data["applicant_subject"]), "applicant_org_code": data.get("applicant_org_code"),
                "status": str(data["to_status"]), "submitted_at": at, "status_at": at}
    at = _moment(data["submitted_at"])
    return {"application_id": str(data["application_id"]), "matter_code": str(data["matter"]["code"]),
            "applicant_subject": str(data["applicant"]["subject"]),
            "applicant_org_code": data["applicant"].get("org_code"), "status": "submitted", "submitted_at": at,
            "status_at": at}


async def remember_applications(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Every application's status as svc-matters' events tell it (one statement for a fetched batch)."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        with handling(event):
            row = _application_row(event)
        application_id = row["application_id"]
        earlier = rows.get(application_id)
        if earlier is None or earlier["status_at"] < row["status_at"]:
            rows[application_id] = row if earlier is None else {
                **row, "submitted_at": min(row["submitted_at"], earlier["submitted_at"])}
    if rows:
        await session.execute(_REMEMBER, list(rows.values()))


# ---- the holder's code ------------------------------------------------------------------------------


async def create_code(database: Database, issuer: Issuer, principal: Principal, body: HolderCodeCreate,
                      idempotency_key: str | None) -> HolderCodeView:
    """The holder generates a code (once per ``Idempotency-Key``); it supersedes the holder's earlier ones."""
    consent = sorted(set(body.consent))

    async def create(session: AsyncSession) -> HolderCodeView:
        ttl = issuer.settings.holder_code_ttl_seconds
        now = datetime.now(UTC).replace(microsecond=0)
        cti = secrets.token_bytes(8)
        claims = {CWT_IAT: int(now.timestamp()), CWT_EXP: int(now.timestamp()) + ttl, CWT_CTI: cti,
                  CWT_CONSENT: consent}
        code = sign_es256_claims(issuer.keys.signing_key(), claims, HOLDER_CODE_PREFIX)
        expires_at = now + timedelta(seconds=ttl)
        session.add(HolderCode(cti=cti.hex(), holder_subject=principal.subject, holder_kind=str(principal.kind),
                               holder_name=principal.name, holder_org_code=principal.org_code, consent=consent,
                               created_at=datetime.now(UTC), expires_at=expires_at))
        log.info("holder_code_created", consent=consent)
        return HolderCodeView(code=code, consent=consent, expires_at=expires_at, expires_in=ttl, **qr_code(code))

    return await create_once(database, f"licences:holder-code:{principal.subject}", idempotency_key,
                             {"consent": consent}, create, HolderCodeView)


def _read(issuer: Issuer, text: str) -> tuple[str, int, list[str]]:
    """(cti, expiry, consent) of a code signed by this issuer; ``PresentationInvalid`` otherwise."""
    claims = verify_es256_claims(issuer.keys, text.strip(), HOLDER_CODE_PREFIX)
    try:
        cti, expires, consent = bytes(claims[CWT_CTI]).hex(), claims[CWT_EXP], claims[CWT_CONSENT]
    except (KeyError, TypeError, ValueError):
        raise PresentationInvalid("malformed") from None
    if not isinstance(expires, int) or not isinstance(consent, list):
        raise PresentationInvalid("malformed")
    return cti, expires, [str(c) for c in consent]


async def _outcome(session: AsyncSession, code: HolderCode | None, consent: list[str], expires: int,
                   now: datetime) -> str:
    if code is None or code.consent != consent:
        return "invalid"  # signed by us but never handed out as a holder's code (e.g. a 亮证 token's cti)
    if expires <= now.timestamp() or code.expires_at <= now:
        return "expired"
    newer = await session.scalar(select(HolderCode.cti).where(HolderCode.holder_subject == code.holder_subject,
                                                              HolderCode.created_at > code.created_at).limit(1))
    return "superseded" if newer else "shown"


def _holder_ref(code: HolderCode) -> HolderRef:
    company = code.holder_kind == SubjectKind.COMPANY
    name = code.holder_name if company or code.holder_name is None else mask_name(code.holder_name)
    return HolderRef(kind=code.holder_kind, name=name,
                     org_code=mask_uscc(code.holder_org_code) if code.holder_org_code else None)


async def _valid_licences(session: AsyncSession, code: HolderCode, now: datetime) -> list[Licence]:
    whose = [Licence.holder_subject == code.holder_subject]
    if code.holder_org_code:  # a company's licences by its credit code, also those imported for it (应归尽归)
        whose.append(Licence.holder_code_hash == holder_code_hash(code.holder_org_code))
    return list((await session.scalars(select(Licence).where(
        or_(*whose), Licence.status == "active", Licence.valid_from <= now, Licence.valid_until > now)
        .order_by(Licence.valid_until, Licence.id).limit(SHOWN_AT_MOST))).all())


async def _open_applications(session: AsyncSession, code: HolderCode) -> list[HolderApplication]:
    whose = [HolderApplication.applicant_subject == code.holder_subject]
    if code.holder_org_code:
        whose.append(HolderApplication.applicant_org_code == code.holder_org_code)
    return list((await session.scalars(select(HolderApplication).where(
        or_(*whose), HolderApplication.status.not_in(FINAL_APPLICATION_STATUSES))
        .order_by(HolderApplication.submitted_at.desc()).limit(SHOWN_AT_MOST))).all())


async def scan(database: Database, issuer: Issuer, principal: Principal, text: str) -> HolderCodeScanView:
    """An inspector or a window officer scans a holder's code: what the holder consented to, masked; a code
    expired, superseded or not ours is refused. Every scan is recorded and audited, shown or refused."""
    now = datetime.now(UTC)
    cti: str | None = None
    expires, reason = 0, None
    consent: list[str] = []
    try:
        cti, expires, consent = _read(issuer, text)
    except PresentationInvalid as e:
        reason = e.reason
    async with database.transaction() as session:
        code = await session.get(HolderCode, cti) if cti else None
        result = "invalid" if cti is None else await _outcome(session, code, consent, expires, now)
        view = None
        if result == "shown" and code is not None:
            licences = await _valid_licences(session, code, now) if "licences" in code.consent else None
            applications = await _open_applications(session, code) if "applications" in code.consent else None
            view = HolderCodeScanView(
                holder=_holder_ref(code), consent=code.consent, code_expires_at=code.expires_at,
                licences=None if licences is None else [licence_view(row, reveal=False) for row in licences],
                applications=None if applications is None else [HolderApplicationView(
                    application_id=a.application_id, matter_code=a.matter_code, status=a.status,
                    submitted_at=a.submitted_at, status_at=a.status_at) for a in applications])
        shown = list(code.consent) if view is not None and code is not None else []
        holder = code.holder_subject if code is not None else None
        session.add(HolderCodeScan(cti=cti if code is not None else None, holder_subject=holder,
                                   scanned_by=principal.subject, scanned_by_name=principal.name, result=result,
                                   shown=shown, at=now))
        details: dict[str, Any] = {"result": result, "shown": shown}
        if reason:
            details["reason"] = reason
        if view is not None:
            details["licences"] = [licence.id for licence in view.licences or []]
            details["applications"] = [a.application_id for a in view.applications or []]
        await record_audit(session, principal, "holder_code.scan", "holder", holder or "unknown", owner=holder,
                           details=details)
    log.info("holder_code_scanned", result=result, reason=reason)
    if view is not None:
        return view
    if result == "expired":
        raise Conflict(messages.HOLDER_CODE_EXPIRED, reason="expired")
    if result == "superseded":
        raise Conflict(messages.HOLDER_CODE_SUPERSEDED, reason="superseded")
    raise ValidationFailed(messages.HOLDER_CODE_INVALID, errors=[
        FieldError.of("code", messages.HOLDER_CODE_FIELD_INVALID, reason or "invalid")])


async def scans_of(session: AsyncSession, principal: Principal, limit: int = 100) -> list[HolderCodeScanRecord]:
    """Who scanned the holder's codes, when, with what outcome (newest first)."""
    rows = (await session.scalars(select(HolderCodeScan).where(HolderCodeScan.holder_subject == principal.subject)
                                  .order_by(HolderCodeScan.at.desc(), HolderCodeScan.id.desc()).limit(limit))).all()
    return [HolderCodeScanRecord(scanned_by=r.scanned_by, scanned_by_name=r.scanned_by_name, result=r.result,
                                 shown=r.shown, at=r.at) for r in rows]
