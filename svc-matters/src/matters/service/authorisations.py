"""Company authorisation (多级授权): a company account lets a person see and act on its applications.

Modelled here in svc-matters until svc-licences offers authorisation (issue 5): then the grants are
asked of it (or learnt from its events) and this table becomes their local copy, so the visibility
rules keep answering from one indexed query. Those rules live with the applications
(``service.applications``: ``authorised_companies``, ``may_read``, ``visibility_filter``) and read the
active grants of this table, so a revocation takes effect on the next request.

Only a company account (a company principal with the applicant role and its unified social credit
code) grants and revokes; a person sees the grants they received.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit import idempotency
from kit.audit import record_audit
from kit.auth import Principal, Role, SubjectKind
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.pagination import Page, newest_first_after, newest_first_cursor
from matters import messages
from matters.models import CompanyAuthorisation
from matters.schemas import AuthorisationCreate, AuthorisationView

log = structlog.get_logger("matters.authorisations")

OVERSEERS = (Role.OPS_ADMIN, Role.INSPECTOR)


def is_company_account(principal: Principal) -> bool:
    return principal.kind == SubjectKind.COMPANY and principal.has_role(Role.APPLICANT) and bool(principal.org_code)


def _require_company(principal: Principal) -> str:
    if not is_company_account(principal):
        raise Forbidden(messages.AUTHORISATION_COMPANY_ONLY)
    assert principal.org_code is not None
    return principal.org_code


def view(row: CompanyAuthorisation) -> AuthorisationView:
    return AuthorisationView(id=row.id, org_code=row.org_code, grantee=row.grantee_subject, granted_by=row.granted_by,
                             created_at=row.created_at, revoked_at=row.revoked_at, active=row.revoked_at is None)


async def grant(database: Database, principal: Principal, body: AuthorisationCreate,
                idempotency_key: str | None) -> AuthorisationView:
    """Authorise ``body.grantee`` for the caller's company."""
    org_code = _require_company(principal)
    if body.grantee == principal.subject:
        raise ValidationFailed(messages.AUTHORISATION_SELF, errors=[
            FieldError.of("grantee", messages.AUTHORISATION_SELF_FIELD, "self_grant")])

    async def create(session: AsyncSession) -> AuthorisationView:
        existing = await session.scalar(select(CompanyAuthorisation).where(
            CompanyAuthorisation.org_code == org_code, CompanyAuthorisation.grantee_subject == body.grantee,
            CompanyAuthorisation.revoked_at.is_(None)))
        if existing is not None:
            raise Conflict(messages.AUTHORISATION_EXISTS, authorisation_id=existing.id)
        row = CompanyAuthorisation(id=uuid.uuid4().hex, org_code=org_code, grantee_subject=body.grantee,
                                   granted_by=principal.subject, created_at=datetime.now(UTC))
        session.add(row)
        await session.flush()
        await record_audit(session, principal, "authorisation.grant", "company_authorisation", row.id,
                           owner=org_code, details={"org_code": org_code, "grantee": body.grantee})
        log.info("authorisation_granted", authorisation_id=row.id, org_code=org_code, grantee=body.grantee)
        return view(row)

    try:
        return await idempotency.create_once(database, f"authorisations:{principal.subject}", idempotency_key,
                                             body.model_dump(mode="json"), create, AuthorisationView)
    except IntegrityError:
        # A concurrent grant of the same person committed first (the partial unique index on active grants).
        raise Conflict(messages.AUTHORISATION_EXISTS) from None


def _readable_by(principal: Principal) -> Any:
    """The grants the caller may see: a company its own, a person those it received, ops and inspectors all."""
    if principal.has_role(*OVERSEERS):
        return None
    if is_company_account(principal):
        return CompanyAuthorisation.org_code == principal.org_code
    if principal.has_role(Role.APPLICANT):
        return CompanyAuthorisation.grantee_subject == principal.subject
    raise Forbidden(messages.AUTHORISATIONS_NOT_VISIBLE)


async def list_authorisations(session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None,
                              include_revoked: bool = False) -> Page[AuthorisationView]:
    stmt = select(CompanyAuthorisation)
    readable = _readable_by(principal)
    if readable is not None:
        stmt = stmt.where(readable)
    if not include_revoked:
        stmt = stmt.where(CompanyAuthorisation.revoked_at.is_(None))
    after = newest_first_after(cursor, CompanyAuthorisation.created_at, CompanyAuthorisation.id)
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.scalars(stmt.order_by(CompanyAuthorisation.created_at.desc(), CompanyAuthorisation.id.desc())
                                  .limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = newest_first_cursor(last.created_at, last.id)
    return Page[AuthorisationView](items=[view(r) for r in rows[:limit]], next_cursor=next_cursor)


async def get_authorisation(session: AsyncSession, principal: Principal, authorisation_id: str) -> AuthorisationView:
    readable = _readable_by(principal)
    stmt = select(CompanyAuthorisation).where(CompanyAuthorisation.id == authorisation_id)
    row = await session.scalar(stmt if readable is None else stmt.where(readable))
    if row is None:
        raise NotFound(messages.AUTHORISATION_NOT_FOUND)
    return view(row)


async def revoke(database: Database, principal: Principal, authorisation_id: str) -> None:
    """Revoke a grant of the caller's company; revoking a revoked grant changes nothing."""
    org_code = _require_company(principal)
    async with database.transaction() as session:
        row = await session.scalar(select(CompanyAuthorisation).where(
            CompanyAuthorisation.id == authorisation_id, CompanyAuthorisation.org_code == org_code).with_for_update())
        if row is None:
            raise NotFound(messages.AUTHORISATION_NOT_FOUND)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            await record_audit(session, principal, "authorisation.revoke", "company_authorisation", row.id,
                               owner=org_code, details={"org_code": org_code, "grantee": row.grantee_subject})
            log.info("authorisation_revoked", authorisation_id=row.id, org_code=org_code, grantee=row.grantee_subject)
