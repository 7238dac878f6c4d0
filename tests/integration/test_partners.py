"""长三角 partner self-service through the gateway, as a partner's system and our ops use it: a partner registers
its issuer by ``jwks_uri`` (served by a real HTTP server in the test), a second ops person approves it, the
platform fetches the keys itself; the partner rotates its key — its new documents verify and a document signed
with the removed key is refused after the refresh; a document the partner revoked in its status list is refused
with its reason; the trust list's new versions are announced as events."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
from partner_support import PartnerKey, PartnerServer

from support import bearer, outbox_published, stream_events


async def partner_token(client: httpx.AsyncClient, client_id: str) -> str:
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": "demo"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def registration(partner: PartnerServer, **changes: Any) -> dict[str, Any]:
    return {"province": "JS", "name": "江苏省林业局", "issuer": partner.issuer, "jwks_uri": f"{partner.url}/jwks.json",
            "status_list_base": f"{partner.url}/status/", "document_types": ["1132YD001"],
            "valid_from": "2026-01-01T00:00:00+08:00", "valid_until": "2030-01-01T00:00:00+08:00", **changes}


async def test_partner_registers_by_jwks_uri_rotates_its_key_and_revokes(client, token, suite) -> None:
    ops, ops_2, officer = await token("ops"), await token("ops-2"), await token("officer")
    js, zj = await partner_token(client, "partner-js"), await partner_token(client, "partner-zj")
    with PartnerServer(issuer_path=f"/ly/{uuid.uuid4().hex[:6]}") as partner:
        first, second = PartnerKey("js-2026"), PartnerKey("js-2027")
        partner.published = [first]

        async def registrations() -> list[dict[str, Any]]:
            r = await client.get("/v1/partner/registrations", headers=bearer(ops))
            assert r.status_code == 200, r.text
            return [x for x in r.json()["items"] if x["issuer"].startswith(partner.issuer)]

        # Refused: no token, a member of staff without the scope, another province, bad input — nothing written.
        body = registration(partner)
        assert (await client.post("/v1/partner/registrations", json=body)).status_code == 401
        assert (await client.post("/v1/partner/registrations", json=body, headers=bearer(officer))).status_code == 403
        assert (await client.post("/v1/partner/registrations", json=body, headers=bearer(zj))).status_code == 403
        for bad in (registration(partner, jwks_uri="ftp://127.0.0.1/jwks.json"),
                    registration(partner, jwks_uri="https://user:secret@ly.js.example/jwks.json"),
                    registration(partner, status_list_base="not a url"),
                    registration(partner, valid_until="2025-01-01T00:00:00+08:00"),
                    registration(partner, province="SH"), {**body, "extra": 1}, {k: v for k, v in body.items()
                                                                                if k != "jwks_uri"}):
            r = await client.post("/v1/partner/registrations", json=bad, headers=bearer(js))
            assert r.status_code == 422, (bad, r.text)
        assert await registrations() == []
        assert partner.hits == {}

        r = await client.post("/v1/partner/registrations", json=body, headers={**bearer(js), "Idempotency-Key": "js-1"})
        assert r.status_code == 201, r.text
        pending = r.json()
        assert (pending["state"], pending["registered_by"]) == ("pending", "c-partner-js")
        assert (await client.post("/v1/partner/registrations", json=body, headers=bearer(js))).status_code == 409
        # The partner sees its own registration; another province does not.
        assert (await client.get(f"/v1/partner/registrations/{pending['id']}", headers=bearer(js))).status_code == 200
        assert (await client.get(f"/v1/partner/registrations/{pending['id']}", headers=bearer(zj))).status_code == 404
        # A partner does not approve (not ops); four eyes: ops cannot approve what they registered themselves.
        assert (await client.post(f"/v1/partner/registrations/{pending['id']}/approve", json={},
                                  headers=bearer(js))).status_code == 403
        own = (await client.post("/v1/partner/registrations", json=registration(partner, issuer=f"{partner.issuer}/b"),
                                 headers=bearer(ops))).json()
        r = await client.post(f"/v1/partner/registrations/{own['id']}/approve", json={}, headers=bearer(ops))
        assert r.status_code == 403, r.text
        assert (await client.post(f"/v1/partner/registrations/{own['id']}/reject", json={},
                                  headers=bearer(ops_2))).status_code == 422  # a rejection says why
        assert {x["id"]: x["state"] for x in await registrations()}[own["id"]] == "pending"
        assert partner.hits == {}
        r = await client.post(f"/v1/partner/registrations/{own['id']}/reject", json={"reason": "重复登记"},
                              headers=bearer(ops_2))
        assert (r.status_code, r.json()["state"], r.json()["decided_by"]) == (200, "rejected", "u-ops-2")

        version_before = (await client.get("/v1/trust-list")).json()["version"]
        r = await client.post(f"/v1/partner/registrations/{pending['id']}/approve", json={}, headers=bearer(ops))
        assert r.status_code == 200, r.text
        approved = r.json()
        assert (approved["state"], approved["registered_by"], approved["decided_by"]) == ("approved", "c-partner-js", "u-ops")
        assert partner.hits["/jwks.json"] == 1  # the platform fetched the keys itself
        published = (await client.get("/v1/trust-list")).json()
        assert published["version"] == version_before + 1
        entry = next(i for i in published["issuers"] if i["issuer"] == partner.issuer)
        assert [k["kid"] for k in entry["jwks"]["keys"]] == ["js-2026"] and entry["jwks_uri"].endswith("/jwks.json")

        async def recognise(document: str) -> dict[str, Any]:
            r = await client.post("/v1/recognitions", json={"document": document}, headers=bearer(officer))
            assert r.status_code == 200, r.text
            result: dict[str, Any] = r.json()
            return result

        old_document = partner.credential(first)
        assert (await recognise(old_document))["result"] == "recognised"

        # The partner rotates: js-2027 in, js-2026 out; after the refresh new documents verify, old ones not.
        partner.published = [second]
        r = await client.post(f"/v1/trust-list/issuers/{entry['id']}/refresh", headers=bearer(ops))
        assert r.status_code == 200 and r.json()["changed"] is True, r.text
        assert (await recognise(partner.credential(second)))["result"] == "recognised"
        refused = await recognise(old_document)
        assert (refused["result"], refused["reason"]) == ("refused", "unknown_key")
        assert refused["reason_text"]["zh"] and refused["reason_text"]["en"]
        assert (await client.get("/v1/trust-list")).json()["version"] == version_before + 2

        # The partner revokes a document in its status list: refused with its reason, at the time of use.
        partner.statuses[1] = {9: 1}
        assert (await recognise(partner.credential(second, status=(1, 8))))["result"] == "recognised"
        revoked = await recognise(partner.credential(second, status=(1, 9)))
        assert (revoked["result"], revoked["reason"]) == ("refused", "revoked")
        assert revoked["reason_text"] == {"zh": "证照已被签发方撤销", "en": "the issuer has revoked the document"}
        assert partner.hits["/status/1"] == 1  # one fetch, cached briefly

        # Each new version of the trust list was announced.
        await outbox_published(suite, "licences")
        events = await stream_events(suite.nats_admin, "LVRONG_LICENCES", "lvrong.licences.trustlist.changed")
        mine = [e["data"] for e in events if partner.issuer in e["data"]["issuers"]]
        assert [(e["version"], e["reason"]) for e in mine][-2:] == [
            (version_before + 1, "partner_approved"), (version_before + 2, "partner_keys_refreshed")]
