"""Gateway settings (``GATEWAY_*``)."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from gateway.forwarded import Network, parse_networks
from gateway.routes import UPSTREAM_DEFAULT_PORTS
from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    """The gateway's own database holds only the shared rate-limit counters (``lvrong_gateway``)."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="GATEWAY_")
    service_name: ClassVar[str] = "gateway"
    uses_data_protection: ClassVar[bool] = False
    uses_bus: ClassVar[bool] = False  # it does not use NATS and has no identity there
    keeps_audit_log: ClassVar[bool] = False

    port: int = 8000
    # Upstream base URLs; unset ones default to 127.0.0.1 on the service's standard port.
    upstream_matters_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['matters']}"
    upstream_prequal_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['prequal']}"
    upstream_licences_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['licences']}"
    upstream_helpdesk_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['helpdesk']}"
    upstream_knowledge_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['knowledge']}"
    upstream_notifications_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['notifications']}"
    upstream_booking_url: str = f"http://127.0.0.1:{UPSTREAM_DEFAULT_PORTS['booking']}"
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
    # (on a route with a limit for callers without a token, "anonymous_per_ip" adjusts that one).
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

    # The web front end (web/, built into web/dist): served under /app/ when set. In the image it is
    # copied beside the gateway; `make run` and the tests point here at the checkout's build.
    web_root: Path | None = None
    # How the pages log people in: "password" against the development issuer, or "oidc" (the city's
    # identity platform, authorization code with PKCE) with the endpoints and client below.
    web_login: Literal["password", "oidc"] = "password"
    web_oidc_authorization_endpoint: str = ""
    web_oidc_token_endpoint: str = ""
    web_oidc_client_id: str = ""
    web_oidc_scope: str = "openid"

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_networks(value)  # a typo must stop the start, not silently trust nobody
        return value

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.dev_issuer_enabled:
            problems.append("GATEWAY_DEV_ISSUER_ENABLED is true: the development token issuer (demo users, password "
                            "'demo') is never enabled in production")
        if self.web_root is not None and self.web_login == "password":
            problems.append("GATEWAY_WEB_LOGIN is 'password': the pages of a production gateway log people in at the "
                            "city's identity platform (GATEWAY_WEB_LOGIN=oidc and its endpoints)")
        if self.web_login == "oidc" and not (self.web_oidc_authorization_endpoint and self.web_oidc_token_endpoint
                                             and self.web_oidc_client_id):
            problems.append("GATEWAY_WEB_LOGIN is 'oidc' without GATEWAY_WEB_OIDC_AUTHORIZATION_ENDPOINT, "
                            "GATEWAY_WEB_OIDC_TOKEN_ENDPOINT and GATEWAY_WEB_OIDC_CLIENT_ID")
        if self.rate_limit_store != "database":
            problems.append("GATEWAY_RATE_LIMIT_STORE must be 'database' (limits shared by every replica), "
                            "not per replica")
        return problems

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
