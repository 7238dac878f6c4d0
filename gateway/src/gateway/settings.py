"""Gateway settings (``GATEWAY_*``)."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from gateway.routes import UPSTREAM_DEFAULT_PORTS
from kit.settings import PlatformSettings


class Settings(PlatformSettings):
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
    max_body_bytes: int = 25 * 1024 * 1024
    cors_origins: list[str] = []

    # The development token issuer (POST /auth/token, GET /.well-known/jwks.json): off unless enabled.
    dev_issuer_enabled: bool = False
    dev_issuer_key_dir: Path = Path("var/dev-issuer")
    dev_issuer_token_ttl_seconds: int = 1800

    def upstream_urls(self) -> dict[str, str]:
        return {name: getattr(self, f"upstream_{name}_url").rstrip("/") for name in UPSTREAM_DEFAULT_PORTS}
