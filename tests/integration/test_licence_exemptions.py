"""两个免于提交 by a licence, through the gateway: a material of 植物检疫证书 (LR-XK-001) stands in by a
licence svc-licences really issued to the applicant — accepted and recorded with the licence it was
verified against, counted by the cockpit — and refused, with nothing written, for someone else's
licence, a licence of another type, an expired, a revoked or an unknown one; at submission and at
supplement (补正).

The licences are real: year-long quarantine requirement documents (林业有害生物调运检疫要求书) an officer
issues through svc-licences, revoked there. Only the expired one is an event published the way
svc-licences publishes it (a licence cannot be issued already expired, and its expiry cannot be waited for).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from kit.calendar import local_date
from kit.contracts.licences import LicenceIssued
from support import (
    COMPANY_USCC,
    all_materials,
    bearer,
    issue_quarantine_document,
    matter,
    publish_as_licences,
    settled,
    valid_form,
    wait_for_verdict,
    wait_licence_known_to_matters,
    wait_status,
)

pytestmark = pytest.mark.integration

MATTER = "LR-XK-001"  # 植物检疫证书
EXEMPTED = "destination_requirement"  # a 林业有害生物调运检疫要求书 may stand in for it
OTHER_TYPE = "origin_quarantine_certificate"  # only a 产地检疫合格证 may stand in for it


@pytest.fixture(scope="module")
async def held(suite, client, token) -> dict[str, Any]:
    """A quarantine requirement document of the person, as they find it in their licences."""
    officer, person = await token("officer"), await token("applicant-person")
    issued = await issue_quarantine_document(client, officer, "u-applicant-person", seed=1)
    listed = (await client.get("/v1/licences", params={"type_code": "1131YD001", "limit": 100},
                               headers=bearer(person))).json()["items"]
    mine = next(x for x in listed if x["id"] == issued["id"])
    await wait_licence_known_to_matters(suite, mine["id"])
    return mine


async def counts(suite) -> tuple[int, int, int]:
    """What a submission writes: its application, its materials and its first step. Steps the pre-review
    adds to earlier applications meanwhile (asynchronously) are not counted."""
    conn = await suite.db("matters")
    try:
        return tuple(await conn.fetchrow(  # type: ignore[return-value]
            "SELECT (SELECT count(*) FROM applications), (SELECT count(*) FROM application_materials), "
            "(SELECT count(*) FROM application_steps WHERE action = 'submit')"))
    finally:
        await conn.close()


async def submission(client: httpx.AsyncClient, tok: str, seed: int, **exempt: str) -> dict[str, Any]:
    """LR-XK-001 with every material uploaded except those given as ``code=licence reference``."""
    m = await matter(client, tok, MATTER)
    materials: dict[str, Any] = await all_materials(client, tok, m)
    materials.update({code: {"licence_id": reference} for code, reference in exempt.items()})
    return {"matter_code": MATTER, "form": valid_form(m, seed), "materials": materials}


async def cockpit_today(client: httpx.AsyncClient, ops: str) -> dict[str, Any]:
    today = local_date().isoformat()
    r = await client.get("/v1/cockpit", params={"matter": MATTER, "from": today, "to": today}, headers=bearer(ops))
    assert r.status_code == 200, r.text
    return r.json()["matters"][0]


async def test_a_held_licence_stands_in_is_recorded_and_counted(suite, client, token, held) -> None:
    person, ops = await token("applicant-person"), await token("ops")
    before = await cockpit_today(client, ops)
    # By the number printed on it, as an applicant may type it; the application keeps its id.
    r = await client.post("/v1/applications", json=await submission(client, person, 501, **{EXEMPTED: held["licence_number"]}),
                          headers=bearer(person))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["exempted_materials"] == 1
    assert created["materials"][EXEMPTED] == {"kind": "licence", "licence_id": held["id"]}
    conn = await suite.db("matters")
    try:
        reason = await conn.fetchval("SELECT exemption_reason FROM application_materials WHERE application_id = $1 "
                                     "AND code = $2 AND kind = 'licence'", created["id"], EXEMPTED)
    finally:
        await conn.close()
    assert held["licence_number"] in reason and "林业有害生物调运检疫要求书" in reason and "核验" in reason
    assert "待" not in reason and "to be verified" not in reason
    # The pre-review's own comparison agrees with the check made at submission.
    assert (await wait_status(client, person, created["id"], {"prereviewed", "returned"}))["status"] == "prereviewed"
    after = await cockpit_today(client, ops)
    assert after["exempted_materials"] - before["exempted_materials"] == 1
    assert after["applications_with_exemptions"] - before["applications_with_exemptions"] == 1
    # By its id, as GET /v1/licences lists it, too.
    by_id = await client.post("/v1/applications", json=await submission(client, person, 502, **{EXEMPTED: held["id"]}),
                              headers=bearer(person))
    assert by_id.status_code == 201 and by_id.json()["materials"][EXEMPTED]["licence_id"] == held["id"]


async def publish_expired_licence(suite, holder: str) -> str:
    """A licence that ran out yesterday, announced as svc-licences announces an issue."""
    licence_id, now = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    event = LicenceIssued(licence_id=licence_id, licence_number=f"沪绿证〔2025〕YD001第{uuid.uuid4().int % 10**8:08d}号",
                          licence_type="林业有害生物调运检疫要求书", application_id="", holder_subject=holder,
                          issued_at=now - dt.timedelta(days=366), licence_type_code="1131YD001",
                          valid_from=now - dt.timedelta(days=366), valid_until=now - dt.timedelta(days=1)
                          ).envelope(subject=licence_id)
    await publish_as_licences(suite.env, event, licence_id)
    await wait_licence_known_to_matters(suite, licence_id)
    return licence_id


@pytest.fixture(scope="module")
async def refused_licences(suite, client, token, held) -> dict[str, tuple[str, str, str]]:
    """case → (material, licence reference, the error code expected)."""
    officer, reviewer = await token("officer"), await token("reviewer")
    theirs = await issue_quarantine_document(client, officer, "u-applicant-company", company=COMPANY_USCC)
    revoked = await issue_quarantine_document(client, officer, "u-applicant-person", seed=2)
    r = await client.post(f"/v1/licences/{revoked['id']}/revoke", json={"reason": "以欺骗手段取得"},
                          headers=bearer(reviewer))
    assert r.status_code == 200, r.text
    await wait_licence_known_to_matters(suite, theirs["id"])
    await wait_licence_known_to_matters(suite, revoked["id"], "revoked")
    return {
        "someone_else": (EXEMPTED, theirs["id"], "licence_not_held"),
        "wrong_type": (OTHER_TYPE, held["id"], "licence_type_not_accepted"),
        "expired": (EXEMPTED, await publish_expired_licence(suite, "u-applicant-person"), "licence_not_valid"),
        "revoked": (EXEMPTED, revoked["id"], "licence_not_valid"),
        "unknown": (EXEMPTED, "沪绿证〔2026〕YD001第99999999号", "unknown_licence"),
    }


@pytest.mark.parametrize("case", ["someone_else", "wrong_type", "expired", "revoked", "unknown"])
async def test_a_licence_that_cannot_stand_in_is_refused_and_nothing_written(suite, client, token, refused_licences,
                                                                             case: str) -> None:
    person = await token("applicant-person")
    material, reference, code = refused_licences[case]
    payload = await submission(client, person, 510, **{material: reference})
    before = await counts(suite)
    r = await client.post("/v1/applications", json=payload, headers=bearer(person))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    errors = r.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(f"materials.{material}", code)]
    assert errors[0]["message"] and errors[0]["message_en"] and errors[0]["message"] != errors[0]["message_en"]
    assert await counts(suite) == before


async def test_the_company_uses_its_own_licence(client, token, refused_licences) -> None:
    company = await token("applicant-company")
    _, theirs, _ = refused_licences["someone_else"]
    r = await client.post("/v1/applications", json=await submission(client, company, 520, **{EXEMPTED: theirs}),
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    assert r.json()["materials"][EXEMPTED] == {"kind": "licence", "licence_id": theirs}


async def test_a_company_uses_a_licence_issued_to_its_credit_code_under_another_account(
        suite, client, token) -> None:
    officer, company, person = await token("officer"), await token("applicant-company"), await token("applicant-person")
    licence = await issue_quarantine_document(client, officer, "u-company-branch-office", company=COMPANY_USCC, seed=3)
    await wait_licence_known_to_matters(suite, licence["id"])
    r = await client.post("/v1/applications", json=await submission(client, company, 525, **{EXEMPTED: licence["id"]}),
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    assert r.json()["materials"][EXEMPTED] == {"kind": "licence", "licence_id": licence["id"]}
    await wait_for_verdict(client, company, r.json()["id"])
    # The company's licence is not a person's, whoever they are.
    before = await counts(suite)
    r = await client.post("/v1/applications", json=await submission(client, person, 526, **{EXEMPTED: licence["id"]}),
                          headers=bearer(person))
    assert r.status_code == 422 and [(e["field"], e["code"]) for e in r.json()["errors"]] == [
        (f"materials.{EXEMPTED}", "licence_not_held")]
    assert await counts(suite) == before


async def test_a_supplement_is_checked_the_same_way(suite, client, token, held, refused_licences) -> None:
    person = await token("applicant-person")
    payload = await submission(client, person, 530)
    missing = payload["materials"].pop("consignment_list")  # required: the pre-review returns it
    r = await client.post("/v1/applications", json=payload, headers=bearer(person))
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    await wait_status(client, person, app_id, {"returned"})
    before = await counts(suite)
    _, revoked, _ = refused_licences["revoked"]
    refused = await client.post(f"/v1/applications/{app_id}/actions/supplement", headers=bearer(person), json={
        "materials": {"consignment_list": missing, EXEMPTED: {"licence_id": revoked}}})
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [(f"materials.{EXEMPTED}", "licence_not_valid")]
    assert await counts(suite) == before
    unchanged = (await client.get(f"/v1/applications/{app_id}", headers=bearer(person))).json()
    assert unchanged["status"] == "returned" and unchanged["attempt"] == 1 and EXEMPTED in unchanged["materials"]
    assert unchanged["materials"][EXEMPTED]["kind"] == "upload"

    r = await client.post(f"/v1/applications/{app_id}/actions/supplement", headers=bearer(person), json={
        "materials": {"consignment_list": missing, EXEMPTED: {"licence_id": held["identifier"]}}})
    assert r.status_code == 200, r.text
    supplemented = r.json()
    assert supplemented["attempt"] == 2 and supplemented["exempted_materials"] == 1
    assert supplemented["materials"][EXEMPTED] == {"kind": "licence", "licence_id": held["id"]}


async def test_a_company_business_licence_stands_in_from_the_business_registration(suite, client, token) -> None:
    ops, company, person = await token("ops"), await token("applicant-company"), await token("applicant-person")
    number = "BL-310115-2026-0001"

    async def register(valid_until: str | None, status: str = "active") -> None:
        r = await client.post("/v1/benefits/businesses", headers=bearer(ops), json=[{
            # The name the benefits test registers too: the pre-review compares applicants' names with it.
            "uscc": COMPANY_USCC, "name": "上海演示绿化工程有限公司洗车场", "business_scope": "园林绿化工程施工",
            "district": "浦东新区", "address": "上海市浦东新区测试路1号", "status": status,
            "licences": [{"type": "营业执照", "number": number, "valid_until": valid_until}]}])
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    await register(None)
    for seed, reference in ((540, COMPANY_USCC), (541, number)):  # by its credit code, or by the licence's number
        r = await client.post("/v1/applications", headers=bearer(company),
                              json=await submission(client, company, seed, business_licence=reference))
        assert r.status_code == 201, r.text
        assert r.json()["materials"]["business_licence"] == {"kind": "licence", "licence_id": number}
        assert r.json()["exempted_materials"] == 1
        conn = await suite.db("matters")
        try:
            reason = await conn.fetchval("SELECT exemption_reason FROM application_materials WHERE application_id = $1 "
                                         "AND code = 'business_licence'", r.json()["id"])
        finally:
            await conn.close()
        assert number in reason and "市场主体登记信息" in reason
        await wait_for_verdict(client, company, r.json()["id"])

    async def refused(tok: str, seed: int, code: str) -> None:
        before = await counts(suite)
        r = await client.post("/v1/applications", headers=bearer(tok),
                              json=await submission(client, tok, seed, business_licence=COMPANY_USCC))
        assert r.status_code == 422, r.text
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("materials.business_licence", code)]
        assert await counts(suite) == before

    await refused(person, 542, "unknown_licence")  # a company's business licence is not a person's
    yesterday = (local_date(dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)).isoformat()
    await register(yesterday)
    await refused(company, 543, "licence_not_valid")
    await register(None, status="deregistered")
    await refused(company, 544, "licence_not_valid")
    await register(None)  # the suite is shared: leave the company registered as it was at the start
    # ... and known so to svc-prequal before the next test submits for the company: its business read model
    # follows the registrations by events, and a test after this one was returned as deregistered (注销).
    await settled(suite, "matters", ["prequal-business-data"])
