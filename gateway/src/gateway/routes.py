"""The routing table: public path prefix → upstream service, whether it needs a token, and its rate
limits. Later issues add rows here, and only here; the docs list it (``GET /v1/gateway/routes``).
The scope each operation needs is declared by the service on the route itself and enforced here from
the service's OpenAPI document (``gateway.scopes``), per method and path."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from gateway.ratelimit import RateLimit

# Production defaults for every route without its own: per authenticated caller and per address.
DEFAULT_RATE_LIMIT = RateLimit(per_client=1200, per_ip=3000, window_seconds=60)
# The development token endpoint: password guessing is slowed per address.
TOKEN_ENDPOINT_RATE_LIMIT = RateLimit(per_ip=30, window_seconds=60)
# Anyone checking a 亮证 QR without a token (an inspector's or a partner officer's phone): per address,
# generous for a person scanning, tight for a script guessing; callers with a token count as on any route.
ANONYMOUS_VERIFICATION_RATE_LIMIT = RateLimit(per_ip=60, window_seconds=60)
# 长三角 partners' systems looking up our documents by number and holder code: enough for a partner's
# window officers at work, too few to guess pairs; their feed is read once a minute or so.
PARTNER_RATE_LIMIT = RateLimit(per_client=120, per_ip=600, window_seconds=60)


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str
    # Routes anyone may call without a token (e.g. verifying a licence from its QR code).
    public: bool = False
    # Stricter or looser than the upstream's default timeout, when a route needs it.
    timeout_seconds: float | None = None
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT
    # A public route that also serves callers with a token: a request carrying one is authenticated
    # (a bad token is refused) and counted by ``rate_limit``; one without is counted by this, per address.
    anonymous_rate_limit: RateLimit | None = None

    @cached_property  # read twice per request (rate-limit label, metrics): made once
    def path(self) -> str:
        """The label under which metrics count this route."""
        return self.prefix + "/…"


ROUTES: tuple[Route, ...] = (
    Route("/v1/matters", "matters"),
    Route("/v1/applications", "matters"),
    Route("/v1/materials", "matters"),
    Route("/v1/bundles", "matters"),
    Route("/v1/benefits", "matters"),
    Route("/v1/stalls", "matters"),
    Route("/v1/cockpit", "matters"),
    Route("/v1/authorisations", "matters"),
    Route("/v1/prequal", "prequal"),
    Route("/v1/audit/matters", "matters"),
    Route("/v1/audit/prequal", "prequal"),
    Route("/v1/licences", "licences"),
    # 亮证 verification: anyone may check a presentation (a token is optional, see anonymous_rate_limit);
    # redeeming a 亮数 handle needs a verifier's token.
    Route("/v1/verifications", "licences", public=True, anonymous_rate_limit=ANONYMOUS_VERIFICATION_RATE_LIMIT),
    Route("/v1/verifications/data", "licences"),
    # What verifiers fetch without a token: issuer metadata, keys, status lists, the trust list.
    Route("/.well-known/jwt-vc-issuer", "licences", public=True),
    Route("/.well-known/sm2-keys.json", "licences", public=True),
    Route("/v1/licences/issuer", "licences", public=True),
    Route("/v1/licences/status-lists", "licences", public=True),
    Route("/v1/trust-list", "licences", public=True),
    Route("/v1/grants", "licences"),
    Route("/v1/recognitions", "licences"),
    Route("/v1/partner", "licences", rate_limit=PARTNER_RATE_LIMIT),
    Route("/v1/audit/licences", "licences"),
    Route("/v1/tickets", "helpdesk"),
    Route("/v1/ratings", "helpdesk"),
    Route("/v1/appointments", "helpdesk"),
    Route("/v1/helpdesk", "helpdesk"),
    Route("/v1/hotline", "helpdesk"),
    Route("/v1/rectifications", "helpdesk"),
    Route("/v1/halls", "helpdesk"),
    Route("/v1/queue", "helpdesk"),
    Route("/v1/calendar", "helpdesk"),
    Route("/v1/audit/helpdesk", "helpdesk"),
    Route("/v1/knowledge", "knowledge"),
    Route("/v1/audit/knowledge", "knowledge"),
    Route("/v1/notifications", "notifications"),
    Route("/v1/audit/notifications", "notifications"),
    # Unified booking of the zoos and botanical gardens of 三省一市 (svc-booking).
    Route("/v1/booking", "booking"),
    Route("/v1/audit/booking", "booking"),
    # Anonymous visitors (portal, kiosks) search and ask the assistant before logging in.
    Route("/v1/knowledge/search", "knowledge", public=True),
    Route("/v1/assistant", "knowledge", public=True),
    # Uploaded help videos (帮办微视频) are watched from the guide by anyone, as the guide is read.
    Route("/v1/help-videos", "matters", public=True),
    # Ops: each service's dead letters (kit.app.dead_letter_router), role ops_admin.
    Route("/v1/ops/matters", "matters"),
    Route("/v1/ops/prequal", "prequal"),
    Route("/v1/ops/licences", "licences"),
    Route("/v1/ops/helpdesk", "helpdesk"),
    Route("/v1/ops/knowledge", "knowledge"),
    Route("/v1/ops/notifications", "notifications"),
)

UPSTREAM_DEFAULT_PORTS = {"matters": 8001, "prequal": 8002, "licences": 8003, "helpdesk": 8004, "knowledge": 8005,
                          "notifications": 8007, "booking": 8006}


class RoutingTable:
    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        # Longest prefix first, so a more specific row wins over a shorter one.
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self._by_prefix = {r.prefix: r for r in self.routes}

    def match(self, path: str) -> Route | None:
        """The route of the longest prefix that is ``path`` itself or ends where one of its segments does.

        Looked up per segment boundary, longest first: a handful of dictionary lookups per request
        rather than a comparison with every row.
        """
        end = len(path)
        while end > 0:
            route = self._by_prefix.get(path[:end])
            if route is not None:
                return route
            end = path.rfind("/", 0, end)
        return None

    def prefixes_of(self, upstream: str) -> list[str]:
        return [r.prefix for r in self.routes if r.upstream == upstream]
