"""长三角 partner self-service registration (合作方自助接入): a partner province's system (or ops) registers its
issuer with a ``jwks_uri``; the registration stays pending until an ops user *other than the registrant*
approves it (四眼原则) — the platform then fetches the partner's keys itself and adds the issuer to the trust
list (a new version, announced) — or rejects it with a reason. Both people are recorded and audited."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, Role, SubjectKind
from kit.db import Database
from kit.errors import Conflict, Forbidden, NotFound
from kit.idempotency import create_once
from kit.statemachine import StateMachine, Transition
from licences import messages
from licences.models import PartnerRegistration, TrustedIssuer
from licences.schemas import PartnerRegistrationCreate, PartnerRegistrationView
from licences.service.partners import (
    FetchedKeys,
    FetchFailed,
    Partners,
    check_keys,
    check_uri,
    issuer_view,
    refresh_issuer_now,
    trust_list_changed,
)

log = structlog.get_logger("licences.registrations")

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DECIDERS = frozenset({Role.OPS_ADMIN})
REGISTRATION_STATES = StateMachine[str](messages.PARTNER_REGISTRATION, [
    Transition("approve", frozenset({PENDING}), APPROVED, DECIDERS),
    Transition("reject", frozenset({PENDING}), REJECTED, DECIDERS, reason_required=True),
])


def registration_view(row: PartnerRegistration) -> PartnerRegistrationView:
    return PartnerRegistrationView(
        id=row.id, state=row.state, province=row.province, name=row.name, issuer=row.issuer, jwks_uri=row.jwks_uri,
        sm2_keys_uri=row.sm2_keys_uri, status_list_base=row.status_list_base, document_types=row.document_types,
        valid_from=row.valid_from, valid_until=row.valid_until, registered_by=row.registered_by,
        registered_at=row.registered_at, decided_by=row.decided_by, decided_at=row.decided_at,
        decision_reason=row.decision_reason, trusted_issuer_id=row.trusted_issuer_id)


async def register(database: Database, partners: Partners, principal: Principal, body: PartnerRegistrationCreate,
                   idempotency_key: str | None) -> PartnerRegistrationView:
    """A partner registers its own province's issuer (ops any); pending until approved (once per key)."""
    production = partners.settings.production
    check_uri("jwks_uri", body.jwks_uri, production=production)
    check_uri("sm2_keys_uri", body.sm2_keys_uri, production=production)
    check_uri("status_list_base", body.status_list_base, production=production)
    check_uri("issuer", body.issuer, production=production)
    sm2_keys = [k.model_dump() for k in body.sm2_keys]
    if sm2_keys:
        check_keys({"keys": []}, sm2_keys)
    if principal.kind == SubjectKind.PARTNER and principal.province != body.province:
        raise Forbidden(messages.PARTNER_OTHER_PROVINCE)

    async def create(session: AsyncSession) -> PartnerRegistrationView:
        if await session.scalar(select(TrustedIssuer.id).where(TrustedIssuer.issuer == body.issuer)):
            raise Conflict(messages.ISSUER_ALREADY_TRUSTED)
        if await session.scalar(select(PartnerRegistration.id).where(
                PartnerRegistration.issuer == body.issuer, PartnerRegistration.state == PENDING)):
            raise Conflict(messages.PARTNER_REGISTRATION_PENDING)
        now = datetime.now(UTC)
        row = PartnerRegistration(
            id=uuid.uuid4().hex, state=PENDING, province=body.province, name=body.name, issuer=body.issuer,
            jwks_uri=body.jwks_uri, sm2_keys_uri=body.sm2_keys_uri, status_list_base=body.status_list_base,
            sm2_keys=sm2_keys, document_types=body.document_types, valid_from=body.valid_from,
            valid_until=body.valid_until, registered_by=principal.subject, registered_at=now)
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:  # two registrations of one issuer at the same moment: the pending index
            raise Conflict(messages.PARTNER_REGISTRATION_PENDING) from None
        await record_audit(session, principal, "partner.register", "partner_registration", row.id,
                           details={"province": row.province, "issuer": row.issuer})
        log.info("partner_registered", registration_id=row.id, province=row.province)
        return registration_view(row)

    return await create_once(database, f"licences:partner-registration:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, PartnerRegistrationView)


async def list_registrations(session: AsyncSession, principal: Principal, state: str | None) -> list[PartnerRegistrationView]:
    """Ops see every registration; a partner its own province's."""
    query = select(PartnerRegistration).order_by(PartnerRegistration.registered_at.desc()).limit(200)
    if state:
        query = query.where(PartnerRegistration.state == state)
    if not principal.has_role(Role.OPS_ADMIN):
        query = query.where(PartnerRegistration.province == (principal.province or ""))
    return [registration_view(r) for r in (await session.scalars(query)).all()]


async def get_registration(session: AsyncSession, principal: Principal, registration_id: str) -> PartnerRegistrationView:
    row = await session.get(PartnerRegistration, registration_id)
    if row is None or (not principal.has_role(Role.OPS_ADMIN) and row.province != principal.province):
        raise NotFound(messages.PARTNER_REGISTRATION_NOT_FOUND)
    return registration_view(row)


def _check_decision(row: PartnerRegistration | None, principal: Principal, action: str, reason: str | None) -> PartnerRegistration:
    if row is None:
        raise NotFound(messages.PARTNER_REGISTRATION_NOT_FOUND)
    REGISTRATION_STATES.check(row.state, action, principal, reason=reason)
    if row.registered_by == principal.subject:
        raise Forbidden(messages.REGISTRANT_CANNOT_DECIDE)
    return row


async def decide(database: Database, partners: Partners, principal: Principal, registration_id: str, action: str,
                 reason: str | None) -> PartnerRegistrationView:
    """Approve (fetching the partner's keys first: a registration whose keys cannot be fetched is not approved,
    and nothing is written) or reject a pending registration; never the registrant's own."""
    async with database.transaction() as session:  # refuse early, before any fetch
        row = _check_decision(await session.get(PartnerRegistration, registration_id), principal, action, reason)
        jwks_uri, sm2_keys_uri = row.jwks_uri, row.sm2_keys_uri
    fetched: FetchedKeys | None = None
    if action == "approve":
        try:
            fetched = await partners.fetch_keys(jwks_uri, sm2_keys_uri)
        except FetchFailed as e:
            raise Conflict(messages.PARTNER_KEYS_UNREACHABLE.format(reason=e.reason), fetch_problem=e.reason) from None
    async with database.transaction() as session:
        row = _check_decision(await session.get(PartnerRegistration, registration_id, with_for_update=True),
                              principal, action, reason)
        now = datetime.now(UTC)
        row.state = APPROVED if action == "approve" else REJECTED
        row.decided_by, row.decided_at, row.decision_reason = principal.subject, now, reason
        if fetched is not None:
            if await session.scalar(select(TrustedIssuer.id).where(TrustedIssuer.issuer == row.issuer)):
                raise Conflict(messages.ISSUER_ALREADY_TRUSTED)
            entry = TrustedIssuer(
                id=uuid.uuid4().hex, province=row.province, name=row.name, issuer=row.issuer, jwks=fetched.jwks,
                sm2_keys=fetched.sm2_keys if fetched.sm2_keys is not None else row.sm2_keys,
                document_types=row.document_types, valid_from=row.valid_from, valid_until=row.valid_until,
                jwks_uri=row.jwks_uri, sm2_keys_uri=row.sm2_keys_uri, status_list_base=row.status_list_base,
                registration_id=row.id, keys_fetched_at=now, keys_checked_at=now,
                keys_refresh_at=now + timedelta(seconds=fetched.max_age))
            session.add(entry)
            row.trusted_issuer_id = entry.id
            await session.flush()
            await trust_list_changed(session, "partner_approved")
        await record_audit(session, principal, f"partner.{action}", "partner_registration", row.id,
                           details={"province": row.province, "registered_by": row.registered_by})
        log.info("partner_registration_decided", registration_id=row.id, action=action)
        return registration_view(row)


async def refresh_now(database: Database, partners: Partners, principal: Principal, issuer_id: str) -> dict[str, Any]:
    """Ops: fetch a registered partner's keys now (after the partner announced a rotation)."""
    async with database.transaction() as session:
        entry = await session.get(TrustedIssuer, issuer_id, with_for_update=True)
        if entry is None:
            raise NotFound(messages.TRUSTED_ISSUER_NOT_FOUND)
        if not entry.jwks_uri:
            raise Conflict(messages.PARTNER_ISSUER_NOT_REGISTERED)
        changed = await refresh_issuer_now(session, partners, entry)
        await record_audit(session, principal, "partner.refresh_keys", "trusted_issuer", entry.id,
                           details={"changed": changed, "problem": entry.keys_fetch_error})
        return {**issuer_view(entry), "changed": changed, "keys_fetch_error": entry.keys_fetch_error}
