"""The routing table: public path prefix → upstream service. Later issues add rows here, and only here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str
    # Routes anyone may call without a token (e.g. verifying a licence from its QR code).
    public: bool = False
    # Stricter or looser than the upstream's default timeout, when a route needs it.
    timeout_seconds: float | None = None

    @property
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
    Route("/v1/licences", "licences"),
    Route("/v1/verifications", "licences"),
    Route("/v1/tickets", "helpdesk"),
    Route("/v1/ratings", "helpdesk"),
    Route("/v1/appointments", "helpdesk"),
    Route("/v1/knowledge", "knowledge"),
    # Anonymous visitors (portal, kiosks) search and ask the assistant before logging in.
    Route("/v1/knowledge/search", "knowledge", public=True),
    Route("/v1/assistant", "knowledge", public=True),
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
