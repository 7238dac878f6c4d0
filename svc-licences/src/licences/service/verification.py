"""亮证 and 亮数: presentations handed to the holder's app, their verification online (answering
valid / invalid with the reason / revoked / suspended / expired / not yet valid, recorded), and the
one-time handles to the live data behind a construction-waste disposal certificate."""
from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import segno
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.db import Database
from kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from kit.idempotency import create_once
from licences import messages
from licences.models import DataHandle, DisposalRecord, Licence, LicenceVersion, Presentation
from licences.schemas import DataHandleView, DisposalCreate, LiveData, PresentationView
from licences.service import catalogue, sm2docs
from licences.service.checks import RECORD, VISIBLE, PresentationChecks, licences, record_row
from licences.service.credentials import (
    CredentialInvalid,
    PresentationClaims,
    PresentationInvalid,
    sign_presentation,
    status_list_uri,
    verify_credential,
    verify_presentation,
)
from licences.service.issuer import Issuer
from licences.service.keys import ALG, SM2_ALG
from licences.settings import Settings

log = structlog.get_logger("licences.verification")

REASONS_ZH = {
    "valid": "有效", "malformed": "格式错误", "bad_signature": "签名无效", "unknown_key": "签名密钥未知",
    "unknown_issuer": "签发机构未知", "wrong_algorithm_or_type": "算法或类型不符", "presentation_expired": "亮证码已过期",
    "replayed": "亮证码已被使用", "unknown_licence": "证照不存在", "revoked": "证照已撤销", "suspended": "证照已暂停",
    "expired": "证照已过期", "not_yet_valid": "证照尚未生效", "superseded": "证照已有新版本",
}


def qr_code(content: str) -> dict[str, Any]:
    """The QR code (error correction M) as SVG and as a PNG data URI, and its version."""
    qr = segno.make(content, error="m", micro=False, boost_error=False)
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=4, border=4, xmldecl=False)
    return {"qr_svg": svg.getvalue().decode(), "qr_png": qr.png_data_uri(scale=4, border=4), "qr_version": int(qr.version)}


def _owned(licence: Licence | None, principal: Principal) -> Licence:
    if licence is None or licence.holder_subject != principal.subject:
        raise NotFound(messages.LICENCE_NOT_FOUND)
    return licence


async def create_presentation(database: Database, issuer: Issuer, principal: Principal, licence_id: str,
                              idempotency_key: str | None, algorithm: str = ALG) -> PresentationView:
    """亮证 for the holder (once per ``Idempotency-Key``), signed with ES256 or, when the holder (or the partner
    the holder shows it to) asks for 国密, with SM2 (``algorithm``)."""
    request = {"licence_id": licence_id} if algorithm == ALG else {"licence_id": licence_id, "algorithm": algorithm}
    return await create_once(database, f"licences:pres:{principal.subject}", idempotency_key, request,
                             partial(_create_presentation, issuer=issuer, principal=principal, licence_id=licence_id,
                                     algorithm=algorithm),
                             PresentationView)


async def _create_presentation(session: AsyncSession, *, issuer: Issuer, principal: Principal,
                               licence_id: str, algorithm: str) -> PresentationView:
    licence = _owned(await session.get(Licence, licence_id), principal)
    if licence.status != "active":
        raise Conflict(messages.PRESENTATION_NOT_NOW.format(status=licence.status), status_now=licence.status,
                       licence_status=licence.status)
    ttl = issuer.settings.presentation_ttl_seconds
    key = issuer.keys.sm2_signing_key() if algorithm == SM2_ALG else issuer.keys.signing_key()
    token, cti = sign_presentation(key, issuer.url, identifier=licence.identifier,
                                   valid_until=int(licence.valid_until.timestamp()),
                                   status_list_id=licence.status_list_id, status_index=licence.status_index,
                                   ttl_seconds=ttl)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    session.add(Presentation(cti=cti, licence_id=licence.id, expires_at=expires_at))
    return PresentationView(token=token, **qr_code(token), expires_at=expires_at.isoformat(), expires_in=ttl,
                            licence_id=licence.id, algorithm=algorithm)


def visible_fields(licence: Any) -> dict[str, Any]:
    return {"licence_id": licence.id, "identifier": licence.identifier, "licence_number": licence.licence_number,
            "licence_type": licence.licence_type, "licence_type_code": licence.type_code,
            "holder_name": licence.holder_name, "issuer_name": licence.issuer_name, "version": licence.version,
            "valid_from": licence.valid_from.isoformat(), "valid_until": licence.valid_until.isoformat(),
            "status": licence.status}


def _licence_outcome(licence: Any, now: datetime) -> str:
    if licence.status in ("revoked", "suspended", "expired"):
        return licence.status
    if licence.valid_until <= now:
        return "expired"
    if licence.valid_from > now:
        return "not_yet_valid"
    return "valid"


_INVALID = frozenset({"revoked", "suspended", "expired", "not_yet_valid"})


def presentation_outcome(claims: PresentationClaims, fresh: bool, licence: Any, now: datetime) -> str:
    """What an online check of a good presentation finds: ``fresh`` when this check marked it used."""
    if licence is None:
        return "unknown_licence"  # never handed out by us
    outcome = _licence_outcome(licence, now)
    if not fresh:
        # A replay of a presentation whose licence is revoked, suspended or expired by now answers that
        # state: what the licence is matters more to the inspector than that the QR was shown before.
        return outcome if outcome in _INVALID else "replayed"
    if outcome == "valid" and licence.identifier != claims.identifier:
        return "superseded"  # a new version was issued after the presentation was made
    return outcome


def new_presentation_checks(settings: Settings) -> PresentationChecks:
    return PresentationChecks(presentation_outcome, writers=settings.verification_writers,
                              max_batch=settings.verification_batch)


def _answer(result: str, licence: Any) -> dict[str, Any]:
    return {"result": "valid" if result == "valid" else (result if result in _INVALID else "invalid"),
            "reason": None if result == "valid" else result, "reason_zh": REASONS_ZH.get(result, result),
            "licence": visible_fields(licence) if licence else None}


async def _record_alone(database: Database, principal: Principal, kind: str, result: str,
                        licence: Any, now: datetime) -> dict[str, Any]:
    async with database.transaction() as session:
        await session.execute(RECORD, record_row(kind, result, licence, principal.subject, now))
    log.info("licence_verified", kind=kind, result=result, licence_id=licence.id if licence else None)
    return _answer(result, licence)


async def verify(database: Database, issuer: Issuer, checks: PresentationChecks, principal: Principal, *,
                 presentation: str | None, credential: str | None,
                 sm2_document: dict[str, Any] | None = None) -> dict[str, Any]:
    """Verify a presentation, a credential (SD-JWT VC, ES256) or an SM2 document online; the check is recorded
    (a presentation marked as used)."""
    if sum(1 for given in (presentation, credential, sm2_document) if given) != 1:
        raise ValidationFailed(messages.PRESENTATION_OR_CREDENTIAL, errors=[
            FieldError.of("presentation", messages.PRESENTATION_OR_CREDENTIAL_FIELD, "one_of")])
    now = datetime.now(UTC)
    if presentation:
        try:
            claims = verify_presentation(issuer.keys, issuer.url, presentation)
        except PresentationInvalid as e:
            return await _record_alone(database, principal, "presentation", e.reason, None, now)
        return _answer(*await checks.check(claims, principal.subject, now))
    kind = "credential" if credential else "sm2"
    try:
        if credential:
            signed = verify_credential(issuer.keys, issuer.url, credential, now=int(now.timestamp()))
        else:
            signed = sm2docs.verify_document(sm2_document or {}, sm2docs.our_keys(issuer.keys, issuer.url),
                                             now=int(now.timestamp()))["licence"]
    except CredentialInvalid as e:
        return await _record_alone(database, principal, kind, e.reason, None, now)
    identifier = str(signed.get("licence_identifier", ""))
    versions = LicenceVersion.__table__
    async with database.session() as session:
        licence = (await session.execute(VISIBLE.join_from(licences, versions, versions.c.licence_id == licences.c.id)
                                         .where(versions.c.identifier == identifier))).first()
    status = signed.get("status") or {}
    status_uri = status.get("status_list", {}).get("uri") if credential else status.get("uri")
    if licence is None or status_list_uri(issuer.url, licence.status_list_id) != status_uri:
        return await _record_alone(database, principal, kind, "unknown_licence", None, now)
    outcome = _licence_outcome(licence, now)
    if outcome == "valid" and licence.identifier != identifier:
        outcome = "superseded"
    return await _record_alone(database, principal, kind, outcome, licence, now)


# ---- 亮数 ---------------------------------------------------------------------------------------


async def create_data_handle(database: Database, issuer: Issuer, principal: Principal, licence_id: str,
                             idempotency_key: str | None) -> DataHandleView:
    """亮数 for the holder (once per ``Idempotency-Key``)."""
    return await create_once(database, f"licences:data:{principal.subject}", idempotency_key, {"licence_id": licence_id},
                             partial(_create_data_handle, issuer=issuer, principal=principal, licence_id=licence_id),
                             DataHandleView)


async def _create_data_handle(session: AsyncSession, *, issuer: Issuer, principal: Principal,
                              licence_id: str) -> DataHandleView:
    licence = _owned(await session.get(Licence, licence_id), principal)
    if licence.type_code != catalogue.CONSTRUCTION_WASTE:
        raise Conflict(messages.LIVE_DATA_WRONG_TYPE)
    if licence.status != "active":
        raise Conflict(messages.LIVE_DATA_NOT_NOW.format(status=licence.status), status_now=licence.status)
    handle = secrets.token_urlsafe(24)
    expires_at = datetime.now(UTC) + timedelta(seconds=issuer.settings.data_handle_ttl_seconds)
    session.add(DataHandle(handle=handle, licence_id=licence.id, expires_at=expires_at))
    # The QR opens the verifier page, which redeems the handle (a verifier logs in first); in the fragment,
    # the handle never reaches a server's or a proxy's access log.
    url = f"{issuer.url}/app/verify#data={handle}"
    return DataHandleView(handle=handle, url=url, **qr_code(url), expires_at=expires_at.isoformat())


async def _quota_used(session: AsyncSession, licence: Licence) -> Decimal:
    used = await session.scalar(select(func.coalesce(func.sum(DisposalRecord.volume_m3), 0))
                                .where(DisposalRecord.licence_id == licence.id))
    return Decimal(used or 0)


async def live_data(session: AsyncSession, licence: Licence) -> LiveData:
    used = await _quota_used(session, licence)
    vehicles = (await session.scalars(select(DisposalRecord.vehicle_plate).where(DisposalRecord.licence_id == licence.id)
                                      .distinct())).all()
    quota = licence.data.get("waste_volume_m3")
    return LiveData(licence=visible_fields(licence), disposal_site=licence.data.get("disposal_site"),
                    transport_route=licence.data.get("transport_route"),
                    vehicles_permitted=licence.data.get("vehicle_count"), vehicles_in_service=sorted(vehicles),
                    quota_m3=str(Decimal(str(quota))) if quota is not None else None,
                    quota_used_m3=str(Decimal(used).quantize(Decimal("0.01"))))


async def redeem_data_handle(database: Database, principal: Principal, handle: str) -> LiveData:
    """A verifier redeems a 亮数 handle, once, for the live data behind it."""
    async with database.transaction() as session:
        row = await session.get(DataHandle, handle, with_for_update=True)
        if row is None:
            raise NotFound(messages.HANDLE_NOT_FOUND)
        if row.redeemed_at is not None:
            raise Conflict(messages.HANDLE_REDEEMED, reason="replayed")
        if row.expires_at <= datetime.now(UTC):
            raise Conflict(messages.HANDLE_EXPIRED, reason="expired")
        licence = await session.get(Licence, row.licence_id)
        assert licence is not None
        if licence.status != "active":
            raise Conflict(messages.HANDLE_LICENCE_NOT_ACTIVE.format(status=licence.status), reason=licence.status,
                           status_now=licence.status)
        row.redeemed_at, row.redeemed_by, row.redeemed_by_name = datetime.now(UTC), principal.subject, principal.name
        return await live_data(session, licence)


async def record_disposal(database: Database, principal: Principal, licence_id: str, body: DisposalCreate,
                          idempotency_key: str | None) -> LiveData:
    """The holder records a load disposed under a construction-waste disposal certificate (once per key)."""
    async def create(session: AsyncSession) -> LiveData:
        return await _record_disposal(session, principal, licence_id, body.vehicle_plate, body.volume_m3)

    return await create_once(database, f"licences:disposal:{principal.subject}", idempotency_key,
                             {"licence_id": licence_id, **body.model_dump(mode="json")}, create, LiveData)


async def _record_disposal(session: AsyncSession, principal: Principal, licence_id: str, vehicle_plate: str,
                           volume_m3: Decimal) -> LiveData:
    licence = _owned(await session.get(Licence, licence_id, with_for_update=True), principal)
    if licence.type_code != catalogue.CONSTRUCTION_WASTE or licence.status != "active":
        raise Conflict(messages.DISPOSAL_NOT_ALLOWED, status_now=licence.status)
    quota = licence.data.get("waste_volume_m3")
    used = await _quota_used(session, licence)
    if quota is not None and Decimal(used) + volume_m3 > Decimal(str(quota)):
        raise Conflict(messages.DISPOSAL_OVER_QUOTA, quota_m3=str(quota), used_m3=str(used))
    session.add(DisposalRecord(licence_id=licence.id, vehicle_plate=vehicle_plate, volume_m3=volume_m3))
    await session.flush()
    return await live_data(session, licence)


async def list_redemptions(session: AsyncSession, principal: Principal, licence_id: str) -> list[dict[str, Any]]:
    _owned(await session.get(Licence, licence_id), principal)
    rows = (await session.scalars(select(DataHandle).where(DataHandle.licence_id == licence_id)
                                  .order_by(DataHandle.created_at.desc()).limit(100))).all()
    return [{"handle_created_at": r.created_at.isoformat(), "expires_at": r.expires_at.isoformat(),
             "redeemed_at": r.redeemed_at.isoformat() if r.redeemed_at else None, "redeemed_by": r.redeemed_by,
             "redeemed_by_name": r.redeemed_by_name} for r in rows]

