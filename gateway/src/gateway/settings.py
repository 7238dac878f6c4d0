"""Gateway settings (``GATEWAY_*``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from gateway.forwarded import Network, parse_networks
from gateway.routes import UPSTREAM_DEFAULT_PORTS
from kit.settings import ServiceSettings


def production_profile() -> bool:
    """``LVRONG_PROFILE=production``. Stand-in until kit.settings has the platform's profile accessor."""
    return os.environ.get("LVRONG_PROFILE", "").strip().lower() == "production"


class Settings(ServiceSettings):
    """The gateway's own database holds only the shared rate-limit counters (``lvrong_gateway``)."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="GATEWAY_")
    service_name: ClassVar[str] = "gateway"

    port: int = 8000
    # Upstream base URLs; unset ones default to 127.0.0.1 on the service's standard port.
    upstream_matters_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['matters']}"
    upstream_prequal_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['prequal']}"
    upstream_licences_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['licences']}"
    upstream_helpdesk_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['helpdesk']}"
    upstream_knowledge_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['knowledge']}"
    upstream_timeout_seconds: float = 15.0
    # Per upstream, overriding the default, e.g. GATEWAY_UPSTREAM_TIMEOUTS='{"knowledge": 30}'.
    upstream_timeouts: dict[str, float] = {}
    upstream_connect_timeout_seconds: float = 2.0
    upstream_pool_size: int = 256
    # Circuit breakers: this many failures in a row open an upstream's circuit for this long.
    breaker_failures: int = 5
    breaker_open_seconds: float = 5.0
    max_body_bytes: int = 25 * 1024 * 1024
    # How often each service's scope declarations (from its OpenAPI document) are read again.
    scope_refresh_seconds: float = 60.0
    cors_origins: list[str] = []

    # Rate limits: the routing table declares them per route; these adjust them without a release.
    # GATEWAY_RATE_LIMITS='{"/v1/assistant": {"per_client": 30, "per_ip": 120, "window_seconds": 60}}'
    rate_limits: dict[str, dict[str, int]] = {}
    # Multiplies every limit (local development and load tests run far above one person's rate).
    rate_limit_multiplier: float = 1.0
    # "database": counted across replicas in lvrong_gateway; "local": each replica on its own.
    rate_limit_store: str = "database"
    rate_limit_sync_seconds: float = 0.2
    # CIDRs of the proxies in front of the gateway (the ingress), e.g. "10.42.0.0/16": only from them are
    # Forwarded / X-Forwarded-For believed for the client's address; empty: the peer's address counts.
    trusted_proxies: str = ""

    # The development token issuer (POST /auth/token, GET /.well-known/jwks.json): off unless enabled.
    dev_issuer_enabled: bool = False
    dev_issuer_key_dir: Path = Path("var/dev-issuer")
    dev_issuer_token_ttl_seconds: int = 1800

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_networks(value)  # a typo must stop the start, not silently trust nobody
        return value

    @model_validator(mode="after")
    def _production_needs_shared_limits(self) -> Settings:
        if not production_profile():
            return self
        if self.rate_limit_store != "database":
            raise ValueError("LVRONG_PROFILE=production: GATEWAY_RATE_LIMIT_STORE must be 'database' "
                             "(limits shared by every replica), not per replica")
        if "database_url" not in self.model_fields_set:
            raise ValueError("LVRONG_PROFILE=production: set DATABASE_URL (or GATEWAY_DATABASE_URL): the rate "
                             "limits every replica shares are kept in the gateway's database")
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    def upstream_urls(self) -> dict[str, str]:
        return {name: getattr(self, f"upstream_{name}_url").rstrip("/") for name in UPSTREAM_DEFAULT_PORTS}

    @property
    def rate_limit_dsn(self) -> str | None:
        if self.rate_limit_store != "database":
            return None
        return make_url(self.service_database_url).set(drivername="postgresql").render_as_string(hide_password=False)
