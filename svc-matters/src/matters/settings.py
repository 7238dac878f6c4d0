"""The configuration of svc-matters: the only place its ``MATTERS_*`` variables are read, and the
choices they name (the blob store kind, the stall thresholds), so the service imports its settings
and never the reverse."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from kit.events.streams import DAY, LONGEST_EVENT_AGE_SECONDS
from kit.settings import ServiceSettings, writable_path_problem
from matters import messages
from matters.schemas import ApplicationStatus


class BlobStoreKind(StrEnum):
    POSTGRES = "postgres"
    FILESYSTEM = "filesystem"


S = ApplicationStatus
# Never stalls: nothing more is expected to happen.
TERMINAL = frozenset({S.REFUSED, S.DENIED, S.WITHDRAWN, S.COMPLETED})
# The applicant's move: off by default (see matters.service.stalls), ops may switch them on.
APPLICANT_SIDE = frozenset({S.DRAFT, S.RETURNED, S.CORRECTION_REQUESTED})


@dataclass(frozen=True)
class Threshold:
    """How long an application may rest in ``status`` before it is a stall."""

    status: ApplicationStatus
    hours: float | None = None  # wall-clock hours
    working_days: int | None = None  # working days of the platform calendar
    note_zh: str = ""


DEFAULT_THRESHOLDS: dict[ApplicationStatus, Threshold] = {t.status: t for t in (
    Threshold(S.SUBMITTED, hours=10 / 60, note_zh="自动预审数秒内出结论，10 分钟仍无结论即为堵点"),
    Threshold(S.PREREVIEWED, working_days=1, note_zh="预审通过后 1 个工作日内应受理或不予受理"),
    Threshold(S.ACCEPTED, working_days=2, note_zh="受理后 2 个工作日内应开始审查"),
    Threshold(S.UNDER_REVIEW, working_days=5, note_zh="审查中 5 个工作日无任何进展（法定时限另有预警）"),
    Threshold(S.APPROVED, working_days=2, note_zh="准予后 2 个工作日内应出证（备案事项：办结）"),
    Threshold(S.LICENCE_ISSUED, working_days=1, note_zh="出证后 1 个工作日内应办结"),
)}


def parse_overrides(raw: Mapping[str, Any] | None) -> dict[ApplicationStatus, Threshold | None]:
    """Validate ``MATTERS_STALL_THRESHOLDS``: status → hours (a number), ``{"hours": h}``,
    ``{"working_days": n}``, or ``null`` to switch the status off. Raises ``ValueError``."""
    parsed: dict[ApplicationStatus, Threshold | None] = {}
    for key, value in (raw or {}).items():
        try:
            status = ApplicationStatus(key)
        except ValueError:
            raise ValueError(f"stall threshold for unknown status {key!r}") from None
        if status in TERMINAL:
            raise ValueError(f"status {key!r} is final: it cannot stall")
        if value is None:
            parsed[status] = None
            continue
        hours = working_days = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            hours = float(value)
        elif isinstance(value, dict) and set(value) == {"hours"} and isinstance(value["hours"], int | float) \
                and not isinstance(value["hours"], bool):
            hours = float(value["hours"])
        elif isinstance(value, dict) and set(value) == {"working_days"} and isinstance(value["working_days"], int) \
                and not isinstance(value["working_days"], bool):
            working_days = value["working_days"]
        else:
            raise ValueError(f"stall threshold for {key!r} must be hours, {{\"hours\": h}}, "
                             f"{{\"working_days\": n}} or null, not {value!r}")
        if (hours is not None and not (0 < hours < 24 * 366 and math.isfinite(hours))) or \
                (working_days is not None and not 1 <= working_days <= 250):
            raise ValueError(f"stall threshold for {key!r} is out of range: {value!r}")
        parsed[status] = Threshold(status, hours=hours, working_days=working_days, note_zh=messages.THRESHOLD_SET_BY_OPS.both())
    return parsed


def effective_thresholds(raw: Mapping[str, Any] | None) -> dict[ApplicationStatus, Threshold]:
    thresholds: dict[ApplicationStatus, Threshold | None] = {**DEFAULT_THRESHOLDS, **parse_overrides(raw)}
    return {s: t for s, t in thresholds.items() if t is not None}


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
    # An uploaded help video (帮办微视频); below the gateway's body limit (25 MiB): longer ones are linked.
    max_help_video_bytes: int = 24 * 1024 * 1024
    # Live status streams (SSE): a comment this often keeps proxies from closing a quiet stream; a
    # client this many events behind is dropped with a resync rather than holding up the others.
    live_heartbeat_seconds: float = 15.0
    live_queue_size: int = 256
    # Stalls (堵点): status → hours, {"hours": h}, {"working_days": n} or null (off), over
    # DEFAULT_THRESHOLDS above; e.g. MATTERS_STALL_THRESHOLDS='{"returned": {"working_days": 3}}'.
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
        parse_overrides(value)  # a bad threshold stops the service at start, not at the first tick
        return value
