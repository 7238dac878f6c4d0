"""The audit log (kit.audit) on a real database: one valid chain under concurrent appends, entries
rolled back with their action, UPDATE/DELETE/TRUNCATE refused, and tampering found at its row — also
what the database owner could do without the chain key (re-hash with SHA-256), cutting the tail
after a checkpoint, and a rewrite re-MACed with the key that no longer matches the anchored head
(kit.audit_anchor, checkpoints in a scratch gateway database); the verification command's exit code."""
from __future__ import annotations

import asyncio
import base64
import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kit.audit import (
    ED25519,
    HMAC_SHA256,
    HMAC_SM3,
    SM2,
    AuditKeyError,
    AuditKeys,
    AuditSettings,
    audit_keys,
    entry_hash,
    entry_mac,
    record_audit,
    verify_chain,
)
from kit.audit_anchor import AnchorStore, Checkpoint, anchor_once, checkpoint_payload, verify_service
from kit.auth import Principal, SubjectKind
from kit.gm import sm2
from kit.migrations import upgrade
from support import drop_databases, scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_unit_audit"
OFFICER = Principal(subject="officer-1", kind=SubjectKind.STAFF, roles=frozenset({"window_officer"}))


@pytest.fixture(scope="module")
async def database(servers):
    async with scratch_service_database(servers.database_url, "matters", PREFIX) as db:
        yield db


async def append(database, n: int, actor: Principal | None = OFFICER) -> None:
    for i in range(n):
        async with database.transaction() as session:
            await record_audit(session, actor, "application.accept", "application", f"app-{i}", owner="u-1",
                               details={"status": "accepted", "n": i})


async def tamper(database, sql: str) -> None:
    """What someone with the database owner's rights could do: switch the triggers off and edit."""
    async with database.transaction() as session:
        await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        await session.execute(text(sql))
        await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))


async def report(database):
    async with database.session() as session:
        return await verify_chain(session)


async def test_concurrent_appends_form_one_valid_chain(database) -> None:
    await asyncio.gather(*(append(database, 10) for _ in range(8)))
    await append(database, 1, actor=None)
    result = await report(database)
    assert result.valid and result.first_broken is None
    assert result.entries == 81
    async with database.session() as session:
        positions = (await session.scalars(text("SELECT position FROM audit_log ORDER BY position"))).all()
        system = (await session.execute(text("SELECT actor_subject FROM audit_log ORDER BY position DESC LIMIT 1"))).scalar()
    assert positions == list(range(1, 82))
    assert system == "system"


async def test_an_entry_rolls_back_with_its_action(database) -> None:
    before = (await report(database)).entries

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with database.transaction() as session:
            await record_audit(session, OFFICER, "application.refuse", "application", "app-x")
            raise Boom
    after = await report(database)
    assert after.valid and after.entries == before


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'x' WHERE position = 1",
                                       "DELETE FROM audit_log WHERE position = 1", "TRUNCATE audit_log"])
async def test_the_table_refuses_changes(database, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        async with database.transaction() as session:
            await session.execute(text(statement))
    assert (await report(database)).valid


async def test_tampering_is_detected_at_the_first_broken_link(database) -> None:
    await append(database, 5)
    good = await report(database)
    assert good.valid
    # An altered row: its hash no longer matches its content.
    await tamper(database, "UPDATE audit_log SET actor_subject = 'someone-else' WHERE position = 7")
    altered = await report(database)
    assert not altered.valid
    assert altered.first_broken.position == 7 and altered.first_broken.reason == "altered"
    assert altered.entries == 6
    # Re-hashing the altered row does not help: the next row still names the old hash.
    await tamper(database, "UPDATE audit_log SET hash = repeat('a', 64) WHERE position = 7")
    relinked = await report(database)
    assert relinked.first_broken.position == 7 and relinked.first_broken.reason == "altered"


async def test_a_deleted_row_is_detected(servers) -> None:
    async with scratch_service_database(servers.database_url, "matters", PREFIX + "_del") as database:
        await append(database, 5)
        await tamper(database, "DELETE FROM audit_log WHERE position = 3")
        result = await report(database)
        assert not result.valid
        assert result.first_broken.position == 4 and result.first_broken.reason == "missing"
        assert result.first_broken.expected_position == 3


# ---- the keyed chain and its anchors ---------------------------------------------------------------

_fresh = itertools.count()
AGENT = Principal(subject="agent-forestry", kind=SubjectKind.STAFF, roles=frozenset({"helpdesk_agent"}),
                  department="市林业总站")


@pytest.fixture
async def anchored(servers):
    """A fresh service database and a fresh anchor (gateway) database under one prefix."""
    prefix = f"{PREFIX}_a{next(_fresh)}"
    async with scratch_service_database(servers.database_url, "matters", prefix) as database, \
            scratch_service_database(servers.database_url, "gateway", prefix) as gateway:
        store = AnchorStore(gateway.engine.url.render_as_string(hide_password=False))
        try:
            yield database, store, prefix
        finally:
            await store.dispose()


async def anchor(database, store, keys: AuditKeys | None = None) -> int:
    async with database.transaction() as session:
        return await anchor_once(session, "matters", store, keys or audit_keys())


async def verified(database, store, keys: AuditKeys | None = None):
    async with database.session() as session:
        return await verify_service(session, "matters", store, keys or audit_keys(), max_age_seconds=3600)


async def rows(database) -> list[dict]:
    async with database.session() as session:
        return [dict(r) for r in (await session.execute(text("SELECT * FROM audit_log ORDER BY position"))).mappings()]


async def rewrite(database, start: int, seal) -> None:
    """Rewrite the chain from ``start`` on, each entry re-sealed by ``seal(entry)`` and relinked, the way
    the database owner would after editing entry ``start``."""
    entries = await rows(database)
    previous = entries[start - 2]["hash"] if start > 1 else "0" * 64
    for entry in entries[start - 1:]:
        entry["prev_hash"] = previous
        entry["hash"] = seal(entry)
        await tamper(database, "UPDATE audit_log SET prev_hash = '{}', hash = '{}', key_id = {}, actor_subject = '{}' "
                               "WHERE position = {}".format(entry["prev_hash"], entry["hash"],
                                                            f"'{entry['key_id']}'" if entry["key_id"] else "NULL",
                                                            entry["actor_subject"], entry["position"]))
        previous = entry["hash"]


async def test_an_intact_keyed_chain_verifies_against_its_checkpoints(anchored) -> None:
    database, store, _ = anchored
    await append(database, 3)
    assert await anchor(database, store) == 1
    await append(database, 2, actor=AGENT)
    assert await anchor(database, store) == 1
    result = await verified(database, store)
    assert result.valid, result.summary()
    assert result.chain.entries == 5 and result.chain.keyed_from == 1
    assert result.checkpoints == 2 and result.chain.checkpoints_matched == 2
    entries = await rows(database)
    assert {e["key_id"] for e in entries} == {audit_keys().active_chain}
    assert entries[-1]["actor_department"] == "市林业总站"
    # Keyed: the hash is the HMAC, not the SHA-256 anyone could compute.
    assert entries[0]["hash"] == entry_mac(entries[0], audit_keys().chain[entries[0]["key_id"]])
    assert entries[0]["hash"] != entry_hash(entries[0])


async def test_a_row_edited_in_sql_fails(anchored) -> None:
    database, store, _ = anchored
    await append(database, 4)
    await anchor(database, store)
    await append(database, 2)
    await tamper(database, "UPDATE audit_log SET resource_id = 'app-other' WHERE position = 5")
    result = await verified(database, store)
    assert not result.valid
    assert (result.chain.first_broken.position, result.chain.first_broken.reason) == (5, "altered")
    # The anchoring job checks what came after its last checkpoint before anchoring: it refuses to
    # bless the edit and raises the alarm instead of writing a checkpoint.
    assert await anchor(database, store) == 0
    assert len(await store.checkpoints("matters")) == 1
    await tamper(database, "UPDATE audit_log SET resource_id = 'app-other' WHERE position = 2")
    result = await verified(database, store)
    assert (result.chain.first_broken.position, result.chain.first_broken.reason) == (2, "altered")


@pytest.mark.parametrize("as_legacy", [False, True], ids=["key-id-kept", "key-id-removed"])
async def test_a_row_edited_and_rehashed_with_sha256_fails(anchored, as_legacy: bool) -> None:
    """What the owning role can do without the key: edit, then re-hash that entry and every later one
    with plain SHA-256 — with the key id left (the HMAC check fails) or removed (it passes for an entry
    from before the switch, which cannot come after keyed entries)."""
    database, store, _ = anchored
    await append(database, 5)
    await tamper(database, "UPDATE audit_log SET actor_subject = 'someone-else' WHERE position = 3")
    if as_legacy:
        await tamper(database, "ALTER TABLE audit_log DROP CONSTRAINT ck_audit_log_keyed")

    def sha256(entry: dict) -> str:
        if as_legacy:
            entry["key_id"] = None
        return entry_hash(entry)

    await rewrite(database, 3, sha256)
    async with database.session() as session:
        result = await verify_chain(session)
    assert not result.valid
    assert result.first_broken.position == 3
    assert result.first_broken.reason == ("downgraded" if as_legacy else "altered")


async def test_rows_deleted_at_the_tail_after_a_checkpoint_fail(anchored) -> None:
    database, store, _ = anchored
    await append(database, 6)
    await anchor(database, store)
    await tamper(database, "DELETE FROM audit_log WHERE position > 4")
    async with database.session() as session:
        alone = await verify_chain(session)
    assert alone.valid  # without the anchor, a shorter chain looks whole
    result = await verified(database, store)
    assert not result.valid
    assert (result.chain.first_broken.position, result.chain.first_broken.reason) == (5, "truncated")
    assert await anchor(database, store) == 0


async def test_a_chain_rewritten_with_the_key_does_not_match_the_anchored_head(anchored) -> None:
    """Even whoever holds the chain key cannot rewrite history that was anchored: the head at the
    checkpoint's position differs from the signed one."""
    database, store, _ = anchored
    await append(database, 5)
    await anchor(database, store)
    await append(database, 2)
    keys = audit_keys()
    await tamper(database, "UPDATE audit_log SET actor_subject = 'someone-else' WHERE position = 2")
    await rewrite(database, 2, lambda entry: entry_mac(entry, keys.chain[entry["key_id"]]))
    async with database.session() as session:
        assert (await verify_chain(session)).valid  # every MAC is right: only the anchor can tell
    result = await verified(database, store)
    assert not result.valid
    assert (result.chain.first_broken.position, result.chain.first_broken.reason) == (5, "anchor_mismatch")


async def test_forged_deleted_and_stale_checkpoints_are_found(anchored) -> None:
    database, store, _ = anchored
    await append(database, 2)
    for _ in range(3):
        await anchor(database, store)

    async def on_gateway(sql: str) -> None:
        async with store.database.transaction() as session:
            await session.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_change"))
            await session.execute(text(sql))
            await session.execute(text("ALTER TABLE audit_checkpoints ENABLE TRIGGER audit_checkpoints_no_change"))

    intact = await verified(database, store)
    assert intact.valid and intact.checkpoints == intact.chain.checkpoints_matched == 3
    ids = [c.id for c in await store.checkpoints("matters")]
    await on_gateway(f"DELETE FROM audit_checkpoints WHERE id = {ids[1]}")
    result = await verified(database, store)
    assert not result.valid and result.checkpoint_problem.checkpoint_id == ids[2]
    assert result.checkpoint_problem.reason == "unlinked"
    await on_gateway(f"UPDATE audit_checkpoints SET position = 1 WHERE id = {ids[0]}")
    result = await verified(database, store)
    assert result.checkpoint_problem.checkpoint_id == ids[0]
    assert result.checkpoint_problem.reason == "bad_signature"
    with pytest.raises(DBAPIError, match="append-only"):
        async with store.database.transaction() as session:
            await session.execute(text("DELETE FROM audit_checkpoints"))
    # Deleting the newest checkpoints leaves the newest one too old: stale.
    async with database.session() as session:
        stale = await verify_service(session, "matters", store, audit_keys(), max_age_seconds=0.000001)
    assert stale.stale and not stale.valid


async def test_entries_from_before_the_switch_verify_and_the_switch_is_enforced(servers) -> None:
    """An audit log written by the unkeyed code (revision 0007) keeps verifying after 0010_keyed_audit;
    new entries are keyed, and the CHECK refuses an unkeyed one after the switch point."""
    import importlib

    from kit.db import Database

    settings = importlib.import_module("matters.settings").Settings(database_url=servers.database_url,
                                                               database_name_prefix=f"{PREFIX}_legacy")
    await drop_databases(servers.database_url, [settings.database_name])
    await asyncio.to_thread(upgrade, "matters", settings, "0007")
    database = Database(settings.service_database_url)
    try:
        previous = "0" * 64
        async with database.transaction() as session:
            for position in (1, 2, 3):
                entry = {"position": position, "occurred_at": datetime.now(UTC), "actor_subject": "officer-1",
                         "actor_roles": "window_officer", "action": "application.accept",
                         "resource_type": "application", "resource_id": f"app-{position}", "owner_subject": "u-1",
                         "details": {}, "request_id": None, "prev_hash": previous}
                entry["hash"] = previous = entry_hash(entry)
                await session.execute(text(
                    "INSERT INTO audit_log (position, occurred_at, actor_subject, actor_roles, action, resource_type, "
                    "resource_id, owner_subject, details, request_id, prev_hash, hash) VALUES (:position, "
                    ":occurred_at, :actor_subject, :actor_roles, :action, :resource_type, :resource_id, "
                    ":owner_subject, '{}'::jsonb, :request_id, :prev_hash, :hash)"), entry)
        await asyncio.to_thread(upgrade, "matters", settings)
        await append(database, 2)
        async with database.session() as session:
            result = await verify_chain(session)
        assert result.valid and result.entries == 5 and result.keyed_from == 4
        with pytest.raises(DBAPIError, match="ck_audit_log_keyed"):
            async with database.transaction() as session:
                await session.execute(text(
                    "INSERT INTO audit_log (position, occurred_at, actor_subject, actor_roles, action, resource_type, "
                    "resource_id, details, prev_hash, hash) VALUES (6, now(), 'x', '', 'x', 'x', 'x', '{}'::jsonb, "
                    "'0', '0')"))
    finally:
        await database.dispose()
        await drop_databases(servers.database_url, [settings.database_name])


def _key_dirs(tmp_path: Path, chain_ids: list[str], suffix: str = ".key") -> AuditSettings:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    (tmp_path / "chain").mkdir(parents=True, exist_ok=True)
    (tmp_path / "anchor").mkdir(exist_ok=True)
    for kid in chain_ids:
        (tmp_path / "chain" / f"{kid}{suffix}").write_text(base64.b64encode(os.urandom(32)).decode())
    (tmp_path / "anchor" / "a-1.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return AuditSettings(chain_key_dir=tmp_path / "chain", anchor_key_dir=tmp_path / "anchor")


def test_the_production_profile_refuses_development_audit_keys(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LVRONG_PROFILE", "production")
    with pytest.raises(AuditKeyError, match="production"):
        AuditKeys.from_settings(AuditSettings(dev_key_dir=tmp_path / "dev"))
    assert not (tmp_path / "dev").exists()
    keys = AuditKeys.from_settings(_key_dirs(tmp_path / "mounted", ["2026-11", "2026-12"]))
    assert keys.active_chain == "2026-12" and set(keys.chain) == {"2026-11", "2026-12"}
    assert not keys.development


def test_malformed_audit_keys_stop_the_process(tmp_path: Path) -> None:
    settings = _key_dirs(tmp_path, ["k1"])
    (tmp_path / "chain" / "short.key").write_text(base64.b64encode(b"x" * 8).decode())
    with pytest.raises(AuditKeyError, match="at least 32 bytes"):
        AuditKeys.from_settings(settings)
    (tmp_path / "chain" / "short.key").unlink()
    with pytest.raises(AuditKeyError, match="not in"):
        AuditKeys.from_settings(settings.model_copy(update={"chain_active_key": "k9"}))


async def test_rotating_the_chain_key_keeps_older_entries_verifiable(anchored, monkeypatch, tmp_path: Path) -> None:
    database, store, _ = anchored
    settings = _key_dirs(tmp_path, ["k1"])
    old = AuditKeys.from_settings(settings)
    monkeypatch.setattr("kit.audit.audit_keys", lambda: old)
    await append(database, 2)
    _key_dirs(tmp_path, ["k2"])  # a new key file next to the old one: the newest chains
    new = AuditKeys.from_settings(settings)
    monkeypatch.setattr("kit.audit.audit_keys", lambda: new)
    await append(database, 2)
    assert [e["key_id"] for e in await rows(database)] == ["k1", "k1", "k2", "k2"]
    async with database.session() as session:
        assert (await verify_chain(session, new)).valid
    retired = AuditKeys.from_settings(settings.model_copy(update={"chain_active_key": "k2"}))
    (tmp_path / "chain" / "k1.key").unlink()
    without_old = AuditKeys.from_settings(settings)
    async with database.session() as session:
        assert (await verify_chain(session, retired)).valid
        report = await verify_chain(session, without_old)
    assert (report.first_broken.position, report.first_broken.reason) == (1, "unknown_key")


async def test_an_hmac_sm3_chain_verifies_and_tampering_is_found(anchored, monkeypatch, tmp_path: Path) -> None:
    database, store, _ = anchored
    keys = AuditKeys.from_settings(_key_dirs(tmp_path, ["gm-1"], suffix=".sm3.key"))
    assert keys.active_chain == "gm-1" and keys.chain_function("gm-1") == HMAC_SM3
    monkeypatch.setattr("kit.audit.audit_keys", lambda: keys)
    await append(database, 4)
    entries = await rows(database)
    assert {e["key_id"] for e in entries} == {"gm-1"}
    assert entries[0]["hash"] == entry_mac(entries[0], keys.chain["gm-1"], HMAC_SM3)
    assert entries[0]["hash"] != entry_mac(entries[0], keys.chain["gm-1"], HMAC_SHA256)
    assert await anchor(database, store, keys) == 1
    result = await verified(database, store, keys)
    assert result.valid and result.chain.entries == 4, result.summary()
    await tamper(database, "UPDATE audit_log SET details = '{\"n\": 99}' WHERE position = 3")
    async with database.session() as session:
        broken = await verify_chain(session, keys)
    assert (broken.first_broken.position, broken.first_broken.reason, broken.entries) == (3, "altered", 2)


def test_a_required_chain_function_refuses_an_active_key_of_another(tmp_path: Path) -> None:
    settings = _key_dirs(tmp_path, ["2026-12"]).model_copy(update={"chain_required_function": HMAC_SM3})
    with pytest.raises(AuditKeyError, match="AUDIT_CHAIN_REQUIRED_FUNCTION is HMAC-SM3, but the active audit chain "
                                            "key '2026-12' is HMAC-SHA256"):
        AuditKeys.from_settings(settings)
    (tmp_path / "chain" / "2027-01.sm3.key").write_text(base64.b64encode(os.urandom(32)).decode())
    assert AuditKeys.from_settings(settings).active_chain == "2027-01"
    with pytest.raises(ValueError, match="unknown audit chain function 'HMAC-SM4'"):
        AuditSettings(chain_required_function="HMAC-SM4")


async def test_a_history_that_switched_chain_functions_verifies_link_by_link(anchored, monkeypatch,
                                                                             tmp_path: Path) -> None:
    """HMAC-SHA256 under k1, then HMAC-SM3 under k2 (the switch is a key rotation), then SHA-256 again."""
    database, store, _ = anchored
    settings = _key_dirs(tmp_path, [])  # the anchor key, kept throughout
    for kid, suffix, n in (("k1", ".key", 2), ("k2", ".sm3.key", 3), ("k3", ".key", 1)):
        (tmp_path / "chain" / f"{kid}{suffix}").write_text(base64.b64encode(os.urandom(32)).decode())
        keys = AuditKeys.from_settings(settings)
        monkeypatch.setattr("kit.audit.audit_keys", lambda keys=keys: keys)
        await append(database, n)
        await anchor(database, store, keys)
    assert keys.chain_functions == {"k1": HMAC_SHA256, "k2": HMAC_SM3, "k3": HMAC_SHA256}
    assert [e["key_id"] for e in await rows(database)] == ["k1", "k1", "k2", "k2", "k2", "k3"]
    result = await verified(database, store, keys)
    assert result.valid and result.chain.entries == 6 and result.chain.checkpoints_matched == 3, result.summary()
    # The function is the key's, declared by its file: the SM3 key's bytes mounted as an HMAC-SHA256 key
    # do not verify the SM3 entries (nothing stored can make the verifier change function).
    sm3_file = tmp_path / "chain" / "k2.sm3.key"
    sm3_file.rename(tmp_path / "chain" / "k2.key")
    async with database.session() as session:
        mislabelled = await verify_chain(session, AuditKeys.from_settings(settings))
    assert (mislabelled.first_broken.position, mislabelled.first_broken.reason) == (3, "altered")
    # One key id, one function: both files for one id stop the process.
    (tmp_path / "chain" / "k2.key").rename(sm3_file)
    (tmp_path / "chain" / "k3.sm3.key").write_text(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(AuditKeyError, match="two audit chain key files for the key id 'k3'"):
        AuditKeys.from_settings(settings)
    (tmp_path / "chain" / "k3.sm3.key").unlink()
    # A tampered entry in the SM3 stretch is found at its row, the SHA-256 stretch before it intact.
    await tamper(database, "UPDATE audit_log SET resource_id = 'app-x' WHERE position = 4")
    async with database.session() as session:
        broken = await verify_chain(session, AuditKeys.from_settings(settings))
    assert (broken.first_broken.position, broken.first_broken.reason, broken.entries) == (4, "altered", 3)


def _sm2_anchor_key(directory: Path, kid: str, *, public_only: bool = False) -> sm2.PrivateKey:
    """An SM2 anchor key file as ops make it (PKCS#8 PEM; or only its public SPKI PEM, as auditors keep it)."""
    key = sm2.generate_private_key()
    if public_only:
        (directory / f"{kid}.pub.pem").write_text(sm2.public_pem(key.public_key()))
    else:
        (directory / f"{kid}.pem").write_bytes(sm2.private_pem(key))
    return key


def _checkpoint_verifies_with_gmalg(checkpoint: Checkpoint, key: sm2.PrivateKey) -> bool:
    """A second, independent SM2 implementation (gmalg) and only the public key verify the checkpoint."""
    from gmalg import SM2 as GmalgSM2

    payload = checkpoint_payload(checkpoint.service, checkpoint.position, checkpoint.head, checkpoint.anchored_at,
                                 checkpoint.previous_signature, checkpoint.key_id)
    raw = sm2.raw_signature(base64.urlsafe_b64decode(checkpoint.signature + "=" * (-len(checkpoint.signature) % 4)))
    return bool(GmalgSM2(pk=sm2.public_point(key.public_key()), uid=sm2.DEFAULT_SIGNER_ID).verify(
        payload, raw[:32], raw[32:]))


async def test_sm2_checkpoints_verify_and_tampering_is_found(anchored, monkeypatch, tmp_path: Path) -> None:
    database, store, _ = anchored
    settings = _key_dirs(tmp_path, ["k1"])
    (tmp_path / "anchor" / "a-1.pem").unlink()
    key = _sm2_anchor_key(tmp_path / "anchor", "gm-1")
    keys = AuditKeys.from_settings(settings)
    assert (keys.active_anchor, keys.anchor_algorithm("gm-1")) == ("gm-1", SM2)
    monkeypatch.setattr("kit.audit.audit_keys", lambda: keys)
    await append(database, 3)
    assert await anchor(database, store, keys) == 1
    await append(database, 1)
    assert await anchor(database, store, keys) == 1
    result = await verified(database, store, keys)
    assert result.valid and result.checkpoints == result.chain.checkpoints_matched == 2, result.summary()
    checkpoints = await store.checkpoints("matters")
    assert {c.key_id for c in checkpoints} == {"gm-1"}
    assert all(_checkpoint_verifies_with_gmalg(c, key) for c in checkpoints)
    # An auditor outside with the public key only verifies them too.
    (tmp_path / "anchor" / "gm-1.pem").unlink()
    (tmp_path / "anchor" / "gm-1.pub.pem").write_text(sm2.public_pem(key.public_key()))
    outside = AuditKeys.from_settings(settings)
    assert outside.active_anchor is None and (await verified(database, store, outside)).valid
    # A checkpoint edited in SQL, or re-signed with another SM2 key under the same key id, is found.
    forger = sm2.generate_private_key()
    forged_payload = checkpoint_payload("matters", 9, checkpoints[1].head, checkpoints[1].anchored_at,
                                        checkpoints[1].previous_signature, "gm-1")
    forged = base64.urlsafe_b64encode(sm2.sign(forger, forged_payload)).decode().rstrip("=")
    tampering = ((f"UPDATE audit_checkpoints SET position = 9, signature = '{forged}' WHERE id = {checkpoints[1].id}",
                  checkpoints[1].id),
                 (f"UPDATE audit_checkpoints SET head = '{'0' * 64}' WHERE id = {checkpoints[0].id}", checkpoints[0].id))
    for sql, found_at in tampering:
        async with store.database.transaction() as session:
            await session.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_no_change"))
            await session.execute(text(sql))
            await session.execute(text("ALTER TABLE audit_checkpoints ENABLE TRIGGER audit_checkpoints_no_change"))
        result = await verified(database, store, outside)
        assert not result.valid
        assert (result.checkpoint_problem.checkpoint_id, result.checkpoint_problem.reason) == (found_at, "bad_signature")


async def test_a_checkpoint_history_that_switched_from_ed25519_to_sm2_verifies(anchored, monkeypatch,
                                                                               tmp_path: Path) -> None:
    """Ed25519 checkpoints under a-1 (the default), then an SM2 key a-2 whose id sorts last signs the next
    ones: each checkpoint verifies with its own key's algorithm, named by its key id."""
    database, store, _ = anchored
    settings = _key_dirs(tmp_path, ["k1"])
    ed25519 = AuditKeys.from_settings(settings)
    assert (ed25519.active_anchor, ed25519.anchor_algorithm("a-1")) == ("a-1", ED25519)
    monkeypatch.setattr("kit.audit.audit_keys", lambda: ed25519)
    for _ in range(2):
        await append(database, 1)
        await anchor(database, store, ed25519)
    key = _sm2_anchor_key(tmp_path / "anchor", "a-2")
    switched = AuditKeys.from_settings(settings)
    assert (switched.active_anchor, switched.anchor_algorithm("a-2")) == ("a-2", SM2)
    for _ in range(2):
        await append(database, 1)
        await anchor(database, store, switched)
    checkpoints = await store.checkpoints("matters")
    assert [c.key_id for c in checkpoints] == ["a-1", "a-1", "a-2", "a-2"]
    assert _checkpoint_verifies_with_gmalg(checkpoints[2], key)
    result = await verified(database, store, switched)
    assert result.valid and result.checkpoints == result.chain.checkpoints_matched == 4, result.summary()
    # The algorithm is the key's: an SM2 signature presented under the Ed25519 key id does not verify.
    c = checkpoints[2]
    payload = checkpoint_payload(c.service, c.position, c.head, c.anchored_at, c.previous_signature, "a-1")
    resigned = base64.urlsafe_b64encode(sm2.sign(key, payload)).decode().rstrip("=")
    assert not switched.signature_valid("a-1", resigned, payload)


def test_a_required_anchor_algorithm_refuses_an_active_key_of_another(tmp_path: Path) -> None:
    settings = _key_dirs(tmp_path, ["k1"]).model_copy(update={"anchor_required_algorithm": SM2})
    with pytest.raises(AuditKeyError, match="AUDIT_ANCHOR_REQUIRED_ALGORITHM is SM2, but the active audit anchor "
                                            "key 'a-1' is Ed25519"):
        AuditKeys.from_settings(settings)
    _sm2_anchor_key(tmp_path / "anchor", "a-2")
    assert AuditKeys.from_settings(settings).active_anchor == "a-2"
    with pytest.raises(ValueError, match="anchor_required_algorithm"):
        AuditSettings(anchor_required_algorithm="ECDSA")
    # A key of neither algorithm (a P-256 one) stops the process, naming the key id.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    (tmp_path / "anchor" / "p256.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(AuditKeyError, match="audit anchor key 'p256' must be an Ed25519 or an SM2 key"):
        AuditKeys.from_settings(settings)


async def test_the_verification_command_exits_non_zero_naming_the_first_bad_position(anchored) -> None:
    database, store, prefix = anchored
    await append(database, 3)
    await anchor(database, store)
    env = {**os.environ, "DATABASE_NAME_PREFIX": prefix,
           "DATABASE_URL": database.engine.url.set(drivername="postgresql", database="postgres")
           .render_as_string(hide_password=False)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kit.audit_anchor", "matters"], env=env, capture_output=True,
                              text=True, timeout=120)

    ok = await asyncio.to_thread(run)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "matters: ok — 3 entries" in ok.stdout
    await tamper(database, "UPDATE audit_log SET action = 'application.deny' WHERE position = 2")
    bad = await asyncio.to_thread(run)
    assert bad.returncode == 1
    assert "matters: BROKEN at position 2 (altered)" in bad.stdout


def test_an_audited_service_without_its_key_directories_does_not_start_in_production(monkeypatch,
                                                                                     tmp_path: Path) -> None:
    """The production profile's check at start names both directories among the process's problems
    and exits before anything is created (AuditKeys.from_settings refuses them too, above)."""
    from prequal.app import create_app

    monkeypatch.setenv("LVRONG_PROFILE", "production")
    monkeypatch.setenv("AUDIT_DEV_KEY_DIR", str(tmp_path / "dev"))
    monkeypatch.delenv("AUDIT_CHAIN_KEY_DIR", raising=False)
    monkeypatch.delenv("AUDIT_ANCHOR_KEY_DIR", raising=False)
    with pytest.raises(SystemExit) as refused:
        create_app()
    assert "AUDIT_CHAIN_KEY_DIR is not set" in str(refused.value)
    assert "AUDIT_ANCHOR_KEY_DIR is not set" in str(refused.value)
    assert not (tmp_path / "dev").exists()


async def test_an_audited_service_refuses_to_start_without_a_private_anchor_key(monkeypatch,
                                                                             tmp_path: Path) -> None:
    from prequal.app import create_app

    settings = _key_dirs(tmp_path, ["k1"])
    private = tmp_path / "anchor" / "a-1.pem"
    public = AuditKeys.from_settings(settings).anchor_public["a-1"]
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "anchor" / "a-1.pub.pem").write_bytes(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    private.unlink()
    monkeypatch.setenv("AUDIT_CHAIN_KEY_DIR", str(settings.chain_key_dir))
    monkeypatch.setenv("AUDIT_ANCHOR_KEY_DIR", str(settings.anchor_key_dir))
    audit_keys.cache_clear()
    try:
        app = create_app()
        with pytest.raises(AuditKeyError, match="no private key"):
            async with app.router.lifespan_context(app):
                pass
        assert not hasattr(app.state, "runtime")  # refused before anything started
    finally:
        audit_keys.cache_clear()
