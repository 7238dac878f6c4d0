"""长三角 partner self-service on a real PostgreSQL, with the partner a real HTTP server on a local port:
registration and its four-eyes approval, bad input writing nothing, the keys' cache and refresh under a frozen
clock (Cache-Control within bounds, rotation, a removed key, unknown kids rate-limited, staleness), the trust
list's versions and events, and the partner's status list checked at the time of use."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import time_machine
from partner_support import PartnerKey, PartnerServer
from sqlalchemy import func, select

from kit.audit import audit_log
from kit.auth import Principal, Role, SubjectKind
from kit.db import Database
from kit.devstack import Servers
from kit.errors import Conflict, Forbidden, Problem, ValidationFailed
from kit.events.outbox import outbox
from kit.gm import sm2
from licences.models import PartnerRegistration, Recognition, TrustedIssuer, TrustListVersion
from licences.schemas import PartnerRegistrationCreate
from licences.service import partners, recognition, registrations, sm2docs
from licences.service.issuer import Issuer
from licences.service.keys import SM2Key
from licences.settings import Settings
from support import scratch_service_database

PREFIX = os.environ.get("LVRONG_TEST_DATABASE_PREFIX", "lvrong_itest") + "_lpa"
START = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)

PARTNER_JS = Principal(subject="c-partner-js", kind=SubjectKind.PARTNER, roles=frozenset({Role.PARTNER}),
                       province="JS")
OPS = Principal(subject="u-ops", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN}))
OPS_2 = Principal(subject="u-ops-2", kind=SubjectKind.STAFF, roles=frozenset({Role.OPS_ADMIN}))
OFFICER = Principal(subject="u-officer", kind=SubjectKind.STAFF, roles=frozenset({Role.WINDOW_OFFICER}))


@pytest.fixture(scope="module")
async def database(servers: Servers) -> AsyncIterator[Database]:
    async with scratch_service_database(servers.database_url, "licences", PREFIX) as db:
        yield db


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    settings = Settings(key_dir=tmp_path_factory.mktemp("keys"), status_list_size=1024)
    found = Issuer(settings=settings, url="https://lvrong.example.gov.cn", key_dir=settings.key_dir)
    found.keys.load()
    return found


@pytest.fixture
def partner() -> Iterator[PartnerServer]:
    with PartnerServer() as server:
        server.published = [PartnerKey("js-1")]
        yield server


def registration(server: PartnerServer, **changes: Any) -> PartnerRegistrationCreate:
    body = {"province": "JS", "name": "江苏省林业局", "issuer": server.issuer, "jwks_uri": f"{server.url}/jwks.json",
            "status_list_base": f"{server.url}/status/", "document_types": ["1132YD001"],
            "valid_from": "2026-01-01T00:00:00+08:00", "valid_until": "2030-01-01T00:00:00+08:00", **changes}
    return PartnerRegistrationCreate.model_validate(body)


async def count(database: Database, *columns: Any) -> tuple[int, ...]:
    async with database.session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(c)) or 0) for c in columns])


async def approved_partner(database: Database, issuer: Issuer, server: PartnerServer) -> TrustedIssuer:
    registered = await registrations.register(database, issuer.partners, PARTNER_JS, registration(server), None)
    await registrations.decide(database, issuer.partners, OPS, registered.id, "approve", None)
    async with database.session() as session:
        entry = await session.scalar(select(TrustedIssuer).where(TrustedIssuer.issuer == server.issuer))
    assert entry is not None
    return entry


async def current(database: Database, issuer: Issuer, document: str | dict[str, Any]) -> partners.PartnerDocument:
    async with database.transaction() as session:
        return await partners.check_partner_document_current(session, issuer.partners, document)


async def refused(database: Database, issuer: Issuer, document: str | dict[str, Any]) -> str:
    with pytest.raises(partners.PartnerDocumentRefused) as caught:
        await current(database, issuer, document)
    return caught.value.reason


def test_uris_https_in_production_and_no_user_or_fragment() -> None:
    assert not partners.uri_problem("https://ly.js.gov.cn/jwks.json", production=True)
    assert partners.uri_problem("http://ly.js.gov.cn/jwks.json", production=True)
    assert not partners.uri_problem("http://127.0.0.1:8080/jwks.json", production=False)
    for bad in ("ftp://ly.js.gov.cn/jwks", "https://user:pw@ly.js.gov.cn/jwks", "https://ly.js.gov.cn/jwks#x",
                "https:///jwks", "not a url", "file:///etc/passwd"):
        assert partners.uri_problem(bad, production=False), bad


def test_max_age_within_bounds() -> None:
    settings = Settings()
    assert partners.max_age_of("public, max-age=600", settings) == 600
    assert partners.max_age_of("max-age=5", settings) == settings.partner_refresh_min_seconds
    assert partners.max_age_of("max-age=999999999", settings) == settings.partner_refresh_max_seconds
    assert partners.max_age_of("no-cache", settings) == settings.partner_refresh_seconds
    assert partners.max_age_of(None, settings) == settings.partner_refresh_seconds


async def test_registration_needs_a_second_person_and_bad_input_writes_nothing(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    before = await count(database, PartnerRegistration, TrustedIssuer, TrustListVersion, audit_log)
    bad_inputs = [registration(partner, jwks_uri="ftp://127.0.0.1/jwks.json"),
                  registration(partner, status_list_base="https://user:pw@example.org/status/"),
                  registration(partner, sm2_keys=[{"kid": "sm2-1", "public_key": "04" + "00" * 64}])]
    for body in bad_inputs:
        with pytest.raises(ValidationFailed):
            await registrations.register(database, issuer.partners, PARTNER_JS, body, None)
    with pytest.raises(Forbidden):  # Jiangsu registers no other province's issuer
        await registrations.register(database, issuer.partners, PARTNER_JS, registration(partner, province="ZJ"), None)
    assert await count(database, PartnerRegistration, TrustedIssuer, TrustListVersion, audit_log) == before

    pending = await registrations.register(database, issuer.partners, OPS, registration(partner), "reg-1")
    assert pending.state == "pending" and pending.registered_by == "u-ops"
    again = await registrations.register(database, issuer.partners, OPS, registration(partner), "reg-1")
    assert again.id == pending.id  # the same Idempotency-Key answers the same registration
    with pytest.raises(Conflict):  # one pending registration per issuer
        await registrations.register(database, issuer.partners, PARTNER_JS, registration(partner), None)
    with pytest.raises(Forbidden):  # four eyes: the registrant neither approves nor rejects
        await registrations.decide(database, issuer.partners, OPS, pending.id, "approve", None)
    with pytest.raises(Forbidden):
        await registrations.decide(database, issuer.partners, OPS, pending.id, "reject", "mine")
    with pytest.raises(Forbidden):  # only ops decide
        await registrations.decide(database, issuer.partners, OFFICER, pending.id, "approve", None)
    with pytest.raises(ValidationFailed):  # a rejection says why
        await registrations.decide(database, issuer.partners, OPS_2, pending.id, "reject", " ")
    assert partner.hits == {}  # refused before anything was fetched
    async with database.session() as session:
        row = await session.get(PartnerRegistration, pending.id)
        assert row is not None and (row.state, row.decided_by) == ("pending", None)
    assert await count(database, TrustedIssuer, TrustListVersion) == before[1:3]

    # The partner's server is down: not approved, nothing written, still pending.
    partner.fail = True
    with pytest.raises(Conflict) as down:
        await registrations.decide(database, issuer.partners, OPS_2, pending.id, "approve", None)
    assert "http_503" in str(down.value.extensions)
    assert await count(database, TrustedIssuer, TrustListVersion) == before[1:3]
    partner.fail = False

    approved = await registrations.decide(database, issuer.partners, OPS_2, pending.id, "approve", None)
    assert (approved.state, approved.registered_by, approved.decided_by) == ("approved", "u-ops", "u-ops-2")
    with pytest.raises(Conflict):  # decided once
        await registrations.decide(database, issuer.partners, OPS_2, pending.id, "reject", "too late")
    with pytest.raises(Conflict):  # and on the trust list now: not registered again
        await registrations.register(database, issuer.partners, PARTNER_JS, registration(partner), None)
    async with database.session() as session:
        entry = await session.get(TrustedIssuer, approved.trusted_issuer_id)
        assert entry is not None and [k["kid"] for k in entry.jwks["keys"]] == ["js-1"]
        actions = (await session.scalars(select(audit_log.c.action).where(
            audit_log.c.resource_id == pending.id).order_by(audit_log.c.position))).all()
        assert actions == ["partner.register", "partner.approve"]
        events = (await session.scalars(select(outbox.c.envelope).where(
            outbox.c.subject == "lvrong.licences.trustlist.changed"))).all()
        assert events[-1]["data"]["reason"] == "partner_approved"
        assert partner.issuer in events[-1]["data"]["issuers"]
        published = await recognition.trust_list(session, issuer)
    assert published["version"] == events[-1]["data"]["version"]
    assert any(i["issuer"] == partner.issuer and i["jwks_uri"] for i in published["issuers"])

    other = await registrations.register(database, issuer.partners, PARTNER_JS,
                                         registration(partner, issuer=f"{partner.url}/other"), None)
    rejected = await registrations.decide(database, issuer.partners, OPS, other.id, "reject", "未提供联系人")
    assert (rejected.state, rejected.decided_by, rejected.decision_reason) == ("rejected", "u-ops", "未提供联系人")
    async with database.transaction() as session:  # clean up for the other tests' issuer URLs
        await session.delete(await session.get(TrustedIssuer, approved.trusted_issuer_id))


async def test_keys_cache_rotation_and_staleness_under_a_frozen_clock(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    settings = issuer.settings
    old_key, new_key = partner.published[0], PartnerKey("js-2")
    with time_machine.travel(START, tick=True) as clock:
        entry = await approved_partner(database, issuer, partner)
        assert entry.keys_refresh_at == entry.keys_fetched_at + dt.timedelta(seconds=600)  # its max-age
        old_doc = partner.credential(old_key)
        assert (await current(database, issuer, old_doc)).province == "JS"
        version = await _version(database)

        # The partner rotates: js-2 in, js-1 out. Before the keys are due nothing is fetched.
        partner.published = [new_key]
        clock.shift(599)
        async with database.session() as session:
            assert await partners.due_for_refresh(session, dt.datetime.now(dt.UTC)) == []
        assert await partners.refresh_due(database, issuer.partners) == 0
        assert partner.hits["/jwks.json"] == 1
        assert (await current(database, issuer, old_doc)).province == "JS"  # still trusted until the refresh
        clock.shift(2)
        assert await partners.refresh_due(database, issuer.partners) == 1  # the background job's work
        assert await refused(database, issuer, old_doc) == "unknown_key"  # a removed key is no longer trusted
        new_doc = partner.credential(new_key)
        assert (await current(database, issuer, new_doc)).province == "JS"
        assert await _version(database) == version + 1
        assert partner.hits["/jwks.json"] == 2  # the unknown kid did not fetch again: fetched just now

        # An unknown kid refreshes at once, but at most once a period per partner.
        third = PartnerKey("js-3")
        partner.published = [new_key, third]
        assert await refused(database, issuer, partner.credential(third)) == "unknown_key"
        assert partner.hits["/jwks.json"] == 2
        clock.shift(settings.partner_unknown_kid_refresh_seconds + 1)
        assert (await current(database, issuer, partner.credential(third))).province == "JS"
        assert partner.hits["/jwks.json"] == 3
        for _ in range(3):  # a flood of unknown kids fetches nothing more within the period
            await refused(database, issuer, partner.credential(PartnerKey("forged")))
        assert partner.hits["/jwks.json"] == 3

        # The partner's server fails: the last good keys stay, until they are too old.
        partner.fail = True
        clock.shift(700)
        assert await partners.refresh_due(database, issuer.partners) == 0
        async with database.session() as session:
            row = await session.get(TrustedIssuer, entry.id)
            assert row is not None and row.keys_fetch_error == "http_503"
            assert row.keys_refresh_at == row.keys_checked_at + dt.timedelta(seconds=settings.partner_retry_seconds)
        assert (await current(database, issuer, new_doc)).province == "JS"
        clock.shift(settings.partner_keys_max_stale_seconds)
        await partners.refresh_due(database, issuer.partners)
        assert await refused(database, issuer, new_doc) == "issuer_keys_stale"
        partner.fail = False
        clock.shift(settings.partner_retry_seconds + 1)
        await partners.refresh_due(database, issuer.partners)
        assert (await current(database, issuer, new_doc)).province == "JS"
    async with database.transaction() as session:
        await session.delete(await session.get(TrustedIssuer, entry.id))


async def _version(database: Database) -> int:
    async with database.session() as session:
        return await partners.current_version(session)


async def test_a_document_revoked_or_suspended_in_the_partners_status_list_is_refused(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    key = partner.published[0]
    with time_machine.travel(START + dt.timedelta(days=10), tick=True) as clock:
        await approved_partner(database, issuer, partner)
        doc = partner.credential(key, status=(1, 7))
        assert (await current(database, issuer, doc)).document_type == "1132YD001"
        partner.statuses[1] = {7: 1}  # the partner revokes it
        assert (await current(database, issuer, doc)).province == "JS"  # the cached list, briefly
        clock.shift(issuer.settings.partner_status_cache_seconds + 1)
        with pytest.raises(partners.PartnerDocumentRefused) as caught:
            await current(database, issuer, doc)
        problem: Problem = caught.value
        assert (problem.status, caught.value.reason) == (409, "revoked")
        assert "撤销" in str(problem.detail.zh) and "revoked" in problem.detail.en  # type: ignore[union-attr]
        # Recognising it records the refusal with its reason.
        recognised = await recognition.recognise(database, issuer.partners, OFFICER, doc)
        assert (recognised["result"], recognised["reason"]) == ("refused", "revoked")
        assert recognised["reason_text"]["en"] == "the issuer has revoked the document"

        partner.statuses[2] = {3: 2}
        assert await refused(database, issuer, partner.credential(key, status=(2, 3))) == "suspended"
        assert (await current(database, issuer, partner.credential(key, status=(2, 4)))).province == "JS"
        # A status list elsewhere than the partner's registered base is not fetched.
        elsewhere = partner.credential(key, status=(3, 1), status_uri="http://127.0.0.1:9/status/3")
        assert await refused(database, issuer, elsewhere) == "status_list_not_allowed"
        # A list signed by a key the partner does not publish is not believed.
        partner.status_key = PartnerKey("js-1")  # same kid, another key
        assert await refused(database, issuer, partner.credential(key, status=(4, 1))) == "status_invalid"
        partner.status_key = None
        # A list that cannot be fetched, never cached: fail closed.
        partner.fail = True
        assert await refused(database, issuer, partner.credential(key, status=(5, 1))) == "status_unavailable"
        assert partner.hits.get("/status/3") is None
    async with database.session() as session:
        rows = (await session.scalars(select(Recognition).where(Recognition.reason == "revoked"))).all()
        assert rows and all("holder_name" not in r.claims for r in rows)


async def test_two_replicas_refreshing_at_once_fetch_a_partners_keys_once(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    with time_machine.travel(START + dt.timedelta(days=20), tick=True) as clock:
        await approved_partner(database, issuer, partner)
        partner.published = [partner.published[0], PartnerKey("js-next")]
        clock.shift(601)
        replica_a, replica_b = Database(database.url), Database(database.url)
        try:
            changed = await asyncio.gather(partners.refresh_due(replica_a, issuer.partners),
                                           partners.refresh_due(replica_b, issuer.partners))
        finally:
            await replica_a.dispose()
            await replica_b.dispose()
    assert sorted(changed) == [0, 1] and partner.hits["/jwks.json"] == 2  # at approval, then once


async def test_a_partner_signing_with_sm2_publishes_its_sm2_keys_by_address(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    sm2_key = SM2Key(kid="js-sm2-1", activates_at=START, private_key=sm2.generate_private_key())
    partner.sm2_keys = [{"kid": sm2_key.kid, "public_key": sm2.public_point(sm2_key.public_key).hex(),
                         "signer_id": "1234567812345678"}]
    body = registration(partner, sm2_keys_uri=f"{partner.url}/sm2-keys.json",
                        status_list_base=f"{partner.issuer}/v1/licences/status-lists/")
    registered = await registrations.register(database, issuer.partners, PARTNER_JS, body, None)
    approved = await registrations.decide(database, issuer.partners, OPS, registered.id, "approve", None)

    def document(status_list: int = 1, index: int = 1) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        fields = {name: "x" for name in sm2docs.LICENCE_FIELDS}
        fields.update(licence_type_code="1132YD001", licence_identifier="1.2.156.3005.2.1132YD001.32.1.001.X",
                      valid_from=(now - dt.timedelta(days=1)).isoformat(),
                      valid_until=(now + dt.timedelta(days=30)).isoformat())
        return json.loads(sm2docs.sign_document(sm2_key, partner.issuer, fields, status_list_id=status_list,
                                                status_index=index))

    async with database.session() as session:
        entry = await session.get(TrustedIssuer, approved.trusted_issuer_id)
        assert entry is not None and [k["kid"] for k in entry.sm2_keys] == ["js-sm2-1"]
    signed = document()
    assert (await current(database, issuer, signed)).document_type == "1132YD001"
    assert partner.hits["/ly/v1/licences/status-lists/1"] == 1  # its status checked in its list
    partner.statuses[2] = {5: 2}
    assert await refused(database, issuer, document(2, 5)) == "suspended"
    # The partner withdraws its SM2 key: refused after the refresh.
    partner.sm2_keys = []
    async with database.transaction() as session:
        entry = await session.get(TrustedIssuer, approved.trusted_issuer_id, with_for_update=True)
        assert entry is not None and await partners.refresh_issuer_now(session, issuer.partners, entry) is True
    assert await refused(database, issuer, signed) == "unknown_key"


async def test_a_partners_later_revocation_reaches_a_recognised_document_once_per_change(
        database: Database, issuer: Issuer, partner: PartnerServer) -> None:
    """The scheduled re-check (``partner_recheck.recheck``): a recognised document's status in its partner's list
    is read again, the lists' cache honoured, and each change is recorded and announced once."""
    from licences.service import partner_recheck

    key, batch = partner.published[0], issuer.settings.partner_recheck_batch
    wait = dt.timedelta(seconds=issuer.settings.partner_status_cache_seconds + 1)

    async def announced(recognition_id: str) -> list[dict[str, Any]]:
        async with database.session() as session:
            return [e["data"] for e in (await session.scalars(select(outbox.c.envelope).where(
                outbox.c.subject == "lvrong.licences.partner_document.status_changed"))).all()
                if e["data"]["recognition_id"] == recognition_id]

    async def seen(recognition_id: str) -> str:
        async with database.session() as session:
            row = await session.get(Recognition, recognition_id)
            assert row is not None
            return row.partner_status

    with time_machine.travel(START + dt.timedelta(days=30), tick=True) as clock:
        await approved_partner(database, issuer, partner)
        doc = partner.credential(key, status=(6, 2), holder_code="91310115MA1H7GXQ3E")
        recognised = await recognition.recognise(database, issuer.partners, OFFICER, doc)
        assert recognised["result"] == "recognised"
        rid = recognised["id"]
        short = partner.credential(key, status=(7, 1), holder_code="91310115MA1H7GXQ3E", exp_days=1)
        short_id = (await recognition.recognise(database, issuer.partners, OFFICER, short))["id"]
        async with database.session() as session:
            row = await session.get(Recognition, rid)
            assert row is not None and row.valid_until is not None and row.valid_until > START + dt.timedelta(days=300)
            assert "status" in row.claims and "holder_code" not in row.claims

        assert await partner_recheck.recheck(database, issuer.partners, batch) == 0  # still valid: nothing to say
        partner.statuses[6] = {2: 1}  # the partner revokes it
        fetched = partner.hits["/status/6"]
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 0  # the cached list, briefly
        assert partner.hits["/status/6"] == fetched and await seen(rid) == "active"
        clock.shift(wait)
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 1
        assert await seen(rid) == "revoked"
        [event] = await announced(rid)
        assert (event["from_status"], event["to_status"], event["province"]) == ("active", "revoked", "JS")
        assert event["document_identifier"] == recognised["document_identifier"]
        clock.shift(wait)  # read again, still revoked: not announced again
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 0
        assert len(await announced(rid)) == 1

        partner.fail = True  # briefly unreachable: the copy held (its token's exp holds) says the same
        clock.shift(wait)
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 0
        assert await seen(rid) == "revoked"
        partner.fail = False
        partner.statuses[6] = {}  # reinstated
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 1
        assert [(e["from_status"], e["to_status"]) for e in await announced(rid)] == [("active", "revoked"),
                                                                                     ("revoked", "active")]
        # Unreachable past the held token's exp: the list cannot be read, and that changes nothing (no guess).
        partner.fail, partner.statuses[6] = True, {2: 2}
        partner.statuses[7] = {1: 2}
        short_fetches = partner.hits["/status/7"]
        clock.shift(dt.timedelta(days=2))
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 0
        assert await seen(rid) == "active" and len(await announced(rid)) == 2
        # A document past its validity is no longer re-checked (nor its list fetched).
        partner.fail = False
        async with database.transaction() as session:  # as a row recognised before its end was kept
            short_row = await session.get(Recognition, short_id)
            assert short_row is not None
            short_row.valid_until = None
        async with database.transaction() as session:
            assert short_id not in {d.id for d in await partner_recheck.due(session, dt.datetime.now(dt.UTC), batch)}
        async with database.session() as session:
            short_row = await session.get(Recognition, short_id)  # its end read from its claims, and kept
            assert short_row is not None and short_row.valid_until is not None
        assert await partner_recheck.recheck(database, issuer.partners, batch) == 1  # the suspension, once readable
        assert await seen(rid) == "suspended"
        assert partner.hits["/status/7"] == short_fetches and await announced(short_id) == []
