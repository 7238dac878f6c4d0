"""Hostile and broken requests, through the gateway and straight at the services: malformed JSON,
wrong content types, huge bodies and numbers, NUL bytes, path traversal, SQL-injection and
header-injection strings, and expired, forged, unsigned and misdirected tokens. Each gets a clean
4xx problem+json (never a 5xx, never a stack trace or an internal host) and writes nothing."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from support import bearer

pytestmark = pytest.mark.integration

# Tables only a user's request writes (background work may add steps and outbox rows meanwhile).
WRITTEN_BY_REQUESTS = {
    "matters": ("applications", "idempotency_keys", "company_authorisations", "materials", "material_blobs", "bundles",
                "audit_log"),
    "prequal": ("rulesets", "prefills", "audit_log"),
}
INTERNAL_MARKERS = ("Traceback", "File \"/", "127.0.0.1", "localhost", "asyncpg", "sqlalchemy", "psycopg")


async def counts(suite) -> dict[str, int]:
    result = {}
    for service, tables in WRITTEN_BY_REQUESTS.items():
        conn = await suite.db(service)
        try:
            for table in tables:
                result[f"{service}.{table}"] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        finally:
            await conn.close()
    return result


def assert_clean_problem(response: httpx.Response, allowed: set[int], case: str) -> None:
    assert response.status_code in allowed, (case, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), (case, response.headers)
    body = response.json()
    assert body["status"] == response.status_code and body["title_zh"] and body["title_en"], case
    assert not any(marker in response.text for marker in INTERNAL_MARKERS), (case, response.text[:500])


async def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange on a socket, so nothing normalises the path or refuses the headers first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=15)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), timeout=15)) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        content = await asyncio.wait_for(reader.readexactly(length), timeout=15) if length else b""
        return int(status_line.split()[1]), headers, content
    finally:
        writer.close()


@pytest.fixture(scope="module")
async def applicant(token) -> str:
    return await token("applicant-person")


BAD_BODIES: list[tuple[str, str, bytes]] = [
    ("truncated JSON", "application/json", b'{"matter_code": "LR-XK-008", "form": {'),
    ("JSON array", "application/json", b"[1, 2, 3]"),
    ("JSON null", "application/json", b"null"),
    ("not JSON at all", "application/json", b"matter_code=LR-XK-008"),
    ("invalid UTF-8", "application/json", b'{"matter_code": "\xff\xfe", "form": {}}'),
    ("deeply nested", "application/json", b'{"matter_code": "LR-XK-008", "form": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"),
    ("number too large", "application/json", b'{"matter_code": "LR-XK-008", "form": {"tree_count": 1e400}}'),
    ("integer with 5000 digits", "application/json", b'{"matter_code": "LR-XK-008", "form": {"tree_count": ' + b"9" * 5000 + b"}}"),
    ("NaN", "application/json", b'{"matter_code": "LR-XK-008", "form": {"tree_count": NaN}}'),
    ("NUL byte in a value", "application/json", json.dumps({"matter_code": "LR-XK-008", "form": {"tree_species": "香\u0000樟"}}).encode()),
    ("NUL byte in a key", "application/json", json.dumps({"matter_code": "LR-XK-008", "form": {"tree\u0000species": "x"}}).encode()),
    ("huge string", "application/json", json.dumps({"matter_code": "LR-XK-008", "form": {"tree_species": "樟" * 2_000_000}}).encode()),
    ("text/plain", "text/plain", json.dumps({"matter_code": "LR-XK-008", "form": {}}).encode()),
    ("XML", "application/xml", b"<application><matter_code>LR-XK-008</matter_code></application>"),
    ("form-encoded", "application/x-www-form-urlencoded", b"matter_code=LR-XK-008&form=x"),
    ("multipart", "multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"matter_code\"\r\n\r\nLR-XK-008\r\n--xyz--\r\n"),
    ("no content type", "", json.dumps({"matter_code": "LR-XK-008", "form": {}}).encode()),
    ("SQL injection in the matter code", "application/json",
     json.dumps({"matter_code": "LR-XK-008' OR '1'='1'; DROP TABLE applications;--", "form": {}}).encode()),
    ("SQL injection in a form key", "application/json",
     json.dumps({"matter_code": "LR-XK-008", "form": {"x'); DELETE FROM applications;--": 1}}).encode()),
]


@pytest.mark.parametrize(("case", "content_type", "body"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_refused_and_write_nothing(suite, client, applicant, case: str, content_type: str,
                                                        body: bytes) -> None:
    before = await counts(suite)
    headers = bearer(applicant) | ({"Content-Type": content_type} if content_type else {})
    for target in (client, None):  # through the gateway, then straight at svc-matters
        if target is None:
            async with httpx.AsyncClient(base_url=suite.direct("matters"), timeout=30) as direct:
                r = await direct.post("/v1/applications", content=body, headers=headers)
        else:
            r = await target.post("/v1/applications", content=body, headers=headers | {"Idempotency-Key": case})
        assert_clean_problem(r, {400, 413, 415, 422}, case)
    assert await counts(suite) == before, case


async def test_a_body_over_the_limit_is_refused_with_413(suite, client, applicant) -> None:
    before = await counts(suite)
    padding = "x" * (26 * 1024 * 1024)
    r = await client.post("/v1/applications", content=json.dumps({"matter_code": "LR-XK-008", "form": {"p": padding}}),
                          headers=bearer(applicant) | {"Content-Type": "application/json"})
    assert_clean_problem(r, {413}, "26 MB body")
    assert await counts(suite) == before


TRAVERSALS = [
    "/v1/materials/..%2F..%2F..%2Fetc%2Fpasswd/content",
    "/v1/materials/%2e%2e/%2e%2e/etc/passwd",
    "/v1/applications/..%252F..%252Fetc%252Fpasswd",
    "/v1/applications/%2e%2e%5c%2e%2e%5cwindows%5cwin.ini/timeline",
    "/v1/matters/..%2F..%2Faudit%2Fmatters%2Fverify",
    "/v1/prequal/reviews/%00",
    "/v1/applications/1'%20OR%20'1'%3D'1",
    "/v1/matters/LR-XK-008';--/versions/1",
    "/v1/applications?status=submitted'%20OR%201%3D1--",
    "/v1/applications?from=2026-01-01'%3B%20DROP%20TABLE%20applications%3B--",
    "/v1/applications?limit=1e9",
    "/v1/applications?cursor=%00%00%00",
    "/v1/applications?cursor=eyJ0IjogIngnOyBEUk9QIFRBQkxFIGFwcGxpY2F0aW9uczstLSIsICJpZCI6IDF9",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_and_injection_in_paths_and_queries(suite, client, applicant, path: str) -> None:
    before = await counts(suite)
    r = await client.get(path, headers=bearer(applicant))
    assert_clean_problem(r, {400, 403, 404, 422}, path)
    assert await counts(suite) == before


RAW_PATHS = ["/v1/applications/../../../../etc/passwd", "/v1/matters/../audit/matters/verify",
             "/v1/../v1/audit/matters/verify", "/v1/materials/..\\..\\etc\\passwd"]


@pytest.mark.parametrize("path", RAW_PATHS)
async def test_dot_segments_sent_raw_never_reach_another_route(suite, applicant, path: str) -> None:
    status, headers, body = await raw_request(
        suite.ports["gateway"], f"GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {applicant}\r\n"
                                f"Connection: close\r\n\r\n".encode())
    assert status in (400, 403, 404, 422), (path, status, body[:300])
    assert b"valid" not in body or b'"valid":' not in body  # never the audit report
    if headers.get("content-type", "").startswith("application/"):
        assert headers["content-type"].startswith("application/problem+json"), (path, headers)


async def test_an_sql_injection_string_as_a_filter_matches_nothing(client, applicant) -> None:
    r = await client.get("/v1/applications", params={"matter": "x' OR '1'='1"}, headers=bearer(applicant))
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get("/v1/authorisations", params={"cursor": base64.urlsafe_b64encode(b'{"t": "1 OR 1=1", "id": "x"}').decode()},
                         headers=bearer(applicant))
    assert_clean_problem(r, {400, 422}, "cursor with SQL")


async def test_header_injection_is_not_reflected(suite, client, applicant) -> None:
    # Encoded line breaks in a header that is echoed back (X-Request-ID) come back replaced, not decoded.
    r = await client.get("/v1/matters", headers=bearer(applicant) | {"X-Request-ID": "abc%0d%0aSet-Cookie:%20evil=1"})
    assert r.status_code == 200 and "set-cookie" not in r.headers and "%0d" not in r.headers["x-request-id"]
    # Raw CR/LF inside a header value: refused by the HTTP parser, with no injected header in the answer.
    for value in ("abc\r\nSet-Cookie: evil=1", "abc\rSet-Cookie: evil=1", "abc\nSet-Cookie: evil=1"):
        for port in (suite.ports["gateway"], suite.ports["matters"]):
            head = (f"GET /v1/matters HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {applicant}\r\n"
                    f"X-Request-ID: {value}\r\nConnection: close\r\n\r\n").encode()
            try:
                status, headers, _ = await raw_request(port, head)
            except (asyncio.IncompleteReadError, ConnectionError, IndexError):
                continue  # the server dropped the connection: nothing was answered, nothing injected
            assert "set-cookie" not in headers, (port, value, headers)
            assert status == 400 or headers.get("x-request-id", "").isalnum(), (port, value, status, headers)
    # An Idempotency-Key the HTTP parser lets through but the platform does not take: a 422 problem,
    # and nothing is filed. (Control characters never get that far: the parser answers 400.)
    before = await counts(suite)
    for key in ("k" * 256, "a\tb", "键\u2028"):
        r = await client.post("/v1/applications", json={"matter_code": "LR-XK-008", "form": {}},
                              headers=[*bearer(applicant).items(), ("Idempotency-Key", key.encode())])
        assert_clean_problem(r, {400, 422}, f"Idempotency-Key {key!r}")
    assert await counts(suite) == before


def _token(key: Any, kid: str, algorithm: str = "ES256", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "x", "aud": "lvrong", "sub": "u-applicant-person", "iat": now, "exp": now + 600, "jti": "t",
               "roles": ["applicant"], "subject_kind": "person", "scope": "applications:write", **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def _part(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hmac_signed(secret: bytes, kid: str, **claims: Any) -> str:
    """The algorithm-confusion attack: HS256 with the issuer's public key as the shared secret."""
    now = int(time.time())
    signing_input = f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}." \
                    f"{_part({'aud': 'lvrong', 'sub': 'u-ops', 'iat': now, 'exp': now + 600, 'roles': ['ops_admin'], **claims})}"
    return f"{signing_input}.{_part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _unsigned(**claims: Any) -> str:
    part = _part
    now = int(time.time())
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': claims.pop('kid')})}." \
           f"{part({'aud': 'lvrong', 'sub': 'u-ops', 'iat': now, 'exp': now + 600, 'roles': ['ops_admin'], **claims})}."


async def test_bad_tokens_cannot_write(suite, client, token) -> None:
    issuer = suite.env["AUTH_ISSUER"]
    kid = jwt.get_unverified_header(await token("officer"))["kid"]
    real_key = serialization.load_pem_private_key(next((suite.log_dir / "dev-issuer").glob("*.pem")).read_bytes(),
                                                  password=None)
    public_pem = real_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    bad = {
        "expired": _token(real_key, kid, iss=issuer, iat=now - 7200, exp=now - 3600),
        "not yet valid": _token(real_key, kid, iss=issuer, iat=now + 3600, nbf=now + 3600, exp=now + 7200),
        "forged (another key, same kid)": _token(ec.generate_private_key(ec.SECP256R1()), kid, iss=issuer),
        "alg none": _unsigned(kid=kid, iss=issuer),
        "alg none, no signature part": _unsigned(kid=kid, iss=issuer)[:-1],
        "HS256 keyed with the public key": _hmac_signed(public_pem, kid, iss=issuer),
        "wrong audience": _token(real_key, kid, iss=issuer, aud="another-platform"),
        "no audience": _token(real_key, kid, iss=issuer, aud=None),
        "wrong issuer": _token(real_key, kid, iss="https://issuer.example"),
        "no expiry": _token(real_key, kid, iss=issuer, exp=None),
        "tampered payload": (lambda t: t.split(".")[0] + "." + base64.urlsafe_b64encode(
            json.dumps({"iss": issuer, "aud": "lvrong", "sub": "u-ops", "exp": now + 600, "iat": now,
                        "roles": ["ops_admin"]}).encode()).rstrip(b"=").decode() + "." + t.split(".")[2])(
            await token("applicant-person")),
    }
    before = await counts(suite)
    requests = [("POST", "/v1/applications", {"matter_code": "LR-XK-008", "form": {}}),
                ("POST", "/v1/authorisations", {"grantee": "u-someone"}),
                ("POST", "/v1/prequal/rulesets/LR-XK-008", {"rules": []}),
                ("GET", "/v1/audit/matters/verify", None)]
    async with httpx.AsyncClient(timeout=15) as direct:
        for name, tok in bad.items():
            for method, path, body in requests:
                r = await client.request(method, path, json=body, headers=bearer(tok))
                assert_clean_problem(r, {401}, f"{name} via gateway {path}")
                service = "prequal" if path.startswith("/v1/prequal") else "matters"
                r = await direct.request(method, suite.direct(service) + path, json=body, headers=bearer(tok))
                assert_clean_problem(r, {401}, f"{name} at {service} {path}")
    assert await counts(suite) == before


async def test_services_never_trust_identity_headers_alone(suite) -> None:
    identity = {"X-User-Id": "u-ops", "X-Subject": "u-ops", "X-Roles": "ops_admin", "X-Principal": "u-ops",
                "X-Forwarded-User": "u-ops", "X-Authenticated-Userid": "u-ops", "X-Consumer-Username": "u-ops"}
    before = await counts(suite)
    async with httpx.AsyncClient(timeout=15) as direct:
        for service, method, path in (("matters", "GET", "/v1/audit/matters/verify"), ("matters", "GET", "/v1/cockpit"),
                                      ("matters", "POST", "/v1/matters/import"),
                                      ("prequal", "GET", "/v1/prequal/measures")):
            r = await direct.request(method, suite.direct(service) + path, headers=identity, json={} if method == "POST" else None)
            assert_clean_problem(r, {401}, f"{service} {path}")
    assert await counts(suite) == before
