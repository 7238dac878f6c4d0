"""svc-prequal: smart pre-fill (智能预填) and smart pre-review (智能预审)."""
from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import ServiceDefinition, create_service_app
from kit.audit import audit_router
from kit.settings import ServiceSettings
from prequal.api.prereview import prefill_router, router, rules_router
from prequal.events import SUBSCRIPTIONS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="PREQUAL_")
    service_name: ClassVar[str] = "prequal"
    port: int = 8002


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-prequal",
        description="智能预填与智能预审 — smart pre-fill and smart pre-review",
        routers=[router, rules_router, prefill_router, audit_router("prequal")],
        subscriptions=SUBSCRIPTIONS,
        audit_trail=True,
        openapi_tags=[{"name": "pre-review", "description": "智能预审 — verdicts with a reason per rule"},
                      {"name": "pre-fill", "description": "智能预填 — draft forms with sources; measures"},
                      {"name": "review rules", "description": "审查规则指标化 — versioned rule sets per matter (CEL)"}],
    ))
