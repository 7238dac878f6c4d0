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


class RuleOutcome(BaseModel):
    """One rule's result in a pre-review: passed, failed (with its message), not applicable, or errored
    at evaluation (left to a reviewer)."""

    rule_id: str
    targets: list[str] = []
    outcome: Literal["passed", "failed", "not_applicable", "error"]
    severity: Literal["blocking", "warning"]
    message_zh: str | None = None
    message_en: str | None = None


class PrereviewVerdictIssued(EventContract):
    event_type: ClassVar[str] = "lvrong.prequal.verdict.issued"
    source_service: ClassVar[str] = "prequal"

    application_id: str
    attempt: int
    # needs_human_review: only warnings failed, or a rule could not be evaluated; anything but "passed"
    # is not passed for svc-matters.
    verdict: Literal["passed", "returned", "needs_human_review"]
    findings: list[Finding]
    ruleset: str
    checked_at: datetime
    results: list[RuleOutcome] | None = None  # every rule's result, when the rule set is data
