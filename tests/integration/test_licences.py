"""svc-licences through the gateway, as front-ends, inspectors and partner provinces use it:
issuance from an approval, every status change, 亮证 online and offline, 亮数, versions, grants
with delegation and revocation, the audit of fetches, the trust list and recognition both ways.

Offline checks use only the published keys and libraries we did not write (joserfc for JOSE,
cbor2 + cryptography for COSE, zxing-cpp for the QR image), never svc-licences' own code."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import base45
import cbor2
import httpx
import pytest
import zxingcpp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet
from PIL import Image
from stdnum.iso7064 import mod_37_36

from support import (
    COMPANY_USCC,
    another_replica,
    approved_licence,
    bearer,
    connect_nats,
    handled,
    partner_token,
    ticked,
)

pytestmark = pytest.mark.integration

# The suite's environment is built from this process's when its fixture starts (after collection):
# svc-licences gets its own key directory, which the test reads to sign an *expired* presentation
# with the real key, and reminder and expiry ticks fast enough to watch.
KEY_DIR = Path(tempfile.mkdtemp(prefix="lvrong-licence-keys-"))
os.environ.setdefault("LICENCES_KEY_DIR", str(KEY_DIR))
os.environ.setdefault("LICENCES_REMINDER_INTERVAL_SECONDS", "0.5")
os.environ.setdefault("LICENCES_EXPIRY_INTERVAL_SECONDS", "0.5")
os.environ.setdefault("LICENCES_KEY_RELOAD_SECONDS", "0.5")
KEY_DIR = Path(os.environ["LICENCES_KEY_DIR"])



def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def act(client: httpx.AsyncClient, tok: str, app_id: str, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/applications/{app_id}/actions/{action}", json=body, headers=bearer(tok))


async def eventually(probe, ok, what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        value = await probe()
        if ok(value):
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} did not happen within {seconds} s (last: {value})")


async def issuer_keys(client: httpx.AsyncClient) -> KeySet:
    meta = (await client.get("/.well-known/jwt-vc-issuer")).json()  # no token: public
    assert meta["jwks_uri"].endswith("/v1/licences/issuer/jwks.json")
    jwks = (await client.get("/v1/licences/issuer/jwks.json")).json()
    assert jwks == meta["jwks"]
    return KeySet.import_key_set(jwks)


def verify_sd_jwt(credential: str, keys: KeySet) -> dict[str, Any]:
    """SD-JWT VC check with joserfc and hashlib only: signature, then each disclosure against ``_sd``."""
    jwt_part, *disclosures = credential.split("~")
    token = jws.deserialize_compact(jwt_part, keys, algorithms=["ES256"])
    header = token.protected
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "ES256" and header["kid"]
    claims = json.loads(token.payload)
    digests = set(claims.get("_sd", []))
    assert claims["_sd_alg"] == "sha-256"
    for disclosure in filter(None, disclosures):
        digest = base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode()).digest()).rstrip(b"=").decode()
        assert digest in digests, "a disclosure not committed to by the issuer"
        _salt, name, value = json.loads(b64url_decode(disclosure))
        claims[name] = value
    return claims


async def status_of(client: httpx.AsyncClient, keys: KeySet, uri: str, index: int) -> int:
    path = "/v1/licences/status-lists/" + uri.rsplit("/", 1)[1]
    r = await client.get(path)  # no token: public
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/statuslist+jwt")
    token = jwt.decode(r.text, keys, algorithms=["ES256"])
    assert token.header["typ"] == "statuslist+jwt"
    claims = token.claims
    assert claims["sub"] == uri and claims["ttl"] > 0 and claims["exp"] > time.time()
    bits = zlib.decompress(b64url_decode(claims["status_list"]["lst"]))
    assert claims["status_list"]["bits"] == 2
    return (bits[index // 4] >> ((index % 4) * 2)) & 0b11


def verify_cwt_offline(qr_text: str, keys: KeySet) -> dict[int, Any]:
    """亮证 offline: base45 → COSE_Sign1 → ES256 over Sig_structure with the published key (RFC 9052)."""
    assert qr_text.startswith("LR1:")
    sign1 = cbor2.loads(base45.b45decode(qr_text[4:]))
    if isinstance(sign1, cbor2.CBORTag):
        sign1 = sign1.value
    protected_bytes, unprotected, payload, signature = sign1
    protected = cbor2.loads(protected_bytes)
    assert protected[1] == -7  # ES256
    kid = (protected.get(4) or unprotected.get(4)).decode()
    jwk = keys.get_by_kid(kid)
    public = serialization.load_pem_public_key(jwk.as_pem(private=False))
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))  # raises on a bad signature
    return cbor2.loads(payload)


def decode_qr_png(data_uri: str) -> str:
    png = base64.b64decode(data_uri.split(",", 1)[1])
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert results, "no QR code found in the image"
    return results[0].text


async def verify_online(client: httpx.AsyncClient, tok: str, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/verifications", json=body, headers=bearer(tok))
    assert r.status_code == 200, r.text
    return r.json()


async def present(client: httpx.AsyncClient, tok: str, licence_id: str) -> dict[str, Any]:
    r = await client.post(f"/v1/licences/{licence_id}/presentations", headers=bearer(tok))
    assert r.status_code == 201, r.text
    return r.json()


async def test_issued_on_approval_once_signed_verifiable_offline(suite, client, token) -> None:
    company, partner = await token("applicant-company"), await partner_token(client, "partner-ah")
    later = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    app_id, licence = await approved_licence(client, token, seed=501, form={"start_date": later})
    # The national identifier with its ISO 7064 MOD 37,36 check character (checked with stdnum).
    identifier = licence["identifier"]
    assert identifier.startswith("1.2.156.3005.2.1131XK002.") and identifier.split(".")[-2] == "001"
    assert mod_37_36.is_valid(identifier.replace(".", ""))
    assert licence["licence_type"] == "建筑垃圾处置证" and licence["status"] == "active"
    assert licence["holder_code"] == COMPANY_USCC and licence["holder_code_type"] == "uscc"  # the holder sees it whole
    assert licence["data"]["disposal_site"] and "contact_mobile" not in licence["data"]
    # One decision, one licence: the approval delivered again (a new event id) issues nothing more.
    nc = await connect_nats(suite.nats_admin)
    again = {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/lvrong/matters",
             "type": "lvrong.matters.application.status_changed", "time": dt.datetime.now(dt.UTC).isoformat(),
             "data": {"application_id": app_id, "matter_code": "LR-XK-002", "applicant_subject": "u-applicant-company",
                      "from_status": "under_review", "to_status": "approved", "action": "approve", "actor": "u-reviewer",
                      "occurred_at": dt.datetime.now(dt.UTC).isoformat()}}
    await nc.jetstream().publish(again["type"], json.dumps(again).encode(), headers={"Nats-Msg-Id": again["id"]})
    await nc.close()
    await handled(suite, "licences", again["id"])  # handled, and nothing issued
    mine = (await client.get("/v1/licences", params={"type_code": "1131XK002", "limit": 100}, headers=bearer(company))).json()
    assert [x["id"] for x in mine["items"] if x["application_id"] == app_id] == [licence["id"]]

    # Offline: the SD-JWT VC with the published keys and joserfc; the status list likewise.
    keys = await issuer_keys(client)
    claims = verify_sd_jwt(licence["credential"], keys)
    assert claims["licence_identifier"] == identifier and claims["vct"].endswith("/vct/1131XK002")
    # Valid from the start date applied for: not yet valid today.
    assert claims["holder_code"] == COMPANY_USCC and claims["exp"] > claims["nbf"] > time.time()
    assert claims["valid_from"].startswith(later)
    assert (await verify_online(client, partner, credential=licence["credential"]))["result"] == "not_yet_valid"
    uri, idx = claims["status"]["status_list"]["uri"], claims["status"]["status_list"]["idx"]
    assert await status_of(client, keys, uri, idx) == 0
    # Without the personal disclosures the credential still verifies and shows no holder data.
    bare = licence["credential"].split("~")[0] + "~"
    assert "holder_code" not in verify_sd_jwt(bare, keys)

    # The PDF copy.
    r = await client.get(f"/v1/licences/{licence['id']}/pdf", headers=bearer(company))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")


async def test_presentation_online_offline_and_every_refusal(client, token) -> None:
    company, inspector, reviewer = await token("applicant-company"), await token("inspector"), await token("reviewer")
    partner = await partner_token(client, "partner-js")
    _, licence = await approved_licence(client, token, seed=502)
    shown = await present(client, company, licence["id"])
    assert shown["qr_version"] <= 12 and shown["qr_svg"].startswith("<svg")
    # The QR image decodes (zxing-cpp) to the token, which verifies offline with the published key.
    assert decode_qr_png(shown["qr_png"]) == shown["token"]
    keys = await issuer_keys(client)
    payload = verify_cwt_offline(shown["token"], keys)
    assert payload[-65537] == licence["identifier"] and payload[4] - payload[6] <= 120
    assert await status_of(client, keys, payload[65535]["status_list"]["uri"], payload[65535]["status_list"]["idx"]) == 0

    ok = await verify_online(client, inspector, presentation=shown["token"])
    assert ok["result"] == "valid" and ok["licence"]["identifier"] == licence["identifier"]
    replay = await verify_online(client, inspector, presentation=shown["token"])
    assert replay["result"] == "invalid" and replay["reason"] == "replayed"

    # Forged: one signature byte changed.
    raw = bytearray(base45.b45decode(shown["token"][4:]))
    raw[-5] ^= 0x01
    forged = await verify_online(client, partner, presentation="LR1:" + base45.b45encode(bytes(raw)).decode())
    assert forged["result"] == "invalid" and forged["reason"] == "bad_signature"
    # Signed by a key that is not the issuer's (its own kid): unknown key.
    other = ec.generate_private_key(ec.SECP256R1())
    fake = _cose_sign1(other, b"not-a-published-kid", cbor2.loads(_payload_of(shown["token"])))
    wrong = await verify_online(client, partner, presentation=fake)
    assert wrong["result"] == "invalid" and wrong["reason"] == "unknown_key"
    # Signed by another key under the issuer's kid: bad signature.
    kid = list(keys)[0].kid
    impostor = await verify_online(client, partner, presentation=_cose_sign1(other, kid.encode(),
                                                                             cbor2.loads(_payload_of(shown["token"]))))
    assert impostor["reason"] == "bad_signature"
    # Expired: a real issuer key, a lifetime that ended a minute ago.
    claims = cbor2.loads(_payload_of((await present(client, company, licence["id"]))["token"]))
    claims[6], claims[4] = int(time.time()) - 300, int(time.time()) - 180
    expired = await verify_online(client, inspector, presentation=_cose_sign1(*_issuer_signing_key(), claims))
    assert expired["result"] == "invalid" and expired["reason"] == "presentation_expired"
    garbage = await verify_online(client, inspector, presentation="LR1:%%%")
    assert garbage["reason"] == "malformed"

    # Anyone may check a presentation (the record names who: the caller, or "anonymous" without a token);
    # a bad token is refused. Bad bodies: nothing recorded as a verification for them.
    r = await client.post("/v1/verifications", json={"presentation": shown["token"]}, headers=bearer(company))
    assert r.status_code == 200 and r.json()["reason"] == "replayed"
    assert (await client.post("/v1/verifications", json={"presentation": shown["token"]})).json()["reason"] == "replayed"
    assert (await client.post("/v1/verifications", json={"presentation": shown["token"]},
                              headers=bearer("not-a-token"))).status_code == 401
    for body in ({}, {"presentation": "x", "credential": "y"}, {"presentation": 5}, {"unknown": 1}):
        r = await client.post("/v1/verifications", json=body, headers=bearer(inspector))
        assert r.status_code == 422, (body, r.text)

    # Status: suspended, reinstated, revoked — each seen online and in the status list.
    lid = licence["id"]
    r = await client.post(f"/v1/licences/{lid}/suspend", json={}, headers=bearer(reviewer))
    assert r.status_code == 422  # a reason is required
    assert (await client.post(f"/v1/licences/{lid}/suspend", json={"reason": "x"}, headers=bearer(company))).status_code == 403
    assert (await client.get(f"/v1/licences/{lid}", headers=bearer(company))).json()["status"] == "active"
    assert (await client.post(f"/v1/licences/{lid}/reinstate", json={"reason": "x"}, headers=bearer(reviewer))).status_code == 409
    pending = await present(client, company, lid)
    r = await client.post(f"/v1/licences/{lid}/suspend", json={"reason": "运输车辆未按规定路线行驶"}, headers=bearer(reviewer))
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert (await verify_online(client, inspector, presentation=pending["token"]))["result"] == "suspended"
    assert (await client.post(f"/v1/licences/{lid}/presentations", headers=bearer(company))).status_code == 409
    assert await status_of(client, keys, payload[65535]["status_list"]["uri"], payload[65535]["status_list"]["idx"]) == 2
    assert (await client.post(f"/v1/licences/{lid}/reinstate", json={"reason": "已整改"}, headers=bearer(reviewer))).status_code == 200
    assert await status_of(client, keys, payload[65535]["status_list"]["uri"], payload[65535]["status_list"]["idx"]) == 0
    pending = await present(client, company, lid)
    assert (await client.post(f"/v1/licences/{lid}/revoke", json={"reason": "以欺骗手段取得"}, headers=bearer(reviewer))).status_code == 200
    assert (await verify_online(client, inspector, presentation=pending["token"]))["result"] == "revoked"
    assert (await verify_online(client, partner, credential=licence["credential"]))["result"] == "revoked"
    assert await status_of(client, keys, payload[65535]["status_list"]["uri"], payload[65535]["status_list"]["idx"]) == 1
    assert (await client.post(f"/v1/licences/{lid}/reinstate", json={"reason": "x"}, headers=bearer(reviewer))).status_code == 409
    history = (await client.get(f"/v1/licences/{lid}/history", headers=bearer(company))).json()
    assert [s["to_status"] for s in history["statuses"]] == ["active", "suspended", "active", "revoked"]
    assert history["statuses"][1]["reason"] == "运输车辆未按规定路线行驶"


def _payload_of(qr_text: str) -> bytes:
    sign1 = cbor2.loads(base45.b45decode(qr_text[4:]))
    return (sign1.value if isinstance(sign1, cbor2.CBORTag) else sign1)[2]


def _cose_sign1(private: ec.EllipticCurvePrivateKey, kid: bytes, claims: dict[int, Any]) -> str:
    """A COSE_Sign1 CWT made here with cbor2 and cryptography (RFC 9052), as a forger or partner would."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    protected = cbor2.dumps({1: -7, 4: kid})
    payload = cbor2.dumps(claims)
    r, s = decode_dss_signature(private.sign(cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA256())))
    token = cbor2.dumps(cbor2.CBORTag(61, cbor2.CBORTag(18, [protected, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")])))
    return "LR1:" + base45.b45encode(token).decode()


def _issuer_signing_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    pem = sorted(KEY_DIR.glob("*.pem"))[-1].read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private, ECKey.import_key(pem).thumbprint()[:8].encode()


async def test_versions_change_renewal_and_superseded_credential(client, token) -> None:
    company, reviewer, partner = await token("applicant-company"), await token("reviewer"), await partner_token(client, "partner-zj")
    _, licence = await approved_licence(client, token, code="LR-XK-013", seed=503)
    lid = licence["id"]
    for body in ({"kind": "change", "reason": "车辆增加"}, {"kind": "renewal", "reason": "延续"},
                 {"kind": "change", "reason": "x", "data_changes": {"a": 1}, "valid_until": "2099-01-01T00:00:00+08:00"},
                 {"kind": "cancel", "reason": "x"}):
        r = await client.post(f"/v1/licences/{lid}/versions", json=body, headers=bearer(reviewer))
        assert r.status_code == 422, (body, r.text)
    assert (await client.post(f"/v1/licences/{lid}/versions", json={"kind": "reissue", "reason": "x"},
                              headers=bearer(company))).status_code == 403
    shown_before = await present(client, company, lid)
    r = await client.post(f"/v1/licences/{lid}/versions", json={"kind": "change", "reason": "车辆增加",
                                                                "data_changes": {"vehicle_count": 12}},
                          headers=bearer(reviewer))
    assert r.status_code == 201, r.text
    changed = r.json()
    assert changed["version"] == 2 and changed["identifier"].split(".")[-2] == "002" and changed["data"]["vehicle_count"] == 12
    later = (dt.datetime.fromisoformat(licence["valid_until"]) + dt.timedelta(days=365)).isoformat()
    r = await client.post(f"/v1/licences/{lid}/versions", json={"kind": "renewal", "reason": "延续", "valid_until": later},
                          headers=bearer(reviewer))
    assert r.status_code == 201 and r.json()["version"] == 3
    history = (await client.get(f"/v1/licences/{lid}/history", headers=bearer(company))).json()
    assert [(v["version"], v["kind"]) for v in history["versions"]] == [(1, "issue"), (2, "change"), (3, "renewal")]
    # The first credential still verifies cryptographically but names a superseded version.
    assert (await verify_online(client, partner, credential=licence["credential"]))["reason"] == "superseded"
    assert (await verify_online(client, partner, presentation=shown_before["token"]))["reason"] == "superseded"
    current = (await client.get(f"/v1/licences/{lid}", headers=bearer(company))).json()
    assert (await verify_online(client, partner, credential=current["credential"]))["result"] == "valid"
    # A forged credential: the payload altered, the signature kept.
    head, body, sig = current["credential"].split("~")[0].split(".")
    claims = json.loads(b64url_decode(body))
    claims["valid_until"] = "2099-12-31T00:00:00+00:00"
    tampered = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig]) + "~"
    assert (await verify_online(client, partner, credential=tampered))["reason"] == "bad_signature"


async def test_live_data_of_a_disposal_certificate(client, token) -> None:
    company, inspector, person = await token("applicant-company"), await token("inspector"), await token("applicant-person")
    _, licence = await approved_licence(client, token, seed=504, form={"waste_volume_m3": 100})
    lid = licence["id"]
    for body in ({"vehicle_plate": "沪A1234", "volume_m3": 5}, {"vehicle_plate": "沪A12345", "volume_m3": 0},
                 {"vehicle_plate": "沪A12345"}, {"vehicle_plate": "沪A12345", "volume_m3": "abc"}):
        assert (await client.post(f"/v1/licences/{lid}/disposals", json=body, headers=bearer(company))).status_code == 422
    r = await client.post(f"/v1/licences/{lid}/disposals", json={"vehicle_plate": "沪A12345", "volume_m3": "30.5"},
                          headers=bearer(company))
    assert r.status_code == 201 and r.json()["quota_used_m3"] == "30.50"
    r = await client.post(f"/v1/licences/{lid}/disposals", json={"vehicle_plate": "沪B54321", "volume_m3": 80},
                          headers=bearer(company))
    assert r.status_code == 409  # over the approved quota: not recorded
    assert (await client.post(f"/v1/licences/{lid}/disposals", json={"vehicle_plate": "沪B54321", "volume_m3": 9},
                              headers=bearer(person))).status_code == 404
    handle = (await client.post(f"/v1/licences/{lid}/data-handles", headers=bearer(company))).json()
    assert handle["url"].endswith(f"/app/verify#data={handle['handle']}") and decode_qr_png(handle["qr_png"]) == handle["url"]
    assert (await client.post(f"/v1/verifications/data/{handle['handle']}", headers=bearer(person))).status_code == 403
    r = await client.post(f"/v1/verifications/data/{handle['handle']}", headers=bearer(inspector))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["quota_used_m3"] == "30.50" and data["vehicles_in_service"] == ["沪A12345"] and data["disposal_site"]
    again = await client.post(f"/v1/verifications/data/{handle['handle']}", headers=bearer(inspector))
    assert again.status_code == 409 and again.json()["reason"] == "replayed"
    assert (await client.post("/v1/verifications/data/unknownhandle000", headers=bearer(inspector))).status_code == 404
    seen = (await client.get(f"/v1/licences/{lid}/data-handles", headers=bearer(company))).json()["items"]
    assert seen[0]["redeemed_by"] == "u-inspector" and seen[0]["redeemed_by_name"]
    # 亮数 is for the disposal certificate only.
    _, other = await approved_licence(client, token, code="LR-XK-007", seed=505)
    assert (await client.post(f"/v1/licences/{other['id']}/data-handles", headers=bearer(company))).status_code == 409


async def test_grants_delegation_revocation_and_audited_fetches(suite, client, token) -> None:
    company, person = await token("applicant-company"), await token("applicant-person")
    zj, js = await partner_token(client, "partner-zj"), await partner_token(client, "partner-js")
    _, licence = await approved_licence(client, token, code="LR-XK-005", seed=506)
    lid = licence["id"]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    # Strangers see nothing, with or without a reason.
    assert (await client.get(f"/v1/licences/{lid}", headers={**bearer(person), "X-Use-Cause": "test"})).status_code == 404
    for body in ({"licence_id": lid, "grantee": {}, "purpose": "p", "valid_until": until},
                 {"licence_id": lid, "grantee": {"subject": "a", "province": "ZJ"}, "purpose": "p", "valid_until": until},
                 {"licence_id": lid, "grantee": {"subject": "u-applicant-person"}, "purpose": "", "valid_until": until},
                 {"licence_id": lid, "grantee": {"subject": "u-applicant-person"}, "purpose": "p",
                  "valid_until": "2020-01-01T00:00:00+08:00"},
                 {"licence_id": lid, "grantee": {"org_code": "913101150000000000"}, "purpose": "p", "valid_until": until}):
        r = await client.post("/v1/grants", json=body, headers=bearer(company))
        assert r.status_code == 422, (body, r.text)
    assert (await client.post("/v1/grants", json={"licence_id": lid, "grantee": {"subject": "u-applicant-person"},
                                                  "purpose": "p", "valid_until": until},
                              headers=bearer(person))).status_code == 404  # not the holder
    assert (await client.get("/v1/grants", params={"licence_id": lid, "include_revoked": "true"},
                             headers=bearer(company))).json()["items"] == []  # nothing written by the refusals
    r = await client.post("/v1/grants", json={"licence_id": lid, "grantee": {"subject": "u-applicant-person"},
                                              "purpose": "公司经办人办理店招备案", "valid_until": until, "delegable": True},
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    parent = r.json()
    # A fetch without a reason is refused and nothing is recorded.
    r = await client.get(f"/v1/licences/{lid}", headers=bearer(person))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "use_cause"
    assert (await client.get(f"/v1/licences/{lid}/fetches", headers=bearer(company))).json()["items"] == []
    r = await client.get(f"/v1/licences/{lid}", params={"use_cause": "办理户外招牌设置备案"}, headers=bearer(person))
    assert r.status_code == 200 and r.json()["holder_code"] != COMPANY_USCC and "*" in r.json()["holder_code"]
    assert r.json()["credential"] is None
    # One level of delegation, within the parent's period; not further.
    too_long = (dt.datetime.now(dt.UTC) + dt.timedelta(days=60)).isoformat()
    base = {"licence_id": lid, "grantee": {"province": "ZJ"}, "purpose": "跨省核验", "parent_grant_id": parent["id"]}
    assert (await client.post("/v1/grants", json={**base, "valid_until": too_long}, headers=bearer(person))).status_code == 422
    assert (await client.post("/v1/grants", json={**base, "valid_until": until, "delegable": True},
                              headers=bearer(person))).status_code == 422
    r = await client.post("/v1/grants", json={**base, "valid_until": until}, headers=bearer(person))
    assert r.status_code == 201, r.text
    child = r.json()
    r = await client.post("/v1/grants", json={**base, "grantee": {"province": "AH"}, "parent_grant_id": child["id"],
                                              "valid_until": until}, headers=bearer(zj))
    assert r.status_code == 403  # the delegated grant cannot be delegated again
    r = await client.get(f"/v1/licences/{lid}", headers={**bearer(zj), "X-Use-Cause": "cross-province%20check"})
    assert r.status_code == 200
    assert (await client.get(f"/v1/licences/{lid}", headers={**bearer(js), "X-Use-Cause": "x"})).status_code == 404
    # The grant's scope is the licence's fields, not its printable copy.
    assert (await client.get(f"/v1/licences/{lid}/pdf", headers={**bearer(zj), "X-Use-Cause": "x"})).status_code == 404
    r = await client.post("/v1/grants", json={"licence_id": lid, "grantee": {"province": "JS"}, "purpose": "纸质存档",
                                              "scope": ["pdf"], "valid_until": until}, headers=bearer(company))
    assert r.status_code == 201
    r = await client.get(f"/v1/licences/{lid}/pdf", headers={**bearer(js), "X-Use-Cause": "archive"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert (await client.get(f"/v1/licences/{lid}", headers={**bearer(js), "X-Use-Cause": "x"})).status_code == 404
    fetches = (await client.get(f"/v1/licences/{lid}/fetches", headers=bearer(company))).json()["items"]
    assert [(f["fetched_by"], f["use_cause"]) for f in fetches] == [("c-partner-js", "archive"),
                                                                    ("c-partner-zj", "cross-province check"),
                                                                    ("u-applicant-person", "办理户外招牌设置备案")]
    # Revoking the parent revokes the delegation too: both lose access at once.
    # A partner's token reads what was granted to it and writes no grant at all (licences:write).
    r = await client.delete(f"/v1/grants/{parent['id']}", headers=bearer(zj))
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["licences:write"]
    assert (await client.delete(f"/v1/grants/{parent['id']}", headers=bearer(person))).status_code == 403  # grantee only
    assert (await client.delete(f"/v1/grants/{parent['id']}", headers=bearer(company))).status_code == 204
    assert (await client.delete(f"/v1/grants/{parent['id']}", headers=bearer(company))).status_code == 204
    for tok in (person, zj):
        assert (await client.get(f"/v1/licences/{lid}", headers={**bearer(tok), "X-Use-Cause": "again"})).status_code == 404
    listed = (await client.get("/v1/grants", params={"licence_id": lid, "include_revoked": "true"},
                               headers=bearer(company))).json()["items"]
    assert {g["id"] for g in listed if g["revoked_at"]} == {parent["id"], child["id"]}
    # The audit log holds the fetches, hash-chained, and the chain verifies.
    ops = await token("ops")
    entries = (await client.get("/v1/audit/licences/entries", params={"resource_id": lid}, headers=bearer(ops))).json()
    assert [e["action"] for e in entries["items"]].count("licence.fetch") == 2
    assert all(e["owner_subject"] == "u-applicant-company" for e in entries["items"] if e["action"] == "licence.fetch")
    # Staff list a holder's licences masked, and the listing is audited; an applicant lists only their own.
    officer = await token("officer")
    listed = (await client.get("/v1/licences", params={"holder": "u-applicant-company"}, headers=bearer(officer))).json()
    assert listed["items"] and all("*" in x["holder_code"] and x["credential"] is None for x in listed["items"])
    assert (await client.get("/v1/licences", params={"holder": "u-applicant-company"},
                             headers=bearer(person))).status_code == 404
    lists = (await client.get("/v1/audit/licences/entries", params={"resource_id": "u-applicant-company",
                                                                    "action": "licence.list"}, headers=bearer(ops))).json()
    assert lists["items"][0]["actor_subject"] == "u-officer"
    assert (await client.get("/v1/audit/licences/verify", headers=bearer(ops))).json()["valid"] is True


def _partner_credential(private: ec.EllipticCurvePrivateKey, kid: str, issuer: str, type_code: str,
                        exp_days: int = 365) -> str:
    """A partner province's own SD-JWT VC, made with the sd-jwt reference library and its own key."""
    from jwcrypto.jwk import JWK
    from sd_jwt.common import SDObj
    from sd_jwt.issuer import SDJWTIssuer

    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now = int(time.time())
    claims = {"iss": issuer, "iat": now, "nbf": now - 60, "exp": now + exp_days * 86400, "vct": f"{issuer}/vct/{type_code}",
              "licence_identifier": f"1.2.156.3005.2.{type_code}.X.{uuid.uuid4().int % 10**8:08d}.001.0",
              "licence_type_code": type_code, SDObj("holder_name"): "江苏某苗木公司"}
    return SDJWTIssuer(claims, JWK.from_pem(pem), sign_alg="ES256",
                       extra_header_parameters={"typ": "dc+sd-jwt", "kid": kid}).sd_jwt_issuance


async def test_trust_list_and_recognition_both_ways(client, token) -> None:
    ops, officer, company = await token("ops"), await token("officer"), await token("applicant-company")
    zj = await partner_token(client, "partner-zj")
    # A simulated partner (Jiangsu) with its own key.
    partner_key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = ECKey.import_key(partner_key.public_key()).as_dict(private=False)
    public_jwk["kid"] = "js-2026"
    issuer = f"https://ly.jiangsu.example.gov.cn/{uuid.uuid4().hex[:6]}"
    entry = {"province": "JS", "name": "江苏省林业局", "issuer": issuer, "jwks": {"keys": [public_jwk]},
             "document_types": ["1132YD001"], "valid_from": "2026-01-01T00:00:00+08:00",
             "valid_until": "2030-01-01T00:00:00+08:00"}
    assert (await client.post("/v1/trust-list/issuers", json=entry, headers=bearer(officer))).status_code == 403
    assert (await client.post("/v1/trust-list/issuers", json=entry)).status_code == 401
    for bad in ({**entry, "jwks": {"keys": []}}, {**entry, "jwks": {"keys": [{"kty": "EC"}]}},
                {**entry, "valid_until": "2025-01-01T00:00:00+08:00"}, {**entry, "province": "XX"}):
        assert (await client.post("/v1/trust-list/issuers", json=bad, headers=bearer(ops))).status_code == 422
    r = await client.post("/v1/trust-list/issuers", json=entry, headers=bearer(ops))
    assert r.status_code == 201, r.text
    assert (await client.post("/v1/trust-list/issuers", json=entry, headers=bearer(ops))).status_code == 409
    # Published, signed, fetched without a token, verified with joserfc and our published keys.
    published = (await client.get("/v1/trust-list")).json()
    keys = await issuer_keys(client)
    document = jwt.decode(published["document"], keys, algorithms=["ES256"])
    assert issuer in [i["issuer"] for i in document.claims["issuers"]]

    def recognise(doc: str) -> Any:
        return client.post("/v1/recognitions", json={"document": doc}, headers=bearer(officer))

    theirs = _partner_credential(partner_key, "js-2026", issuer, "1132YD001")
    r = await recognise(theirs)
    assert r.status_code == 200 and r.json()["result"] == "recognised" and r.json()["province"] == "JS", r.text
    forger = ec.generate_private_key(ec.SECP256R1())
    assert (await recognise(_partner_credential(forger, "js-2026", issuer, "1132YD001"))).json()["reason"] == "bad_signature"
    assert (await recognise(_partner_credential(partner_key, "js-2025", issuer, "1132YD001"))).json()["reason"] == "unknown_key"
    assert (await recognise(_partner_credential(partner_key, "js-2026", issuer + "x", "1132YD001"))).json()["reason"] == "unknown_issuer"
    assert (await recognise(_partner_credential(partner_key, "js-2026", issuer, "1132XK999"))).json()["reason"] == "document_type_not_recognised"
    assert (await recognise(_partner_credential(partner_key, "js-2026", issuer, "1132YD001", exp_days=-1))).json()["reason"] == "expired"
    assert (await recognise("not.a.document")).json()["reason"] == "malformed"
    assert (await client.post("/v1/recognitions", json={"document": theirs}, headers=bearer(company))).status_code == 403
    listed = (await client.get("/v1/recognitions", headers=bearer(officer))).json()["items"]
    assert [x["result"] for x in listed[:7]] == ["refused"] * 6 + ["recognised"]

    # Ours to them: a year-long quarantine requirement document, shipments under it, verified by the partner.
    year = dt.datetime.now(dt.UTC).year
    body = {"holder_subject": "u-applicant-company", "holder_name": "上海演示绿化工程有限公司", "holder_code": COMPANY_USCC,
            "year": year, "plant_species": ["香樟"], "origin": "上海市浦东新区", "destination_provinces": ["JS", "ZJ"]}
    for bad in ({**body, "holder_code": "913101150000000000"}, {**body, "year": 2019}, {**body, "destination_provinces": []}):
        assert (await client.post("/v1/licences/quarantine-documents", json=bad, headers=bearer(officer))).status_code == 422
    assert (await client.post("/v1/licences/quarantine-documents", json=body, headers=bearer(company))).status_code == 403
    held = (await client.get("/v1/licences", params={"type_code": "1131YD001"}, headers=bearer(company))).json()["items"]
    r = await client.post("/v1/licences/quarantine-documents", json=body, headers=bearer(officer))
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["licence_type_code"] == "1131YD001" and doc["valid_until"].startswith(f"{year}-12-31")
    after = (await client.get("/v1/licences", params={"type_code": "1131YD001"}, headers=bearer(company))).json()["items"]
    assert len(after) == len(held) + 1  # the refused requests wrote nothing
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    shipment = {"plant_name": "香樟", "quantity": "200", "destination_province": "ZJ", "shipped_on": today}
    assert (await client.post(f"/v1/licences/{doc['id']}/shipments", json=shipment, headers=bearer(company))).status_code == 201
    assert (await client.post(f"/v1/licences/{doc['id']}/shipments", json={**shipment, "destination_province": "AH"},
                              headers=bearer(company))).status_code == 422
    assert (await client.post(f"/v1/licences/{doc['id']}/shipments", json={**shipment, "shipped_on": f"{year + 1}-01-02"},
                              headers=bearer(company))).status_code == 409
    own = (await client.get(f"/v1/licences/{doc['id']}", headers=bearer(company))).json()
    assert (await verify_online(client, zj, credential=own["credential"]))["result"] == "valid"
    assert verify_sd_jwt(own["credential"], keys)["data"]["destination_provinces"] == ["JS", "ZJ"]
    shipped = (await client.get(f"/v1/licences/{doc['id']}/shipments", headers=bearer(zj))).json()["items"]
    assert [s["destination_province"] for s in shipped] == ["ZJ"]


async def test_expiry_reminder_visible_to_the_holder_once(suite, client, token) -> None:
    company, person = await token("applicant-company"), await token("applicant-person")
    end = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date() + dt.timedelta(days=20)).isoformat()
    _, licence = await approved_licence(client, token, seed=508, form={"end_date": end})

    async def sent() -> list[dict[str, Any]]:
        return (await client.get(f"/v1/licences/{licence['id']}/history", headers=bearer(company))).json()["reminders"]

    reminded = await eventually(sent, lambda r: len(r) >= 1, "the 30-day reminder")
    await ticked(suite, "licences", "licences.expiry-reminders", ticks=3)  # three more ticks: nothing more is sent
    assert [r["days_before"] for r in await sent()] == [30] and reminded[0]["version"] == 1
    assert (await client.get(f"/v1/licences/{licence['id']}/history", headers=bearer(person))).status_code == 404


def _kid(qr_text: str) -> str:
    sign1 = cbor2.loads(base45.b45decode(qr_text[4:]))
    while isinstance(sign1, cbor2.CBORTag):
        sign1 = sign1.value
    return (cbor2.loads(sign1[0]).get(4) or sign1[1][4]).decode()


def _write_key(activates: dt.datetime, label: str) -> str:
    """What ops do to rotate: drop a new PEM named by its activation time into the key directory."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (KEY_DIR / f"{activates.strftime('%Y%m%dT%H%M%SZ')}-{label}.pem").write_bytes(pem)
    return ECKey.import_key(pem).thumbprint()[:8]


async def test_key_rotation_next_key_published_ahead_old_kept(client, token) -> None:
    """Runs last in this file: it changes the signing key."""
    company, inspector = await token("applicant-company"), await token("inspector")
    meta = (await client.get("/.well-known/jwt-vc-issuer")).json()
    assert meta["issuer"].startswith("http") and all(k["alg"] == "ES256" and "d" not in k for k in meta["jwks"]["keys"])
    _, licence = await approved_licence(client, token, seed=507)
    before = await present(client, company, licence["id"])
    old_kid = _kid(before["token"])
    # The next key, published a day ahead of its use: in the JWKS at once, not signing yet.
    upcoming = _write_key(dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "next")

    async def kids() -> set[str]:
        return {k["kid"] for k in (await client.get("/v1/licences/issuer/jwks.json")).json()["keys"]}

    await eventually(kids, lambda k: upcoming in k, "the next key being published")
    still = await present(client, company, licence["id"])
    assert _kid(still["token"]) == old_kid
    # A key active now takes over signing; presentations signed by the old key still verify.
    current = _write_key(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), "current")

    async def signer() -> str:
        shown = await present(client, company, licence["id"])
        return _kid(shown["token"])

    await eventually(signer, lambda kid: kid == current, "the new key signing")
    assert (await verify_online(client, inspector, presentation=before["token"]))["result"] == "valid"
    assert {old_kid, upcoming, current} <= await kids()


@pytest.fixture(scope="module")
def second_licences(suite) -> Any:
    """Another svc-licences process on the same database and keys, as a second replica would be."""
    with another_replica(suite.env, "licences", Path(tempfile.mkdtemp(prefix="lvrong-licences-2-"))) as url:
        yield url


async def test_checks_at_once_on_two_replicas_and_status_seen_by_both(suite, client, token, second_licences) -> None:
    """Checks are committed in batches: presentations checked at the same moment on two replicas (and
    twice on one) are each valid exactly once and every check is recorded; a suspension, a revocation
    and an expiry made through one replica are what the next check on the other answers."""
    company, reviewer = await token("applicant-company"), await token("reviewer")
    _, licence = await approved_licence(client, token, seed=507)
    lid = licence["id"]
    shown = [(await present(client, company, lid))["token"] for _ in range(8)]
    async with httpx.AsyncClient(base_url=second_licences, timeout=30) as other:
        async def check(via: httpx.AsyncClient, presentation: str) -> dict[str, Any]:
            r = await via.post("/v1/verifications", json={"presentation": presentation})
            assert r.status_code == 200, r.text
            return dict(r.json())

        conn = await suite.db("licences")
        try:
            recorded_before = await conn.fetchval("SELECT count(*) FROM verifications WHERE licence_id = $1", lid)
            answers = await asyncio.gather(*(check(via, p) for p in shown for via in (client, other, client)))
            for i in range(len(shown)):
                reasons = sorted(a["reason"] or a["result"] for a in answers[3 * i:3 * i + 3])
                assert reasons == ["replayed", "replayed", "valid"], reasons
            assert await conn.fetchval("SELECT count(*) FROM verifications WHERE licence_id = $1",
                                       lid) == recorded_before + 3 * len(shown)

            # Made while active, checked on the other replica after each change through the gateway's.
            pending = [(await present(client, company, lid))["token"] for _ in range(3)]
            r = await client.post(f"/v1/licences/{lid}/suspend", json={"reason": "抽查"}, headers=bearer(reviewer))
            assert r.status_code == 200, r.text
            assert (await check(other, pending[0]))["result"] == "suspended"
            assert (await client.post(f"/v1/licences/{lid}/reinstate", json={"reason": "已整改"},
                                      headers=bearer(reviewer))).status_code == 200
            assert (await check(other, pending[1]))["result"] == "valid"
            assert (await client.post(f"/v1/licences/{lid}/revoke", json={"reason": "以欺骗手段取得"},
                                      headers=bearer(reviewer))).status_code == 200
            revoked = await asyncio.gather(check(other, pending[2]), check(client, pending[2]), check(other, shown[0]))
            assert [a["result"] for a in revoked] == ["revoked"] * 3

            # A licence whose validity ended a moment ago: expired on both, before any expiry tick marks it.
            _, ending = await approved_licence(client, token, seed=508)
            to_check = [(await present(client, company, ending["id"]))["token"] for _ in range(2)]
            await conn.execute("UPDATE licences SET valid_until = now() - interval '1 second' WHERE id = $1",
                               ending["id"])
            assert [(await check(via, p))["result"] for via, p in zip((other, client), to_check, strict=True)] == ["expired"] * 2
        finally:
            await conn.close()
