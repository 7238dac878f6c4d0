"""svc-knowledge: 知识库与智能客服 — the knowledge base and the smart assistant."""
from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from kit.app import ServiceDefinition, create_service_app
from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="KNOWLEDGE_")
    service_name: ClassVar[str] = "knowledge"
    port: int = 8005


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(ServiceDefinition(
        settings=settings or Settings(),
        title="svc-knowledge",
        description="知识库与智能客服 — the knowledge base and the smart assistant",
    ))
