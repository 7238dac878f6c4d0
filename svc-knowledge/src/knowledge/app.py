"""svc-knowledge: 知识库与智能客服 — the knowledge base and the smart assistant."""
from __future__ import annotations

from fastapi import FastAPI

from kit.app import ServiceDefinition, create_service_app
from kit.audit import audit_router
from knowledge.api import assistant, entries, reports, search, unanswered
from knowledge.events import BACKGROUND_JOBS, SUBSCRIPTIONS
from knowledge.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-knowledge",
        description="知识库与智能客服 — the knowledge base and the smart assistant",
        routers=[search.router, entries.router, reports.router, unanswered.router, assistant.router,
                 audit_router("knowledge")],
        subscriptions=SUBSCRIPTIONS,
        background_jobs=BACKGROUND_JOBS,
        audit_trail=True,
        openapi_tags=[{"name": "knowledge", "description": "知识库 — entries, versions, review, import/export, search"},
                      {"name": "assistant", "description": "智能客服 — sessions, answers, clarifying questions, hand-over"}],
    ))
