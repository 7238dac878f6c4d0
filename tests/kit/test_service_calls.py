"""Calls to another service on behalf of the caller carry the caller's token, the request id and the
trace context, over one pooled client per base URL — against a real HTTP server on loopback."""
from __future__ import annotations

from aiohttp import web
from gateway_support import running_upstream

import kit.http
from kit.http import call_service
from kit.tracing import TraceContext, current_request_id, current_trace


async def test_the_callers_token_request_id_and_trace_go_along_over_one_pooled_client() -> None:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()} | {"peer": str(request.transport.get_extra_info("peername"))})
        return web.json_response({"path": request.path_qs})

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    async with running_upstream(app) as base:
        trace = TraceContext.new()
        rid_token, trace_token = current_request_id.set("req-12345678"), current_trace.set(trace)
        try:
            first = await call_service("GET", base, "/v1/matters/LR-XK-001", authorization="Bearer t0k3n",
                                       params={"limit": 5})
            second = await call_service("GET", base, "/v1/other", authorization="Bearer t0k3n")
        finally:
            current_request_id.reset(rid_token)
            current_trace.reset(trace_token)
    assert first.json() == {"path": "/v1/matters/LR-XK-001?limit=5"} and second.status_code == 200
    assert [h["authorization"] for h in seen] == ["Bearer t0k3n"] * 2
    assert [h["x-request-id"] for h in seen] == ["req-12345678"] * 2
    parsed = TraceContext.parse(seen[0]["traceparent"])
    assert parsed is not None and parsed.trace_id == trace.trace_id
    assert seen[0]["peer"] == seen[1]["peer"]  # the second call reused the first call's connection
    assert sum(1 for key in kit.http._service_clients if key[1] == base) == 1
