"""Events published by svc-prequal (stream ``LVRONG_PREQUAL``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel

from kit.events.envelope import EventContract


class Finding(BaseModel):
    """One rule's result on one field or material, with what the applicant must do about it."""

    rule_id: str
    target: str  # "form.<key>" or "materials.<code>"
    severity: Literal["blocking", "warning"]
    message_zh: str
    message_en: str


class PrereviewVerdictIssued(EventContract):
    event_type: ClassVar[str] = "lvrong.prequal.verdict.issued"
    source_service: ClassVar[str] = "prequal"

    application_id: str
    attempt: int
    verdict: Literal["passed", "returned"]
    findings: list[Finding]
    ruleset: str
    checked_at: datetime
