"""The routing table: public path prefix → upstream service, the scopes a token needs for it, and its
rate limits. Later issues add rows here, and only here; the docs list it (``GET /v1/gateway/routes``
and ``x-required-scopes`` on every operation of the merged OpenAPI document)."""
from __future__ import annotations

from dataclasses import dataclass

from gateway.issuer import ROLE_SCOPES
from gateway.ratelimit import RateLimit
from kit.auth import Role

# Production defaults for every route without its own: per authenticated caller and per address.
DEFAULT_RATE_LIMIT = RateLimit(per_client=1200, per_ip=3000, window_seconds=60)
# The development token endpoint: password guessing is slowed per address.
TOKEN_ENDPOINT_RATE_LIMIT = RateLimit(per_ip=30, window_seconds=60)

# Scope sets used by several rows: a token needs at least one scope of its route's set.
APPLICATION_SCOPES = frozenset({"applications:read", "applications:write", "applications:accept", "applications:decide"})
STAFF_READ_SCOPES = frozenset({"applications:read", "ops:read"})
# Every scope a person or a member of staff holds (from the roles' table, so a new role's scopes count);
# partner provinces' systems hold none of them, so they reach only what they were given (verification,
# recognition, licences granted to them).
PEOPLE_SCOPES = frozenset().union(*(scopes for role, scopes in ROLE_SCOPES.items()
                                    if role not in (Role.PARTNER, Role.SERVICE)))
AUDIT_SCOPES = frozenset({"ops:read", "audit:read"})
OPS_SCOPES = frozenset({"ops:write"})


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str
    # Routes anyone may call without a token (e.g. verifying a licence from its QR code).
    public: bool = False
    # Stricter or looser than the upstream's default timeout, when a route needs it.
    timeout_seconds: float | None = None
    # The token must carry at least one of these scopes (checked at the door; the service checks
    # roles and objects again). Empty: any valid token.
    scopes: frozenset[str] = frozenset()
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT

    @property
    def path(self) -> str:
        """The label under which metrics count this route."""
        return self.prefix + "/…"


ROUTES: tuple[Route, ...] = (
    Route("/v1/matters", "matters", scopes=frozenset({"matters:read", "matters:write"})),
    Route("/v1/applications", "matters", scopes=APPLICATION_SCOPES),
    Route("/v1/materials", "matters", scopes=APPLICATION_SCOPES),
    Route("/v1/bundles", "matters", scopes=APPLICATION_SCOPES),
    Route("/v1/benefits", "matters", scopes=STAFF_READ_SCOPES | {"ops:write"}),
    Route("/v1/stalls", "matters", scopes=STAFF_READ_SCOPES),
    Route("/v1/cockpit", "matters", scopes=STAFF_READ_SCOPES),
    Route("/v1/authorisations", "matters", scopes=APPLICATION_SCOPES | {"ops:read"}),
    Route("/v1/prequal", "prequal", scopes=APPLICATION_SCOPES | {"ops:read"}),
    Route("/v1/audit/matters", "matters", scopes=AUDIT_SCOPES),
    Route("/v1/audit/prequal", "prequal", scopes=AUDIT_SCOPES),
    Route("/v1/licences", "licences"),
    Route("/v1/verifications", "licences"),
    # What verifiers fetch without a token: issuer metadata, keys, status lists, the trust list.
    Route("/.well-known/jwt-vc-issuer", "licences", public=True),
    Route("/v1/licences/issuer", "licences", public=True),
    Route("/v1/licences/status-lists", "licences", public=True),
    Route("/v1/trust-list", "licences", public=True),
    Route("/v1/grants", "licences"),
    Route("/v1/recognitions", "licences"),
    Route("/v1/audit/licences", "licences", scopes=AUDIT_SCOPES),
    Route("/v1/tickets", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/ratings", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/appointments", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/helpdesk", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/hotline", "helpdesk", scopes=PEOPLE_SCOPES | {"hotline:write"}),
    Route("/v1/rectifications", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/halls", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/queue", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/calendar", "helpdesk", scopes=PEOPLE_SCOPES),
    Route("/v1/audit/helpdesk", "helpdesk", scopes=AUDIT_SCOPES),
    Route("/v1/knowledge", "knowledge", scopes=PEOPLE_SCOPES),
    Route("/v1/audit/knowledge", "knowledge", scopes=AUDIT_SCOPES),
    # Anonymous visitors (portal, kiosks) search and ask the assistant before logging in.
    Route("/v1/knowledge/search", "knowledge", public=True),
    Route("/v1/assistant", "knowledge", public=True),
    # Ops: each service's dead letters (kit.app.dead_letter_router), role ops_admin.
    Route("/v1/ops/matters", "matters", scopes=OPS_SCOPES),
    Route("/v1/ops/prequal", "prequal", scopes=OPS_SCOPES),
    Route("/v1/ops/licences", "licences", scopes=OPS_SCOPES),
    Route("/v1/ops/helpdesk", "helpdesk", scopes=OPS_SCOPES),
    Route("/v1/ops/knowledge", "knowledge", scopes=OPS_SCOPES),
)

UPSTREAM_DEFAULT_PORTS = {"matters": 8001, "prequal": 8002, "licences": 8003, "helpdesk": 8004, "knowledge": 8005}


class RoutingTable:
    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        # Longest prefix first, so a more specific row wins over a shorter one.
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if path == route.prefix or path.startswith(route.prefix + "/"):
                return route
        return None

    def prefixes_of(self, upstream: str) -> list[str]:
        return [r.prefix for r in self.routes if r.upstream == upstream]
