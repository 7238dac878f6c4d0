"""Every route of every service declares the scope it needs, so a new route cannot forget one; the
declarations form one coherent scheme with the roles' scope table; the gateway reads them back from
the OpenAPI documents exactly as the services enforce them."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from scope_support import declared_document, service_apps

from gateway.issuer import DEMO_CLIENTS, DEMO_USERS, ROLE_SCOPES
from gateway.routes import ROUTES, RoutingTable
from gateway.scopes import declared_operations
from kit.auth import ScopeDeclaration, scope_declaration

SCOPE_NAME = r"^[a-z]+:(read|write|admin|accept|decide|handle|manage|verify|publish)$"
# Routes anyone may call: service operations (health, readiness, metrics) and what the gateway serves
# without a token (licence verification material, the assistant, public knowledge).
OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    return service_apps(tmp_path_factory.mktemp("licence-keys"))


def routes_with_declarations(apps: dict[str, FastAPI]) -> list[tuple[str, str, str, ScopeDeclaration | None]]:
    found = []
    for service, app in apps.items():
        for context in iter_route_contexts(app.routes):
            if isinstance(context.original_route, APIRoute):
                for method in sorted(context.methods):
                    found.append((service, method, context.path_format, scope_declaration(context.dependant)))
    return found


def test_every_route_of_every_service_declares_its_scope_or_that_it_is_public(apps) -> None:
    routes = routes_with_declarations(apps)
    assert len(routes) > 150
    undeclared = [f"{service} {method} {path}" for service, method, path, declaration in routes if declaration is None]
    assert undeclared == [], "routes without needs_scope(...) or PUBLIC_ROUTE"


def test_public_routes_are_only_those_the_gateway_lets_in_without_a_token_and_operations(apps) -> None:
    table = RoutingTable()
    for service, method, path, declaration in routes_with_declarations(apps):
        if not declaration.public:
            continue
        route = table.match(path)
        # The one exception: a knowledge entry's published text is public (the gateway asks a token of
        # /v1/knowledge, for the staff's drafts; the service shows the published version without one).
        assert path in OPERATIONS_PATHS or (route is not None and route.public) or \
            (method, path) == ("GET", "/v1/knowledge/entries/{entry_id}"), f"{service} {method} {path} is public"
    public_rows = [r for r in ROUTES if r.public]
    for row in public_rows:
        assert any(d is not None and d.public and (p == row.prefix or p.startswith(row.prefix + "/"))
                   for _, _, p, d in routes_with_declarations(apps)), row.prefix


def test_every_declared_scope_is_well_named_and_held_by_some_role(apps) -> None:
    held = {s for scopes in ROLE_SCOPES.values() for s in scopes}
    declared: set[str] = set()
    for _, _, _, declaration in routes_with_declarations(apps):
        declared |= declaration.scopes | {s for _, v in declaration.by_value for s in v}
    assert all(__import__("re").match(SCOPE_NAME, s) for s in declared), sorted(declared)
    assert declared <= held, f"declared but no role holds them: {sorted(declared - held)}"
    assert held <= declared, f"held by roles but no route needs them: {sorted(held - declared)}"


def test_reads_need_a_read_scope_and_writes_a_write_one(apps) -> None:
    for service, method, path, declaration in routes_with_declarations(apps):
        if declaration.public or declaration.parameter:
            continue
        (scope,) = declaration.scopes
        if method == "GET":
            assert scope.endswith(":read"), f"{service} {method} {path}: {scope}"
        else:
            # POST /v1/prequal/check is a dry-run: it reads what the applicant may read and writes nothing;
            # POST /v1/partner/look-up is a query sent as a POST to keep the holder's code out of URLs.
            assert not scope.endswith(":read") or path in ("/v1/prequal/check", "/v1/partner/look-up"), \
                f"{service} {method} {path}: {scope}"


def test_action_routes_name_a_scope_for_every_action_the_service_knows() -> None:
    from helpdesk.api.tickets import ACTION_SCOPES as TICKET_SCOPES
    from helpdesk.service.tickets import ACTIONS as TICKET_ACTIONS
    from matters.api.applications import ACTION_SCOPES as APPLICATION_SCOPES
    from matters.service.statuses import APPLICATION_MACHINE

    applications = dict(APPLICATION_SCOPES.dependency.scope_declaration.by_value)
    assert sorted(applications) == APPLICATION_MACHINE.actions
    assert applications["withdraw"] == {"applications:write"} and applications["accept"] == {"applications:accept"}
    assert applications["approve"] == {"applications:decide"}
    tickets = dict(TICKET_SCOPES.dependency.scope_declaration.by_value)
    assert sorted(tickets) == sorted(TICKET_ACTIONS) and tickets["close"] == {"helpdesk:write"}


def test_the_demo_users_hold_what_their_own_routes_need() -> None:
    # Spot checks of the role table against the work each role does (the integration tests do the rest).
    def scopes(name: str) -> set[str]:
        account = DEMO_USERS.get(name) or DEMO_CLIENTS[name]
        return {s for role in account.roles for s in ROLE_SCOPES[role]}

    assert "matters:admin" in scopes("ops") and "matters:admin" not in scopes("inspector")
    assert {"applications:write", "licences:write", "helpdesk:write"} <= scopes("applicant-person")
    assert "applications:accept" in scopes("officer") and "applications:decide" in scopes("reviewer")
    assert scopes("partner-js") == {"licences:read", "licences:verify", "recognition:read", "partner:read",
                                    "partner:write", "booking:read", "booking:write"}
    assert {"booking:read", "booking:write"} <= scopes("applicant-person") and "visitors:read" not in scopes("applicant-person")
    assert scopes("gate") == {"booking:read", "booking:verify", "visitors:read", "notifications:read",
                              "notifications:write"} and "booking:admin" in scopes("ops")
    assert scopes("hotline-12345") == {"hotline:write"}


def test_the_gateway_reads_back_exactly_what_each_service_declares(apps) -> None:
    operations = declared_operations(declared_document(apps))
    by_key = {(o.method, o.template): o.declaration for o in operations}
    for service, method, path, declaration in routes_with_declarations(apps):
        if method == "HEAD":
            continue
        assert by_key[(method, path)] == declaration, f"{service} {method} {path}"


def test_the_services_openapi_carries_the_security_requirement(apps) -> None:
    document = apps["matters"].openapi()
    imported = document["paths"]["/v1/matters/import"]["post"]
    assert imported["x-required-scopes"] == ["matters:admin"]
    assert imported["security"] == [{"bearerAuth": ["matters:admin"]}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"




async def test_the_gateway_table_waits_for_nothing_but_the_first_load_and_catches_up_in_the_background(
        apps) -> None:
    from aiohttp import web
    from gateway_support import running_upstream

    from gateway.scopes import ScopeTable

    document: dict = {}

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document) if document else web.json_response({}, status=503)

    upstream = web.Application()
    upstream.router.add_get("/openapi.json", openapi)
    async with running_upstream(upstream) as url, httpx.AsyncClient() as client:
        table = ScopeTable({"matters": url}, client, refresh_seconds=0.2, retry_seconds=0.1)
        # Not available yet: the service alone decides (None), nothing is guessed.
        assert await table.needed("matters", "POST", "/v1/matters/import") is None
        document.update(apps["matters"].openapi())
        for _ in range(100):
            if await table.needed("matters", "POST", "/v1/matters/import") is not None:
                break
            await asyncio.sleep(0.05)
        assert await table.needed("matters", "POST", "/v1/matters/import") == {"matters:admin"}
        assert await table.needed("matters", "HEAD", "/v1/matters/LR-XK-008") == {"matters:read"}
        assert await table.needed("matters", "POST", "/v1/applications/a/actions/approve") == {"applications:decide"}
        assert await table.needed("matters", "POST", "/v1/applications/a/actions/no_such") is None
        assert await table.needed("matters", "GET", "/v1/nothing/here") is None
        assert await table.needed("unknown", "GET", "/v1/matters") is None
        assert table.scopes_under("matters", "/v1/matters") == ["guides:write", "matters:admin", "matters:read"]
