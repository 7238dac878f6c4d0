"""Settings from the environment, one prefix per service (``MATTERS_``, ``PREQUAL_``, ...).

A few values are platform-wide: a service reads its prefixed variable first and falls back to
the unprefixed one (``MATTERS_NATS_URL`` then ``NATS_URL``), so ops set the servers once.
"""
from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from kit.natsauth import NatsClient, ops_identity

PLATFORM_WIDE = (
    "database_url",
    "nats_url",
    "auth_jwks_url",
    "auth_issuer",
    "auth_audience",
    "database_name_prefix",
    "log_level",
    "gateway_url",
    "nats_credentials_dir",
    "nats_tls_ca_file",
    "nats_tls_cert_file",
    "nats_tls_key_file",
)


class PlatformSettings(BaseSettings):
    """What every process of the platform reads (the gateway included)."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="")

    service_name: ClassVar[str] = "service"

    host: str = "127.0.0.1"
    port: int = 8000
    nats_url: str = "nats://127.0.0.1:4222"
    # NATS credentials (kit.natsauth): this process's NKey seed file (``<SERVICE>_NATS_SEED_FILE``), else
    # ``<identity>.nk`` in ``NATS_CREDENTIALS_DIR``; neither: no credentials (an unauthenticated server).
    nats_seed_file: str | None = None
    # The service's ops identity for replaying dead letters (``<SERVICE>_NATS_OPS_SEED_FILE``, else
    # ``ops-<service>.nk`` in the directory); without it a replay is refused by an authenticated server.
    nats_ops_seed_file: str | None = None
    nats_credentials_dir: str | None = None
    # TLS to NATS: a ``tls://`` URL, or a CA file (private CA), and a client certificate when the
    # server verifies clients.
    nats_tls_ca_file: str | None = None
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None
    auth_jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    auth_issuer: str = "http://127.0.0.1:8000"
    auth_audience: str = "lvrong"
    gateway_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    shutdown_timeout_seconds: float = 5.0

    def _nats_client(self, identity: str, seed_file: str | None) -> NatsClient:
        tls = {"tls_ca_file": self.nats_tls_ca_file, "tls_cert_file": self.nats_tls_cert_file,
               "tls_key_file": self.nats_tls_key_file}
        if seed_file:
            return NatsClient(self.nats_url, seed_file, identity, **tls)
        return NatsClient.from_directory(self.nats_url, self.nats_credentials_dir, identity, **tls)

    @property
    def nats_client(self) -> NatsClient:
        """How this process connects to NATS, as its own identity."""
        return self._nats_client(self.service_name, self.nats_seed_file)

    @property
    def nats_ops_client(self) -> NatsClient | None:
        """The service's ops identity, for its dead letters (read, discard, replay on their producers'
        subjects); None when its seed is not mounted."""
        client = self._nats_client(ops_identity(self.service_name), self.nats_ops_seed_file)
        return client if client.seed_file else None

    @model_validator(mode="before")
    @classmethod
    def _platform_wide_fallbacks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            prefix = cls.model_config.get("env_prefix", "")
            for name in PLATFORM_WIDE:
                if name in data or (prefix + name).upper() in os.environ:
                    continue
                value = os.environ.get(name.upper())
                if value is not None:
                    data[name] = value
        return data


class ServiceSettings(PlatformSettings):
    """What every service needs; a service subclasses it and sets ``service_name`` and the prefix."""

    # libpq-style URL of the PostgreSQL server; the database name is replaced by this service's own.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_name_prefix: str = "lvrong"
    database_pool_size: int = 20
    relay_batch_size: int = 200
    relay_poll_seconds: float = 0.5
    consumer_max_deliver: int = 5
    # How long the kit's bookkeeping rows are kept, and how the pruning job removes them (kit.pruning).
    retention_outbox_days: float = 7.0
    retention_processed_events_days: float = 14.0
    retention_idempotency_keys_days: float = 7.0
    retention_scheduler_ticks_days: float = 2.0
    pruning_interval_seconds: float = 3600.0
    pruning_batch_size: int = 2000

    @property
    def database_name(self) -> str:
        return f"{self.database_name_prefix}_{self.service_name}"

    @property
    def service_database_url(self) -> str:
        """The async SQLAlchemy URL of this service's own database on the configured server.

        libpq's TLS parameters (``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``) stay in it, so ops
        paste a libpq URL; ``kit.db.asyncpg_tls`` turns them into asyncpg's ``ssl`` when connecting.
        """
        return async_database_url(self.database_url, self.database_name)

    @property
    def admin_database_url(self) -> str:
        """A URL on the same server used to create this service's database when it is missing."""
        url = make_url(self.database_url).set(drivername="postgresql")
        if url.database in (None, "", self.database_name):
            url = url.set(database="postgres")
        return url.render_as_string(hide_password=False)



def async_database_url(database_url: str, database: str | None = None) -> str:
    """The async SQLAlchemy (asyncpg) URL of ``database`` (default: the URL's own) on the server of the
    libpq URL ``database_url``; its TLS parameters are kept for ``kit.db.asyncpg_tls``."""
    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)
