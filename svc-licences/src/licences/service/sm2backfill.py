"""SM2 documents for the licence versions issued before SM2 signatures (migration ``0004_sm2_signatures``):
every licence version carries one, so the versions that have none are signed now — the same document a
new version gets (``issuance.sign_sm2``: the same fields, the same JCS canonical form, the issuer's active
SM2 key; ``iat`` is when it is signed).

How it runs: a scheduled job of svc-licences (``licences.sm2-backfill``, at start and then every
``LICENCES_SM2_BACKFILL_INTERVAL_SECONDS``; a replica of an older release during a rolling upgrade may
still issue a version without one), in batches of ``LICENCES_SM2_BACKFILL_BATCH`` licences, one
transaction each:

- only licences with a missing document (theirs or one of their versions') are selected, through partial
  indexes on ``sm2_document IS NULL`` (migration ``0005_sm2_backfill``), so a run after a complete one
  reads two empty indexes and changes nothing;
- the batch's licences are locked ``FOR UPDATE SKIP LOCKED``: two replicas running it at once take
  different licences, and a new version (``issuance.new_version``, which holds the licence locked) is never
  raced — a licence held by anyone is left to the next batch or run; a version's document is only ever
  written where it is still NULL, read under that lock;
- the licence's current document and its current version's are the same text, as at issuance.
"""
from __future__ import annotations

import structlog
from sqlalchemy import Subquery, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import Database
from licences.models import Licence, LicenceVersion
from licences.service.issuance import sign_sm2
from licences.service.issuer import Issuer

log = structlog.get_logger("licences.sm2backfill")


def _missing_ids() -> Subquery:
    """The licences without an SM2 document, theirs or one of their versions' (read through the partial indexes)."""
    return union(select(Licence.id).where(Licence.sm2_document.is_(None)),
                 select(LicenceVersion.licence_id).where(LicenceVersion.sm2_document.is_(None))).subquery()


async def missing(session: AsyncSession) -> int:
    """How many licences still lack an SM2 document somewhere."""
    ids = _missing_ids()
    return int(await session.scalar(select(func.count()).select_from(ids)) or 0)


async def sign_batch(session: AsyncSession, issuer: Issuer, batch: int) -> tuple[int, int]:
    """Sign the missing SM2 documents of up to ``batch`` licences nobody holds locked: (licences, documents)."""
    ids = _missing_ids()
    licences = (await session.scalars(select(Licence).where(Licence.id.in_(select(ids.c.id))).order_by(Licence.id)
                                      .limit(batch).with_for_update(skip_locked=True))).all()
    signed = 0
    for licence in licences:
        versions = (await session.scalars(select(LicenceVersion).where(
            LicenceVersion.licence_id == licence.id, LicenceVersion.sm2_document.is_(None)))).all()
        if licence.sm2_document is None:
            licence.sm2_document = sign_sm2(issuer, licence)
            signed += 1
        for version in versions:
            if version.version == licence.version:
                version.sm2_document = licence.sm2_document  # the same document as the licence's, as issued
            else:
                version.sm2_document = sign_sm2(issuer, licence, version)
                signed += 1
    return len(licences), signed


async def sign_missing(database: Database, issuer: Issuer, batch: int) -> int:
    """Batches until one finds nothing to do (or only licences others hold: the next run takes them);
    returns the documents signed. Logs counts and the key id, never a document."""
    total = 0
    while True:
        async with database.transaction() as session:
            licences, signed = await sign_batch(session, issuer, batch)
        if not licences:
            break
        total += signed
        log.info("sm2_backfill_batch", licences=licences, documents=signed, kid=issuer.keys.sm2_signing_key().kid)
    if total:
        log.info("sm2_backfill_done", documents=total)
    return total
