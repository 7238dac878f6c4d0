"""国密 through the gateway: a licence's SM2 document and an SM2 亮证 verified offline with gmssl (an
SM2 implementation we did not write, pure Python) from nothing but the keys published at
``/.well-known/sm2-keys.json``, fetched without a token, and rfc8785 for the canonical form; and both
verified online, with the refusals."""
from __future__ import annotations

import base64
import copy
from typing import Any

import base45
import cbor2
import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gmssl import sm2 as gmssl_sm2

from support import approved_licence, bearer

pytestmark = pytest.mark.integration


async def published_sm2_keys(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    meta = (await client.get("/.well-known/jwt-vc-issuer")).json()  # no token: public
    assert meta["sm2_keys_uri"].endswith("/.well-known/sm2-keys.json")
    r = await client.get("/.well-known/sm2-keys.json")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    body = r.json()
    assert body["issuer"] == meta["issuer"] and body["keys"]
    for key in body["keys"]:
        assert (key["alg"], key["curve"], key["hash"]) == ("SM2", "sm2p256v1", "SM3") and "PRIVATE" not in str(key)
    return {k["kid"]: k for k in body["keys"]}


def gmssl_verifies(key: dict[str, Any], der_signature: bytes, data: bytes) -> bool:
    """gmssl only: the published point (04‖x‖y) and the default signer id (which the key must declare)."""
    assert key["signer_id"] == "1234567812345678"
    checker = gmssl_sm2.CryptSM2(private_key="", public_key=key["public_key"][2:], asn1=True)
    return bool(checker.verify_with_sm3(der_signature.hex(), data))


async def verify_online(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/verifications", json=body)  # anyone, no token
    assert r.status_code == 200, r.text
    return r.json()


async def test_sm2_document_and_sm2_presentation_verified_with_gmssl_from_the_published_key(client, token) -> None:
    company = await token("applicant-company")
    _, licence = await approved_licence(client, token, seed=519)
    keys = await published_sm2_keys(client)

    # The licence's SM2 document: the signature over the JCS form of the document without it.
    document = licence["sm2_document"]
    assert document["typ"] == "lvrong-licence+sm2" and document["alg"] == "SM2"
    assert document["licence"]["licence_identifier"] == licence["identifier"]
    signed = rfc8785.dumps({k: v for k, v in document.items() if k != "signature"})
    signature = base64.b64decode(document["signature"])
    assert gmssl_verifies(keys[document["kid"]], signature, signed)
    tampered = copy.deepcopy(document)
    tampered["licence"]["holder_name"] = "别人"
    assert not gmssl_verifies(keys[document["kid"]], signature,
                              rfc8785.dumps({k: v for k, v in tampered.items() if k != "signature"}))
    # Only the holder sees it.
    other = await token("applicant-person")
    assert (await client.get(f"/v1/licences/{licence['id']}", headers=bearer(other))).status_code == 404

    # Online, without a token.
    ok = await verify_online(client, sm2_document=document)
    assert ok["result"] == "valid" and ok["licence"]["identifier"] == licence["identifier"]
    assert (await verify_online(client, sm2_document=tampered))["reason"] == "bad_signature"
    assert (await verify_online(client, sm2_document={**document, "kid": "nokey000"}))["reason"] == "unknown_key"
    r = await client.post("/v1/verifications", json={"sm2_document": document, "credential": licence["credential"]})
    assert r.status_code == 422

    # SM2 亮证: LS1: + base45 COSE_Sign1, SM2 over the Sig_structure with the empty protected header and
    # the external AAD "LS1:SM2-with-SM3"; r‖s in the token, DER for gmssl.
    r = await client.post(f"/v1/licences/{licence['id']}/presentations", params={"algorithm": "SM2"},
                          headers=bearer(company))
    assert r.status_code == 201, r.text
    shown = r.json()
    assert shown["algorithm"] == "SM2" and shown["token"].startswith("LS1:") and shown["qr_version"] <= 12
    sign1 = cbor2.loads(base45.b45decode(shown["token"][4:]))
    assert sign1.tag == 18
    protected, unprotected, payload, raw = sign1.value
    to_be_signed = cbor2.dumps(["Signature1", protected, b"LS1:SM2-with-SM3", payload])
    r_value, s_value = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    der = encode_dss_signature(r_value, s_value)
    assert gmssl_verifies(keys[unprotected[4].decode()], der, to_be_signed)
    assert cbor2.loads(payload)[-65537] == licence["identifier"]
    assert (await verify_online(client, presentation=shown["token"]))["result"] == "valid"
    assert (await verify_online(client, presentation=shown["token"]))["reason"] == "replayed"
    bad = await client.post(f"/v1/licences/{licence['id']}/presentations", params={"algorithm": "RSA"},
                            headers=bearer(company))
    assert bad.status_code == 422
