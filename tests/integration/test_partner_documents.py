"""长三角, 两个免于提交 across provinces, through the gateway: a partner province's 林业有害生物调运检疫要求书,
presented by the company holding it and recognised against the trust list, stands in for LR-XK-001's
material "调入地植物检疫要求书" like a licence of ours, and the application records which partner
document stood in (for its applicant and its reviewer). A document held by another company, of another
type, or expired is refused at submission with nothing written; a document that does not verify, or
names no company as its holder, is refused when presented, with no recognition recorded. A document its partner
revokes in its status list after it was recognised is refused at submission once svc-licences' re-check has told
the read model (and accepted again once the partner reinstates it).

The partner is simulated: its own key (on the trust list, added by ops) signs SD-JWT VCs made with the
sd-jwt reference library. Only the expired one is an event published the way svc-licences publishes a
recognition (a document cannot be recognised once expired, and its expiry cannot be waited for).
"""
from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey
from partner_support import PartnerKey, PartnerServer

from kit.contracts.licences import PartnerDocumentRecognised
from support import (
    COMPANY_USCC,
    all_materials,
    bearer,
    matter,
    partner_token,
    publish_as_licences,
    valid_form,
    valid_uscc,
    wait_licence_known,
    wait_licence_known_to_matters,
)

pytestmark = pytest.mark.integration

MATTER = "LR-XK-001"  # 植物检疫证书
EXEMPTED = "destination_requirement"  # 调入地植物检疫要求书: a 林业有害生物调运检疫要求书 stands in
REQUIREMENT, CERTIFICATE = "1132YD001", "1132XK001"  # the partner's type codes
NAMES = {REQUIREMENT: "林业有害生物调运检疫要求书", CERTIFICATE: "植物检疫证书"}
OTHER_COMPANY = valid_uscc(random.Random(20))  # a Jiangsu company's credit code


class Partner:
    """A partner province (Jiangsu) with its own signing key, on our trust list."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.issuer = f"https://ly.jiangsu.example.gov.cn/{uuid.uuid4().hex[:8]}"

    def entry(self) -> dict[str, Any]:
        public = ECKey.import_key(self.key.public_key()).as_dict(private=False) | {"kid": "js-1"}
        return {"province": "JS", "name": "江苏省林业局", "issuer": self.issuer, "jwks": {"keys": [public]},
                "document_types": [REQUIREMENT, CERTIFICATE], "valid_from": "2026-01-01T00:00:00+08:00",
                "valid_until": "2030-01-01T00:00:00+08:00"}

    def document(self, type_code: str = REQUIREMENT, holder_code: str = COMPANY_USCC, *, holder_code_type: str = "uscc",
                 exp_days: int = 365) -> str:
        from jwcrypto.jwk import JWK
        from sd_jwt.common import SDObj
        from sd_jwt.issuer import SDJWTIssuer

        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        now = int(time.time())
        claims = {"iss": self.issuer, "iat": now, "nbf": now - 60, "exp": now + exp_days * 86400,
                  "vct": f"{self.issuer}/vct/{type_code}", "licence_type_code": type_code, "licence_type": NAMES[type_code],
                  "licence_identifier": f"1.2.156.3005.2.{type_code}.JS.{uuid.uuid4().int % 10**8:08d}.001.0",
                  SDObj("holder_name"): "江苏某苗木公司", SDObj("holder_code"): holder_code,
                  SDObj("holder_code_type"): holder_code_type}
        return SDJWTIssuer(claims, JWK.from_pem(pem), sign_alg="ES256",
                           extra_header_parameters={"typ": "dc+sd-jwt", "kid": "js-1"}).sd_jwt_issuance


@pytest.fixture(scope="module")
async def partner(client, token) -> Partner:
    jiangsu = Partner()
    r = await client.post("/v1/trust-list/issuers", json=jiangsu.entry(), headers=bearer(await token("ops")))
    assert r.status_code == 201, r.text
    return jiangsu


async def present(client: httpx.AsyncClient, tok: str, document: str, key: str | None = None) -> httpx.Response:
    return await client.post("/v1/recognitions/presented", json={"document": document},
                             headers=bearer(tok) | ({"Idempotency-Key": key} if key else {}))


async def recognised(suite, client: httpx.AsyncClient, tok: str, document: str) -> dict[str, Any]:
    r = await present(client, tok, document)
    assert r.status_code == 201 and r.json()["result"] == "recognised", r.text
    await wait_licence_known_to_matters(suite, r.json()["id"])
    return r.json()


async def submission(client: httpx.AsyncClient, tok: str, seed: int, reference: str) -> dict[str, Any]:
    m = await matter(client, tok, MATTER)
    materials: dict[str, Any] = await all_materials(client, tok, m)
    materials[EXEMPTED] = {"licence_id": reference}
    return {"matter_code": MATTER, "form": valid_form(m, seed), "materials": materials}


async def counts(suite) -> tuple[int, int]:
    conn = await suite.db("matters")
    try:
        return tuple(await conn.fetchrow(  # type: ignore[return-value]
            "SELECT (SELECT count(*) FROM applications), (SELECT count(*) FROM application_materials)"))
    finally:
        await conn.close()


async def recognitions(suite) -> int:
    conn = await suite.db("licences")
    try:
        return int(await conn.fetchval("SELECT count(*) FROM recognitions"))
    finally:
        await conn.close()


async def test_a_recognised_partner_document_stands_in_and_the_application_records_it(suite, client, token,
                                                                                      partner) -> None:
    company, reviewer = await token("applicant-company"), await token("reviewer")
    doc = await recognised(suite, client, company, partner.document())
    assert doc["province"] == "JS" and doc["document_type"] == REQUIREMENT
    # Presented again with the same Idempotency-Key: the same recognition, not a second one.
    key, again = uuid.uuid4().hex, partner.document()
    first = await present(client, company, again, key)
    before = await recognitions(suite)
    replay = await present(client, company, again, key)
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    assert await recognitions(suite) == before
    assert "holder_code" not in (doc["claims"] or {})  # personal fields are never kept or answered
    r = await client.post("/v1/applications", json=await submission(client, company, 601, doc["id"]),
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    created = r.json()
    stood_in = {"kind": "licence", "licence_id": doc["id"], "partner_province": "JS",
                "document_number": doc["document_identifier"]}
    assert created["exempted_materials"] == 1 and created["materials"][EXEMPTED] == stood_in
    # The reviewer sees the same on the application.
    seen = await client.get(f"/v1/applications/{created['id']}", headers=bearer(reviewer))
    assert seen.status_code == 200 and seen.json()["materials"][EXEMPTED] == stood_in
    conn = await suite.db("matters")
    try:
        reason = await conn.fetchval("SELECT exemption_reason FROM application_materials WHERE application_id = $1 "
                                     "AND code = $2", created["id"], EXEMPTED)
    finally:
        await conn.close()
    assert "江苏省" in reason and doc["document_identifier"] in reason and doc["id"] in reason and "长三角" in reason
    # Named by the partner's number printed on it, as an applicant may type it: the application keeps the recognition.
    by_number = await client.post("/v1/applications", json=await submission(client, company, 602, doc["document_identifier"]),
                                  headers=bearer(company))
    assert by_number.status_code == 201 and by_number.json()["materials"][EXEMPTED] == stood_in, by_number.text
    # The pre-review's data comparison (数据比对, svc-prequal's copy of the read model) passes it too.
    await wait_licence_known(suite, "prequal", doc["id"])
    m = await matter(client, company, MATTER)
    check = await client.post("/v1/prequal/check", headers=bearer(company), json={
        "matter_code": MATTER, "form": valid_form(m, 601), "materials": {EXEMPTED: {"kind": "licence", "licence_id": doc["id"]}}})
    assert check.status_code == 200, check.text
    assert next(x for x in check.json()["results"] if x["rule_id"] == f"compare.licence.{EXEMPTED}")["outcome"] == "passed"


async def publish_expired_recognition(suite, holder: str) -> str:
    """A partner document recognised last year and expired yesterday, announced as svc-licences announces one."""
    recognition_id, now = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    event = PartnerDocumentRecognised(
        recognition_id=recognition_id, province="JS", document_identifier=f"1.2.156.3005.2.{REQUIREMENT}.JS.{uuid.uuid4().hex[:8]}",
        document_type=NAMES[REQUIREMENT], document_type_code=REQUIREMENT, holder_org_code=holder,
        recognised_at=now - dt.timedelta(days=300), valid_from=now - dt.timedelta(days=366),
        valid_until=now - dt.timedelta(days=1)).envelope(subject=recognition_id)
    await publish_as_licences(suite.env, event, recognition_id)
    await wait_licence_known_to_matters(suite, recognition_id)
    return recognition_id


@pytest.mark.parametrize("case, code", [("other_holder", "licence_not_held"), ("wrong_type", "licence_type_not_accepted"),
                                        ("expired", "licence_not_valid")])
async def test_a_partner_document_that_cannot_stand_in_is_refused_and_nothing_written(suite, client, token, partner,
                                                                                      case: str, code: str) -> None:
    company = await token("applicant-company")
    if case == "other_holder":  # recognised (it is genuine), but held by another company
        reference = (await recognised(suite, client, company, partner.document(holder_code=OTHER_COMPANY)))["id"]
    elif case == "wrong_type":  # a partner's 植物检疫证书 does not stand in for a 检疫要求书
        reference = (await recognised(suite, client, company, partner.document(CERTIFICATE)))["id"]
    else:
        reference = await publish_expired_recognition(suite, COMPANY_USCC)
    payload = await submission(client, company, 610, reference)
    before = await counts(suite)
    r = await client.post("/v1/applications", json=payload, headers=bearer(company))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(f"materials.{EXEMPTED}", code)]
    assert await counts(suite) == before


async def test_a_document_refused_when_presented_records_nothing(suite, client, token, partner) -> None:
    company, person = await token("applicant-company"), await token("applicant-person")
    forger = Partner()
    forger.issuer = partner.issuer
    cases = {"bad_signature": forger.document(), "expired": partner.document(exp_days=-1),
             "holder_not_a_company": partner.document(holder_code="110101199003074514", holder_code_type="resident_id")}
    for reason, document in cases.items():
        before = await recognitions(suite)
        r = await present(client, company, document)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == reason, r.text
        assert await recognitions(suite) == before
    # Presenting is the applicant's (licences:write); a partner's token cannot.
    assert (await present(client, await partner_token(client, "partner-js"), partner.document())).status_code == 403
    assert (await present(client, person, "x" * 20)).status_code == 422


async def test_a_document_the_partner_revokes_after_recognition_is_refused_at_submission(suite, client, token) -> None:
    """The partner (a real HTTP server publishing its key and its status list, cached for a second by its ttl)
    revokes a document already recognised: svc-licences' re-check announces it, svc-matters' read model has it
    revoked, and a submission naming it is refused with nothing written; reinstated, it stands in again."""
    company = await token("applicant-company")
    with PartnerServer(issuer_path=f"/ly/{uuid.uuid4().hex[:6]}") as server:
        key = PartnerKey("js-status")
        server.published, server.ttl = [key], 1
        r = await client.post("/v1/trust-list/issuers", headers=bearer(await token("ops")), json={
            "province": "JS", "name": "江苏省林业局", "issuer": server.issuer, "jwks": {"keys": [key.public_jwk()]},
            "document_types": [REQUIREMENT], "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_until": "2030-01-01T00:00:00+08:00"})
        assert r.status_code == 201, r.text
        doc = await recognised(suite, client, company, server.credential(
            key, status=(9, 5), holder_code=COMPANY_USCC, licence_type=NAMES[REQUIREMENT]))
        assert server.hits["/status/9"] >= 1  # checked when presented

        server.statuses[9] = {5: 1}  # the partner revokes it
        await wait_licence_known_to_matters(suite, doc["id"], "revoked", seconds=30)
        payload = await submission(client, company, 620, doc["id"])
        before = await counts(suite)
        r = await client.post("/v1/applications", json=payload, headers=bearer(company))
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(f"materials.{EXEMPTED}", "licence_not_valid")]
        assert await counts(suite) == before

        server.statuses[9] = {}  # reinstated
        await wait_licence_known_to_matters(suite, doc["id"], "active", seconds=30)
        r = await client.post("/v1/applications", json=payload, headers=bearer(company))
        assert r.status_code == 201 and r.json()["materials"][EXEMPTED]["licence_id"] == doc["id"], r.text
