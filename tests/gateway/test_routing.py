"""The gateway's routing table: a path goes to the route of its longest prefix ending at a segment."""
from __future__ import annotations

import pytest

from gateway.routes import Route, RoutingTable

TABLE = RoutingTable((Route("/v1/verifications", "licences", public=True), Route("/v1/verifications/data", "licences"),
                      Route("/v1/matters", "matters")))


@pytest.mark.parametrize(("path", "prefix"), [
    ("/v1/matters", "/v1/matters"),
    ("/v1/matters/", "/v1/matters"),
    ("/v1/matters/LR-XK-001/guide", "/v1/matters"),
    ("/v1/mattersX", None),  # a prefix ends where a segment does
    ("/v1/verifications/data", "/v1/verifications/data"),  # the longest prefix wins
    ("/v1/verifications/data/h-1", "/v1/verifications/data"),
    ("/v1/verifications/database", "/v1/verifications"),
    ("/v1/verifications", "/v1/verifications"),
    ("/v1", None),
    ("/", None),
    ("/app/index.html", None),
])
def test_a_path_goes_to_the_route_of_its_longest_prefix_ending_at_a_segment(path: str, prefix: str | None) -> None:
    route = TABLE.match(path)
    assert (route.prefix if route else None) == prefix
