"""Response bodies of svc-prequal."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kit.contracts import Finding


class VerdictView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    application_id: str
    attempt: int
    matter_code: str
    matter_version: int
    verdict: Literal["passed", "returned"]
    findings: list[Finding]
    ruleset: str
    submitted_at: datetime
    checked_at: datetime
