"""Request and response bodies of svc-prequal."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kit.contracts import Finding, MaterialRef
from kit.contracts.prequal import RuleOutcome
from kit.kpi import Definition
from prequal import messages

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
    materials: dict[str, Any] = Field(default_factory=dict, description="material code → reference (any non-empty value "
                                      "counts as supplied); a licence given for a material (两个免于提交) as "
                                      '`{"kind": "licence", "licence_id": …}` is compared like a submission\'s')

    @field_validator("materials")
    @classmethod
    def _licence_references(cls, materials: dict[str, Any]) -> dict[str, Any]:
        for code, ref in materials.items():
            if isinstance(ref, dict) and ref.get("kind") == "licence":
                try:
                    MaterialRef.model_validate(ref)
                except ValidationError as exc:
                    text = messages.LICENCE_REFERENCE_MALFORMED.format(
                        code=code, error=exc.errors(include_url=False)[0]["msg"])
                    # A request validation error carries one message for both languages.
                    raise ValueError(f"{text.zh} / {text.en}") from None
        return materials


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


# ---- pre-fill (智能预填) and measures ------------------------------------------------------------------

class PrefillRequest(BaseModel):
    matter_code: str = Field(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", examples=["LR-XK-007"])


class PrefilledField(BaseModel):
    value: Any
    source: Literal["profile", "licence", "earlier_application", "business_data"]
    source_ref: str = Field(description="Where the value comes from: token:<subject>, licence:<id>, application:<id>, "
                                        "business:<unified social credit code>")
    as_of: datetime = Field(description="How fresh the value is: when the source said so (for business_data: when "
                                        "the registry's data was imported)")
    label: str
    matter_code: str | None = Field(default=None, description="For earlier_application: the matter it was filed under")
    observed_at: datetime | None = Field(default=None, description="When the service received the event it came from "
                                         "(earlier_application, business_data)")


class HeldLicence(BaseModel):
    licence_id: str
    licence_number: str
    licence_type: str
    application_id: str
    issued_at: datetime
    observed_at: datetime


class PrefillResult(BaseModel):
    prefill_id: str
    matter_code: str
    matter_version: int
    fields_total: int
    fields_filled: int
    ratio: float
    fields: dict[str, PrefilledField]
    unfilled: list[str]
    licences: list[HeldLicence] = Field(description="Licences the caller (or their company) holds")
    created_at: datetime


class MatterMeasures(BaseModel):
    submitted: int = Field(description="Applications first submitted in the period")
    prereviewed: int = Field(description="… of which got an automatic pre-review verdict")
    decided: int = Field(description="… of which the verdict was passed or returned (not needs_human_review)")
    accepted: int
    accepted_first_time: int
    acceptance_decided: int = Field(description="Applications whose acceptance was decided in the period (accepted "
                                                "or refused): the denominator of first_time_acceptance_rate")
    prefills: int
    form_fields: int
    fields_prefilled: int
    prefills_submitted: int
    fields_prefilled_submitted: int
    fields_kept: int
    returned_by_prereview: int
    wrongly_blocked: int
    prereview_coverage: float | None
    automatic_decision_rate: float | None
    first_time_acceptance_rate: float | None
    prefill_ratio: float | None
    prefill_kept_ratio: float | None
    wrongly_blocked_rate: float | None


class MatterMeasuresRow(MatterMeasures):
    matter_code: str


class MeasuresView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    matter: str | None
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    timezone: str
    items: list[MatterMeasuresRow]
    total: MatterMeasures
    definitions: dict[str, Definition] = Field(description="What each rate divides, by the rate's name")


# ---- shadow mode (prequal.shadow) ---------------------------------------------------------------------

class ShadowState(BaseModel):
    matter_code: str
    version: int
    in_shadow: bool
    started_by: str | None = None
    started_at: datetime | None = None


class ShadowDisagreement(BaseModel):
    application_id: str
    attempt: int
    active_ruleset: str
    active_verdict: VerdictValue
    shadow_verdict: VerdictValue
    differing_rules: list[dict[str, Any]] = Field(description="rule_id with its outcome under the active and the "
                                                  "shadow version ('absent' where a version lacks the rule)")
    checked_at: datetime


class ShadowReport(ShadowState):
    evaluated: int = Field(description="Submissions evaluated in shadow by this version")
    agreed: int
    disagreed: int
    by_verdicts: list[dict[str, Any]] = Field(description="Counts per (active verdict, shadow verdict) pair")
    by_rule: list[dict[str, Any]] = Field(description="How many listed disagreements each rule takes part in")
    disagreements: list[ShadowDisagreement] = Field(description="Most recent first (at most 200)")
