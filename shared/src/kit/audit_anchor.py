"""Signed checkpoints of every audit chain's head, kept outside the owning database (审计锚定).

The keyed chain (``kit.audit``) stops anyone without the chain key from editing entries unseen; it
cannot show that the tail was cut off, nor that someone holding the key rewrote the chain. So every
service with an audit trail runs a scheduled job (``anchor_job``, once per interval across its
replicas, ``kit.scheduling``) that checks what was appended since its last checkpoint and then
appends a new checkpoint: service, last position, the head's hash, time, the previous checkpoint's
signature, and a signature under the anchor key (``AUDIT_ANCHOR_KEY_DIR``, outside every database):
Ed25519, or SM2-with-SM3 for an SM2 key (国密; the key's PEM decides, ``kit.audit``), the verifier taking
each checkpoint's algorithm from the key its ``key_id`` names.

Where: the table ``audit_checkpoints`` in the gateway's database (``lvrong_gateway``, created by
the gateway's revision 0002), reached with its own URL (``AUDIT_ANCHOR_DATABASE_URL``; default: the
gateway's database on ``DATABASE_URL``'s server). Why there: it is another database, owned by
another role in production (services get INSERT and SELECT only), already backed up and already
shared by every replica; an append-only file directory would need a volume every replica of every
service can write, which the read-only pods do not have. What protects the checkpoints is not the
place but the signature (nobody without the anchor key can write one that verifies), the link to the
previous checkpoint (deleting one in the middle breaks the links) and their age (deleting the newest
ones leaves the newest too old: ``AUDIT_ANCHOR_MAX_AGE_SECONDS``).

``lvrong-audit-verify [service…]`` recomputes each chain with the keys, checks every checkpoint
against it, and exits non-zero naming the first bad position.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Gauge
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import (
    AnchoredHead,
    AuditKeys,
    AuditSettings,
    BrokenLink,
    ChainReport,
    audit_keys,
    create_append_only_triggers,
    verify_chain,
)
from kit.db import Database
from kit.logging import configure_logging
from kit.scheduling import every
from kit.settings import ServiceSettings, async_database_url

log = structlog.get_logger("kit.audit_anchor")

AUDITED_SERVICES = ("matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking")

CHAIN_BROKEN = Gauge("lvrong_audit_chain_broken", "1 when the anchoring job found the audit chain broken (alarm)",
                     ["service"])
LAST_CHECKPOINT = Gauge("lvrong_audit_last_checkpoint_timestamp_seconds",
                        "When the newest checkpoint of the audit chain was anchored", ["service"])

# Not on the platform metadata: this table lives in the anchor database only.
anchor_metadata = MetaData()
audit_checkpoints = Table(
    "audit_checkpoints",
    anchor_metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("service", String(32), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("head", String(64), nullable=False),
    Column("anchored_at", DateTime(timezone=True), nullable=False),
    Column("previous_signature", String(128)),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Index("ix_audit_checkpoints_service", "service", "id"),
)


def create_checkpoint_table() -> None:
    """Create ``audit_checkpoints`` with append-only triggers (the gateway's Alembic revision)."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_signature", sa.String(128)),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_service", "audit_checkpoints", ["service", "id"])
    create_append_only_triggers("audit_checkpoints")


def drop_checkpoint_table() -> None:
    from alembic import op

    op.drop_table("audit_checkpoints")
    op.execute("DROP FUNCTION IF EXISTS audit_checkpoints_append_only()")


@dataclass(frozen=True)
class Checkpoint:
    id: int
    service: str
    position: int
    head: str
    anchored_at: datetime
    previous_signature: str | None
    key_id: str
    signature: str

    @property
    def anchored(self) -> AnchoredHead:
        return AnchoredHead(self.position, self.head)


def checkpoint_payload(service: str, position: int, head: str, anchored_at: datetime,
                       previous_signature: str | None, key_id: str) -> bytes:
    """What the anchor key signs (canonical JSON)."""
    return json.dumps({"service": service, "position": position, "head": head,
                       "anchored_at": anchored_at.astimezone(UTC).isoformat(),
                       "previous_signature": previous_signature, "key_id": key_id},
                      sort_keys=True, separators=(",", ":")).encode()


class CheckpointProblem(BaseModel):
    checkpoint_id: int
    reason: str = Field(description="`bad_signature` (not signed by a known anchor key, or altered), `unlinked` (does "
                                    "not name the previous checkpoint's signature: one was deleted or inserted) or "
                                    "`moved_back` (a position lower than the previous checkpoint's)")


def signature_valid(c: Checkpoint, keys: AuditKeys) -> bool:
    payload = checkpoint_payload(c.service, c.position, c.head, c.anchored_at, c.previous_signature, c.key_id)
    return keys.signature_valid(c.key_id, c.signature, payload)


def check_checkpoints(checkpoints: Sequence[Checkpoint], keys: AuditKeys) -> CheckpointProblem | None:
    """The first checkpoint (in order) that is not genuine or not linked to the one before it."""
    previous: Checkpoint | None = None
    for c in checkpoints:
        if not signature_valid(c, keys):
            return CheckpointProblem(checkpoint_id=c.id, reason="bad_signature")
        if c.previous_signature != (previous.signature if previous else None):
            return CheckpointProblem(checkpoint_id=c.id, reason="unlinked")
        if previous and c.position < previous.position:
            return CheckpointProblem(checkpoint_id=c.id, reason="moved_back")
        previous = c
    return None


class AnchorStore:
    """The checkpoints table in the anchor database."""

    def __init__(self, url: str) -> None:
        self.database = Database(async_database_url(url), pool_size=2)

    @classmethod
    def from_settings(cls, settings: AuditSettings, platform: ServiceSettings) -> AnchorStore:
        return cls(anchor_database_url(settings, platform))

    async def checkpoints(self, service: str, *, newest_only: bool = False) -> list[Checkpoint]:
        query = select(audit_checkpoints).where(audit_checkpoints.c.service == service)
        query = query.order_by(audit_checkpoints.c.id.desc()).limit(1) if newest_only \
            else query.order_by(audit_checkpoints.c.id)
        async with self.database.session() as session:
            return [Checkpoint(**row) for row in (await session.execute(query)).mappings()]

    async def append(self, service: str, position: int, head: str, previous: Checkpoint | None,
                     keys: AuditKeys) -> Checkpoint:
        anchored_at = datetime.now(UTC)
        previous_signature = previous.signature if previous else None
        assert keys.active_anchor is not None
        key_id, signature = keys.sign(checkpoint_payload(service, position, head, anchored_at, previous_signature,
                                                         keys.active_anchor))
        values: dict[str, Any] = dict(service=service, position=position, head=head, anchored_at=anchored_at,
                      previous_signature=previous_signature, key_id=key_id, signature=signature)
        async with self.database.transaction() as session:
            new_id = (await session.execute(audit_checkpoints.insert().values(**values)
                                            .returning(audit_checkpoints.c.id))).scalar_one()
        return Checkpoint(id=new_id, **values)

    async def dispose(self) -> None:
        await self.database.dispose()


def anchor_database_url(settings: AuditSettings, platform: ServiceSettings) -> str:
    return settings.anchor_database_url or async_database_url(
        platform.database_url, f"{platform.database_name_prefix}_gateway")


async def anchor_once(session: AsyncSession, service: str, store: AnchorStore, keys: AuditKeys) -> int:
    """Check the entries appended since the newest checkpoint, then anchor the head; 1 when anchored.

    A broken chain is not anchored (that would bless it): the job raises the alarm instead — the
    ``lvrong_audit_chain_broken`` gauge and an ``audit_chain_broken`` error log naming the position.
    """
    newest = await store.checkpoints(service, newest_only=True)
    last = newest[0] if newest else None
    if last and not signature_valid(last, keys):
        CHAIN_BROKEN.labels(service).set(1)
        log.error("audit_checkpoint_invalid", service=service, checkpoint_id=last.id, reason="bad_signature")
        return 0
    report = await verify_chain(session, keys, after=last.anchored if last else None)
    if not report.valid:
        assert report.first_broken is not None
        CHAIN_BROKEN.labels(service).set(1)
        log.error("audit_chain_broken", service=service, position=report.first_broken.position,
                  reason=report.first_broken.reason)
        return 0
    position = (last.position if last else 0) + report.entries
    checkpoint = await store.append(service, position, report.head_hash, last, keys)
    CHAIN_BROKEN.labels(service).set(0)
    LAST_CHECKPOINT.labels(service).set(checkpoint.anchored_at.timestamp())
    return 1


async def run_anchoring(database: Database, service: str, store: AnchorStore, interval_seconds: float) -> None:
    """The scheduled anchoring of one service's chain (a background job of every audited service)."""
    keys = audit_keys()
    await every(database, "audit-anchor", interval_seconds, lambda session: anchor_once(session, service, store, keys))


# ---- verification ---------------------------------------------------------------------------------

class ServiceVerification(BaseModel):
    service: str
    valid: bool
    chain: ChainReport
    checkpoints: int = Field(description="Checkpoints of this service in the anchor database")
    newest_checkpoint_at: datetime | None = None
    checkpoint_problem: CheckpointProblem | None = None
    stale: bool = Field(False, description="The newest checkpoint is older than the allowed age (or there is none): "
                                           "checkpoints were deleted, or the anchoring job does not run")

    def summary(self) -> str:
        if self.checkpoint_problem:
            return (f"{self.service}: BROKEN — checkpoint {self.checkpoint_problem.checkpoint_id} "
                    f"{self.checkpoint_problem.reason}")
        if self.chain.first_broken:
            broken = self.chain.first_broken
            return f"{self.service}: BROKEN at position {broken.position} ({broken.reason})"
        if self.stale:
            return (f"{self.service}: STALE — newest checkpoint "
                    f"{self.newest_checkpoint_at.isoformat() if self.newest_checkpoint_at else 'missing'}")
        return (f"{self.service}: ok — {self.chain.entries} entries, keyed from "
                f"{self.chain.keyed_from or '-'}, {self.chain.checkpoints_matched} of {self.checkpoints} checkpoints "
                f"matched")


async def verify_service(session: AsyncSession, service: str, store: AnchorStore, keys: AuditKeys,
                         max_age_seconds: float | None) -> ServiceVerification:
    """The chain recomputed with the keys, every checkpoint checked and matched against it."""
    checkpoints = await store.checkpoints(service)
    problem = check_checkpoints(checkpoints, keys)
    genuine = checkpoints if problem is None else [c for c in checkpoints if c.id < problem.checkpoint_id]
    chain = await verify_chain(session, keys, [c.anchored for c in genuine])
    newest = checkpoints[-1].anchored_at if checkpoints else None
    stale = max_age_seconds is not None and (newest is None or time.time() - newest.timestamp() > max_age_seconds)
    return ServiceVerification(service=service, valid=chain.valid and problem is None and not stale, chain=chain,
                               checkpoints=len(checkpoints), newest_checkpoint_at=newest, checkpoint_problem=problem,
                               stale=stale)


async def verify_services(services: Sequence[str], *, max_age_seconds: float | None,
                          platform: ServiceSettings | None = None, settings: AuditSettings | None = None,
                          keys: AuditKeys | None = None) -> list[ServiceVerification]:
    platform = platform or ServiceSettings()
    settings = settings or AuditSettings()
    keys = keys or audit_keys()
    store = AnchorStore.from_settings(settings, platform)
    results = []
    try:
        for service in services:
            database = Database(async_database_url(platform.database_url,
                                                   f"{platform.database_name_prefix}_{service}"), pool_size=1)
            try:
                async with database.session() as session, session.begin():
                    await session.execute(_REPEATABLE_READ)
                    results.append(await verify_service(session, service, store, keys, max_age_seconds))
            finally:
                await database.dispose()
    finally:
        await store.dispose()
    return results


# One snapshot for the whole walk: entries appended meanwhile are not half-seen.
_REPEATABLE_READ = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lvrong-audit-verify",
        description="Verify the audit chains with the chain keys and against their signed checkpoints. Exit 0: all "
                    "intact; 1: a chain or checkpoint is broken or stale (the first bad position is named); "
                    "2: configuration (keys, databases) missing.")
    parser.add_argument("services", nargs="*", metavar="service",
                        help=f"default: all ({', '.join(AUDITED_SERVICES)})")
    parser.add_argument("--max-age", type=float, default=None,
                        help="seconds the newest checkpoint may be old (default AUDIT_ANCHOR_MAX_AGE_SECONDS); "
                             "0 disables the check")
    parser.add_argument("--json", action="store_true", help="one JSON document per service")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(AUDITED_SERVICES))
    if unknown:
        parser.error(f"no audit trail: {', '.join(unknown)} (choose from {', '.join(AUDITED_SERVICES)})")
    configure_logging("audit-verify", "WARNING", stream=sys.stderr)
    settings = AuditSettings()
    max_age = settings.anchor_max_age_seconds if args.max_age is None else args.max_age
    try:
        results = asyncio.run(verify_services(args.services or list(AUDITED_SERVICES), max_age_seconds=max_age or None, settings=settings))
    except (OSError, RuntimeError) as e:
        print(f"lvrong-audit-verify: cannot verify: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    for result in results:
        print(result.model_dump_json() if args.json else result.summary())
    return 0 if all(r.valid for r in results) else 1


__all__ = ["AnchorStore", "BrokenLink", "Checkpoint", "ServiceVerification", "anchor_once", "main", "run_anchoring",
           "verify_service", "verify_services"]


if __name__ == "__main__":
    sys.exit(main())
