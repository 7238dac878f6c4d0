"""One OpenAPI document for the whole platform, merged from every service's own.

Only the paths the gateway routes to a service are taken from it (a service's /healthz is not
public). Schemas with the same name and different definitions are kept apart by prefixing the
service name. The result is cached briefly; a service that does not answer is listed under
``x-lvrong-unavailable`` instead of failing the whole document.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import structlog

from gateway.routes import RoutingTable
from gateway.scopes import fetch_documents
from kit.openapi import BEARER_SCHEME, problem_content

log = structlog.get_logger("gateway.openapi")


# What the gateway itself answers on any routed operation, before or instead of the service.
_GATEWAY_ANSWERS = {
    "429": "Too many requests from this client or address (`Retry-After`)",
    "502": "The service failed to answer",
    "503": "The service is unavailable (circuit open, or its database is down)",
    "504": "The service did not answer in time",
}
_SECURED_ANSWERS = {
    "401": "Missing, expired or invalid bearer token",
    "403": "The token lacks the operation's scope, or the caller may not act on this resource",
}


def document_gateway_answers(operation: dict[str, Any], problem: dict[str, Any]) -> None:
    """Add the answers the door gives to any operation (a service's own description of one stands)."""
    answers = dict(_GATEWAY_ANSWERS)
    if operation.get("security") != []:
        answers |= _SECURED_ANSWERS
    if "requestBody" in operation:
        answers["413"] = "The body is larger than the gateway accepts"
    responses = operation.setdefault("responses", {})
    for status, description in answers.items():
        responses.setdefault(status, {"description": description, "content": problem})


def merge_documents(own: dict[str, Any], services: dict[str, dict[str, Any]], table: RoutingTable,
                    unavailable: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {"title": "绿容一网通办 API", "version": own.get("info", {}).get("version", "0.1.0"),
                 "description": "The platform's public API, through the one gateway. Authenticate with a bearer "
                                "token from `POST /auth/token` (development) or the city's identity platform."},
        "paths": dict(own.get("paths", {})),
        "components": {"schemas": dict(own.get("components", {}).get("schemas", {})),
                       "securitySchemes": BEARER_SCHEME},
        "tags": list(own.get("tags", [])),
    }
    schemas = merged["components"]["schemas"]
    problem = problem_content(schemas)
    seen_tags = {t["name"] for t in merged["tags"]}
    # By name: which service keeps a shared schema name unprefixed must not depend on who answered first.
    for service, document in sorted(services.items()):
        prefixes = table.prefixes_of(service)
        renames: dict[str, str] = {}
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service}.{name}"
        text = json.dumps(document, ensure_ascii=False)
        for old, new in renames.items():
            text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
        document = json.loads(text)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        for path, operations in document.get("paths", {}).items():
            if not any(path == p or path.startswith(p + "/") for p in prefixes):
                continue
            route = table.match(path)
            for operation in operations.values():
                if isinstance(operation, dict):
                    # The service's own declaration (kit.auth.needs_scope) is what is enforced: a path the door
                    # lets through without a token (the trust list) may still have operations the service secures.
                    if route is not None and route.public and not operation.get("security"):
                        operation["security"] = []
                    else:
                        operation.setdefault("security", [{"bearerAuth": []}])
                    operation["x-upstream"] = service
                    document_gateway_answers(operation, problem)
            merged["paths"][path] = operations
        for tag in document.get("tags", []):
            if tag["name"] not in seen_tags:
                merged["tags"].append(tag)
                seen_tags.add(tag["name"])
    if unavailable:
        merged["x-lvrong-unavailable"] = sorted(unavailable)
    return merged


class MergedOpenAPI:
    def __init__(self, upstreams: dict[str, str], table: RoutingTable, client: httpx.AsyncClient,
                 ttl_seconds: float = 30.0) -> None:
        self.upstreams = upstreams
        self.client = client
        self.table = table
        self.ttl = ttl_seconds
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0
        self._lock = asyncio.Lock()

    async def document(self, own: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached_at < self.ttl:
                return self._cached
            services, unavailable = await fetch_documents(self.client, self.upstreams)
            document = merge_documents(own, services, self.table, unavailable)
            if not unavailable:
                self._cached, self._cached_at = document, time.monotonic()
            return document
