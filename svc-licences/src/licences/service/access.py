"""Who may see a licence, and 授权调证: grants by the holder (or a company's administrator) to
another party — a staff member of the company, another department, a partner province — for a
purpose, a period and a scope; one further level of delegation where the grant allows it;
revocation at any time (with everything delegated from it). Every fetch by someone other than the
holder states its reason (useCause), is recorded for the holder to see and is written to the
hash-chained audit log."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.db import Database
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.idempotency import create_once
from kit.identifiers import mask_resident_id, mask_uscc
from kit.pagination import Page, newest_first_after, newest_first_cursor
from licences import messages
from licences.models import Grant, Licence, LicenceFetch, LicenceStatusChange, LicenceVersion
from licences.schemas import (
    FetchView,
    GrantCreate,
    GrantView,
    HolderCodeType,
    LicenceHistory,
    LicenceStatus,
    LicenceVersionView,
    LicenceView,
    StatusChangeView,
)
from licences.service import reminders

log = structlog.get_logger("licences.access")

# Staff who fetch licences in the course of their duties (a reason is still required and audited).
OFFICIAL_READERS = (Role.WINDOW_OFFICER, Role.REVIEWER, Role.INSPECTOR, Role.OPS_ADMIN)
USE_CAUSE_MAX_LENGTH = 500


def is_holder(licence: Licence, principal: Principal) -> bool:
    return licence.holder_subject == principal.subject


def mask_name(name: str) -> str:
    """A person's name as shown to anyone but the person: the first character (a company's name is public)."""
    return name[:1] + "*" * (len(name) - 1)


def licence_view(licence: Licence, *, reveal: bool) -> LicenceView:
    code = licence.holder_code if reveal else (
        mask_uscc(licence.holder_code) if licence.holder_code_type == "uscc" else mask_resident_id(licence.holder_code))
    name = licence.holder_name if reveal or licence.holder_code_type == "uscc" else mask_name(licence.holder_name)
    # The columns hold only what LicenceView allows (the status machine and the issuance write them);
    # pydantic checks it again when the view is built.
    status = cast(LicenceStatus, licence.status)
    code_type = cast(HolderCodeType, licence.holder_code_type)
    return LicenceView(
        id=licence.id, identifier=licence.identifier, licence_number=licence.licence_number,
        licence_type=licence.licence_type, licence_type_code=licence.type_code, version=licence.version,
        status=status, holder_name=name, holder_code=code, holder_code_type=code_type,
        issuer_name=licence.issuer_name, issuer_code=licence.issuer_code, region=licence.region,
        issued_at=licence.issued_at, valid_from=licence.valid_from, valid_until=licence.valid_until,
        data=licence.data, application_id=licence.application_id, matter_code=licence.matter_code,
        status_list={"id": licence.status_list_id, "index": licence.status_index},
        credential=licence.credential if reveal else None,
        sm2_document=json.loads(licence.sm2_document) if reveal and licence.sm2_document else None)


def _grantee_matches(principal: Principal) -> Any:
    clauses = [Grant.grantee_subject == principal.subject]
    if principal.org_code:
        clauses.append(Grant.grantee_org_code == principal.org_code)
    if principal.province:
        clauses.append(Grant.grantee_province == principal.province)
    return or_(*clauses)


async def usable_grant(session: AsyncSession, licence_id: str, principal: Principal, scope: str,
                       now: datetime) -> Grant | None:
    return await session.scalar(select(Grant).where(
        Grant.licence_id == licence_id, Grant.revoked_at.is_(None), Grant.valid_from <= now, Grant.valid_until > now,
        Grant.scope.contains([scope]), _grantee_matches(principal)).order_by(Grant.valid_until.desc()).limit(1))


async def list_licences(database: Database, principal: Principal, *, holder: str | None, type_code: str | None,
                        status: str | None, limit: int, cursor: str | None) -> Page[LicenceView]:
    """The caller's own licences; staff may list a holder's, which is audited."""
    if holder is not None and holder != principal.subject and not principal.has_role(*OFFICIAL_READERS):
        raise NotFound(messages.OWN_LICENCES_ONLY)
    subject = holder or principal.subject
    own = subject == principal.subject
    conditions = [Licence.holder_subject == subject]
    conditions += [Licence.type_code == type_code] if type_code else []
    conditions += [Licence.status == status] if status else []
    if (after := newest_first_after(cursor, Licence.issued_at, Licence.id)) is not None:
        conditions.append(after)
    query = select(Licence).where(*conditions)
    async with database.transaction() as session:
        rows = (await session.scalars(query.order_by(Licence.issued_at.desc(), Licence.id.desc()).limit(limit + 1))).all()
        if not own and rows:
            await record_audit(session, principal, "licence.list", "holder", subject, owner=subject,
                               details={"licences": [r.id for r in rows[:limit]]})
    return Page(items=[licence_view(r, reveal=own) for r in rows[:limit]],
                next_cursor=newest_first_cursor(rows[limit - 1].issued_at, rows[limit - 1].id) if len(rows) > limit else None)


async def fetch_licence(database: Database, principal: Principal, licence_id: str, use_cause: str | None,
                        scope: str = "fetch") -> LicenceView:
    """The holder sees everything; anyone else needs a reason and a grant of ``scope`` (or an official role);
    their fetch is recorded for the holder and in the audit log."""
    async with database.transaction() as session:
        return await _fetch_licence(session, principal, licence_id, use_cause, scope)


async def _fetch_licence(session: AsyncSession, principal: Principal, licence_id: str, use_cause: str | None,
                         scope: str) -> LicenceView:
    licence = await session.get(Licence, licence_id)
    if licence is None:
        raise NotFound(messages.LICENCE_NOT_FOUND)
    if is_holder(licence, principal):
        return licence_view(licence, reveal=True)
    reason = (use_cause or "").strip()
    official = principal.has_role(*OFFICIAL_READERS)
    now = datetime.now(UTC)
    grant = None if official else await usable_grant(session, licence_id, principal, scope, now)
    if not official and grant is None:
        # Not "forbidden": whether a licence exists is itself not disclosed to a stranger.
        raise NotFound(messages.LICENCE_NOT_FOUND_OR_NO_GRANT)
    if not reason:
        raise ValidationFailed(messages.USE_CAUSE_REQUIRED,
                               errors=[FieldError.of("use_cause", messages.USE_CAUSE_FIELD_REQUIRED, "required")])
    if len(reason) > USE_CAUSE_MAX_LENGTH:
        raise ValidationFailed(messages.USE_CAUSE_TOO_LONG, errors=[FieldError.of(
            "use_cause", messages.USE_CAUSE_FIELD_TOO_LONG.format(limit=USE_CAUSE_MAX_LENGTH), "too_long")])
    session.add(LicenceFetch(licence_id=licence.id, fetched_by=principal.subject, fetched_by_name=principal.name,
                             grant_id=grant.id if grant else None, use_cause=reason, at=now))
    await record_audit(session, principal, f"licence.{scope}", "licence", licence.id, owner=licence.holder_subject,
                       details={"grant_id": grant.id if grant else None, "official": official,
                                "fields": ["licence", "holder_name", "holder_code(masked)"]})
    log.info("licence_fetched", licence_id=licence.id, grant_id=grant.id if grant else None)
    return licence_view(licence, reveal=False)


async def list_fetches(session: AsyncSession, principal: Principal, licence_id: str, *, limit: int,
                       cursor: str | None) -> Page[FetchView]:
    licence = await session.get(Licence, licence_id)
    if licence is None or not is_holder(licence, principal):
        raise NotFound(messages.LICENCE_NOT_FOUND)
    query = select(LicenceFetch).where(LicenceFetch.licence_id == licence_id)
    after = newest_first_after(cursor, LicenceFetch.at, LicenceFetch.id)
    if after is not None:
        query = query.where(after)
    rows = (await session.scalars(query.order_by(LicenceFetch.at.desc(), LicenceFetch.id.desc()).limit(limit + 1))).all()
    items = [FetchView(fetched_by=r.fetched_by, fetched_by_name=r.fetched_by_name, grant_id=r.grant_id,
                       use_cause=r.use_cause, at=r.at) for r in rows[:limit]]
    return Page(items=items, next_cursor=newest_first_cursor(rows[limit - 1].at, str(rows[limit - 1].id))
                if len(rows) > limit else None)


def grant_view(grant: Grant) -> GrantView:
    return GrantView(id=grant.id, licence_id=grant.licence_id, grantor=grant.grantor,
                     grantee={"subject": grant.grantee_subject, "org_code": grant.grantee_org_code,
                              "province": grant.grantee_province},
                     purpose=grant.purpose, scope=grant.scope, valid_from=grant.valid_from, valid_until=grant.valid_until,
                     delegable=grant.delegable, parent_id=grant.parent_id, created_at=grant.created_at,
                     revoked_at=grant.revoked_at)


async def create_grant(database: Database, principal: Principal, body: GrantCreate,
                       idempotency_key: str | None) -> GrantView:
    """The holder grants a party the right to fetch a licence (once per ``Idempotency-Key``)."""
    async def create(session: AsyncSession) -> GrantView:
        return await _create_grant(session, principal, body)

    return await create_once(database, f"licences:grant:{principal.subject}", idempotency_key,
                             body.model_dump(mode="json"), create, GrantView)


async def _create_grant(session: AsyncSession, principal: Principal, body: GrantCreate) -> GrantView:
    licence = await session.get(Licence, body.licence_id)
    now = datetime.now(UTC)
    parent: Grant | None = None
    if body.parent_grant_id:
        parent = await session.get(Grant, body.parent_grant_id, with_for_update=True)
        if parent is None or parent.licence_id != body.licence_id or parent.revoked_at is not None \
                or parent.valid_until <= now or await usable_grant(session, parent.licence_id, principal, "fetch", now) is None \
                or not await _is_grantee(session, parent, principal):
            raise NotFound(messages.PARENT_GRANT_NOT_FOUND)
        if not parent.delegable:
            raise Forbidden(messages.GRANT_NOT_DELEGABLE)
        if body.delegable:
            raise ValidationFailed(messages.DELEGATION_TOO_DEEP, errors=[
                FieldError.of("delegable", messages.DELEGATION_FIELD_TOO_DEEP, "too_deep")])
        if body.valid_until > parent.valid_until or not set(body.scope) <= set(parent.scope):
            raise ValidationFailed(messages.DELEGATION_EXCEEDS_PARENT, errors=[
                FieldError.of("valid_until", messages.DELEGATION_FIELD_EXCEEDS_PARENT, "exceeds_parent")])
    elif licence is None or not is_holder(licence, principal):
        raise NotFound(messages.LICENCE_NOT_FOUND)
    if licence is None or licence.status in ("revoked",):
        raise Conflict(messages.REVOKED_LICENCE_NOT_GRANTABLE)
    grant = Grant(id=uuid.uuid4().hex, licence_id=body.licence_id, grantor=principal.subject,
                  grantee_subject=body.grantee.subject, grantee_org_code=body.grantee.org_code,
                  grantee_province=body.grantee.province, purpose=body.purpose, scope=sorted(set(body.scope)),
                  valid_from=body.valid_from or now, valid_until=body.valid_until, delegable=body.delegable,
                  parent_id=parent.id if parent else None, created_at=now)
    session.add(grant)
    await session.flush()
    await record_audit(session, principal, "grant.create", "licence", licence.id, owner=licence.holder_subject,
                       details={"grant_id": grant.id, "parent_id": grant.parent_id, "scope": grant.scope})
    return grant_view(grant)


async def _is_grantee(session: AsyncSession, grant: Grant, principal: Principal) -> bool:
    return bool(await session.scalar(select(Grant.id).where(Grant.id == grant.id, _grantee_matches(principal))))


async def list_grants(session: AsyncSession, principal: Principal, *, licence_id: str | None, limit: int,
                      cursor: str | None, include_revoked: bool) -> Page[GrantView]:
    """Grants the caller gave, received, or that concern a licence the caller holds."""
    held = select(Licence.id).where(Licence.holder_subject == principal.subject)
    query = select(Grant).where(or_(Grant.grantor == principal.subject, _grantee_matches(principal),
                                    Grant.licence_id.in_(held)))
    if licence_id:
        query = query.where(Grant.licence_id == licence_id)
    if not include_revoked:
        query = query.where(Grant.revoked_at.is_(None))
    after = newest_first_after(cursor, Grant.created_at, Grant.id)
    if after is not None:
        query = query.where(after)
    rows = (await session.scalars(query.order_by(Grant.created_at.desc(), Grant.id.desc()).limit(limit + 1))).all()
    return Page(items=[grant_view(g) for g in rows[:limit]],
                next_cursor=newest_first_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None)


async def get_grant(session: AsyncSession, principal: Principal, grant_id: str) -> GrantView:
    grant = await _visible_grant(session, principal, grant_id)
    return grant_view(grant)


async def _visible_grant(session: AsyncSession, principal: Principal, grant_id: str) -> Grant:
    grant = await session.scalar(select(Grant).where(Grant.id == grant_id, or_(
        Grant.grantor == principal.subject, _grantee_matches(principal),
        Grant.licence_id.in_(select(Licence.id).where(Licence.holder_subject == principal.subject)))))
    if grant is None:
        raise NotFound(messages.GRANT_NOT_FOUND)
    return grant


async def revoke_grant(database: Database, principal: Principal, grant_id: str) -> None:
    """The grantor or the licence's holder revokes a grant, and with it every grant delegated from it."""
    async with database.transaction() as session:
        await _revoke_grant(session, principal, grant_id)


async def _revoke_grant(session: AsyncSession, principal: Principal, grant_id: str) -> None:
    grant = await _visible_grant(session, principal, grant_id)
    licence = await session.get(Licence, grant.licence_id)
    assert licence is not None
    if grant.grantor != principal.subject and not is_holder(licence, principal):
        raise Forbidden(messages.GRANT_REVOCATION_FORBIDDEN)
    if grant.revoked_at is not None:
        return
    now = datetime.now(UTC)
    await session.execute(update(Grant).where(and_(or_(Grant.id == grant.id, Grant.parent_id == grant.id),
                                                   Grant.revoked_at.is_(None)))
                          .values(revoked_at=now, revoked_by=principal.subject))
    await record_audit(session, principal, "grant.revoke", "licence", licence.id, owner=licence.holder_subject,
                       details={"grant_id": grant.id})


async def licence_history(session: AsyncSession, principal: Principal, licence_id: str) -> LicenceHistory:
    """Every version, status change and expiry reminder of a licence (its holder or an official reads it)."""
    licence = await session.get(Licence, licence_id)
    if licence is None or not (is_holder(licence, principal) or principal.has_role(*OFFICIAL_READERS)):
        raise NotFound(messages.LICENCE_NOT_FOUND)
    versions = (await session.scalars(select(LicenceVersion).where(LicenceVersion.licence_id == licence_id)
                                      .order_by(LicenceVersion.version))).all()
    changes = (await session.scalars(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == licence_id)
                                     .order_by(LicenceStatusChange.id))).all()
    sent = await reminders.reminders_of(session, licence_id)
    return LicenceHistory(
        versions=[LicenceVersionView(version=v.version, kind=v.kind, identifier=v.identifier, valid_from=v.valid_from,
                                     valid_until=v.valid_until, data=v.data, reason=v.reason, actor=v.actor,
                                     created_at=v.created_at) for v in versions],
        statuses=[StatusChangeView(from_status=c.from_status, to_status=c.to_status, reason=c.reason, actor=c.actor,
                                   at=c.at) for c in changes],
        reminders=[{"days_before": r.days_before, "version": r.version, "valid_until": r.valid_until.isoformat(),
                    "sent_at": r.sent_at.isoformat()} for r in sent])
