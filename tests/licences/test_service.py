"""svc-licences' rules on a real PostgreSQL: expiry reminders exactly once with two replicas, expiry,
status bits written in place, the identifier's check character, and key rotation by files."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest
import rfc8785
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmalg import SM2 as GmalgSM2
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, Role, SubjectKind
from kit.contracts import ApplicantRef, ApplicationStatusChanged, ApplicationSubmitted, MatterRequirements
from kit.db import Database
from kit.errors import Conflict, Forbidden, ValidationFailed, problem_body
from kit.events.envelope import CloudEvent
from kit.events.outbox import outbox
from kit.gm import sm2
from kit.scheduling import run_tick
from licences.events import subscriptions
from licences.models import (
    ExpiryReminder,
    KnownApplication,
    Licence,
    LicenceStatusChange,
    LicenceVersion,
    PartnerFeedEntry,
    Presentation,
    Recognition,
    StatusList,
    Verification,
)
from licences.schemas import PartnerLookup, TrustedIssuerCreate, VersionCreate
from licences.service import (
    catalogue,
    issuance,
    partner_feed,
    recognition,
    reminders,
    sm2backfill,
    sm2docs,
    status,
    verification,
)
from licences.service.checks import PresentationChecks
from licences.service.credentials import (
    PresentationClaims,
    PresentationInvalid,
    b64url_decode,
    get_status,
    sign_presentation,
    verify_presentation,
)
from licences.service.issuer import Issuer
from licences.service.keys import KeyRing, SM2Key, create_key, load_key

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
# The fixtures ``database`` and ``issuer`` are tests/licences/conftest.py's.


async def licence(db: Database, issuer: Issuer, type_code: str = "1131XK002", *, ends_in_days: float = 365,
                  data: dict[str, Any] | None = None) -> Licence:
    async with db.transaction() as session:
        return await issuance.issue(
            session, issuer, catalogue.TYPES[type_code], holder_subject="u-holder", holder_kind="company",
            holder={"holder_name": "测试公司", "holder_code": "91310115MA1H7GXQ3E", "holder_code_type": "uscc"},
            data=data or {"disposal_site": "老港"}, valid_from=NOW - dt.timedelta(days=1),
            valid_until=NOW + dt.timedelta(days=ends_in_days), actor="test")


def test_identifier_check_character() -> None:
    identifier = catalogue.licence_identifier("1131XK002", "11310000MB0F4213X0", 42, 3)
    assert identifier.startswith("1.2.156.3005.2.1131XK002.11310000MB0F4213X0.00000042.003.")
    assert catalogue.is_valid_identifier(identifier)
    body, _, check = identifier.rpartition(".")
    wrong = "0" if check != "0" else "1"
    assert not catalogue.is_valid_identifier(f"{body}.{wrong}")
    assert not catalogue.is_valid_identifier(identifier.replace("00000042", "00000043"))
    assert not catalogue.is_valid_identifier("1.2.156.3005.2.a.b.c")


async def test_reminders_exactly_once_with_two_replicas(database: Database, issuer: Issuer) -> None:
    due_30 = await licence(database, issuer, ends_in_days=20)  # inside 30 days: only the 30-day reminder
    due_90 = await licence(database, issuer, ends_in_days=60)
    not_reminded = await licence(database, issuer, "1131XK005", ends_in_days=20)  # 户外招牌: no reminders
    far = await licence(database, issuer, ends_in_days=200)
    replica_a, replica_b = Database(database.url), Database(database.url)
    try:
        async def tick(session: AsyncSession) -> int:
            return await reminders.send_due(session, dt.datetime.now(dt.UTC), [90, 30, 7])

        # Two replicas ticking at the same moment, several times over: each reminder goes out once.
        for _ in range(3):
            await asyncio.gather(run_tick(replica_a, "licences.expiry-reminders", tick),
                                 run_tick(replica_b, "licences.expiry-reminders", tick))
    finally:
        await replica_a.dispose()
        await replica_b.dispose()
    async with database.session() as session:
        sent = {(r.licence_id, r.days_before) for r in (await session.scalars(select(ExpiryReminder))).all()}
        envelopes = (await session.scalars(select(outbox.c.envelope)
                                           .where(outbox.c.subject == "lvrong.licences.licence.expiring"))).all()
        events = [(e["data"]["licence_id"], e["data"]["days_before"]) for e in envelopes]
    assert sent == {(due_30.id, 30), (due_90.id, 90)}
    assert sorted(events) == sorted(sent)
    assert not {not_reminded.id, far.id} & {lid for lid, _ in sent}
    # A renewal is a new version: its thresholds are reminded again when they come.
    async with database.transaction() as session:
        renewed = await session.get(Licence, due_30.id)
        await issuance.new_version(session, issuer, renewed, kind="renewal", actor="test", reason="延续",
                                   data_changes=None, valid_until=NOW + dt.timedelta(days=25))
        assert await reminders.send_due(session, dt.datetime.now(dt.UTC), [90, 30, 7]) == 1


async def test_expiry_and_status_bits(database: Database, issuer: Issuer) -> None:
    ending = await licence(database, issuer, ends_in_days=1)
    async with database.transaction() as session:
        await session.execute(update(Licence).where(Licence.id == ending.id)
                              .values(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        assert await status.expire_due(session, dt.datetime.now(dt.UTC)) >= 1
    suspended = await licence(database, issuer)
    revoked = await licence(database, issuer)
    async with database.transaction() as session:
        await status.change_status(session, suspended.id, "suspend", actor="t", reason="r")
        await status.change_status(session, revoked.id, "revoke", actor="t", reason="r")
    async with database.session() as session:
        expired = await session.get(Licence, ending.id)
        assert expired.status == "expired"
        token = await status.signed_status_list(session, issuer, suspended.status_list_id)
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    bits = zlib.decompress(b64url_decode(claims["status_list"]["lst"]))
    assert len(bits) == 1024 // 4
    assert get_status(bits, suspended.status_index) == 2
    assert get_status(bits, revoked.status_index) == 1
    assert get_status(bits, ending.status_index) == 0  # expiry is read from the credential's exp, not the list


async def test_a_followed_document_that_expires_is_in_the_partners_feed(database: Database, issuer: Issuer) -> None:
    """Expiry is the one change the integration tests cannot wait for: the scheduled job's own step here."""
    jiangsu = Principal(subject="c-partner-js", kind=SubjectKind.PARTNER, roles=frozenset({Role.PARTNER}), province="JS")
    bound = {"year": NOW.year, "destination_provinces": ["JS"], "plant_species": ["香樟"]}
    followed, unfollowed = (await licence(database, issuer, catalogue.QUARANTINE_REQUIREMENT, ends_in_days=1, data=bound),
                            await licence(database, issuer, catalogue.QUARANTINE_REQUIREMENT, ends_in_days=1, data=bound))
    await partner_feed.subscribe(database, jiangsu, PartnerLookup(number=followed.licence_number,
                                                                  holder_code="91310115MA1H7GXQ3E"), None)
    async with database.session() as session:
        start = (await partner_feed.feed(session, jiangsu, None, 500)).next_cursor
        rows_before = await session.scalar(select(func.count()).select_from(PartnerFeedEntry))
    async with database.transaction() as session:
        await session.execute(update(Licence).where(Licence.id.in_([followed.id, unfollowed.id]))
                              .values(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        assert await status.expire_due(session, dt.datetime.now(dt.UTC)) >= 2
    async with database.session() as session:
        page = await partner_feed.feed(session, jiangsu, start, 500)
        rows_after = await session.scalar(select(func.count()).select_from(PartnerFeedEntry))
    assert [(i.licence_id, i.change, i.status) for i in page.items] == [(followed.id, "expired", "expired")]
    assert rows_after == rows_before + 1  # a document nobody follows leaves no feed row


def test_what_a_recognised_partner_document_announces_of_its_holder_and_validity() -> None:
    """Only a company's valid credit code makes a holder a material can be checked against; validity bounds
    come from an SD-JWT VC's nbf/exp or an SM2 document's ISO texts (a bare date read in Shanghai time)."""
    assert recognition.company_holder({"holder_code": "91310115ma1h7gxq3e"}) == "91310115MA1H7GXQ3E"
    assert recognition.company_holder({"holder_code": "91310115MA1H7GXQ3F"}) is None  # check character wrong
    assert recognition.company_holder({"holder_code": "91310115MA1H7GXQ3E", "holder_code_type": "resident_id"}) is None
    assert recognition.company_holder({}) is None
    assert recognition.claim_time({"exp": 1_800_000_000}, "exp", "valid_until") == dt.datetime.fromtimestamp(
        1_800_000_000, dt.UTC)
    assert recognition.claim_time({"valid_until": "2026-12-31"}, "exp", "valid_until") == dt.datetime(
        2026, 12, 30, 16, tzinfo=dt.UTC)
    assert recognition.claim_time({"valid_until": "not a date"}, "exp", "valid_until") is None


def test_partner_routes_serve_only_a_partner_bound_to_a_province() -> None:
    """Besides the scope: the partner role and a province of 长三角 (a token with the scope alone is not enough)."""
    from licences.service.partner_lookup import partner_province

    def caller(roles: set[str], province: str | None) -> Principal:
        return Principal(subject="c", kind=SubjectKind.PARTNER, roles=frozenset(roles), province=province,
                         scopes=frozenset({"partner:read", "partner:write"}))

    assert partner_province(caller({Role.PARTNER}, "ZJ")) == "ZJ"
    for roles, province in (({Role.PARTNER}, None), ({Role.PARTNER}, "SH"), ({Role.OPS_ADMIN}, "JS")):
        with pytest.raises(Forbidden):
            partner_province(caller(roles, province))


async def test_status_slots_are_random_and_a_full_list_opens_the_next(database: Database, issuer: Issuer) -> None:
    issued = [await licence(database, issuer, ends_in_days=400) for _ in range(12)]
    indexes = [x.status_index for x in issued if x.status_list_id == 1]
    assert indexes != sorted(indexes)  # not the order of issue
    async with database.transaction() as session:
        await session.execute(update(StatusList).where(StatusList.id == 1).values(allocated=1024))
    later = await licence(database, issuer)
    assert later.status_list_id == 2
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(StatusList)) == 2


def _es256_presentation(private: ec.EllipticCurvePrivateKey, protected: dict[int, Any], unprotected: dict[int, Any],
                        claims: Any, *, cwt_tag: bool = True) -> str:
    """A COSE_Sign1 made here with cbor2 and cryptography (RFC 9052), as a partner's or a forger's tool would."""
    protected_bytes, payload = cbor2.dumps(protected), cbor2.dumps(claims)
    r, s = decode_dss_signature(private.sign(cbor2.dumps(["Signature1", protected_bytes, b"", payload]),
                                             ec.ECDSA(hashes.SHA256())))
    sign1 = cbor2.CBORTag(18, [protected_bytes, unprotected, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")])
    return "LR1:" + base45.b45encode(cbor2.dumps(cbor2.CBORTag(61, sign1) if cwt_tag else sign1)).decode()


def test_an_es256_presentation_is_checked_strictly(tmp_path: Path) -> None:
    """The ES256 COSE_Sign1 is verified with cryptography directly: a well-formed one verifies however it is
    tagged and wherever the kid is; the algorithm is ES256 and protected, nothing but alg and kid is in the
    protected header, the signature is 64 bytes, the lifetime has begun (a minute's leeway) and ended."""
    ring, url = KeyRing(tmp_path).load(), "https://lvrong.example.gov.cn"
    key = ring.signing_key()
    token, cti = sign_presentation(key, url, identifier="1131XK002-000001", valid_until=2_000_000_000,
                                   status_list_id=1, status_index=7, ttl_seconds=120)
    assert verify_presentation(ring, url, token).cti == cti
    claims = cbor2.loads(cbor2.loads(base45.b45decode(token[4:])).value[2])
    now, kid, stranger = int(time.time()), key.kid.encode(), ec.generate_private_key(ec.SECP256R1())
    for made in (_es256_presentation(key.private_key, {1: -7, 4: kid}, {}, claims),
                 _es256_presentation(key.private_key, {1: -7}, {4: kid}, claims, cwt_tag=False)):
        assert verify_presentation(ring, url, made).identifier == "1131XK002-000001"
    refused = {
        "wrong_algorithm_or_type": [_es256_presentation(key.private_key, {1: -35, 4: kid}, {}, claims),
                                    _es256_presentation(key.private_key, {4: kid}, {1: -7}, claims)],
        "malformed": [_es256_presentation(key.private_key, {1: -7, 4: kid, 2: [99], 99: 1}, {}, claims),
                      _es256_presentation(key.private_key, {1: -7}, {}, claims),
                      _es256_presentation(key.private_key, {1: -7, 4: kid}, {}, {**claims, 5: now + 600}),
                      _es256_presentation(key.private_key, {1: -7, 4: kid}, {}, {**claims, 4: str(now + 60)}),
                      _es256_presentation(key.private_key, {1: -7, 4: kid}, {}, [claims]),
                      "LR1:" + base45.b45encode(cbor2.dumps([b"", {}, b"", b""])).decode()],
        "unknown_key": [_es256_presentation(key.private_key, {1: -7, 4: b"nokey000"}, {}, claims)],
        "bad_signature": [_es256_presentation(stranger, {1: -7, 4: kid}, {}, claims),
                          token[:-6] + ("000000" if token[-6:] != "000000" else "111111")],
        "presentation_expired": [_es256_presentation(key.private_key, {1: -7, 4: kid}, {}, {**claims, 4: now - 1})],
    }
    for reason, texts in refused.items():
        for text in texts:
            with pytest.raises(PresentationInvalid) as refusal:
                verify_presentation(ring, url, text)
            assert refusal.value.reason == reason, (reason, texts.index(text))


def test_key_rotation_by_files(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path).load()
    (first,) = ring.keys.values()
    future = create_key(tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(days=1), label="next")
    ring.load()
    assert len(ring.keys) == 2 and ring.signing_key().kid == first.kid  # published ahead, not signing
    create_key(tmp_path, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), label="now")
    ring.load()
    signer = ring.signing_key()
    assert signer.kid != first.kid and signer.activates_at < dt.datetime.now(dt.UTC)
    assert {k["kid"] for k in ring.jwks()["keys"]} == set(ring.keys) and all("d" not in k for k in ring.jwks()["keys"])
    future.unlink()
    ring.load()
    assert len(ring.keys) == 2
    (tmp_path / "broken.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    ring.load()  # an unreadable file is skipped (and logged by name), the others keep working
    assert ring.signing_key().kid == signer.kid


def test_replicas_reading_one_read_only_key_secret_agree_and_never_write(tmp_path: Path) -> None:
    keys = tmp_path / "licence-keys"
    assert pytest.raises(RuntimeError, KeyRing(keys, read_only=True).load).match("no such directory")
    assert not keys.exists()  # not created either
    keys.mkdir()
    old = create_key(keys, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), label="2026")
    create_key(keys, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), label="rotated")
    create_key(keys, dt.datetime.now(dt.UTC) + dt.timedelta(days=7), label="next")
    # Only P-256 keys: production needs an SM2 key too (every licence carries an SM2 signature).
    assert pytest.raises(RuntimeError, KeyRing(keys, read_only=True).load).match("no usable signing key for SM2")
    create_key(keys, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), label="sm2", alg="SM2")
    # Without an activation time in its name a key would activate at each pod's copy's mtime: refused.
    create_key(tmp_path / "elsewhere", label="x").rename(keys / "handmade.pem")
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    first, second = KeyRing(keys, read_only=True).load(), KeyRing(keys, read_only=True).load()
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before
    assert first.jwks() == second.jwks() and len(first.jwks()["keys"]) == 3  # the undated file is not published
    assert first.signing_key().kid == second.signing_key().kid
    assert first.signing_key().activates_at < dt.datetime.now(dt.UTC) and first.signing_key().kid != load_key(old).kid
    # The Secret emptied by mistake: the periodic re-read keeps signing with what it has.
    signer = first.signing_key().kid
    for path in keys.iterdir():
        path.unlink()
    first.reload()
    assert first.signing_key().kid == signer and len(first.keys) == 3 and len(first.sm2_keys) == 1


def test_sm2_keys_rotate_by_files_beside_the_es256_ones(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path).load()  # development: one key of each algorithm
    (es256,), (first,) = ring.keys.values(), ring.sm2_keys.values()
    assert {p.name for p in tmp_path.iterdir()} == {"20000101T000000Z-initial.pem", "20000101T000000Z-initial-sm2.pem"}
    future = create_key(tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(days=1), label="next-sm2", alg="SM2")
    ring.load()
    assert len(ring.sm2_keys) == 2 and ring.sm2_signing_key().kid == first.kid  # published ahead, not signing
    assert [k["kid"] for k in ring.sm2_published()] == [first.kid, load_key(future).kid]
    create_key(tmp_path, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), label="now-sm2", alg="SM2")
    ring.load()
    assert ring.sm2_signing_key().kid not in (first.kid, load_key(future).kid)
    assert ring.signing_key().kid == es256.kid and len(ring.keys) == 1  # the ES256 side is untouched
    published = ring.sm2_published()[0]
    assert set(published) == {"kid", "alg", "curve", "hash", "signer_id", "activates_at", "public_key", "public_key_pem"}
    assert published["alg"] == "SM2" and published["signer_id"] == "1234567812345678"
    assert "PRIVATE" not in str(ring.sm2_published())


OFFICER = Principal(subject="u-reviewer", kind=SubjectKind.PERSON, roles=frozenset({Role.REVIEWER}))


async def _status_changes(db: Database, licence_id: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(LicenceStatusChange)
                                        .where(LicenceStatusChange.licence_id == licence_id)) or 0)


async def test_a_status_action_not_possible_now_is_409_with_the_status_and_what_is_possible(
        database: Database, issuer: Issuer) -> None:
    suspended = await licence(database, issuer)
    view = await status.take_action(database, OFFICER, suspended.id, "suspend", "  运输车辆未按规定路线行驶 ")
    assert view.status == "suspended" and view.holder_code != "91310115MA1H7GXQ3E"  # staff see it masked
    with pytest.raises(Conflict) as caught:
        await status.take_action(database, OFFICER, suspended.id, "suspend", "again")
    body = problem_body(caught.value, english=True)
    assert body["status"] == 409 and body["status_now"] == "suspended"
    officers = ["ops_admin", "reviewer", "window_officer"]
    assert body["allowed_actions"] == [{"action": "revoke", "roles": officers, "to_status": "revoked"},
                                       {"action": "reinstate", "roles": officers, "to_status": "active"}]
    # A version needs a licence in force: a suspended one answers the same 409.
    with pytest.raises(Conflict) as caught:
        await issuance.create_version(database, issuer, OFFICER, suspended.id,
                                      VersionCreate(kind="reissue", reason="遗失补发"), None)
    assert caught.value.extensions["status_now"] == "suspended"
    assert await _status_changes(database, suspended.id) == 2  # the issue and the suspension, nothing else


async def test_a_blank_reason_is_422_and_nothing_changes(database: Database, issuer: Issuer) -> None:
    active = await licence(database, issuer)
    with pytest.raises(ValidationFailed) as caught:
        await status.take_action(database, OFFICER, active.id, "revoke", "   ")
    assert [(e.field, e.code) for e in caught.value.errors or []] == [("reason", "required")]
    async with database.session() as session:
        assert (await session.get(Licence, active.id)).status == "active"
    assert await _status_changes(database, active.id) == 1


async def test_a_version_is_created_once_per_idempotency_key(database: Database, issuer: Issuer) -> None:
    active = await licence(database, issuer)
    body = VersionCreate(kind="change", reason="地址变更", data_changes={"disposal_site": "黎明"})
    first = await issuance.create_version(database, issuer, OFFICER, active.id, body, "k-version-1")
    again = await issuance.create_version(database, issuer, OFFICER, active.id, body, "k-version-1")
    assert again == first and first.version == 2 and first.data["disposal_site"] == "黎明"
    async with database.session() as session:
        assert (await session.get(Licence, active.id)).version == 2
    with pytest.raises(ValidationFailed):  # a change without data: refused before anything is written
        await issuance.create_version(database, issuer, OFFICER, active.id,
                                      VersionCreate(kind="change", reason="x"), "k-version-2")
    async with database.session() as session:
        assert (await session.get(Licence, active.id)).version == 2


async def test_presentation_checks_committed_together_each_valid_once(database: Database, issuer: Issuer) -> None:
    """Checks waiting at the same moment are written by one transaction (a writer per replica here, so
    they must queue): a presentation checked three times at once on two replicas is valid once, a
    replay of it and one never handed out are answered so, and every check is recorded."""
    shown = await licence(database, issuer)
    ctis = [secrets.token_hex(8) for _ in range(12)]
    async with database.transaction() as session:
        session.add_all(Presentation(cti=cti, licence_id=shown.id, expires_at=NOW + dt.timedelta(minutes=2))
                        for cti in ctis)

    def claims(cti: str) -> PresentationClaims:
        return PresentationClaims(cti=cti, identifier=shown.identifier, valid_until=int(shown.valid_until.timestamp()),
                                  issued_at=int(NOW.timestamp()), expires_at=int(NOW.timestamp()) + 120,
                                  status_list_uri="", status_index=shown.status_index)

    replica_a, replica_b = Database(database.url), Database(database.url)
    checks_a, checks_b = (PresentationChecks(verification.presentation_outcome, writers=1) for _ in range(2))
    writers = [asyncio.create_task(checks_a.run(replica_a)), asyncio.create_task(checks_b.run(replica_b))]
    try:
        now = dt.datetime.now(dt.UTC)
        answers = await asyncio.gather(*(checks.check(claims(cti), "inspector", now)
                                         for cti in ctis for checks in (checks_a, checks_b, checks_a)))
        for i in range(len(ctis)):
            assert sorted(result for result, _ in answers[3 * i:3 * i + 3]) == ["replayed", "replayed", "valid"]
        assert all(row.id == shown.id and row.status == "active" for _, row in answers)
        result, row = await checks_b.check(claims(secrets.token_hex(8)), "inspector", now)
        assert (result, row) == ("unknown_licence", None)
        async with database.session() as session:
            recorded = await session.scalar(select(func.count()).select_from(Verification)
                                            .where(Verification.licence_id == shown.id))
        assert recorded == 3 * len(ctis)
    finally:
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        await replica_a.dispose()
        await replica_b.dispose()


async def test_presentation_checks_fail_each_when_their_batch_fails(issuer: Issuer) -> None:
    """A batch whose transaction cannot commit (here: no database) fails every check in it, and the writer
    goes on with the next ones rather than leave them waiting."""
    nowhere = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    checks = PresentationChecks(verification.presentation_outcome, writers=1)
    writer = asyncio.create_task(checks.run(nowhere))
    try:
        claims = PresentationClaims(cti="00", identifier="x", valid_until=0, issued_at=0, expires_at=0,
                                    status_list_uri="", status_index=0)
        for _ in range(2):
            with pytest.raises(OSError):
                await checks.check(claims, "inspector", NOW)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await nowhere.dispose()


@pytest.mark.parametrize("named", [False, True], ids=["requirements carried", "version named"])
async def test_a_batch_keeps_only_licence_matters_submissions_and_issues_from_an_approval_in_it(
        database: Database, issuer: Issuer, named: bool) -> None:
    """The consumer's batch: submissions of a licence matter kept (those of other matters are never issued
    from), an approval later in the same batch issues from the submission before it, once — whether the
    submission carries its matter's requirements (as before) or names the version (``MatterVersionRef``)."""
    handle_batch = subscriptions(issuer)[0].batch_handler
    assert handle_batch is not None
    transplant, filing = f"app-{uuid.uuid4().hex[:12]}", f"app-{uuid.uuid4().hex[:12]}"

    def submitted(application_id: str, code: str, kind: str) -> CloudEvent:
        matter = MatterRequirements(code=code, version=1, kind=kind, fields=[], materials=[])
        return ApplicationSubmitted(
            application_id=application_id, matter=matter.reference() if named else matter,
            applicant=ApplicantRef(subject="u-applicant", kind="person"),
            form={"applicant_name": "张三", "applicant_id_number": "310101199001011234", "site_address": "浦东新区"},
            materials={}, submitted_at=NOW).envelope(subject=application_id)

    def decided(action: str, to_status: str) -> CloudEvent:
        return ApplicationStatusChanged(
            application_id=transplant, matter_code="LR-XK-008", applicant_subject="u-applicant", from_status="accepted",
            to_status=to_status, action=action, actor="reviewer-1", occurred_at=NOW).envelope(subject=transplant)

    assert "LR-XK-008" in catalogue.BY_MATTER and "LR-BA-001" not in catalogue.BY_MATTER
    batch = [submitted(transplant, "LR-XK-008", "licence"), submitted(filing, "LR-BA-001", "filing"),
             decided("review", "reviewed"), decided("approve", "approved")]
    async with database.transaction() as session:
        await handle_batch(session, batch)
    async with database.session() as session:
        kept = set((await session.scalars(select(KnownApplication.application_id).where(
            KnownApplication.application_id.in_([transplant, filing])))).all())
        issued = (await session.scalars(select(Licence).where(Licence.application_id == transplant))).all()
    assert kept == {transplant}
    assert len(issued) == 1 and issued[0].holder_name == "张三"


# ---- 国密: SM2 documents, SM2 亮证, partners' SM2 documents --------------------------------------------

ANYONE = Principal(subject="anonymous", kind=SubjectKind.PERSON, roles=frozenset())
LONGEST_ISSUER_URL = "https://zwfw.lhsr.sh.gov.cn/lv"  # 30 characters: the longest README promises version 12 for


async def _verifications(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Verification)) or 0)


async def test_every_version_carries_an_sm2_document_verified_online(database: Database, issuer: Issuer) -> None:


    issued = await licence(database, issuer)
    document = json.loads(issued.sm2_document or "")
    assert document["alg"] == "SM2" and document["kid"] == issuer.keys.sm2_signing_key().kid
    assert document["licence"]["licence_identifier"] == issued.identifier
    assert document["licence"]["holder_code"] == "91310115MA1H7GXQ3E"
    # The signature covers the JCS form of everything but itself, under the published key (gmalg, independent).
    published = {k["kid"]: k for k in issuer.sm2_keys()["keys"]}[document["kid"]]
    raw = sm2.raw_signature(base64.b64decode(document["signature"]))
    signed = rfc8785.dumps({k: v for k, v in document.items() if k != "signature"})
    assert GmalgSM2(pk=bytes.fromhex(published["public_key"]), uid=published["signer_id"].encode()).verify(
        signed, raw[:32], raw[32:])
    checks = verification.new_presentation_checks(issuer.settings)

    async def verify(doc: Any) -> dict[str, Any]:
        return await verification.verify(database, issuer, checks, ANYONE, presentation=None, credential=None,
                                         sm2_document=doc)

    assert (await verify(document))["result"] == "valid"
    tampered = {**document, "licence": {**document["licence"], "data": {"disposal_site": "别处"}}}
    other_key = base64.b64encode(sm2.sign(sm2.generate_private_key(), sm2docs.signed_bytes(document))).decode()
    answers = {
        "bad_signature": [tampered, {**document, "signature": other_key}, {**document, "signer_id": "lvrong"}],
        "unknown_key": [{**document, "kid": "nokey000"}],
        "unknown_issuer": [{**document, "iss": "https://elsewhere.example"}],
        "wrong_algorithm_or_type": [{**document, "alg": "ES256"}],
        "malformed": [{**document, "signature": "%%%"}, {"licence": 1}],
    }
    for reason, docs in answers.items():
        for doc in docs:
            answer = await verify(doc)
            assert (answer["result"], answer["reason"]) == ("invalid", reason), (reason, doc.keys())
    # A new version: a new SM2 document; the old one now answers "superseded".
    async with database.transaction() as session:
        row = await session.get(Licence, issued.id)
        assert row is not None
        await issuance.new_version(session, issuer, row, kind="reissue", actor="test", reason="补发",
                                   data_changes=None, valid_until=None)
        newer = json.loads(row.sm2_document or "")
    assert newer["licence"]["version"] == 2 and (await verify(newer))["result"] == "valid"
    assert (await verify(document))["reason"] == "superseded"
    # Neither nor both: 422, and nothing recorded.
    before = await _verifications(database)
    for given in ({}, {"credential": issued.credential, "sm2_document": document}):
        with pytest.raises(ValidationFailed):
            await verification.verify(database, issuer, checks, ANYONE, presentation=given.get("presentation"),
                                      credential=given.get("credential"), sm2_document=given.get("sm2_document"))
    assert await _verifications(database) == before


async def test_sm2_presentation_verifies_and_stays_at_qr_version_12(database: Database, issuer: Issuer,
                                                                     tmp_path: Path) -> None:


    holder = Principal(subject="u-holder", kind=SubjectKind.COMPANY, roles=frozenset())
    long_url = Issuer(settings=issuer.settings, url=LONGEST_ISSUER_URL, key_dir=issuer.key_dir)
    long_url.keys.load()
    shown = await licence(database, long_url)
    tokens = {}
    for alg in ("ES256", "SM2"):
        view = await verification.create_presentation(database, long_url, holder, shown.id, None, alg)
        tokens[alg] = view.token
        # Measured with segno as the service makes it (error correction M): version 12 at most.
        assert view.qr_version == segno.make(view.token, error="m", micro=False, boost_error=False).version <= 12
        assert view.algorithm == alg
    assert tokens["SM2"].startswith("LS1:") and len(tokens["SM2"]) <= len(tokens["ES256"])
    claims = verify_presentation(long_url.keys, long_url.url, tokens["SM2"])
    assert claims.identifier == shown.identifier
    # The SM2 token under the ES256 prefix (and the other way round) does not verify.
    for text in ("LR1:" + tokens["SM2"][4:], "LS1:" + tokens["ES256"][4:]):
        with pytest.raises(PresentationInvalid):
            verify_presentation(long_url.keys, long_url.url, text)
    # One changed signature byte: bad signature.
    raw = bytearray(base45.b45decode(tokens["SM2"][4:]))
    raw[-3] ^= 1
    with pytest.raises(PresentationInvalid, match="bad_signature"):
        verify_presentation(long_url.keys, long_url.url, "LS1:" + base45.b45encode(bytes(raw)).decode())
    checks = verification.new_presentation_checks(issuer.settings)
    writer = asyncio.create_task(checks.run(database))
    try:
        first = await verification.verify(database, long_url, checks, ANYONE, presentation=tokens["SM2"], credential=None)
        again = await verification.verify(database, long_url, checks, ANYONE, presentation=tokens["SM2"], credential=None)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert (first["result"], again["reason"]) == ("valid", "replayed")


async def test_a_partners_sm2_document_is_recognised_like_an_es256_one(database: Database, issuer: Issuer) -> None:


    officer = Principal(subject="u-officer", kind=SubjectKind.PERSON, roles=frozenset({Role.WINDOW_OFFICER}))
    partner = SM2Key(kid="zj-sm2-1", activates_at=NOW, private_key=sm2.generate_private_key())
    url = f"https://lyj.zj.example.gov.cn/{uuid.uuid4().hex[:6]}"
    entry = {"province": "ZJ", "name": "浙江省林业局", "issuer": url, "jwks": {"keys": []},
             "sm2_keys": [{"kid": partner.kid, "public_key": sm2.public_point(partner.public_key).hex()}],
             "document_types": ["1133YD001"], "valid_from": NOW - dt.timedelta(days=1),
             "valid_until": NOW + dt.timedelta(days=365)}
    bad_point = "04" + "00" * 64
    for bad in ({**entry, "sm2_keys": []}, {**entry, "sm2_keys": [{"kid": "x", "public_key": bad_point}]}):
        with pytest.raises(ValidationFailed):
            await recognition.add_trusted_issuer(database, TrustedIssuerCreate.model_validate(bad))
    await recognition.add_trusted_issuer(database, TrustedIssuerCreate.model_validate(entry))

    def document(key: SM2Key, type_code: str = "1133YD001", days: int = 30) -> dict[str, Any]:
        fields = {name: "x" for name in sm2docs.LICENCE_FIELDS}
        fields.update(licence_type_code=type_code, licence_identifier="1.2.156.3005.2.1133YD001.33.1.001.X",
                      valid_from=(NOW - dt.timedelta(days=1)).isoformat(),
                      valid_until=(NOW + dt.timedelta(days=days)).isoformat())
        signer = Issuer(settings=issuer.settings, url=url, key_dir=issuer.key_dir)
        return json.loads(sm2docs.sign_document(key, signer.url, fields, status_list_id=1, status_index=1))

    async def recognise(doc: dict[str, Any]) -> dict[str, Any]:
        return await recognition.recognise(database, issuer.partners, officer, doc)

    ok = await recognise(document(partner))
    assert (ok["result"], ok["province"], ok["document_type"]) == ("recognised", "ZJ", "1133YD001")
    forger = SM2Key(kid=partner.kid, activates_at=NOW, private_key=sm2.generate_private_key())
    stranger = SM2Key(kid="zj-sm2-0", activates_at=NOW, private_key=partner.private_key)
    refusals = {"bad_signature": document(forger), "unknown_key": document(stranger),
                "document_type_not_recognised": document(partner, "1133XK999"), "expired": document(partner, days=-1),
                "unknown_issuer": {**document(partner), "iss": url + "x"}, "malformed": {"typ": 1}}
    for reason, doc in refusals.items():
        assert (await recognise(doc))["reason"] == reason, reason
    async with database.session() as session:
        rows = (await session.scalars(select(Recognition).where(Recognition.recognised_by == "u-officer")
                                      .order_by(Recognition.at))).all()
    assert [r.result for r in rows][-7:] == ["recognised"] + ["refused"] * 6
    # The trust list publishes the partner's SM2 keys and ours, and is SM2-signed too.
    async with database.session() as session:
        listed = await recognition.trust_list(session, issuer)
    assert [i["sm2_keys"] for i in listed["issuers"] if i["issuer"] == url][0][0]["kid"] == partner.kid
    assert {k["kid"] for k in listed["sm2_keys"]} == set(issuer.keys.sm2_keys)

    ours = issuer.keys.get_sm2(listed["sm2_signature"]["kid"])
    assert ours is not None
    payload = {k: listed[k] for k in ("iss", "iat", "exp", "version", "issuers", "sm2_keys")}
    sm2.verify(ours.public_key, base64.b64decode(listed["sm2_signature"]["signature"]), rfc8785.dumps(payload))


async def test_versions_issued_before_sm2_get_their_document_once_with_two_replicas(
        database: Database, issuer: Issuer) -> None:
    """A licence of two versions stored as before migration 0004 (no SM2 document anywhere) gets one per
    version from the backfill, two replicas running it at once; the documents are what a new version's is
    and verify online; a licence someone holds locked is left for the next run; a second run changes nothing."""
    old = await licence(database, issuer)
    async with database.transaction() as session:
        row = await session.get(Licence, old.id)
        assert row is not None
        await issuance.new_version(session, issuer, row, kind="change", actor="test", reason="变更",
                                   data_changes={"disposal_site": "黎明"}, valid_until=None)
    held = await licence(database, issuer)
    async with database.transaction() as session:
        for table in (Licence, LicenceVersion):
            key = Licence.id if table is Licence else LicenceVersion.licence_id
            await session.execute(update(table).where(key.in_((old.id, held.id))).values(sm2_document=None))
    async with database.session() as session:
        assert await sm2backfill.missing(session) == 2

    async def documents(licence_id: str) -> tuple[str | None, dict[int, str | None]]:
        async with database.session() as session:
            current = await session.scalar(select(Licence.sm2_document).where(Licence.id == licence_id))
            rows = (await session.execute(select(LicenceVersion.version, LicenceVersion.sm2_document)
                                          .where(LicenceVersion.licence_id == licence_id))).all()
        return current, {version: document for version, document in rows}

    # Someone holds `held` (e.g. a status change): both replicas skip it and sign `old`'s documents once.
    async with database.transaction() as holder:
        await holder.execute(select(Licence.id).where(Licence.id == held.id).with_for_update())
        signed = await asyncio.gather(sm2backfill.sign_missing(database, issuer, 1),
                                      sm2backfill.sign_missing(database, issuer, 1))
        assert await documents(held.id) == (None, {1: None})
    assert sorted(signed) == [0, 2]  # the current one (licence and version 2 share it) and version 1
    current, versions = await documents(old.id)
    assert current is not None and versions[2] == current and versions[1] is not None
    first, second = json.loads(versions[1] or ""), json.loads(current)
    assert (first["licence"]["version"], first["licence"]["data"]) == (1, {"disposal_site": "老港"})
    assert (second["licence"]["version"], second["licence"]["data"]) == (2, {"disposal_site": "黎明"})
    # The same document a new version gets: same fields, same canonical form, the published key (gmalg).
    async with database.session() as session:
        fresh = await session.get(Licence, old.id)
        assert fresh is not None
        assert second["licence"] == json.loads(issuance.sign_sm2(issuer, fresh))["licence"]
    published = {k["kid"]: k for k in issuer.sm2_keys()["keys"]}[second["kid"]]
    raw = sm2.raw_signature(base64.b64decode(second["signature"]))
    assert GmalgSM2(pk=bytes.fromhex(published["public_key"]), uid=published["signer_id"].encode()).verify(
        rfc8785.dumps({k: v for k, v in second.items() if k != "signature"}), raw[:32], raw[32:])
    checks = verification.new_presentation_checks(issuer.settings)
    answers = [await verification.verify(database, issuer, checks, ANYONE, presentation=None, credential=None,
                                         sm2_document=doc) for doc in (second, first)]
    assert [(a["result"], a.get("reason")) for a in answers] == [("valid", None), ("invalid", "superseded")]
    # Released, the next run takes `held`; after it nothing is missing and a further run changes nothing.
    assert await sm2backfill.sign_missing(database, issuer, 50) == 1
    held_current, held_versions = await documents(held.id)
    assert held_current is not None and held_versions == {1: held_current}
    before = {i: await documents(i) for i in (old.id, held.id)}
    async with database.session() as session:
        assert await sm2backfill.missing(session) == 0
    assert await sm2backfill.sign_missing(database, issuer, 50) == 0
    assert {i: await documents(i) for i in (old.id, held.id)} == before
