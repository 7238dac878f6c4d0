"""svc-prequal: smart pre-fill (智能预填) and smart pre-review (智能预审)."""
from __future__ import annotations

from fastapi import FastAPI

from kit.app import ServiceDefinition, create_service_app
from kit.audit import audit_router
from prequal.api import measures, prefill, prereview, rulesets, shadow
from prequal.events import SUBSCRIPTIONS
from prequal.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-prequal",
        description="智能预填与智能预审 — smart pre-fill and smart pre-review",
        routers=[prereview.router, rulesets.router, shadow.router, prefill.router, measures.router,
                 audit_router("prequal")],
        subscriptions=SUBSCRIPTIONS,
        audit_trail=True,
        openapi_tags=[{"name": "pre-review", "description": "智能预审 — verdicts with a reason per rule"},
                      {"name": "pre-fill", "description": "智能预填 — draft forms with sources; measures"},
                      {"name": "review rules", "description": "审查规则指标化 — versioned rule sets per matter (CEL)"}],
    ))
