"""The audit log (审计日志): append-only, hash-chained, one per service database.

What goes in: every read of personal data or of a licence by anyone other than its owner, every
permission change, every staff action on an application. An entry is written by ``record_audit``
in the same transaction as the action, so an action and its entry commit or roll back together.
Entries carry who, what, on which resource and the request id — never the personal data itself.

The chain: each entry's ``hash`` is SHA-256 over its own fields and the previous entry's hash, and
positions are consecutive, so altering, inserting or deleting a row breaks the chain at that row;
``verify_chain`` (and ``GET /v1/audit/<service>/verify``, for ops admins and inspectors) reports
the first broken link. Triggers refuse UPDATE, DELETE and TRUNCATE, so tampering needs someone who
can disable them first — and is then detected.

Concurrent appends form one chain because ``record_audit`` takes a transaction-scoped PostgreSQL
advisory lock (``pg_advisory_xact_lock``, one key per database) before reading the chain's head;
the lock is held until the transaction ends, so audited transactions of every replica commit one at
a time. Call ``record_audit`` as the *last* statement of a transaction: the lock is then held only
for the commit, and never while the transaction waits for another lock (no deadlock).

A service adopts it with one line in an Alembic revision (``create_audit_log()``), ``record_audit``
in its service layer, and ``audit_router(service)`` in its ``ServiceDefinition.routers`` (plus a
gateway route ``/v1/audit/<service>``).
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, DateTime, Index, String, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import SessionDep, platform_metadata
from kit.errors import BadRequest
from kit.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key of the audit chain ("lvaudit"); advisory locks are per database.
AUDIT_LOCK_KEY = 0x6C7661756469
_VERIFY_BATCH = 2000

audit_log = Table(
    "audit_log",
    platform_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_subject", String(128), nullable=False),
    Column("actor_roles", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("owner_subject", String(128)),
    Column("details", JSONB, nullable=False),
    Column("request_id", String(128)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_resource", "resource_type", "resource_id", "position"),
    Index("ix_audit_log_actor", "actor_subject", "position"),
)


def create_audit_log() -> None:
    """Create the audit log table and its append-only triggers (call from an Alembic revision).

    Spelled out rather than ``audit_log.create``: a revision must create what it created the day it
    was written, whatever the table definition above becomes later.
    """
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "audit_log",
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_subject", sa.String(128), nullable=False),
        sa.Column("actor_roles", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("owner_subject", sa.String(128)),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_resource", "audit_log", ["resource_type", "resource_id", "position"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_subject", "position"])
    op.execute("""
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def drop_audit_log() -> None:
    from alembic import op

    op.drop_table("audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 over the entry's fields (canonical JSON) and the previous hash."""
    material = {
        "position": entry["position"],
        "occurred_at": entry["occurred_at"].astimezone(UTC).isoformat(),
        "actor_subject": entry["actor_subject"],
        "actor_roles": entry["actor_roles"],
        "action": entry["action"],
        "resource_type": entry["resource_type"],
        "resource_id": entry["resource_id"],
        "owner_subject": entry["owner_subject"],
        "details": entry["details"],
        "request_id": entry["request_id"],
        "prev_hash": entry["prev_hash"],
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_audit(session: AsyncSession, actor: Principal | None, action: str, resource_type: str,
                       resource_id: str, *, owner: str | None = None, details: dict[str, Any] | None = None) -> int:
    """Append one entry in the caller's transaction; returns its position.

    ``actor`` None means the service itself (a scheduled job, an event). ``details`` must not hold
    personal data: name the fields read, not their values.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    head = (await session.execute(
        select(audit_log.c.position, audit_log.c.hash).order_by(audit_log.c.position.desc()).limit(1))).first()
    entry: dict[str, Any] = {
        "position": (head.position + 1) if head else 1,
        "occurred_at": datetime.now(UTC),
        "actor_subject": actor.subject if actor else "system",
        "actor_roles": " ".join(sorted(actor.roles)) if actor else "",
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "owner_subject": owner,
        "details": details or {},
        "request_id": structlog.contextvars.get_contextvars().get("request_id"),
        "prev_hash": head.hash if head else GENESIS_HASH,
    }
    entry["hash"] = entry_hash(entry)
    await session.execute(audit_log.insert().values(**entry))
    return entry["position"]


class BrokenLink(BaseModel):
    position: int = Field(description="Position of the first entry that does not fit the chain")
    reason: str = Field(description="`altered` (its hash does not match its content), `relinked` (its previous "
                                    "hash is not the previous entry's hash) or `missing` (positions skip: rows deleted)")
    expected_position: int | None = None


class ChainReport(BaseModel):
    valid: bool
    entries: int = Field(description="Entries checked")
    head_hash: str = Field(description="Hash of the last entry (anchor it elsewhere to detect truncation)")
    first_broken: BrokenLink | None = None
    checked_at: datetime


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the whole chain in position order; stop at the first broken link."""
    previous_hash, expected, checked = GENESIS_HASH, 1, 0
    columns = [c for c in audit_log.c]
    while True:
        rows = (await session.execute(
            select(*columns).where(audit_log.c.position >= expected).order_by(audit_log.c.position)
            .limit(_VERIFY_BATCH))).mappings().all()
        for row in rows:
            entry = dict(row)
            broken = None
            if entry["position"] != expected:
                broken = BrokenLink(position=entry["position"], reason="missing", expected_position=expected)
            elif entry["prev_hash"] != previous_hash:
                broken = BrokenLink(position=entry["position"], reason="relinked")
            elif entry_hash(entry) != entry["hash"]:
                broken = BrokenLink(position=entry["position"], reason="altered")
            if broken:
                return ChainReport(valid=False, entries=checked, head_hash=previous_hash, first_broken=broken,
                                   checked_at=datetime.now(UTC))
            previous_hash, expected, checked = entry["hash"], expected + 1, checked + 1
        if len(rows) < _VERIFY_BATCH:
            return ChainReport(valid=True, entries=checked, head_hash=previous_hash, checked_at=datetime.now(UTC))


class AuditEntry(BaseModel):
    position: int
    occurred_at: datetime
    actor_subject: str
    actor_roles: list[str]
    action: str = Field(examples=["application.accept", "personal_data.read", "authorisation.grant"])
    resource_type: str
    resource_id: str
    owner_subject: str | None = None
    details: dict[str, Any]
    request_id: str | None = None
    hash: str


AuditReader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]


def audit_router(service: str) -> APIRouter:
    """``GET /v1/audit/<service>/verify`` and ``/entries``, for ops admins and inspectors."""
    router = APIRouter(prefix=f"/v1/audit/{service}", tags=["audit"], dependencies=[needs_scope("audit:read")])

    @router.get("/verify", response_model=ChainReport, summary="Verify the audit chain; report the first broken link")
    async def verify(session: SessionDep, _: AuditReader) -> ChainReport:
        async with session.begin():
            return await verify_chain(session)

    @router.get("/entries", response_model=Page[AuditEntry], summary="Audit entries, newest first")
    async def entries(session: SessionDep, _: AuditReader, limit: LimitQuery = 50, cursor: CursorQuery = None,
                      resource_id: Annotated[str | None, Query(max_length=128)] = None,
                      actor: Annotated[str | None, Query(max_length=128)] = None,
                      action: Annotated[str | None, Query(max_length=64)] = None) -> Page[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.position.desc()).limit(limit + 1)
        after = decode_cursor(cursor)
        if after:
            if not isinstance(after.get("p"), int):
                raise BadRequest("分页游标无效 / invalid pagination cursor")
            query = query.where(audit_log.c.position < after["p"])
        if resource_id:
            query = query.where(audit_log.c.resource_id == resource_id)
        if actor:
            query = query.where(audit_log.c.actor_subject == actor)
        if action:
            query = query.where(audit_log.c.action == action)
        rows = (await session.execute(query)).mappings().all()
        items = [AuditEntry(**{**row, "actor_roles": row["actor_roles"].split()}) for row in rows[:limit]]
        next_cursor = encode_cursor({"p": items[-1].position}) if len(rows) > limit else None
        return Page[AuditEntry](items=items, next_cursor=next_cursor)

    return router
