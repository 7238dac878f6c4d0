"""Helpers of the gateway tests: the gateway in this test process (uvicorn on a free port) in front of
stand-in upstreams, so a test can shape what the upstream does and count what reached it."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings
from kit.devstack import free_port
from kit.serving import CoalescingHttpToolsProtocol
from support import until


@contextlib.asynccontextmanager
async def running_gateway(key_dir: Path, port: int | None = None, **settings: object) -> AsyncIterator[str]:
    """A gateway with the development issuer; ``settings`` override the gateway's settings."""
    port = port or free_port()
    options: dict[str, object] = {
        "port": port, "dev_issuer_enabled": True, "dev_issuer_key_dir": key_dir,
        "auth_issuer": f"http://127.0.0.1:{port}", "log_level": "WARNING", "rate_limit_store": "local",
    }
    options.update(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(**options)), host="127.0.0.1", port=port,
                                           log_config=None, lifespan="on", proxy_headers=False,
                                           http=CoalescingHttpToolsProtocol))  # served as in production
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), "the gateway listening", within=5)
    if task.done():
        task.result()  # it stopped while starting: its error, not a wait
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_upstream(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
