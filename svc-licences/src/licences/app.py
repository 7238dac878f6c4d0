"""svc-licences: 电子证照 — electronic licences: issuing, signing, 亮证, verification and status."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import Runtime, ServiceDefinition, create_service_app
from kit.scheduling import every
from kit.settings import ServiceSettings, under_working_directory
from licences.api import routers
from licences.events import subscriptions
from licences.service import reminders, status
from licences.service.issuer import Issuer
from licences.service.keys import KeyRing


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="LICENCES_")
    service_name: ClassVar[str] = "licences"
    port: int = 8003
    # The issuer's signing keys (see licences.service.keys): a directory ops manage; in development one key is
    # created when it is empty, in production it is the licence signing keys Secret, mounted read-only.
    key_dir: Path = Path("var/licences/keys")
    key_reload_seconds: float = 30.0
    # The public base URL of the issuer (the gateway); the credentials' ``iss``. Defaults to GATEWAY_URL.
    issuer_url: str | None = None
    issuer_name: str = "上海市绿化和市容管理局"
    issuer_code: str = "11310000MB0F4213X0"  # unified social credit code of the issuing body
    region: str = "310000"
    status_list_size: int = 131_072  # entries per list (2 bits each: 32 KiB)
    status_list_ttl_seconds: int = 300
    status_list_valid_seconds: int = 86_400
    presentation_ttl_seconds: int = 120
    data_handle_ttl_seconds: int = 300
    reminder_days: list[int] = [90, 30, 7]
    reminder_interval_seconds: float = 3600.0
    expiry_interval_seconds: float = 600.0

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if under_working_directory(self.key_dir):
            problems.append(f"LICENCES_KEY_DIR={str(self.key_dir)!r} lies in the working directory: set it to the "
                            f"mounted licence signing keys Secret")
        else:
            try:
                KeyRing(self.key_dir, read_only=True).load()
            except RuntimeError as e:
                problems.append(str(e))
        return problems


def _issuer_url(settings: Settings) -> str:
    return (settings.issuer_url or settings.gateway_url).rstrip("/")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    issuer = Issuer(settings=settings, url=_issuer_url(settings), key_dir=settings.key_dir)

    async def reload_keys(runtime: Runtime) -> None:
        """Ops add or retire keys by adding or deleting files; every replica picks them up."""
        while True:
            await asyncio.sleep(settings.key_reload_seconds)
            await asyncio.to_thread(issuer.keys.reload)

    async def expiry_reminders(runtime: Runtime) -> None:
        async def tick(session: AsyncSession) -> int:
            return await reminders.send_due(session, datetime.now(UTC), settings.reminder_days)

        await every(runtime.database, "licences.expiry-reminders", settings.reminder_interval_seconds, tick)

    async def expire_licences(runtime: Runtime) -> None:
        async def tick(session: AsyncSession) -> int:
            return await status.expire_due(session, datetime.now(UTC))

        await every(runtime.database, "licences.expiry", settings.expiry_interval_seconds, tick)

    app = create_service_app(ServiceDefinition(
        settings=settings,
        title="svc-licences",
        description="电子证照 — electronic licences: issuing, signing, 亮证/亮数, verification, status, 授权调证, 长三角互认",
        routers=routers,
        subscriptions=subscriptions(issuer),
        background_jobs=[reload_keys, expiry_reminders, expire_licences],
        audit_trail=True,
        openapi_tags=[{"name": "licences", "description": "电子证照 — licences, versions, status"},
                      {"name": "verification", "description": "亮证/亮数 and verification"},
                      {"name": "grants", "description": "授权调证 — third-party authorisation"},
                      {"name": "recognition", "description": "长三角互认 — trust list and partner documents"}],
    ))
    issuer.keys.load()
    app.state.issuer = issuer
    return app
