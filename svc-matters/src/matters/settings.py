"""The configuration of svc-matters: the only place its ``MATTERS_*`` variables are read."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from kit.events.streams import DAY, LONGEST_EVENT_AGE_SECONDS
from kit.settings import ServiceSettings, writable_path_problem
from matters.service import stalls
from matters.service.blobs import BlobStoreKind


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="MATTERS_")
    service_name: ClassVar[str] = "matters"
    port: int = 8001
    clock_warning_interval_seconds: float = 60.0
    # Where uploaded materials are kept (matters.service.blobs): ``postgres`` (every replica shares it)
    # or ``filesystem`` under ``blob_dir`` (one process, or replicas sharing one volume).
    blob_store: BlobStoreKind = BlobStoreKind.POSTGRES
    blob_dir: Path = Path("var/blobs")
    max_material_bytes: int = 20 * 1024 * 1024
    # Live status streams (SSE): a comment this often keeps proxies from closing a quiet stream; a
    # client this many events behind is dropped with a resync rather than holding up the others.
    live_heartbeat_seconds: float = 15.0
    live_queue_size: int = 256
    # Stalls (堵点): status → hours, {"hours": h}, {"working_days": n} or null (off), over the defaults
    # of matters.service.stalls; e.g. MATTERS_STALL_THRESHOLDS='{"returned": {"working_days": 3}}'.
    stall_thresholds: dict[str, Any] = {}
    stall_detection_interval_seconds: float = 60.0
    stall_batch_size: int = 2000  # at most this many stalls opened per status per tick
    # Every current matter version is announced again this often (matters.service.catalogue), so the
    # catalogue svc-prequal is rebuilt from never ages out of LVRONG_MATTERS (max age 7 days).
    catalogue_announce_interval_seconds: float = DAY

    @field_validator("catalogue_announce_interval_seconds")
    @classmethod
    def _announced_well_inside_the_stream_age(cls, value: float) -> float:
        # Half the max age: a round that fails (svc-matters or the bus away) still leaves an earlier one.
        if not 0 < value <= LONGEST_EVENT_AGE_SECONDS / 2:
            raise ValueError(f"must be > 0 and at most {LONGEST_EVENT_AGE_SECONDS / 2:.0f} s (half the event streams' max age)")
        return value

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        # Only the filesystem store writes under blob_dir; the PostgreSQL store needs no volume.
        if self.blob_store is BlobStoreKind.FILESYSTEM and (
                problem := writable_path_problem("MATTERS_BLOB_DIR", self.blob_dir)):
            problems.append(problem)
        return problems

    @field_validator("stall_thresholds")
    @classmethod
    def _valid_stall_thresholds(cls, value: dict[str, Any]) -> dict[str, Any]:
        stalls.parse_overrides(value)  # a bad threshold stops the service at start, not at the first tick
        return value
