"""Bearer-token authentication: JWTs verified against the issuer's JWKS, the caller as a typed
``Principal``, and roles and scopes as FastAPI dependencies.

Every service verifies the token itself (DESIGN decision 5): the gateway's check is not trusted
on its own. Verified tokens are cached until they expire, since a signature check costs more
than the rest of a small request; the JWKS is cached and fetched again when a token names an
unknown ``kid`` (key rotation), at most once every few seconds.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import httpx
import jwt
import structlog
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from kit import messages
from kit.errors import Forbidden, ServiceUnavailable, Unauthorized

log = structlog.get_logger("kit.auth")

# Asymmetric only: a shared-secret (HS*) or unsigned token is never accepted. RS256 is what many
# identity platforms sign with; the platform's own issuer signs with ES256.
ALGORITHMS = ["ES256", "EdDSA", "RS256"]


class Role(StrEnum):
    APPLICANT = "applicant"
    WINDOW_OFFICER = "window_officer"
    REVIEWER = "reviewer"
    HELPDESK_AGENT = "helpdesk_agent"
    KNOWLEDGE_EDITOR = "knowledge_editor"
    # Staff of a zoo or botanical garden: the gate's entry check and the venue's reports (svc-booking).
    VENUE_STAFF = "venue_staff"
    OPS_ADMIN = "ops_admin"
    INSPECTOR = "inspector"
    PARTNER = "partner"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.WINDOW_OFFICER, Role.REVIEWER, Role.HELPDESK_AGENT, Role.KNOWLEDGE_EDITOR, Role.VENUE_STAFF,
                         Role.OPS_ADMIN, Role.INSPECTOR})

# Departments (部门): staff of the bureau itself (not one of its offices), or with no department, and
# ops and inspectors, see every department's work; other staff their own department's.
BUREAU = "市绿化市容局"
ALL_DEPARTMENTS_ROLES = (Role.OPS_ADMIN, Role.INSPECTOR)


def sees_every_department(principal: Principal) -> bool:
    return principal.has_role(*ALL_DEPARTMENTS_ROLES) or (
        principal.is_staff and principal.department in (None, BUREAU))


def staff_of(principal: Principal, department: str | None) -> bool:
    """Whether a staff member may see the work of ``department`` (None: not known, only the all-seeing)."""
    return principal.is_staff and (sees_every_department(principal) or (
        department is not None and principal.department == department))


class SubjectKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"
    STAFF = "staff"
    PARTNER = "partner"
    SERVICE = "service"


class Principal(BaseModel):
    """Who is calling, as the verified token says."""

    subject: str
    kind: SubjectKind
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    name: str | None = None
    org_code: str | None = Field(default=None, description="Unified social credit code of the company acted for")
    department: str | None = None
    province: str | None = None
    client_id: str | None = None
    token_id: str | None = None
    expires_at: int = 0

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_staff(self) -> bool:
        return any(r in STAFF_ROLES for r in self.roles)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope") or ""
        return cls(
            subject=str(claims["sub"]),
            kind=claims.get("subject_kind", SubjectKind.SERVICE if claims.get("client_id") else SubjectKind.PERSON),
            roles=frozenset(claims.get("roles") or ()),
            scopes=frozenset(scope.split() if isinstance(scope, str) else scope),
            name=claims.get("name"),
            org_code=claims.get("org_code"),
            department=claims.get("department"),
            province=claims.get("province"),
            client_id=claims.get("client_id"),
            token_id=claims.get("jti"),
            expires_at=int(claims.get("exp", 0)),
        )


KeyLoader = Callable[[], Awaitable[dict[str, Any]]]


def http_jwks_loader(url: str, timeout: float = 5.0) -> KeyLoader:
    async def load() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            jwks: dict[str, Any] = response.json()
            return jwks

    return load


class TokenVerifier:
    def __init__(self, key_loader: KeyLoader, *, issuer: str, audience: str, cache_size: int = 20_000,
                 min_refresh_seconds: float = 5.0, leeway_seconds: int = 30) -> None:
        self.key_loader = key_loader
        self.issuer = issuer
        self.audience = audience
        self.cache_size = cache_size
        self.min_refresh_seconds = min_refresh_seconds
        self.leeway = leeway_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    @classmethod
    def from_jwks_url(cls, url: str, *, issuer: str, audience: str) -> TokenVerifier:
        return cls(http_jwks_loader(url), issuer=issuer, audience=audience)

    async def _refresh(self, *, force: bool) -> None:
        async with self._refresh_lock:
            if not force and self._keys:
                return
            if force and time.monotonic() - self._loaded_at < self.min_refresh_seconds:
                return
            try:
                jwks = await self.key_loader()
            except Exception as e:
                log.warning("jwks_unavailable", error=type(e).__name__)
                if not self._keys:
                    raise ServiceUnavailable(messages.ISSUER_KEYS_UNAVAILABLE) from e
                return
            keys: dict[str, jwt.PyJWK] = {}
            for data in jwks.get("keys", []):
                try:
                    keys[data["kid"]] = jwt.PyJWK(data)
                except (KeyError, jwt.PyJWTError):
                    log.warning("jwks_key_skipped", kid=data.get("kid"))
            self._keys = keys
            self._loaded_at = time.monotonic()

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        if not self._keys:
            await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)  # the issuer may have rotated its keys
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized(messages.TOKEN_KEY_UNKNOWN) from None

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > now - self.leeway:
                return cached
            self._verified.pop(token, None)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized(messages.TOKEN_MALFORMED) from None
        if header.get("alg") not in ALGORITHMS or not header.get("kid"):
            raise Unauthorized(messages.TOKEN_ALGORITHM_REFUSED)
        key = await self._key_for(header["kid"])
        try:
            claims = jwt.decode(token, key=key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized(messages.TOKEN_EXPIRED) from None
        except jwt.PyJWTError as e:
            raise Unauthorized(messages.TOKEN_INVALID.format(reason=type(e).__name__)) from None
        try:
            principal = Principal.from_claims(claims)
        except (KeyError, ValueError):
            raise Unauthorized(messages.TOKEN_WITHOUT_IDENTITY) from None
        self._verified[token] = principal
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return principal


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def get_principal(request: Request) -> Principal:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized(messages.BEARER_REQUIRED)
    principal: Principal = await request.app.state.token_verifier.verify(token)
    structlog.contextvars.bind_contextvars(principal=principal.subject)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers that hold at least one of ``roles``."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden(messages.ROLE_REQUIRED.format(roles=", ".join(roles)))
        return principal

    return dependency


class InsufficientScope(Forbidden):
    """RFC 6750 §3.1 ``insufficient_scope``: the caller's role may be right, the token was issued for less."""

    slug, title_zh, title_en = "insufficient-scope", "令牌权限范围不足", "Insufficient scope"

    def __init__(self, required: list[str], missing: list[str]) -> None:
        super().__init__(messages.SCOPE_MISSING.format(scopes=" ".join(missing)),
                         headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(required)}"'},
                         required_scopes=required, missing_scopes=missing)


@dataclass(frozen=True)
class ScopeDeclaration:
    """What a route declares about scopes, attached to its dependency so that the OpenAPI document, the
    gateway and the test walking every route read the same declaration the check enforces.

    ``scopes``: all of them are needed. ``parameter``/``by_value``: the scope depends on a path
    parameter (an action), one mapping value → scopes. ``public``: no token needed at all.
    """

    scopes: frozenset[str] = frozenset()
    parameter: str | None = None
    by_value: tuple[tuple[str, frozenset[str]], ...] = ()
    public: bool = False

    def needed(self, path_params: Mapping[str, Any]) -> frozenset[str] | None:
        """The scopes this request needs; None for a parameter value the route does not know (it refuses it itself)."""
        if self.parameter is None:
            return self.scopes
        return dict(self.by_value).get(str(path_params.get(self.parameter)))

    def as_openapi(self) -> dict[str, Any]:
        """The operation's ``x-required-scopes`` (and ``x-required-scopes-by`` when an action decides)."""
        if self.public:
            return {"x-required-scopes": [], "security": []}
        if self.parameter is None:
            return {"x-required-scopes": sorted(self.scopes), "security": [{"bearerAuth": sorted(self.scopes)}]}
        alternatives = sorted({tuple(sorted(s)) for _, s in self.by_value})
        return {"x-required-scopes": sorted({s for a in alternatives for s in a}),
                "x-required-scopes-by": {"parameter": self.parameter,
                                         "values": {v: sorted(s) for v, s in self.by_value}},
                "security": [{"bearerAuth": list(a)} for a in alternatives]}


def _check_scopes(principal: Principal, needed: frozenset[str]) -> Principal:
    missing = sorted(needed - principal.scopes)
    if missing:
        raise InsufficientScope(sorted(needed), missing)
    return principal


def require_scopes(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose token carries every one of ``scopes``."""
    needed = frozenset(scopes)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        return _check_scopes(principal, needed)

    # The declaration rides on the dependency, where scope_declaration() finds it from the route.
    dependency.scope_declaration = ScopeDeclaration(scopes=needed)  # type: ignore[attr-defined]
    return dependency


def needs_scope(*scopes: str) -> Any:
    """For a route decorator: ``dependencies=[needs_scope("applications:write")]`` (role checks stay where they are)."""
    return Depends(require_scopes(*scopes))


def needs_scope_by(parameter: str, scopes: Mapping[str, str | Iterable[str]]) -> Any:
    """The scope depends on a path parameter, e.g. an application's ``action``: ``withdraw`` is the applicant's
    ``applications:write``, ``approve`` the reviewer's ``applications:decide``. A value missing from ``scopes``
    needs nothing here: the route answers it with its own 404 ("no such action"), writing nothing."""
    declaration = ScopeDeclaration(parameter=parameter, by_value=tuple(sorted(
        (value, frozenset([s] if isinstance(s, str) else s)) for value, s in scopes.items())))

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        needed = declaration.needed(request.path_params)
        return principal if needed is None else _check_scopes(principal, needed)

    dependency.scope_declaration = declaration  # type: ignore[attr-defined]  # as in require_scopes
    return Depends(dependency)


DependencyT = TypeVar("DependencyT", bound=Callable[..., Any])


def public(dependency: DependencyT) -> DependencyT:
    """Declares a route public (no token needed) through a dependency it takes anyway, as ``PUBLIC_ROUTE`` does
    through one of its own: for a hot route, where each dependency costs FastAPI's resolution per request."""
    dependency.scope_declaration = ScopeDeclaration(public=True)  # type: ignore[attr-defined]  # as in require_scopes
    return dependency


@public
async def _public_route() -> None:
    return None


# For a route decorator: anyone may call it without a token (licence verification material, the assistant).
PUBLIC_ROUTE: Any = Depends(_public_route)


def scope_declaration(dependant: Any) -> ScopeDeclaration | None:
    """The scope declaration among a route's dependencies (FastAPI ``Dependant``), if any; two differing
    declarations on one route are a programming error."""
    found: set[ScopeDeclaration] = set()
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        declaration = getattr(dependency.call, "scope_declaration", None)
        if declaration is not None:
            found.add(declaration)
        pending.extend(dependency.dependencies)
    if len(found) > 1:
        raise ValueError(f"a route declares its scopes more than once: {found}")
    return next(iter(found), None)
