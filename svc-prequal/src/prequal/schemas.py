"""Request and response bodies of svc-prequal."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.contracts import Finding
from kit.contracts.prequal import RuleOutcome

VerdictValue = Literal["passed", "returned", "needs_human_review"]


class VerdictView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    application_id: str
    attempt: int
    matter_code: str
    matter_version: int
    verdict: VerdictValue
    findings: list[Finding]
    ruleset: str
    submitted_at: datetime
    checked_at: datetime


class ReviewView(VerdictView):
    """The latest pre-review of an application with every rule's result."""

    ruleset_version: int | None = Field(description="Version of the matter's rule set; null for generic rules")
    results: list[RuleOutcome]


class CheckRequest(BaseModel):
    matter_code: str = Field(max_length=32, examples=["LR-XK-007"])
    form: dict[str, Any] = Field(default_factory=dict)
    materials: dict[str, Any] = Field(default_factory=dict, description="material code → reference (any non-empty value counts as supplied)")


class CheckResult(BaseModel):
    matter_code: str
    matter_version: int
    ruleset: str
    ruleset_version: int | None
    verdict: VerdictValue
    problems: list[Finding] = Field(description="Every failed rule at once, with what to fix")
    results: list[RuleOutcome]


class RuleSetSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    matter_code: str
    version: int
    status: Literal["draft", "active", "retired"]
    created_by: str
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


class RuleSetView(RuleSetSummary):
    rules: list[dict[str, Any]]


class RuleSetCreate(BaseModel):
    rules: list[dict[str, Any]] = Field(min_length=1, description="Rule records: id, targets, when, expr, severity, "
                                        "message_zh, message_en, legal_basis, effective_from, effective_to, examples")


class RuleSetTestResult(BaseModel):
    matter_code: str
    version: int
    examples_passed: bool
    examples: list[dict[str, Any]]
    applications: list[dict[str, Any]]
    changed: int
