"""A trivial FastAPI endpoint under uvicorn: the upstream of the gateway benchmark (bench_gateway.py).

It answers a small JSON document on a path the gateway routes to svc-matters, so the same
endpoint is measured directly, through the gateway and through nginx.
"""
from __future__ import annotations

from fastapi import FastAPI

DOCUMENT = {"code": "LR-XK-001", "name": "迁移树木审批", "status": "published", "version": 3,
            "time_limit_working_days": 20, "channels": ["online", "hall"]}


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/matters/bench-ping")
    async def ping() -> dict:
        return DOCUMENT

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
