"""Settings from the environment, one prefix per service (``MATTERS_``, ``PREQUAL_``, ...).

A few values are platform-wide: a service reads its prefixed variable first and falls back to
the unprefixed one (``MATTERS_NATS_URL`` then ``NATS_URL``), so ops set the servers once.

The profile (``LVRONG_PROFILE``): ``development`` (the default: ``make run``, the tests) lets a
process make up what it lacks — development keys, the development token issuer, data under
``var/`` in the working directory — so a checkout runs with zero set-up. ``production`` refuses all
of that: every process checks its settings at start (``PlatformSettings.refuse_unless_deployable``)
and stops with one error naming each missing setting or file, before it serves anything.
"""
from __future__ import annotations

import enum
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import structlog
from pydantic import AliasChoices, Field, field_validator, model_validator
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

PROFILE_VARIABLE = "LVRONG_PROFILE"


class Profile(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def parse_profile(value: str | Profile) -> Profile:
    text = str(value).strip().lower() or Profile.DEVELOPMENT
    try:
        return Profile(text)
    except ValueError:
        raise ValueError(f"{PROFILE_VARIABLE} must be 'development' or 'production', not {text!r}") from None


def current_profile() -> Profile:
    """The profile of this process, from ``LVRONG_PROFILE`` (default ``development``)."""
    return parse_profile(os.environ.get(PROFILE_VARIABLE, ""))


DeploymentCheck = Callable[[], list[str]]
"""A check a service runs at start in production: the problems found (none: deployable)."""


class NotDeployable(RuntimeError):
    """The production profile refuses to start this process; ``problems`` names each setting or file."""

    def __init__(self, process: str, problems: list[str]) -> None:
        self.problems = problems
        listed = "".join(f"\n  - {p}" for p in problems)
        super().__init__(f"{process} refuses to start in the production profile ({PROFILE_VARIABLE}=production):{listed}")


def under_working_directory(path: Path | str) -> bool:
    """Whether ``path`` (relative paths count from the working directory) lies inside the working
    directory, which a production container has read-only (its image)."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        return True
    return resolved.resolve().is_relative_to(Path.cwd().resolve())


def writable_path_problem(variable: str, path: Path | str) -> str | None:
    """The problem with writing to ``path`` in production, or None when it is a path of its own."""
    if under_working_directory(path):
        return (f"{variable}={str(path)!r} lies in the working directory ({Path.cwd()}), which is read-only in "
                f"production: set it to a mounted volume")
    return None


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
    # Read from LVRONG_PROFILE by every process, whatever its prefix.
    profile: Profile = Field(default_factory=current_profile, validation_alias=AliasChoices("lvrong_profile", "profile"))

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Profile:
        return parse_profile(value)

    @property
    def production(self) -> bool:
        return self.profile is Profile.PRODUCTION

    def production_problems(self) -> list[str]:
        """What keeps this process from running in production; a service adds its own checks."""
        problems = []
        # The defaults point at the gateway's development issuer, which production never runs.
        for name in ("auth_issuer", "auth_jwks_url"):
            if name not in self.model_fields_set:
                problems.append(f"{name.upper()} is not set: production trusts the city's identity platform, "
                                f"never the development issuer's default")
        trace_dir = os.environ.get("LVRONG_TRACE_DIR")
        if trace_dir and (problem := writable_path_problem("LVRONG_TRACE_DIR", trace_dir)):
            problems.append(problem)
        return problems

    def refuse_unless_deployable(self, *checks: DeploymentCheck) -> None:
        """In the production profile, raise ``NotDeployable`` listing every problem; else nothing.

        ``checks`` are a service's own, beyond its settings (e.g. that its mounted keys load): the
        settings layer reads configuration and nothing of the service's domain."""
        if self.production and (problems := self.production_problems() + [p for check in checks for p in check()]):
            raise NotDeployable(self.service_name, problems)

    def exit_unless_deployable(self, *checks: DeploymentCheck) -> None:
        """At a process's start: ``refuse_unless_deployable``, as one JSON log line ops can alert on and
        an exit with the problems listed (status 1, no traceback to read past)."""
        try:
            self.refuse_unless_deployable(*checks)
        except NotDeployable as refused:
            structlog.get_logger("kit.settings").error("production_profile_refused", process=self.service_name,
                                                       problems=refused.problems)
            raise SystemExit(str(refused)) from None

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

    # Whether the service keeps personal data encrypted (kit.protection), so needs the keyring.
    uses_data_protection: ClassVar[bool] = True
    # Whether it connects to NATS as its own identity (kit.natsauth), so needs its seed.
    uses_bus: ClassVar[bool] = True
    # Whether it keeps an audit log (kit.audit), so needs the chain and anchor keys.
    keeps_audit_log: ClassVar[bool] = True

    def production_problems(self) -> list[str]:
        from kit.audit import AuditSettings  # here: kit.audit imports the web stack, which imports this module
        from kit.protection import ProtectionSettings  # here: kit.protection imports this module

        problems = super().production_problems()
        # The default is a workstation's server; every replica must share the one ops configured
        # (the gateway's rate limits too, which are per replica without it).
        if "database_url" not in self.model_fields_set:
            prefix = self.model_config.get("env_prefix", "")
            problems.append(f"DATABASE_URL (or {prefix}DATABASE_URL) is not set: production never uses the default "
                            f"server on 127.0.0.1")
        if self.uses_data_protection:
            problems += ProtectionSettings().production_problems()
        if self.uses_bus and (problem := self._nats_seed_problem()):
            problems.append(problem)
        if self.keeps_audit_log:
            problems += AuditSettings().production_problems()
        return problems

    def _nats_seed_problem(self) -> str | None:
        # Without a seed the client connects anonymously, which only a server without authentication
        # accepts: production's NATS refuses it, and a bus open to anyone must not be what makes it work.
        seed = self.nats_client.seed_file
        if seed and Path(seed).is_file():
            return None
        prefix = self.model_config.get("env_prefix", "")
        if self.nats_seed_file:
            where = f"{prefix}NATS_SEED_FILE={seed!r} is not a file"
        elif self.nats_credentials_dir:
            where = f"no {self.service_name}.nk in NATS_CREDENTIALS_DIR={self.nats_credentials_dir!r}"
        else:
            where = f"neither NATS_CREDENTIALS_DIR nor {prefix}NATS_SEED_FILE is set"
        return (f"no NATS credentials for {self.service_name} ({where}): production's NATS refuses clients "
                f"without an NKey seed (deploy/README.md \"NATS identities\")")

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
