"""The gateway as a front-end meets it: health, docs, tokens, and refusals."""
from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from support import bearer

pytestmark = pytest.mark.integration


async def test_every_service_is_healthy_ready_and_measured(suite) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        for service in ("matters", "prequal", "licences", "helpdesk", "knowledge", "notifications", "booking"):
            base = suite.direct(service)
            assert (await c.get(base + "/healthz")).json() == {"status": "ok", "service": service}
            ready = await c.get(base + "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["bus"] == "ok"
            metrics = await c.get(base + "/metrics")
            assert "lvrong_http_requests_total" in metrics.text
        gateway_ready = await c.get(suite.gateway + "/readyz")
        assert gateway_ready.status_code == 200
        assert set(gateway_ready.json()["services"]) == {"matters", "prequal", "licences", "helpdesk", "knowledge",
                                                         "notifications", "booking"}


async def test_merged_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/v1/matters", "/v1/matters/{code}", "/v1/applications", "/v1/applications/{application_id}",
                 "/v1/applications/{application_id}/timeline", "/v1/prequal/applications/{application_id}/verdicts",
                 "/auth/token"):
        assert path in paths, path
    assert "/healthz" not in paths or paths["/healthz"].get("get", {}).get("x-upstream") is None
    assert paths["/v1/applications"]["post"]["x-upstream"] == "matters"
    assert "422" in paths["/v1/applications"]["post"]["responses"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "x-lvrong-unavailable" not in spec
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient, token) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and all(k["kty"] == "EC" and k["alg"] == "ES256" and "d" not in k for k in jwks["keys"])
    header = jwt.get_unverified_header(await token("officer"))
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "password", "username": "applicant-person", "password": "wrong"}, 400, "invalid_grant"),
    ({"grant_type": "password", "username": "nobody", "password": "demo"}, 400, "invalid_grant"),
    ({"grant_type": "client_credentials", "client_id": "partner-js", "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
    ({"grant_type": "password", "username": "applicant-person", "password": "demo", "scope": "ops:write"}, 400,
     "invalid_scope"),
])
async def test_token_endpoint_refusals(client: httpx.AsyncClient, form: dict, status: int, error: str) -> None:
    r = await client.post("/auth/token", data=form)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["error"] == error


async def test_token_endpoint_without_grant_type_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/token", data={"username": "officer"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "grant_type"


async def test_partner_client_credentials_get_only_partner_scopes(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "partner-zj",
                                               "client_secret": "demo"})
    assert r.status_code == 200
    body = r.json()
    assert set(body["scope"].split()) == {"licences:read", "licences:verify", "recognition:read", "partner:read",
                                          "partner:write", "booking:read", "booking:write"}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["partner"] and claims["province"] == "ZJ" and claims["client_id"] == "partner-zj"
    assert r.headers["cache-control"] == "no-store"


def _forged(kid: str, key: ec.EllipticCurvePrivateKey, **claims) -> str:
    now = int(time.time())
    payload = {"iss": "x", "aud": "lvrong", "sub": "u-applicant-person", "iat": now, "exp": now + 600,
               "roles": ["applicant"], "subject_kind": "person", **claims}
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


async def test_bad_tokens_are_refused_by_the_gateway_and_by_the_service(suite, client, token) -> None:
    issuer = suite.env["AUTH_ISSUER"]
    kid = jwt.get_unverified_header(await token("officer"))["kid"]
    key_file = next((suite.log_dir / "dev-issuer").glob("*.pem"))
    real_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    other_key = ec.generate_private_key(ec.SECP256R1())
    bad = {
        "missing": None,
        "garbage": "not-a-jwt",
        "other key, same kid": _forged(kid, other_key, iss=issuer),
        "unknown kid": _forged("no-such-kid", real_key, iss=issuer),
        "expired": _forged(kid, real_key, iss=issuer, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "wrong issuer": _forged(kid, real_key, iss="https://evil.example"),
        "wrong audience": _forged(kid, real_key, iss=issuer, aud="someone-else"),
        "alg none": jwt.encode({"sub": "x", "iss": issuer, "aud": "lvrong", "exp": int(time.time()) + 60}, None,
                               algorithm="none"),
    }
    async with httpx.AsyncClient(timeout=10) as direct:
        for name, tok in bad.items():
            headers = bearer(tok) if tok else {}
            through_gateway = await client.get("/v1/matters", headers=headers)
            assert through_gateway.status_code == 401, name
            assert through_gateway.headers["content-type"].startswith("application/problem+json"), name
            assert through_gateway.headers["www-authenticate"].startswith("Bearer"), name
            # The service checks the token again itself: no trust in the gateway alone.
            at_service = await direct.get(suite.direct("matters") + "/v1/matters", headers=headers)
            assert at_service.status_code == 401, name


async def test_request_id_is_propagated_and_returned(client: httpx.AsyncClient, token) -> None:
    r = await client.get("/v1/matters", headers={**bearer(await token("officer")), "X-Request-ID": "front-end-req-0001"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "front-end-req-0001"
    generated = await client.get("/v1/matters", headers={**bearer(await token("officer")), "X-Request-ID": "bad id!"})
    assert generated.headers["x-request-id"] != "bad id!" and len(generated.headers["x-request-id"]) == 32


async def test_unrouted_path_is_a_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


async def test_routed_prefix_with_an_unknown_path_answers_the_services_404_problem(client: httpx.AsyncClient, token) -> None:
    r = await client.get("/v1/knowledge/no-such-resource/here", headers=bearer(await token("editor")))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title_en"] == "Not found"


async def test_oversized_body_is_refused_before_reaching_the_service(suite, token) -> None:
    # Declared too large: refused from the headers alone, the body is never read.
    reader, writer = await asyncio.open_connection("127.0.0.1", suite.ports["gateway"])
    writer.write((f"POST /v1/applications HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {await token('applicant-person')}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"413"
