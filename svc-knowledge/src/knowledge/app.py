"""svc-knowledge: 知识库与智能客服 — the knowledge base and the smart assistant."""
from __future__ import annotations

import asyncio
from typing import ClassVar

import structlog
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import Runtime, ServiceDefinition, create_service_app
from kit.audit import audit_router
from kit.scheduling import every
from kit.settings import ServiceSettings
from knowledge.api.entries import assistant_router, router
from knowledge.events import SUBSCRIPTIONS
from knowledge.service import entries
from knowledge.service.index import holder, refresh_job
from knowledge.service.seed import seed_if_empty

log = structlog.get_logger("knowledge.app")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="KNOWLEDGE_")
    service_name: ClassVar[str] = "knowledge"
    uses_data_protection: ClassVar[bool] = False
    port: int = 8005
    policy_check_interval_seconds: float = 300.0
    # Import and publish the shipped FAQ corpus when the knowledge base is empty (first start).
    seed_on_empty: bool = True


async def policy_job(runtime: Runtime) -> None:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    await every(runtime.database, "knowledge-policy-late", settings.policy_check_interval_seconds,
                entries.report_late_policies)


async def seed_job(runtime: Runtime) -> None:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    if not settings.seed_on_empty:
        return
    delay = 0.5
    while True:  # the database may not be reachable yet when the process starts
        try:
            if await seed_if_empty(runtime.database):
                await holder.refresh(runtime.database)
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("knowledge_seed_retrying", error=type(e).__name__, cause=type(getattr(e, "orig", None)).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-knowledge",
        description="知识库与智能客服 — the knowledge base and the smart assistant",
        routers=[router, assistant_router, audit_router("knowledge")],
        subscriptions=SUBSCRIPTIONS,
        background_jobs=[seed_job, refresh_job, policy_job],
        audit_trail=True,
        openapi_tags=[{"name": "knowledge", "description": "知识库 — entries, versions, review, import/export, search"},
                      {"name": "assistant", "description": "智能客服 — sessions, answers, clarifying questions, hand-over"}],
    ))
