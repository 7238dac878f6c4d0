"""The audit log (审计日志): append-only, hash-chained, one per service database.

What goes in: every read of personal data or of a licence by anyone other than its owner, every
permission change, every staff action on an application. An entry is written by ``record_audit``
in the same transaction as the action, so an action and its entry commit or roll back together.
Entries carry who, what, on which resource and the request id — never the personal data itself.

The chain: each entry's ``hash`` is an HMAC-SHA256 (under a chain key kept outside the database,
named by the entry's ``key_id``) over its own fields and the previous entry's hash, and positions are
consecutive, so altering, inserting or deleting a row breaks the chain at that row — and whoever
owns the database cannot recompute the chain after editing it, because the key is not there.
Entries written before the chain was keyed (``key_id`` NULL) carry a plain SHA-256 and verify as
before, up to the switch point; an unkeyed entry after a keyed one is a forgery (``downgraded``).
Truncating the tail and rewriting the whole chain are found against the signed checkpoints of the
chain head that every service writes outside its own database (``kit.audit_anchor``).
``verify_chain`` (``GET /v1/audit/<service>/verify``, and ``lvrong-audit-verify`` with the
checkpoints) reports the first broken link. Triggers refuse UPDATE, DELETE and TRUNCATE, so
tampering needs someone who can disable them first — and is then detected.

Keys (``AUDIT_*``, ``AuditSettings``): ``AUDIT_CHAIN_KEY_DIR`` holds one file per chain key,
``<key id>.key`` with the base64 of at least 32 random bytes; the newest key id (or
``AUDIT_CHAIN_ACTIVE_KEY``) chains new entries, the older ones stay so what they chained verifies.

The chain function is the chain key's: ``<key id>.key`` is an HMAC-SHA256 key, ``<key id>.sm3.key`` an
HMAC-SM3 one (国密, GB/T 32905 with RFC 2104's HMAC). Switching the trail to SM3 is a key rotation: mount
an ``.sm3.key`` whose id sorts after the others (or name it in ``AUDIT_CHAIN_ACTIVE_KEY``) and the entries
from then on are HMAC-SM3; the verifier takes each entry's function from its ``key_id``, so a history
that switched functions mid-way verifies link by link, and no column or migration is needed — an entry
cannot claim another function than its key's, and the key id it names is itself under the MAC. What the
function covers: the keyed entries' ``hash`` (the MAC over the entry's fields and the previous entry's
hash — the only hash a keyed entry has; SM3 gives 32 bytes, the same 64 hex digits as SHA-256). It does
not cover the plain SHA-256 of the entries written before the chain was keyed (history, refused after
the switch), nor the checkpoints of ``kit.audit_anchor``, which are signatures under the anchor keys.

The checkpoints' signature algorithm is the anchor key's, read from its PEM (``AUDIT_ANCHOR_KEY_DIR``,
``<key id>.pem`` private, ``<key id>.pub.pem`` public): an Ed25519 key (the default; the development key)
or an SM2 key (国密: SM2-with-SM3, GB/T 32918.2, DER ``SEQUENCE {r, s}`` per GB/T 35276, signer id
``1234567812345678``; ``openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2``). Unlike a chain key's
random bytes a PEM says what it is, so no suffix is needed and a file cannot be misnamed into another
algorithm. Switching the checkpoints to SM2 is a key rotation (an SM2 key whose id sorts last, or
``AUDIT_ANCHOR_ACTIVE_KEY``); the verifier takes each checkpoint's algorithm from its ``key_id`` (which
the signature covers), so a history that switched verifies. ``AUDIT_ANCHOR_REQUIRED_ALGORITHM=SM2``
refuses to start with an active anchor key of another algorithm.
Without a directory (a workstation, ``make run``, the tests) a development key is created once under
``AUDIT_DEV_KEY_DIR`` (default ``var/audit-keys``); the production profile (``LVRONG_PROFILE=production``)
refuses development keys. Key material is never logged, only key ids.

Concurrent appends form one chain because ``record_audit`` takes a transaction-scoped PostgreSQL
advisory lock (``pg_advisory_xact_lock``, one key per database) before reading the chain's head;
the lock is held until the transaction ends, so audited transactions of every replica commit one at
a time. Call ``record_audit`` as the *last* statement of a transaction: the lock is then held only
for the commit, and never while the transaction waits for another lock (no deadlock).

A service adopts it with two lines in Alembic revisions (``create_audit_log()``, then
``key_audit_log()``), ``record_audit`` in its service layer, ``audit_router(service)`` in its
``ServiceDefinition.routers`` (plus a gateway route ``/v1/audit/<service>``) and
``ServiceDefinition(audit_trail=True)``, which loads the keys at start and anchors the chain's head
(``kit.audit_anchor``; add the service to ``AUDITED_SERVICES`` there for the verification command).
"""
from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

import structlog
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import BigInteger, Column, DateTime, Index, RowMapping, String, Table, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from kit import messages
from kit.auth import Principal, Role, needs_scope, require_roles
from kit.db import SessionDep, platform_metadata
from kit.errors import BadRequest, ServiceUnavailable
from kit.gm import sm2
from kit.gm.symmetric import hmac_sm3
from kit.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key of the audit chain ("lvaudit"); advisory locks are per database.
AUDIT_LOCK_KEY = 0x6C7661756469
_VERIFY_BATCH = 2000
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MIN_KEY_BYTES = 32

HMAC_SHA256 = "HMAC-SHA256"
HMAC_SM3 = "HMAC-SM3"
# The chain function of a chain key, by its file's suffix (the longer suffix first: "x.sm3.key" is key "x").
CHAIN_KEY_SUFFIXES = ((".sm3.key", HMAC_SM3), (".key", HMAC_SHA256))
# The checkpoints' signature algorithms (kit.audit_anchor): an anchor key's is its PEM's (an Ed25519 key, or an
# EC key on sm2p256v1 for SM2-with-SM3, signer id 1234567812345678, DER signature).
ED25519 = "Ed25519"
SM2 = "SM2"
AnchorPrivateKey: TypeAlias = Ed25519PrivateKey | sm2.PrivateKey
AnchorPublicKey: TypeAlias = Ed25519PublicKey | sm2.PublicKey

log = structlog.get_logger("kit.audit")


# ---- keys -----------------------------------------------------------------------------------------

class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="AUDIT_")

    chain_key_dir: Path | None = None
    chain_active_key: str | None = None
    # When set (HMAC-SM3 where 密评 asks for 国密), the active chain key must have this function, or the
    # audited services do not start.
    chain_required_function: str | None = None
    anchor_key_dir: Path | None = None
    anchor_active_key: str | None = None
    # When set (SM2 where 密评 asks for 国密), the active anchor key must be of this algorithm, or the audited
    # services do not start.
    anchor_required_algorithm: Literal["Ed25519", "SM2"] | None = None
    dev_key_dir: Path = Path("var/audit-keys")
    # libpq URL of the database the checkpoints go to; default: the gateway's database on DATABASE_URL's server.
    anchor_database_url: str | None = None
    anchor_interval_seconds: float = 300.0
    # The verification fails when a service's newest checkpoint is older than this (or missing).
    anchor_max_age_seconds: float = 3600.0

    @field_validator("chain_required_function")
    @classmethod
    def _known_function(cls, function: str | None) -> str | None:
        if function is not None and function not in (f for _, f in CHAIN_KEY_SUFFIXES):
            raise ValueError(f"unknown audit chain function {function!r} ({HMAC_SHA256} or {HMAC_SM3})")
        return function

    def production_problems(self) -> list[str]:
        """What the production profile refuses: a key directory unset (development keys would be made
        up) or not mounted. The keys themselves are checked when loaded (``AuditKeys.from_settings``)."""
        problems = []
        for variable, directory in (("AUDIT_CHAIN_KEY_DIR", self.chain_key_dir),
                                    ("AUDIT_ANCHOR_KEY_DIR", self.anchor_key_dir)):
            if directory is None:
                problems.append(f"{variable} is not set: production never makes development audit keys "
                                f"(deploy/README.md \"Audit trail\")")
            elif not directory.is_dir():
                problems.append(f"{variable}={str(directory)!r}: no such directory (mount the Secret there)")
        return problems


def production_profile() -> bool:
    """Whether this process runs in the production profile, where development keys are refused."""
    return os.environ.get("LVRONG_PROFILE", "").strip().lower() == "production"


class AuditKeyError(RuntimeError):
    """Audit keys missing, malformed, or development keys in the production profile."""


def _key_files(directory: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not directory.is_dir():
        raise AuditKeyError(f"audit key directory {directory} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        suffix = next((x for x in suffixes if path.name.endswith(x)), None)
        if suffix is None or path.name.startswith("."):
            continue
        kid = path.name[:-len(suffix)]
        if not _KEY_ID.match(kid):
            raise AuditKeyError(f"audit key file {path.name}: the key id may hold letters, digits, '_' and '-' only")
        found.setdefault(kid, path)
    return found


def _create_once(path: Path, content: bytes) -> None:
    """Write ``path`` unless it exists; processes starting together all end up with the first one's file."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.parent / f".{path.name}-{os.getpid()}-{secrets.token_hex(4)}"
    scratch.write_bytes(content)
    scratch.chmod(0o600)
    with contextlib.suppress(FileExistsError):
        os.link(scratch, path)
    scratch.unlink()


def _development_keys(directory: Path) -> tuple[Path, Path]:
    """The checkout's development chain and anchor keys, created on first use."""
    chain, anchor = directory / "chain", directory / "anchor"
    if not (chain.is_dir() and any(chain.glob("*.key"))):
        _create_once(chain / "dev-1.key", base64.b64encode(secrets.token_bytes(32)) + b"\n")
    if not (anchor.is_dir() and any(anchor.glob("*.pem"))):
        _create_once(anchor / "dev-1.pem", Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return chain, anchor


@dataclass(frozen=True)
class AuditKeys:
    """The chain keys (HMAC) and the anchor keys (Ed25519 or SM2) of one process."""

    chain: Mapping[str, bytes]
    active_chain: str
    anchor_public: Mapping[str, AnchorPublicKey]
    anchor_private: Mapping[str, AnchorPrivateKey]
    active_anchor: str | None
    development: bool = False
    # Chain key id → chain function (HMAC_SHA256 when not named).
    chain_functions: Mapping[str, str] = field(default_factory=dict)

    def chain_function(self, key_id: str) -> str:
        return self.chain_functions.get(key_id, HMAC_SHA256)

    def anchor_algorithm(self, key_id: str) -> str | None:
        """The signature algorithm of anchor key ``key_id`` (None: no such key)."""
        key = self.anchor_public.get(key_id)
        return None if key is None else ED25519 if isinstance(key, Ed25519PublicKey) else SM2

    def seal(self, entry: Entry) -> str:
        """The entry's hash: the MAC under the chain key its ``key_id`` names, with that key's function."""
        kid = entry["key_id"]
        return entry_mac(entry, self.chain[kid], self.chain_function(kid))

    @classmethod
    def from_settings(cls, settings: AuditSettings) -> AuditKeys:
        development = settings.chain_key_dir is None or settings.anchor_key_dir is None
        if development and production_profile():
            raise AuditKeyError("the production profile needs AUDIT_CHAIN_KEY_DIR and AUDIT_ANCHOR_KEY_DIR "
                                "(development audit keys are refused)")
        chain_dir, anchor_dir = settings.chain_key_dir, settings.anchor_key_dir
        if development:
            dev_chain, dev_anchor = _development_keys(settings.dev_key_dir)
            chain_dir, anchor_dir = chain_dir or dev_chain, anchor_dir or dev_anchor
            log.warning("audit_development_keys", key_dir=str(settings.dev_key_dir.resolve()),
                        note="development keys: set AUDIT_CHAIN_KEY_DIR and AUDIT_ANCHOR_KEY_DIR in production")
        assert chain_dir is not None and anchor_dir is not None
        chain, functions = _chain_keys(chain_dir)
        if not chain:
            raise AuditKeyError(f"no audit chain key (<key id>.key, or <key id>.sm3.key for HMAC-SM3) in {chain_dir}")
        public: dict[str, AnchorPublicKey] = {}
        private: dict[str, AnchorPrivateKey] = {}
        for kid, path in _key_files(anchor_dir, (".pub.pem", ".pem")).items():
            key = _anchor_key(kid, path)
            if isinstance(key, Ed25519PrivateKey | sm2.PrivateKey):
                private[kid] = key
                public[kid] = key.public_key()
            else:
                public[kid] = key
        active_chain = settings.chain_active_key or max(chain)
        if active_chain not in chain:
            raise AuditKeyError(f"the active audit chain key {active_chain!r} is not in {chain_dir}")
        required = settings.chain_required_function
        if required is not None and required != functions[active_chain]:
            raise AuditKeyError(f"AUDIT_CHAIN_REQUIRED_FUNCTION is {required}, but the active audit chain key "
                                f"{active_chain!r} is {functions[active_chain]} (an {HMAC_SM3} key is <key id>.sm3.key)")
        active_anchor = settings.anchor_active_key or (max(private) if private else None)
        if active_anchor is not None and active_anchor not in private:
            raise AuditKeyError(f"the active audit anchor key {active_anchor!r} has no private key in {anchor_dir}")
        keys = cls(chain, active_chain, public, private, active_anchor, development, functions)
        anchor_required = settings.anchor_required_algorithm
        if anchor_required is not None and active_anchor is not None \
                and keys.anchor_algorithm(active_anchor) != anchor_required:
            raise AuditKeyError(f"AUDIT_ANCHOR_REQUIRED_ALGORITHM is {anchor_required}, but the active audit anchor key "
                                f"{active_anchor!r} is {keys.anchor_algorithm(active_anchor)}")
        log.info("audit_chain_keys_loaded", key_ids=sorted(chain), active_key=active_chain,
                 active_function=functions[active_chain], anchor_key=active_anchor,
                 anchor_algorithm=keys.anchor_algorithm(active_anchor) if active_anchor else None)
        return keys

    def sign(self, payload: bytes) -> tuple[str, str]:
        """(key id, signature) of ``payload`` under the active anchor key."""
        if self.active_anchor is None:
            raise AuditKeyError("no audit anchor private key: this process can verify checkpoints, not write them")
        key = self.anchor_private[self.active_anchor]
        signature = key.sign(payload) if isinstance(key, Ed25519PrivateKey) else sm2.sign(key, payload)
        return self.active_anchor, base64.urlsafe_b64encode(signature).decode().rstrip("=")

    def signature_valid(self, key_id: str, signature: str, payload: bytes) -> bool:
        """Whether ``signature`` is anchor key ``key_id``'s over ``payload``, with that key's algorithm: the key
        id (signed in the payload) decides, so a checkpoint cannot claim another algorithm."""
        key = self.anchor_public.get(key_id)
        if key is None:
            return False
        try:
            raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            if isinstance(key, Ed25519PublicKey):
                key.verify(raw, payload)
            else:
                sm2.verify(key, raw, payload)
        except (InvalidSignature, sm2.InvalidSignature, ValueError):
            return False
        return True


def _chain_keys(directory: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The chain keys of ``directory`` and each one's function (by its file's suffix)."""
    found = _key_files(directory, tuple(suffix for suffix, _ in CHAIN_KEY_SUFFIXES))
    functions = {kid: next(f for suffix, f in CHAIN_KEY_SUFFIXES if path.name.endswith(suffix))
                 for kid, path in found.items()}
    for kid in found:
        if sum((directory / f"{kid}{suffix}").exists() for suffix, _ in CHAIN_KEY_SUFFIXES) > 1:
            raise AuditKeyError(f"two audit chain key files for the key id {kid!r} (one key id, one key, one function)")
    return {kid: _chain_key(kid, path) for kid, path in found.items()}, functions


def _chain_key(kid: str, path: Path) -> bytes:
    try:
        raw = base64.b64decode(path.read_text().strip(), validate=True)
    except ValueError:
        raise AuditKeyError(f"audit chain key {kid!r} is not base64") from None
    if len(raw) < _MIN_KEY_BYTES:
        raise AuditKeyError(f"audit chain key {kid!r} must hold at least {_MIN_KEY_BYTES} bytes, not {len(raw)}")
    return raw


def _anchor_key(kid: str, path: Path) -> AnchorPrivateKey | AnchorPublicKey:
    """An anchor key file: its algorithm is its PEM's — Ed25519, or SM2 (an EC key on sm2p256v1, which
    ``cryptography``'s OpenSSL does not load: Tongsuo does)."""
    data = path.read_bytes()
    private = b"PRIVATE KEY" in data
    key: Any
    try:
        key = serialization.load_pem_private_key(data, password=None) if private \
            else serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:
        key = None  # a curve it does not know: SM2's, or none of ours
    except ValueError:
        raise AuditKeyError(f"audit anchor key {kid!r} is not a PEM key") from None
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return key
    try:
        return sm2.load_private_key(data) if private else sm2.load_public_key(data)
    except (sm2.NotSM2, ValueError):
        raise AuditKeyError(f"audit anchor key {kid!r} must be an Ed25519 or an SM2 key") from None


@functools.cache
def audit_keys() -> AuditKeys:
    """This process's audit keys, loaded once (a service loads them at start: see ``create_service_app``)."""
    return AuditKeys.from_settings(AuditSettings())


# ---- the table ------------------------------------------------------------------------------------

audit_log = Table(
    "audit_log",
    platform_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_subject", String(128), nullable=False),
    Column("actor_roles", String(255), nullable=False),
    Column("actor_department", String(200)),
    Column("action", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(128), nullable=False),
    Column("owner_subject", String(128)),
    Column("details", JSONB, nullable=False),
    Column("request_id", String(128)),
    Column("prev_hash", String(64), nullable=False),
    # The chain key the entry's hash is an HMAC under; NULL: a plain SHA-256 entry from before the switch.
    Column("key_id", String(64)),
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
    create_append_only_triggers("audit_log")


def create_append_only_triggers(table: str) -> None:
    """In a revision: triggers that refuse UPDATE, DELETE and TRUNCATE on ``table`` (function
    ``<table>_append_only``, triggers ``<table>_no_change`` and ``<table>_no_truncate``)."""
    from alembic import op

    op.execute(f"""
        CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only (% refused)', TG_OP;
        END $$""")
    op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
    op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")


def drop_audit_log() -> None:
    from alembic import op

    op.drop_table("audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def key_audit_log() -> None:
    """Switch the audit log to the keyed chain (call from an Alembic revision after ``create_audit_log``).

    Adds the key id and the actor's department. The entries already there keep their SHA-256 and
    verify as before; from the next position on an entry without a key id is refused by a CHECK, so
    a replica still running the old code fails its audited action instead of breaking the chain
    (and ``downgraded`` is what a verifier reports when someone drops the CHECK to forge one).
    """
    import sqlalchemy as sa
    from alembic import op

    op.add_column("audit_log", sa.Column("actor_department", sa.String(200)))
    op.add_column("audit_log", sa.Column("key_id", sa.String(64)))
    op.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    last = op.get_bind().execute(sa.text("SELECT coalesce(max(position), 0) FROM audit_log")).scalar_one()
    op.create_check_constraint("ck_audit_log_keyed", "audit_log", f"key_id IS NOT NULL OR position <= {int(last)}")


def unkey_audit_log() -> None:
    from alembic import op

    op.drop_constraint("ck_audit_log_keyed", "audit_log", type_="check")
    op.drop_column("audit_log", "key_id")
    op.drop_column("audit_log", "actor_department")


# ---- the chain ------------------------------------------------------------------------------------

# An entry about to be written, or one read back from the table.
Entry = Mapping[str, Any] | RowMapping


def _canonical(material: dict[str, Any]) -> bytes:
    return json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _material(entry: Entry) -> dict[str, Any]:
    return {
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


def entry_hash(entry: Entry) -> str:
    """SHA-256 over the entry's fields (canonical JSON) and the previous hash: entries from before the
    chain was keyed."""
    return hashlib.sha256(_canonical(_material(entry))).hexdigest()


def entry_mac(entry: Entry, key: bytes, function: str = HMAC_SHA256) -> str:
    """The MAC (HMAC-SHA256, or HMAC-SM3) under the chain key named by the entry's ``key_id``, over its
    fields (the key id and the actor's department included) and the previous hash."""
    material = _canonical({**_material(entry), "actor_department": entry["actor_department"],
                           "key_id": entry["key_id"]})
    if function == HMAC_SM3:
        return hmac_sm3(key, material).hex()
    if function != HMAC_SHA256:
        raise AuditKeyError(f"unknown audit chain function {function!r}")
    return hmac.new(key, material, hashlib.sha256).hexdigest()


async def record_audit(session: AsyncSession, actor: Principal | None, action: str, resource_type: str,
                       resource_id: str, *, owner: str | None = None, details: dict[str, Any] | None = None) -> int:
    """Append one entry in the caller's transaction; returns its position.

    ``actor`` None means the service itself (a scheduled job, an event). ``details`` must not hold
    personal data: name the fields read, not their values.
    """
    keys = audit_keys()
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    head = (await session.execute(
        select(audit_log.c.position, audit_log.c.hash).order_by(audit_log.c.position.desc()).limit(1))).first()
    position: int = (head.position + 1) if head else 1
    entry: dict[str, Any] = {
        "position": position,
        "occurred_at": datetime.now(UTC),
        "actor_subject": actor.subject if actor else "system",
        "actor_roles": " ".join(sorted(actor.roles)) if actor else "",
        "actor_department": actor.department if actor else None,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "owner_subject": owner,
        "details": details or {},
        "request_id": structlog.contextvars.get_contextvars().get("request_id"),
        "prev_hash": head.hash if head else GENESIS_HASH,
        "key_id": keys.active_chain,
    }
    entry["hash"] = keys.seal(entry)
    await session.execute(audit_log.insert().values(**entry))
    return position


class BrokenLink(BaseModel):
    position: int = Field(description="Position of the first entry that does not fit the chain (or, for `truncated`, "
                                      "the first anchored position that is gone)")
    reason: str = Field(description="`altered` (its hash does not match its content under its key), `relinked` (its "
                                    "previous hash is not the previous entry's hash), `missing` (positions skip: rows "
                                    "deleted), `downgraded` (an unkeyed entry after keyed ones or after a checkpoint), "
                                    "`unknown_key` (chained under a key id this verifier does not hold), "
                                    "`anchor_mismatch` (not the head a signed checkpoint recorded at this position) or "
                                    "`truncated` (the chain ends before a checkpointed position); position 0 with "
                                    "`checkpoint_<problem>`: a checkpoint itself is forged, unlinked or moved back")
    expected_position: int | None = None


class ChainReport(BaseModel):
    valid: bool
    entries: int = Field(description="Entries checked")
    head_hash: str = Field(description="Hash of the last entry checked")
    keyed_from: int | None = Field(None, description="Position of the first keyed entry (HMAC); earlier ones are "
                                                     "SHA-256 entries from before the switch")
    checkpoints_matched: int = Field(0, description="Checkpoints given whose head the chain reproduced")
    first_broken: BrokenLink | None = None
    checked_at: datetime


@dataclass(frozen=True)
class AnchoredHead:
    """What a verified checkpoint says: the chain's entry at ``position`` had hash ``head``."""

    position: int
    head: str


async def verify_chain(session: AsyncSession, keys: AuditKeys | None = None,
                       anchors: Iterable[AnchoredHead] = (), *, after: AnchoredHead | None = None) -> ChainReport:
    """Walk the chain in position order, each entry under its own key; stop at the first broken link.

    ``anchors`` are heads from verified checkpoints: the entry at each position must have that hash,
    the chain must reach the newest one, and every entry after it must be keyed. ``after`` starts the
    walk after an anchored head instead of at the genesis (the anchoring job checks only what is new).
    """
    keys = keys or audit_keys()
    heads: dict[int, set[str]] = {}
    anchored_at = Counter[int]()  # checkpoints per position
    for anchor in anchors:
        heads.setdefault(anchor.position, set()).add(anchor.head)
        anchored_at[anchor.position] += 1
    if after is not None:
        heads.setdefault(after.position, set()).add(after.head)
    last_anchored = max(heads, default=0)
    # Checkpoints of the empty chain match the genesis.
    previous_hash, expected, checked, matched = GENESIS_HASH, 1, 0, anchored_at[0]
    keyed_from: int | None = None

    def report(broken: BrokenLink | None) -> ChainReport:
        return ChainReport(valid=broken is None, entries=checked, head_hash=previous_hash, keyed_from=keyed_from,
                           checkpoints_matched=matched, first_broken=broken, checked_at=datetime.now(UTC))

    if after is not None and after.position > 0:
        stored = (await session.execute(select(audit_log.c.hash, audit_log.c.key_id)
                                        .where(audit_log.c.position == after.position))).first()
        if stored is None:
            return report(BrokenLink(position=after.position, reason="truncated"))
        if stored.hash != after.head:
            return report(BrokenLink(position=after.position, reason="anchor_mismatch"))
        previous_hash, expected = after.head, after.position + 1
        keyed_from = after.position if stored.key_id else None
    columns = list(audit_log.c)
    while True:
        rows = (await session.execute(
            select(*columns).where(audit_log.c.position >= expected).order_by(audit_log.c.position)
            .limit(_VERIFY_BATCH))).mappings().all()
        for entry in rows:
            position = entry["position"]
            broken = None
            if position != expected:
                broken = BrokenLink(position=position, reason="missing", expected_position=expected)
            elif entry["prev_hash"] != previous_hash:
                broken = BrokenLink(position=position, reason="relinked")
            elif entry["key_id"] is None:
                # A plain SHA-256 entry is genuine only before the first keyed one, and never after a
                # checkpoint: checkpoints are written by keyed code, which writes keyed entries only.
                if keyed_from is not None or (heads and position > last_anchored):
                    broken = BrokenLink(position=position, reason="downgraded")
                elif entry_hash(entry) != entry["hash"]:
                    broken = BrokenLink(position=position, reason="altered")
            elif entry["key_id"] not in keys.chain:
                broken = BrokenLink(position=position, reason="unknown_key")
            elif not hmac.compare_digest(keys.seal(entry), entry["hash"]):
                broken = BrokenLink(position=position, reason="altered")
            if broken is None and position in heads:
                if heads[position] != {entry["hash"]}:
                    broken = BrokenLink(position=position, reason="anchor_mismatch")
                else:
                    matched += anchored_at[position]
            if broken:
                return report(broken)
            if entry["key_id"] is not None and keyed_from is None:
                keyed_from = position
            previous_hash, expected, checked = entry["hash"], expected + 1, checked + 1
        if len(rows) < _VERIFY_BATCH:
            if expected <= last_anchored:
                return report(BrokenLink(position=expected, reason="truncated"))
            return report(None)


class AuditEntry(BaseModel):
    position: int
    occurred_at: datetime
    actor_subject: str
    actor_roles: list[str]
    actor_department: str | None = None
    action: str = Field(examples=["application.accept", "personal_data.read", "authorisation.grant"])
    resource_type: str
    resource_id: str
    owner_subject: str | None = None
    details: dict[str, Any]
    request_id: str | None = None
    key_id: str | None = Field(None, description="The chain key the hash is an HMAC under (null: SHA-256, before the "
                                                 "switch)")
    hash: str


AuditReader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]


def audit_router(service: str) -> APIRouter:
    """``GET /v1/audit/<service>/verify`` and ``/entries``, for ops admins and inspectors."""
    router = APIRouter(prefix=f"/v1/audit/{service}", tags=["audit"], dependencies=[needs_scope("audit:read")])

    @router.get("/verify", response_model=ChainReport,
                summary="Verify the audit chain with the chain keys and against its signed checkpoints; report the "
                        "first broken link")
    async def verify(request: Request, session: SessionDep, _: AuditReader) -> ChainReport:
        from kit.audit_anchor import verify_service

        store = getattr(request.app.state, "audit_anchors", None)
        async with session.begin():
            if store is None:
                return await verify_chain(session)
            try:
                result = await verify_service(session, service, store, audit_keys(), None)
            except (OSError, DBAPIError) as e:
                raise ServiceUnavailable(messages.AUDIT_ANCHORS_UNAVAILABLE) from e
        if result.checkpoint_problem:
            # A forged or deleted checkpoint: the chain is reported against the genuine ones before it.
            return result.chain.model_copy(update={"valid": False, "first_broken": result.chain.first_broken or BrokenLink(
                position=0, reason=f"checkpoint_{result.checkpoint_problem.reason}")})
        return result.chain

    @router.get("/entries", response_model=Page[AuditEntry], summary="Audit entries, newest first")
    async def entries(session: SessionDep, _: AuditReader, limit: LimitQuery = 50, cursor: CursorQuery = None,
                      resource_id: Annotated[str | None, Query(max_length=128)] = None,
                      actor: Annotated[str | None, Query(max_length=128)] = None,
                      action: Annotated[str | None, Query(max_length=64)] = None) -> Page[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.position.desc()).limit(limit + 1)
        after = decode_cursor(cursor)
        if after:
            if not isinstance(after.get("p"), int):
                raise BadRequest(messages.CURSOR_INVALID)
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
