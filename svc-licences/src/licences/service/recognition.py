"""长三角 mutual recognition: the trust list of partner issuers (Jiangsu, Zhejiang, Anhui), managed
by ops and published as a signed document; forestry pest transport quarantine requirement documents
(林业有害生物调运检疫要求书) issued for a year, with each shipment recorded against them; and the
recognition of partners' documents, verified against the trust list."""
from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import rfc8785
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import uscc

from kit.auth import Principal
from kit.contracts.licences import PartnerDocumentRecognised
from kit.db import Database
from kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from kit.events import add_event
from kit.idempotency import create_once
from licences import messages
from licences.models import Licence, Recognition, Shipment, TrustedIssuer
from licences.schemas import (
    LicenceView,
    PresentedDocumentView,
    QuarantineDocumentCreate,
    RecognitionRequest,
    ShipmentCreate,
    ShipmentView,
    TrustedIssuerCreate,
)
from licences.service import catalogue, issuance
from licences.service.access import licence_view
from licences.service.credentials import PERSONAL_FIELDS
from licences.service.issuer import Issuer
from licences.service.keys import ALG
from licences.service.partners import (
    REFUSALS,
    Partners,
    Refused,
    check_keys,
    current_version,
    issuer_view,
    trust_list_changed,
    verify_partner_document,
)

log = structlog.get_logger("licences.recognition")
TRUST_LIST_TYP = "trustlist+jwt"


async def add_trusted_issuer(database: Database, body: TrustedIssuerCreate) -> dict[str, Any]:
    sm2_keys = [k.model_dump() for k in body.sm2_keys]
    check_keys(body.jwks, sm2_keys)
    async with database.transaction() as session:
        if await session.scalar(select(TrustedIssuer.id).where(TrustedIssuer.issuer == body.issuer)):
            raise Conflict(messages.ISSUER_ALREADY_TRUSTED)
        row = TrustedIssuer(id=uuid.uuid4().hex, province=body.province, name=body.name, issuer=body.issuer,
                            jwks=body.jwks, sm2_keys=sm2_keys, document_types=body.document_types, valid_from=body.valid_from,
                            valid_until=body.valid_until)
        session.add(row)
        await session.flush()
        await trust_list_changed(session, "issuer_added")
        return issuer_view(row)


async def update_trusted_issuer(database: Database, issuer_id: str, body: TrustedIssuerCreate) -> dict[str, Any]:
    async with database.transaction() as session:
        row = await session.get(TrustedIssuer, issuer_id, with_for_update=True)
        if row is None:
            raise NotFound(messages.TRUSTED_ISSUER_NOT_FOUND)
        sm2_keys = [k.model_dump() for k in body.sm2_keys]
        check_keys(body.jwks, sm2_keys)
        for name in ("province", "name", "issuer", "jwks", "document_types", "valid_from", "valid_until"):
            setattr(row, name, getattr(body, name))
        row.sm2_keys = sm2_keys
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await trust_list_changed(session, "issuer_changed")
        return issuer_view(row)


async def remove_trusted_issuer(database: Database, issuer_id: str) -> None:
    async with database.transaction() as session:
        row = await session.get(TrustedIssuer, issuer_id)
        if row is None:
            raise NotFound(messages.TRUSTED_ISSUER_NOT_FOUND)
        await session.delete(row)
        await session.flush()
        await trust_list_changed(session, "issuer_removed")


async def trust_list(session: AsyncSession, issuer: Issuer) -> dict[str, Any]:
    """The trust list with our own SM2 keys, the same as a JWT signed by our ES256 key, and an SM2 signature of it
    for partners that verify SM2 only (``sm2_signature``: ``kid``, ``signer_id`` and the base64 DER SM2 signature
    of the RFC 8785 canonical form of ``{"iss", "iat", "exp", "version", "issuers", "sm2_keys"}``, the members
    answered). ``version`` counts the changes of its content (``partners.trust_list_changed``)."""
    rows = (await session.scalars(select(TrustedIssuer).order_by(TrustedIssuer.province, TrustedIssuer.issuer))).all()
    issuers = [issuer_view(r) for r in rows]
    now = int(time.time())
    key = issuer.keys.signing_key()
    payload: dict[str, Any] = {"iss": issuer.url, "iat": now, "exp": now + 86_400,
                               "version": await current_version(session), "issuers": issuers,
                               "sm2_keys": issuer.keys.sm2_published()}
    document = jwt.encode(payload, key.private_key, algorithm=ALG, headers={"kid": key.kid, "typ": TRUST_LIST_TYP})
    sm2_key = issuer.keys.sm2_signing_key()
    sm2_signature = {"kid": sm2_key.kid, "signer_id": sm2_key.signer_id.decode(),
                     "signature": base64.b64encode(sm2_key.sign(rfc8785.dumps(payload))).decode()}
    return {"issuer": issuer.url, **payload, "document": document, "sm2_signature": sm2_signature}


# ---- our quarantine requirement documents ---------------------------------------------------------


async def create_quarantine_document(database: Database, issuer: Issuer, principal: Principal,
                                     body: QuarantineDocumentCreate, idempotency_key: str | None) -> LicenceView:
    """A member of staff issues a year's quarantine requirement document (once per ``Idempotency-Key``)."""
    async def create(session: AsyncSession) -> LicenceView:
        return licence_view(await issue_quarantine_document(session, issuer, principal, body), reveal=True)

    return await create_once(database, f"licences:qd:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, LicenceView)


async def issue_quarantine_document(session: AsyncSession, issuer: Issuer, principal: Principal,
                                    body: QuarantineDocumentCreate) -> Licence:
    licence_type = catalogue.TYPES[catalogue.QUARANTINE_REQUIREMENT]
    start = datetime(body.year, 1, 1, tzinfo=issuance.SHANGHAI).astimezone(UTC)
    end = datetime(body.year, 12, 31, 23, 59, 59, tzinfo=issuance.SHANGHAI).astimezone(UTC)
    if end <= datetime.now(UTC):
        raise ValidationFailed(messages.YEAR_OVER, errors=[FieldError.of("year", messages.YEAR_FIELD_PAST, "past")])
    data = {"year": body.year, "plant_species": body.plant_species, "origin": body.origin,
            "destination_provinces": body.destination_provinces, "pests_checked": body.pests_checked}
    return await issuance.issue(session, issuer, licence_type, holder_subject=body.holder_subject,
                                holder_kind=body.holder_kind, holder={
                                    "holder_name": body.holder_name, "holder_code": body.holder_code,
                                    "holder_code_type": body.holder_code_type},
                                data=data, valid_from=start, valid_until=end, actor=principal.subject)


async def record_shipment(database: Database, principal: Principal, licence_id: str, body: ShipmentCreate,
                          idempotency_key: str | None) -> ShipmentView:
    """The holder records a shipment under a quarantine requirement document (once per ``Idempotency-Key``)."""
    async def create(session: AsyncSession) -> ShipmentView:
        return await _record_shipment(session, principal, licence_id, body)

    return await create_once(database, f"licences:shipment:{principal.subject}", idempotency_key,
                             {"licence_id": licence_id, **body.model_dump(mode="json")}, create, ShipmentView)


async def _record_shipment(session: AsyncSession, principal: Principal, licence_id: str,
                           body: ShipmentCreate) -> ShipmentView:
    licence = await session.get(Licence, licence_id)
    if licence is None or licence.holder_subject != principal.subject:
        raise NotFound(messages.LICENCE_NOT_FOUND)
    if licence.type_code != catalogue.QUARANTINE_REQUIREMENT:
        raise Conflict(messages.SHIPMENT_WRONG_TYPE)
    shipped = datetime.combine(body.shipped_on, datetime.min.time(), issuance.SHANGHAI).astimezone(UTC)
    if licence.status != "active" or not (licence.valid_from <= shipped + timedelta(days=1) and shipped <= licence.valid_until):
        raise Conflict(messages.SHIPMENT_NOT_IN_FORCE, status_now=licence.status)
    if body.destination_province not in licence.data.get("destination_provinces", []):
        raise ValidationFailed(messages.DESTINATION_NOT_COVERED, errors=[
            FieldError.of("destination_province", messages.DESTINATION_FIELD_NOT_COVERED, "not_covered")])
    row = Shipment(licence_id=licence.id, plant_name=body.plant_name, quantity=body.quantity,
                   destination=body.destination_province, shipped_on=shipped, recorded_by=principal.subject)
    session.add(row)
    await session.flush()
    return ShipmentView(id=row.id, licence_id=licence.id, plant_name=row.plant_name, quantity=str(row.quantity),
                        destination_province=row.destination, shipped_on=body.shipped_on.isoformat())


async def shipments_of(session: AsyncSession, principal: Principal, licence_id: str) -> list[dict[str, Any]]:
    licence = await session.get(Licence, licence_id)
    if licence is None or (licence.holder_subject != principal.subject and not principal.is_staff
                           and "recognition:read" not in principal.scopes):
        raise NotFound(messages.LICENCE_NOT_FOUND)
    rows = (await session.scalars(select(Shipment).where(Shipment.licence_id == licence_id).order_by(Shipment.id))).all()
    return [{"id": r.id, "plant_name": r.plant_name, "quantity": str(r.quantity), "destination_province": r.destination,
             "shipped_on": r.shipped_on.astimezone(issuance.SHANGHAI).date().isoformat()} for r in rows]


# ---- partners' documents --------------------------------------------------------------------------


async def recognise(database: Database, partners: Partners, principal: Principal,
                    document: str | dict[str, Any]) -> dict[str, Any]:
    """Verify a partner's SD-JWT VC or SM2 document against the trust list and the partner's status list now,
    and record the outcome (either way)."""
    async with database.transaction() as session:
        outcome, _ = await _recognise(session, partners, principal, document)
        return outcome


async def _recognise(session: AsyncSession, partners: Partners, principal: Principal,
                     document: str | dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcome as answered, and every claim verified (the holder's personal ones included: never kept).
    Whether the document counts now (trust list, keys, type, validity, the partner's status list) is judged by
    ``partners.verify_partner_document``, the one place for it."""
    now = datetime.now(UTC)
    entry: TrustedIssuer | None
    claims: dict[str, Any] = {}
    refused_issuer = ""
    try:
        entry, claims = await verify_partner_document(session, partners, document)
        result, reason = "recognised", None
    except Refused as e:
        entry, result, reason, refused_issuer = e.entry, "refused", e.reason, e.issuer
    row = Recognition(id=uuid.uuid4().hex, trusted_issuer_id=entry.id if entry else None,
                      issuer=(entry.issuer if entry else refused_issuer)[:300],
                      document_identifier=str(claims.get("licence_identifier") or "")[:200] or None,
                      document_type=str(claims.get("licence_type_code") or "")[:64] or None, result=result,
                      reason=reason, claims={k: v for k, v in claims.items() if k not in PERSONAL_FIELDS},
                      recognised_by=principal.subject,
                      valid_until=claim_time(claims, "exp", "valid_until") if result == "recognised" else None)
    session.add(row)
    log.info("partner_document", result=result, reason=reason, province=entry.province if entry else None)
    holder = company_holder(claims)
    if result == "recognised" and entry is not None and holder is not None and row.document_identifier:
        await add_event(session, PartnerDocumentRecognised(
            recognition_id=row.id, province=entry.province, document_identifier=row.document_identifier,
            document_type=str(claims.get("licence_type") or row.document_type or ""),
            document_type_code=row.document_type or "", holder_org_code=holder, recognised_at=now,
            valid_from=claim_time(claims, "nbf", "valid_from"), valid_until=claim_time(claims, "exp", "valid_until")),
            subject=row.id)
    text = REFUSALS.get(reason, messages.REFUSED_OTHER) if reason else None
    return {"id": row.id, "result": result, "reason": reason,
            "reason_text": {"zh": text.zh, "en": text.en} if text else None,
            "province": entry.province if entry else None,
            "document_identifier": row.document_identifier, "document_type": row.document_type,
            "claims": row.claims if result == "recognised" else None}, claims


def company_holder(claims: dict[str, Any]) -> str | None:
    """The holder's unified social credit code, when the document names a company as its holder."""
    code = str(claims.get("holder_code") or "").strip().upper()
    return code if claims.get("holder_code_type", "uscc") == "uscc" and uscc.is_valid(code) else None


def claim_time(claims: dict[str, Any], numeric: str, iso: str) -> datetime | None:
    """A validity bound of an SD-JWT VC (``nbf``/``exp``, seconds) or an SM2 document (ISO 8601 text)."""
    if isinstance(claims.get(numeric), int | float):
        return datetime.fromtimestamp(claims[numeric], UTC)
    value = claims.get(iso)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    # A bound without a zone (a bare date) is read as Shanghai time, as the provinces print them.
    return moment.replace(tzinfo=issuance.SHANGHAI) if moment is not None and moment.tzinfo is None else moment


async def present_partner_document(database: Database, partners: Partners, principal: Principal,
                                   body: RecognitionRequest,
                                   idempotency_key: str | None) -> PresentedDocumentView:
    """An applicant presents a partner's document held by their company so that it may stand in for a material
    (两个免于提交 across provinces): recognised, recorded and announced, and its recognition id returned to be
    named for the material (once per ``Idempotency-Key``); refused (422, with the reason) with nothing written."""
    async def create(session: AsyncSession) -> PresentedDocumentView:
        outcome, claims = await _recognise(session, partners, principal, body.document)
        reason = outcome["reason"]
        if reason is None and company_holder(claims) is None:
            reason = "holder_not_a_company"
        if reason is not None:
            raise ValidationFailed(messages.PARTNER_DOCUMENT_REFUSED.format(reason=reason), errors=[
                FieldError.of("document", messages.PARTNER_DOCUMENT_FIELD_REFUSED.format(reason=reason), reason)])
        return PresentedDocumentView.model_validate(outcome)

    return await create_once(database, f"licences:presented:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, PresentedDocumentView)


async def list_recognitions(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Recognition).order_by(Recognition.at.desc()).limit(limit))).all()
    return [{"id": r.id, "issuer": r.issuer, "result": r.result, "reason": r.reason,
             "document_identifier": r.document_identifier, "document_type": r.document_type,
             "recognised_by": r.recognised_by, "at": r.at.isoformat()} for r in rows]
