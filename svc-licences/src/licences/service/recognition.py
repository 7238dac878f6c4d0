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
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import uscc

from kit.auth import Principal
from kit.contracts.licences import PartnerDocumentRecognised
from kit.db import Database
from kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from kit.events import add_event
from kit.gm import sm2
from kit.i18n import Text
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
from licences.service import catalogue, issuance, sm2docs
from licences.service.access import licence_view
from licences.service.credentials import CREDENTIAL_TYP, PERSONAL_FIELDS, CredentialInvalid
from licences.service.issuer import Issuer
from licences.service.keys import ALG

log = structlog.get_logger("licences.recognition")
TRUST_LIST_TYP = "trustlist+jwt"


def issuer_view(row: TrustedIssuer) -> dict[str, Any]:
    return {"id": row.id, "province": row.province, "name": row.name, "issuer": row.issuer, "jwks": row.jwks,
            "sm2_keys": row.sm2_keys, "document_types": row.document_types, "valid_from": row.valid_from.isoformat(),
            "valid_until": row.valid_until.isoformat()}


def _check_keys(jwks: dict[str, Any], sm2_keys: list[dict[str, Any]]) -> None:
    """The partner's ES256 keys (JWKS) and SM2 keys: public, with a kid, at least one of either kind."""
    keys = jwks.get("keys")
    problems: list[tuple[str, Text]] = []
    for i, key in enumerate(sm2_keys):
        try:
            sm2.load_public_key(key["public_key"])
        except (ValueError, TypeError, KeyError):  # not hex, not PEM, not a point on the curve, not SM2
            problems.append(("sm2_keys", messages.SM2_KEY_INVALID.format(index=i)))
    if not isinstance(keys, list) or (not keys and not sm2_keys):
        problems.append(("jwks", messages.JWKS_EMPTY))
    else:
        for i, key in enumerate(keys):
            try:
                parsed = JWK(**key)
            except Exception:  # jwcrypto raises several types for a bad key
                problems.append(("jwks", messages.JWKS_KEY_INVALID.format(index=i)))
                continue
            if parsed.has_private or not key.get("kid"):
                problems.append(("jwks", messages.JWKS_KEY_NOT_PUBLIC.format(index=i)))
    if problems:
        raise ValidationFailed(messages.PARTNER_KEYS_INVALID,
                               errors=[FieldError.of(field, p, f"invalid_{field}") for field, p in problems])


async def add_trusted_issuer(database: Database, body: TrustedIssuerCreate) -> dict[str, Any]:
    sm2_keys = [k.model_dump() for k in body.sm2_keys]
    _check_keys(body.jwks, sm2_keys)
    async with database.transaction() as session:
        if await session.scalar(select(TrustedIssuer.id).where(TrustedIssuer.issuer == body.issuer)):
            raise Conflict(messages.ISSUER_ALREADY_TRUSTED)
        row = TrustedIssuer(id=uuid.uuid4().hex, province=body.province, name=body.name, issuer=body.issuer,
                            jwks=body.jwks, sm2_keys=sm2_keys, document_types=body.document_types, valid_from=body.valid_from,
                            valid_until=body.valid_until)
        session.add(row)
        await session.flush()
        return issuer_view(row)


async def update_trusted_issuer(database: Database, issuer_id: str, body: TrustedIssuerCreate) -> dict[str, Any]:
    async with database.transaction() as session:
        row = await session.get(TrustedIssuer, issuer_id, with_for_update=True)
        if row is None:
            raise NotFound(messages.TRUSTED_ISSUER_NOT_FOUND)
        sm2_keys = [k.model_dump() for k in body.sm2_keys]
        _check_keys(body.jwks, sm2_keys)
        for name in ("province", "name", "issuer", "jwks", "document_types", "valid_from", "valid_until"):
            setattr(row, name, getattr(body, name))
        row.sm2_keys = sm2_keys
        row.updated_at = datetime.now(UTC)
        return issuer_view(row)


async def remove_trusted_issuer(database: Database, issuer_id: str) -> None:
    async with database.transaction() as session:
        row = await session.get(TrustedIssuer, issuer_id)
        if row is None:
            raise NotFound(messages.TRUSTED_ISSUER_NOT_FOUND)
        await session.delete(row)


async def trust_list(session: AsyncSession, issuer: Issuer) -> dict[str, Any]:
    """The trust list with our own SM2 keys, the same as a JWT signed by our ES256 key, and an SM2 signature of it
    for partners that verify SM2 only (``sm2_signature``: ``kid``, ``signer_id`` and the base64 DER SM2 signature
    of the RFC 8785 canonical form of ``{"iss", "iat", "exp", "issuers", "sm2_keys"}``, the members answered)."""
    rows = (await session.scalars(select(TrustedIssuer).order_by(TrustedIssuer.province, TrustedIssuer.issuer))).all()
    issuers = [issuer_view(r) for r in rows]
    now = int(time.time())
    key = issuer.keys.signing_key()
    payload: dict[str, Any] = {"iss": issuer.url, "iat": now, "exp": now + 86_400, "issuers": issuers,
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


async def recognise(database: Database, principal: Principal, document: str | dict[str, Any]) -> dict[str, Any]:
    """Verify a partner's SD-JWT VC or SM2 document against the trust list and record the outcome (either way)."""
    async with database.transaction() as session:
        outcome, _ = await _recognise(session, principal, document)
        return outcome


async def _recognise(session: AsyncSession, principal: Principal,
                     document: str | dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcome as answered, and every claim verified (the holder's personal ones included: never kept)."""
    now = datetime.now(UTC)
    found: dict[str, Any] = {}

    def key_of(iss: str, header: dict[str, Any]) -> JWK:
        entry = found.get("entry")
        if entry is None or entry.issuer != iss:
            raise _Refused("unknown_issuer")
        if header.get("alg") != ALG or header.get("typ") != CREDENTIAL_TYP:
            raise _Refused("wrong_algorithm_or_type")
        for key in entry.jwks.get("keys", []):
            if key.get("kid") == header.get("kid"):
                return JWK(**key)
        raise _Refused("unknown_key")

    def sm2_key_of(iss: str, doc: dict[str, Any]) -> tuple[sm2.PublicKey, bytes]:
        entry = found["entry"]
        for key in entry.sm2_keys:
            if key.get("kid") == doc["kid"]:
                return sm2.load_public_key(key["public_key"]), str(key.get("signer_id") or "").encode()
        raise _Refused("unknown_key")

    claims: dict[str, Any] = {}
    is_sm2 = isinstance(document, dict)
    try:
        iss = _unverified_issuer(document)
        found["entry"] = await session.scalar(select(TrustedIssuer).where(TrustedIssuer.issuer == iss))
        entry = found["entry"]
        if entry is None:
            raise _Refused("unknown_issuer")
        if not (entry.valid_from <= now < entry.valid_until):
            raise _Refused("issuer_not_trusted_now")
        if isinstance(document, dict):
            try:
                claims = {"iss": iss, **sm2docs.verify_document(document, sm2_key_of)["licence"]}
            except CredentialInvalid as e:
                raise _Refused(e.reason) from None
        else:
            try:
                claims = SDJWTVerifier(document, key_of).get_verified_payload()
            except _Refused:
                raise
            except Exception:
                raise _Refused("bad_signature") from None
        refusal = partner_document_current(entry, claims, is_sm2=is_sm2, now=now)
        if refusal is not None:
            raise _Refused(refusal)
        result, reason = "recognised", None
    except _Refused as e:
        result, reason = "refused", e.reason
    entry = found.get("entry")
    row = Recognition(id=uuid.uuid4().hex, trusted_issuer_id=entry.id if entry else None,
                      issuer=(entry.issuer if entry else str(found.get("iss") or ""))[:300],
                      document_identifier=str(claims.get("licence_identifier") or "")[:200] or None,
                      document_type=str(claims.get("licence_type_code") or "")[:64] or None, result=result,
                      reason=reason, claims={k: v for k, v in claims.items() if k not in PERSONAL_FIELDS},
                      recognised_by=principal.subject)
    session.add(row)
    log.info("partner_document", result=result, reason=reason, province=entry.province if entry else None)
    holder = company_holder(claims)
    if result == "recognised" and entry is not None and holder is not None and row.document_identifier:
        await add_event(session, PartnerDocumentRecognised(
            recognition_id=row.id, province=entry.province, document_identifier=row.document_identifier,
            document_type=str(claims.get("licence_type") or row.document_type or ""),
            document_type_code=row.document_type or "", holder_org_code=holder, recognised_at=now,
            valid_from=_claim_time(claims, "nbf", "valid_from"), valid_until=_claim_time(claims, "exp", "valid_until")),
            subject=row.id)
    return {"id": row.id, "result": result, "reason": reason, "province": entry.province if entry else None,
            "document_identifier": row.document_identifier, "document_type": row.document_type,
            "claims": row.claims if result == "recognised" else None}, claims


def partner_document_current(entry: TrustedIssuer, claims: dict[str, Any], *, is_sm2: bool, now: datetime) -> str | None:
    """Whether a partner document whose signature verified may be used now: the one place its currency is
    judged, at every use (recognition, and so its standing in for a material). Returns the refusal reason.

    Today: a type the partner's trust-list entry names, inside its validity. The partner's own status
    list (Token Status List: revoked or suspended by the partner) is consulted here as well once the
    partners branch lands: ``licences.service.partners.check_partner_document_current`` is called from
    this function, and from nowhere else."""
    doc_type = claims.get("licence_type_code") or claims.get("vct")
    if doc_type not in entry.document_types and claims.get("vct") not in entry.document_types:
        return "document_type_not_recognised"
    if not is_sm2 and int(claims.get("exp", 0)) <= now.timestamp():  # an SM2 document's validity is checked
        return "expired"                                                 # by sm2docs.verify_document
    if not is_sm2 and int(claims.get("nbf", 0)) > now.timestamp():
        return "not_yet_valid"
    return None


def company_holder(claims: dict[str, Any]) -> str | None:
    """The holder's unified social credit code, when the document names a company as its holder."""
    code = str(claims.get("holder_code") or "").strip().upper()
    return code if claims.get("holder_code_type", "uscc") == "uscc" and uscc.is_valid(code) else None


def _claim_time(claims: dict[str, Any], numeric: str, iso: str) -> datetime | None:
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


async def present_partner_document(database: Database, principal: Principal, body: RecognitionRequest,
                                   idempotency_key: str | None) -> PresentedDocumentView:
    """An applicant presents a partner's document held by their company so that it may stand in for a material
    (两个免于提交 across provinces): recognised, recorded and announced, and its recognition id returned to be
    named for the material (once per ``Idempotency-Key``); refused (422, with the reason) with nothing written."""
    async def create(session: AsyncSession) -> PresentedDocumentView:
        outcome, claims = await _recognise(session, principal, body.document)
        reason = outcome["reason"]
        if reason is None and company_holder(claims) is None:
            reason = "holder_not_a_company"
        if reason is not None:
            raise ValidationFailed(messages.PARTNER_DOCUMENT_REFUSED.format(reason=reason), errors=[
                FieldError.of("document", messages.PARTNER_DOCUMENT_FIELD_REFUSED.format(reason=reason), reason)])
        return PresentedDocumentView.model_validate(outcome)

    return await create_once(database, f"licences:presented:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, PresentedDocumentView)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unverified_issuer(document: str | dict[str, Any]) -> str:
    if isinstance(document, dict):
        try:
            return str(sm2docs.parse(document)["iss"])
        except CredentialInvalid:
            raise _Refused("malformed") from None
    try:
        return str(jwt.decode(document.split("~", 1)[0], options={"verify_signature": False}).get("iss", ""))
    except jwt.PyJWTError:
        raise _Refused("malformed") from None


async def list_recognitions(session: AsyncSession, limit: int) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Recognition).order_by(Recognition.at.desc()).limit(limit))).all()
    return [{"id": r.id, "issuer": r.issuer, "result": r.result, "reason": r.reason,
             "document_identifier": r.document_identifier, "document_type": r.document_type,
             "recognised_by": r.recognised_by, "at": r.at.isoformat()} for r in rows]
