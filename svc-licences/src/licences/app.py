"""svc-licences: 电子证照 — electronic licences: issuing, signing, 亮证, verification and status."""
from __future__ import annotations

from fastapi import FastAPI

from kit.app import ServiceDefinition, create_service_app
from kit.settings import DeploymentCheck
from licences.api import routers
from licences.events import background_jobs, subscriptions
from licences.service.issuer import Issuer
from licences.service.keys import key_ring_problems
from licences.service.verification import new_presentation_checks
from licences.settings import Settings


def deployment_checks(settings: Settings) -> list[DeploymentCheck]:
    """Beyond the settings: the mounted signing keys load (production never mints one)."""
    return [lambda: key_ring_problems(settings.key_dir)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    issuer = Issuer(settings=settings, url=(settings.issuer_url or settings.gateway_url).rstrip("/"),
                    key_dir=settings.key_dir)
    checks = new_presentation_checks(settings)
    app = create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-licences",
        description="电子证照 — electronic licences: issuing, signing, 亮证/亮数, verification, status, 授权调证, 长三角互认",
        routers=routers,
        subscriptions=subscriptions(issuer),
        background_jobs=background_jobs(issuer, checks),
        audit_trail=True,
        deployment_checks=deployment_checks(settings),
        openapi_tags=[{"name": "licences", "description": "电子证照 — licences, versions, status"},
                      {"name": "verification", "description": "亮证/亮数 and verification"},
                      {"name": "grants", "description": "授权调证 — third-party authorisation"},
                      {"name": "recognition", "description": "长三角互认 — trust list and partner documents"}],
    ))
    issuer.keys.load()
    app.state.issuer = issuer
    app.state.presentation_checks = checks
    return app
