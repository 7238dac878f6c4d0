"""长三角: a partner's revocation reaches the documents we already recognised. Recognising or presenting a partner
document checks its partner's status list then (``partners.verify_partner_document``); after that the document
stands in for a material from the licence read models of svc-matters and svc-prequal, which know only what they
were told. So once per ``partner_recheck_seconds`` across the replicas (the background job
``licences.partner-recheck``) every recognised document still in its validity that names a status list is looked
up in it again (the lists' short cache honoured: one fetch per list and cache period, however many documents it
holds), and a status that differs from the one last seen — revoked, suspended, or reinstated (``active``) — is
recorded on the recognition and announced once, in the same transaction, as
``lvrong.licences.partner_document.status_changed``: the read models then refuse (or accept again) the document
at submission.

A list that cannot be fetched or believed changes nothing: the status last seen stays until a re-check can read
the list (logged as ``partner_recheck_unreadable``; presenting the document meanwhile is refused, fail closed).
A partner no longer on the trust list, or not trusted now, is skipped (its documents are refused when presented).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts.licences import PartnerDocumentStatusChanged
from kit.db import Database
from kit.events import add_event
from licences.models import Recognition, TrustedIssuer
from licences.service.partners import Partners, Refused, status_now
from licences.service.recognition import claim_time

log = structlog.get_logger("licences.partner_recheck")

RECHECKS = Counter("lvrong_partner_document_rechecks_total", "Recognised partner documents re-checked against "
                   "their partners' status lists", ["outcome"])


@dataclass(frozen=True, slots=True)
class _Due:
    id: str
    trusted_issuer_id: str
    claims: dict[str, Any]
    partner_status: str


def _still_valid(row: Recognition, now: datetime) -> bool:
    if row.valid_until is None:  # recognised before 0008 kept it (an SM2 document's ISO bound): kept now
        row.valid_until = claim_time(row.claims, "exp", "valid_until")
    return row.valid_until is None or row.valid_until > now


def _due_rows(now: datetime) -> Any:
    return (Recognition.result == "recognised", Recognition.claims["status"].is_not(None),
            Recognition.trusted_issuer_id.is_not(None),
            or_(Recognition.valid_until.is_(None), Recognition.valid_until > now))


async def count_due(session: AsyncSession, now: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(Recognition).where(*_due_rows(now))) or 0)


async def due(session: AsyncSession, now: datetime, limit: int) -> list[_Due]:
    """Recognised documents in their validity that name a status list, the least recently checked first (in a
    transaction: a row without its end of validity gets it from its claims)."""
    rows = (await session.scalars(
        select(Recognition)
        .where(*_due_rows(now))
        .order_by(Recognition.status_checked_at.asc().nulls_first(), Recognition.id)
        .limit(limit))).all()
    return [_Due(r.id, r.trusted_issuer_id, r.claims, r.partner_status) for r in rows
            if r.trusted_issuer_id is not None and _still_valid(r, now)]


async def recheck(database: Database, partners: Partners, limit: int) -> int:
    """One round: read each due document's status in its partner's list (outside any transaction), announce the
    changes (a transaction each), and mark the documents checked. How many changed."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        documents = await due(session, now, limit)
        issuers = {e.id: e for e in (await session.scalars(select(TrustedIssuer).where(
            TrustedIssuer.id.in_({d.trusted_issuer_id for d in documents})))).all()}
    checked: list[str] = []
    changed = 0
    for document in documents:
        entry = issuers.get(document.trusted_issuer_id)
        if entry is None or not (entry.valid_from <= now < entry.valid_until):
            RECHECKS.labels("issuer_not_trusted").inc()
            continue
        try:
            seen = await status_now(partners, entry, document.claims)
        except Refused as e:
            RECHECKS.labels("unreadable").inc()
            log.warning("partner_recheck_unreadable", province=entry.province, reason=e.reason)
            continue
        checked.append(document.id)
        if seen == document.partner_status:
            RECHECKS.labels("unchanged").inc()
            continue
        async with database.transaction() as session:
            changed += await _announce(session, document.id, entry.province, seen, now)
    if checked:
        async with database.transaction() as session:
            await session.execute(update(Recognition).where(Recognition.id.in_(checked))
                                  .values(status_checked_at=now))
    return changed


async def _announce(session: AsyncSession, recognition_id: str, province: str, seen: str, now: datetime) -> int:
    """Record and announce ``seen`` unless another round did meanwhile (the row locked: once per change)."""
    row = await session.get(Recognition, recognition_id, with_for_update=True)
    if row is None or row.partner_status == seen:
        return 0
    previous, row.partner_status, row.status_checked_at = row.partner_status, seen, now
    await add_event(session, PartnerDocumentStatusChanged(
        recognition_id=row.id, province=province, document_identifier=row.document_identifier or "",
        from_status=previous, to_status=seen, occurred_at=now), subject=row.id)
    RECHECKS.labels(seen).inc()
    log.info("partner_document_status_changed", recognition_id=row.id, from_status=previous, to_status=seen)
    return 1
