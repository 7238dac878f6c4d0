"""Bearer-token verification: ES256 tokens against a JWKS, everything else refused, key rotation,
the verified-token cache, and roles and scopes as FastAPI dependencies answering problem+json."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from jwt.algorithms import ECAlgorithm

from kit.auth import (
    PUBLIC_ROUTE,
    Principal,
    Role,
    SubjectKind,
    TokenVerifier,
    needs_scope_by,
    public,
    require_roles,
    require_scopes,
)
from kit.errors import PROBLEM_MEDIA_TYPE, ServiceUnavailable, Unauthorized, install_problem_handlers
from kit.openapi import document_problem_responses

ISSUER = "https://issuer.lvrong.test"
AUDIENCE = "lvrong"


class SigningKey:
    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:12]
        self.private = ec.generate_private_key(ec.SECP256R1())

    @property
    def jwk(self) -> dict[str, Any]:
        return {**ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "alg": "ES256",
                "use": "sig"}

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300,
                                  "jti": uuid.uuid4().hex}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid})


class Jwks:
    """A key loader serving whatever keys the issuer currently publishes; counts its calls."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"keys": [k.jwk for k in self.keys]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def valid_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def verifier(key: SigningKey) -> TokenVerifier:
    return TokenVerifier(Jwks(key), issuer=ISSUER, audience=AUDIENCE)


# --- TokenVerifier ---------------------------------------------------------------------------


async def test_a_valid_token_gives_the_principal(key: SigningKey, verifier: TokenVerifier) -> None:
    exp = int(time.time()) + 600
    token = key.token(sub="company-7", subject_kind="company", roles=["applicant"], scope="matters:read matters:write",
                      name="绿化公司", org_code="91310115MA1K4XYZ12", exp=exp)
    principal = await verifier.verify(token)
    assert isinstance(principal, Principal)
    assert principal.subject == "company-7"
    assert principal.kind is SubjectKind.COMPANY
    assert principal.roles == frozenset({"applicant"})
    assert principal.scopes == frozenset({"matters:read", "matters:write"})
    assert principal.name == "绿化公司" and principal.org_code == "91310115MA1K4XYZ12"
    assert principal.expires_at == exp
    assert principal.has_role(Role.APPLICANT) and not principal.is_staff


async def test_a_client_credentials_token_is_a_service_and_staff_roles_make_staff(key: SigningKey,
                                                                                  verifier: TokenVerifier) -> None:
    partner = await verifier.verify(key.token(sub="partner-js", client_id="partner-js", scope=["licences:verify"]))
    assert partner.kind is SubjectKind.SERVICE and partner.client_id == "partner-js"
    assert partner.scopes == frozenset({"licences:verify"})
    officer = await verifier.verify(key.token(sub="officer-1", subject_kind="staff", roles=["window_officer"]))
    assert officer.kind is SubjectKind.STAFF and officer.is_staff


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"exp": int(time.time()) - 120}, "expired"),
    ({"aud": "another-audience"}, "audience"),
    ({"iss": "https://evil.example"}, "issuer"),
    ({"exp": None}, "missing exp"),
    ({"sub": None}, "missing sub"),
    ({"iat": int(time.time()) + 3600}, "issued in the future"),
])
async def test_a_token_with_bad_claims_is_unauthorized(key: SigningKey, verifier: TokenVerifier,
                                                       overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(key.token(**overrides))
    assert caught.value.status == 401, reason
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_expired_token_says_so(key: SigningKey, verifier: TokenVerifier) -> None:
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(key.token(exp=int(time.time()) - 120))


async def test_a_token_within_the_clock_leeway_is_accepted(key: SigningKey, verifier: TokenVerifier) -> None:
    principal = await verifier.verify(key.token(exp=int(time.time()) - 5))
    assert principal.subject == "user-1"


async def test_a_signature_of_another_key_under_the_same_kid_is_unauthorized(key: SigningKey,
                                                                            verifier: TokenVerifier) -> None:
    impostor = SigningKey(kid=key.kid)
    with pytest.raises(Unauthorized, match="InvalidSignature"):
        await verifier.verify(impostor.token())


async def test_alg_none_is_unauthorized(key: SigningKey, verifier: TokenVerifier) -> None:
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": key.kid}, valid_claims())
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_unauthorized(key: SigningKey, verifier: TokenVerifier) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with the issuer's public key.
    public_pem = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    header, claims = {"alg": "HS256", "typ": "JWT", "kid": key.kid}, valid_claims()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized):
        await verifier.verify(f"{signing_input}.{b64(signature)}")
    plain = jwt.encode(claims, "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(Unauthorized):
        await verifier.verify(plain)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "e30.e30.", "....."])
async def test_a_malformed_token_is_unauthorized(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_a_token_without_kid_is_unauthorized(key: SigningKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(valid_claims(), key.private, algorithm="ES256")
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_an_unknown_kid_reloads_the_jwks_once_the_issuer_rotated(key: SigningKey) -> None:
    jwks = Jwks(key)
    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, min_refresh_seconds=0)
    await verifier.verify(key.token())
    assert jwks.calls == 1

    rotated = SigningKey()
    jwks.keys = [rotated]  # the issuer now publishes only its new key
    principal = await verifier.verify(rotated.token(sub="after-rotation"))
    assert principal.subject == "after-rotation"
    assert jwks.calls == 2
    with pytest.raises(Unauthorized):  # a token signed by the retired key after the reload
        await verifier.verify(key.token(sub="retired"))


async def test_jwks_reloads_for_unknown_kids_are_rate_limited(key: SigningKey) -> None:
    jwks = Jwks(key)
    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, min_refresh_seconds=60)
    await verifier.verify(key.token())
    for _ in range(20):  # a flood of tokens naming unknown keys does not hammer the issuer
        with pytest.raises(Unauthorized, match="unknown"):
            await verifier.verify(SigningKey().token())
    assert jwks.calls <= 2


async def test_an_unreachable_issuer_before_any_key_is_known_is_a_503(key: SigningKey) -> None:
    async def down() -> dict[str, Any]:
        raise httpx.ConnectError("connection refused")

    verifier = TokenVerifier(down, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ServiceUnavailable):
        await verifier.verify(key.token())


async def test_a_verified_token_is_served_from_the_cache(key: SigningKey, verifier: TokenVerifier,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = 0
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    token = key.token()
    first = await verifier.verify(token)
    for _ in range(5):
        assert await verifier.verify(token) == first
    assert decodes == 1
    await verifier.verify(key.token(sub="someone-else"))  # another token is verified on its own
    assert decodes == 2
    assert verifier.key_loader.calls == 1


async def test_the_cache_is_bounded(key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(Jwks(key), issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    tokens = [key.token(sub=f"user-{i}") for i in range(3)]
    for token in tokens:
        await verifier.verify(token)
    decodes = 0
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    await verifier.verify(tokens[2])
    assert decodes == 0  # still cached
    await verifier.verify(tokens[0])
    assert decodes == 1  # evicted as the oldest, so verified again


# --- dependencies through FastAPI ------------------------------------------------------------


# Module level: the routes' string annotations (``from __future__ import annotations``) resolve here.
Officer = Annotated[Principal, Depends(require_roles(Role.WINDOW_OFFICER, Role.REVIEWER))]
Editor = Annotated[Principal, Depends(require_scopes("matters:read", "matters:write"))]


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier
    @app.get("/officer")
    async def officer(principal: Officer) -> dict[str, str]:
        return {"subject": principal.subject}

    @app.get("/scoped")
    async def scoped(principal: Editor) -> dict[str, str]:
        return {"subject": principal.subject}

    @app.post("/things/{thing_id}/actions/{action}", dependencies=[needs_scope_by(
        "action", {"withdraw": "things:write", "approve": ["things:decide", "things:read"]})])
    async def act(thing_id: str, action: str) -> dict[str, str]:
        return {"done": action}

    @app.get("/open", dependencies=[PUBLIC_ROUTE])
    async def open_to_all() -> dict[str, str]:
        return {"open": "yes"}

    @app.get("/open-by-its-dependency")
    async def open_through_a_dependency(said: Greeting) -> dict[str, str]:
        return {"open": said}

    document_problem_responses(app)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client


@public
async def _greeting() -> str:
    return "yes"


Greeting = Annotated[str, Depends(_greeting)]  # a dependency that declares its routes public (kit.auth.public)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == status and body["type"].endswith("/" + slug)
    assert body["title_zh"] and body["title_en"]
    return body


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
                                     {"Authorization": "Bearer not-a-jwt"}])
async def test_no_or_bad_credentials_give_401_problem_with_www_authenticate(client: httpx.AsyncClient,
                                                                          headers: dict[str, str]) -> None:
    response = await client.get("/officer", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_wrong_role_is_403_and_a_right_role_200(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/officer", headers=bearer(key.token(roles=["applicant"])))
    body = assert_problem(response, 403, "forbidden")
    assert "window_officer" in body["detail"]
    response = await client.get("/officer", headers=bearer(key.token(sub="r-1", roles=["reviewer"])))
    assert response.status_code == 200 and response.json() == {"subject": "r-1"}


async def test_scopes_must_all_be_present(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/scoped", headers=bearer(key.token(scope="matters:read")))
    body = assert_problem(response, 403, "insufficient-scope")
    assert "matters:write" in body["detail"] and body["title_zh"] and body["title_en"] == "Insufficient scope"
    assert body["missing_scopes"] == ["matters:write"] and body["required_scopes"] == ["matters:read", "matters:write"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    response = await client.get("/scoped", headers=bearer(key.token(scope="matters:write matters:read extra")))
    assert response.status_code == 200


async def test_an_actions_scope_follows_the_action(client: httpx.AsyncClient, key: SigningKey) -> None:
    writer, decider = key.token(scope="things:write"), key.token(scope="things:decide things:read")
    assert (await client.post("/things/t1/actions/withdraw", headers=bearer(writer))).json() == {"done": "withdraw"}
    body = assert_problem(await client.post("/things/t1/actions/approve", headers=bearer(writer)), 403,
                          "insufficient-scope")
    assert body["missing_scopes"] == ["things:decide", "things:read"]
    assert (await client.post("/things/t1/actions/approve", headers=bearer(decider))).status_code == 200
    assert_problem(await client.post("/things/t1/actions/withdraw", headers=bearer(decider)), 403, "insufficient-scope")
    # An action the route does not know is the route's to refuse: the scope check does not guess.
    assert (await client.post("/things/t1/actions/other", headers=bearer(decider))).status_code == 200
    assert (await client.get("/open")).json() == {"open": "yes"}


async def test_the_openapi_document_carries_each_operations_scopes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/scoped"]["get"]["x-required-scopes"] == ["matters:read", "matters:write"]
    assert paths["/scoped"]["get"]["security"] == [{"bearerAuth": ["matters:read", "matters:write"]}]
    action = paths["/things/{thing_id}/actions/{action}"]["post"]
    assert action["x-required-scopes-by"] == {"parameter": "action", "values": {
        "approve": ["things:decide", "things:read"], "withdraw": ["things:write"]}}
    assert action["security"] == [{"bearerAuth": ["things:decide", "things:read"]}, {"bearerAuth": ["things:write"]}]
    assert paths["/open"]["get"]["security"] == [] and paths["/open"]["get"]["x-required-scopes"] == []
    # A route is public as well through a dependency marked so (one dependency fewer on a hot route).
    assert (await client.get("/open-by-its-dependency")).json() == {"open": "yes"}
    assert paths["/open-by-its-dependency"]["get"]["security"] == []
    assert paths["/open-by-its-dependency"]["get"]["x-required-scopes"] == []
    assert "x-required-scopes" not in paths["/officer"]["get"]  # declared nothing: the route walk refuses that


async def test_an_expired_token_is_401_through_the_app(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/officer", headers=bearer(key.token(roles=["reviewer"], exp=int(time.time()) - 120)))
    assert_problem(response, 401, "unauthorized")


async def test_rs256_tokens_of_an_external_identity_platform_are_accepted() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "city-idp-1", "alg": "RS256"}

    async def loader() -> dict[str, Any]:
        return {"keys": [jwk]}

    verifier = TokenVerifier(loader, issuer=ISSUER, audience=AUDIENCE)
    token = jwt.encode({**valid_claims(), "roles": ["applicant"]}, private, algorithm="RS256",
                       headers={"kid": "city-idp-1"})
    principal = await verifier.verify(token)
    assert principal.subject == "user-1" and principal.roles == frozenset({"applicant"})
    # The same key cannot be used to pass off an HMAC token (algorithm confusion).
    forged = jwt.encode(valid_claims(), "x" * 32, algorithm="HS256", headers={"kid": "city-idp-1"})
    with pytest.raises(Unauthorized):
        await verifier.verify(forged)
