"""The scope each operation needs, as the services declare it, enforced at the door per method and path.

Each service declares its routes' scopes once (``kit.auth.needs_scope``); its OpenAPI document carries
them (``x-required-scopes``, ``x-required-scopes-by`` when an action decides). The gateway reads those
documents and refuses a token that lacks the exact scope of the operation (an ``applications:read``
token reaches ``GET /v1/applications/{id}`` but not ``POST …/actions/withdraw``), so the door and the
service check the same declaration and cannot drift apart.

A service's declarations are loaded on its first request and refreshed in the background every
``refresh_seconds`` (a new version of the service brings new routes); a failed load is retried in
the background every ``retry_seconds``, so no request waits for it after the first. While a service's document
cannot be had, or for a path it does not declare, the gateway checks the token only and the service
decides: it checks the scope itself, always.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from kit.auth import ScopeDeclaration

log = structlog.get_logger("gateway.scopes")

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::path)?\}")


async def fetch_documents(client: httpx.AsyncClient, upstreams: dict[str, str], wait_seconds: float = 3.0,
                          ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every upstream's OpenAPI document, and the names of those that did not answer with one."""
    documents: dict[str, dict[str, Any]] = {}
    unavailable: list[str] = []

    async def fetch(name: str, base: str) -> None:
        try:
            response = await client.get(base + "/openapi.json", timeout=wait_seconds)
            response.raise_for_status()
            documents[name] = response.json()
        except (httpx.HTTPError, ValueError) as e:
            log.warning("openapi_unavailable", upstream=name, error=type(e).__name__)
            unavailable.append(name)

    await asyncio.gather(*(fetch(n, b) for n, b in upstreams.items()))
    return dict(sorted(documents.items())), sorted(unavailable)


def path_pattern(template: str) -> re.Pattern[str]:
    """``/v1/applications/{application_id}/actions/{action}`` → a regex with one named group per parameter."""
    parts, last = [], 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        parts.append(f"(?P<{match.group(1)}>[^/]+)" if not match.group(0).endswith(":path}") else f"(?P<{match.group(1)}>.+)")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("^" + "".join(parts) + "$")


def declaration_of(operation: dict[str, Any]) -> ScopeDeclaration | None:
    """The scope declaration an OpenAPI operation carries (``kit.auth.ScopeDeclaration.as_openapi``)."""
    if "x-required-scopes" not in operation:
        return None
    by = operation.get("x-required-scopes-by")
    if by:
        return ScopeDeclaration(parameter=by["parameter"], by_value=tuple(sorted(
            (value, frozenset(scopes)) for value, scopes in by["values"].items())))
    scopes = frozenset(operation["x-required-scopes"])
    if not scopes and operation.get("security") == []:
        return ScopeDeclaration(public=True)
    return ScopeDeclaration(scopes=scopes)


@dataclass(frozen=True)
class DeclaredOperation:
    method: str
    template: str
    pattern: re.Pattern[str]
    declaration: ScopeDeclaration


def declared_operations(document: dict[str, Any]) -> list[DeclaredOperation]:
    """In the document's order, which is the order the service matches its routes in."""
    found = []
    for template, item in document.get("paths", {}).items():
        pattern = path_pattern(template)
        for method, operation in item.items():
            if isinstance(operation, dict) and (declaration := declaration_of(operation)) is not None:
                found.append(DeclaredOperation(method.upper(), template, pattern, declaration))
    return found


class ScopeTable:
    def __init__(self, upstreams: dict[str, str], client: httpx.AsyncClient, *, refresh_seconds: float = 60.0,
                 retry_seconds: float = 2.0) -> None:
        self.upstreams = upstreams
        self.client = client
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self._operations: dict[str, list[DeclaredOperation]] = {}
        # The same, per upstream and method: the hot path tries only the templates of its method.
        self._by_method: dict[str, dict[str, list[DeclaredOperation]]] = {}
        self._loaded_at: dict[str, float] = {}
        self._attempted_at: dict[str, float] = {}
        self._locks = {name: asyncio.Lock() for name in upstreams}
        self._refreshing: set[asyncio.Task[None]] = set()

    def loaded(self) -> list[str]:
        return sorted(self._operations)

    async def load(self, upstream: str) -> None:
        async with self._locks[upstream]:
            if time.monotonic() - self._attempted_at.get(upstream, -1e9) < self.retry_seconds:
                return  # another request just tried
            self._attempted_at[upstream] = time.monotonic()
            documents, _ = await fetch_documents(self.client, {upstream: self.upstreams[upstream]})
            if upstream in documents:
                operations = declared_operations(documents[upstream])
                by_method: dict[str, list[DeclaredOperation]] = {}
                for operation in operations:
                    by_method.setdefault(operation.method, []).append(operation)
                self._operations[upstream], self._by_method[upstream] = operations, by_method
                self._loaded_at[upstream] = time.monotonic()

    async def needed(self, upstream: str, method: str, path: str) -> frozenset[str] | None:
        """The scopes a request needs at the door; None when the service's declaration is not known here."""
        if upstream not in self._locks:
            return None
        if upstream not in self._attempted_at:
            await self.load(upstream)  # the first request waits for it once; later ones never do
        else:
            due = self._loaded_at[upstream] + self.refresh_seconds if upstream in self._loaded_at \
                else self._attempted_at[upstream] + self.retry_seconds
            if time.monotonic() > due and not self._refreshing:
                task = asyncio.create_task(self.load(upstream), name=f"scope-refresh-{upstream}")
                self._refreshing.add(task)
                task.add_done_callback(self._refreshing.discard)
        method = "GET" if method == "HEAD" else method
        for operation in self._by_method.get(upstream, {}).get(method, ()):
            if (match := operation.pattern.match(path)) is not None:
                return operation.declaration.needed(match.groupdict())
        return None

    def scopes_under(self, upstream: str, prefix: str) -> list[str] | None:
        """Every scope the service declares for paths under ``prefix`` (for the routing table's docs)."""
        operations = self._operations.get(upstream)
        if operations is None:
            return None
        found: set[str] = set()
        for operation in operations:
            if operation.template == prefix or operation.template.startswith(prefix + "/"):
                found |= operation.declaration.scopes | {s for _, v in operation.declaration.by_value for s in v}
        return sorted(found)
