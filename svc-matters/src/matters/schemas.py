"""Request and response bodies of svc-matters."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.contracts.matters import FormFieldSpec, MaterialSpec


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PREREVIEWED = "prereviewed"  # 预审通过
    RETURNED = "returned"  # 退回补正
    ACCEPTED = "accepted"  # 受理
    REFUSED = "refused"  # 不予受理
    UNDER_REVIEW = "under_review"  # 审查
    CORRECTION_REQUESTED = "correction_requested"  # 审查中要求补正 (clock paused)
    APPROVED = "approved"  # 决定: 准予
    DENIED = "denied"  # 决定: 不予
    LICENCE_ISSUED = "licence_issued"  # 出证
    COMPLETED = "completed"  # 办结
    WITHDRAWN = "withdrawn"


STATUS_LABELS_ZH = {
    ApplicationStatus.DRAFT: "草稿", ApplicationStatus.SUBMITTED: "已提交", ApplicationStatus.PREREVIEWED: "预审通过",
    ApplicationStatus.RETURNED: "退回补正", ApplicationStatus.ACCEPTED: "已受理", ApplicationStatus.REFUSED: "不予受理",
    ApplicationStatus.UNDER_REVIEW: "审查中", ApplicationStatus.CORRECTION_REQUESTED: "待补正",
    ApplicationStatus.APPROVED: "准予许可", ApplicationStatus.DENIED: "不予许可",
    ApplicationStatus.LICENCE_ISSUED: "已出证", ApplicationStatus.COMPLETED: "已办结", ApplicationStatus.WITHDRAWN: "已撤回",
}


class Stage(StrEnum):
    """Where an application stands, as the applicant sees it (申请→预审→受理→审查→决定→出证→办结)."""

    APPLY = "apply"  # 申请 (draft, or back with the applicant for correction)
    PREREVIEW = "prereview"  # 预审
    ACCEPTANCE = "acceptance"  # 受理
    REVIEW = "review"  # 审查
    DECISION = "decision"  # 决定
    ISSUANCE = "issuance"  # 出证
    COMPLETED = "completed"  # 办结
    CLOSED = "closed"  # ended without a grant: refused, denied or withdrawn


STAGE_LABELS_ZH = {
    Stage.APPLY: "申请", Stage.PREREVIEW: "预审", Stage.ACCEPTANCE: "受理", Stage.REVIEW: "审查",
    Stage.DECISION: "决定", Stage.ISSUANCE: "出证", Stage.COMPLETED: "办结", Stage.CLOSED: "已终止",
}


class Fee(BaseModel):
    amount_fen: int = Field(description="Fee in fen (分); 0 when free of charge")
    note_zh: str | None = None


class MatterSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    name_zh: str
    name_en: str
    kind: Literal["licence", "filing"]
    department: str
    complexity: Literal["general", "complex"]
    statutory_days: int = Field(description="Statutory time limit (法定时限) in working days")
    promised_days: int = Field(description="Promised time limit (承诺时限) in working days")


class MatterDetail(MatterSummary):
    fee: Fee
    legal_basis: list[str]
    conditions_zh: list[str]
    channels: list[str]
    help_video_url: str | None
    licence_type: str | None
    fields: list[FormFieldSpec]
    materials: list[MaterialSpec]
    published_at: datetime


class LicenceExemption(BaseModel):
    """两个免于提交: a licence the applicant holds stands in for the material."""

    model_config = ConfigDict(extra="forbid")
    licence_id: str = Field(min_length=1, max_length=128)


class EarlierApplicationExemption(BaseModel):
    """两个免于提交: the same material of an earlier application of the same applicant stands in for it."""

    model_config = ConfigDict(extra="forbid")
    from_application: str = Field(min_length=1, max_length=32)


MaterialInput = Annotated[str, Field(min_length=1, max_length=64)] | LicenceExemption | EarlierApplicationExemption


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "matter_code": "LR-XK-008",
        "form": {"tree_species": "香樟", "tree_count": 3},
        "materials": {"site_plan": "0f8c2a9d41b34c55a1e2a7d3c9b0e111", "business_licence": {"licence_id": "L-2026-0001"}},
    }]})

    matter_code: str = Field(min_length=1, max_length=32)
    form: dict[str, Any] = Field(default_factory=dict, description="Values by field key of the matter's form")
    materials: dict[str, MaterialInput] = Field(
        default_factory=dict,
        description="By material code: the id of an uploaded material (`POST /v1/materials`), or "
                    "`{\"licence_id\": ...}` / `{\"from_application\": ...}` for an exempted one (两个免于提交)")
    draft: bool = Field(default=False, description="Save as a draft (草稿) without submitting; submit later with the `submit` action")


class ActionRequest(BaseModel):
    """The body of ``POST /v1/applications/{id}/actions/{action}``."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000, description="Required for refuse, deny, request_correction, extend")
    working_days: int | None = Field(default=None, ge=1, le=60, description="For `extend`: working days added to the clock")
    form: dict[str, Any] | None = Field(default=None, description="For `supplement`/`submit`: replacement form values")
    materials: dict[str, MaterialInput] | None = Field(default=None, description="For `supplement`/`submit`: replacement materials")


class AllowedAction(BaseModel):
    action: str
    roles: list[str]
    to_status: str | None


class ClockView(BaseModel):
    """The statutory clock (法定时限) in working days of the platform calendar."""

    started_on: date | None
    limit_days: int | None = Field(description="Statutory working days, extensions included")
    due_date: date | None
    working_days_left: int | None
    paused: bool
    overdue: bool
    stopped: bool
    percent_used: int | None


class TimelineStep(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_status: ApplicationStatus | None = Field(description="The status before this step")
    status: ApplicationStatus
    status_label_zh: str
    action: str
    actor: str = Field(description="Who took the step: a user subject or a service (e.g. `svc-prequal`); "
                                    "shown to the applicant as the role when it is a member of staff")
    actor_role: str
    reason: str | None
    details: dict[str, Any]
    occurred_at: datetime


class ApplicationView(BaseModel):
    id: str
    matter_code: str
    matter_version: int
    status: ApplicationStatus
    status_label_zh: str
    stage: Stage
    stage_label_zh: str
    department: str
    origin: str
    bundle_id: str | None
    clock: ClockView
    exempted_materials: int
    attempt: int = Field(description="1 for the first submission, +1 for each resubmission after correction")
    applicant: str
    form: dict[str, Any]
    materials: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    last_step: TimelineStep | None = None


class ApplicationListItem(BaseModel):
    id: str
    matter_code: str
    status: ApplicationStatus
    status_label_zh: str
    stage: Stage
    department: str
    due_date: date | None
    overdue: bool
    created_at: datetime
    updated_at: datetime


class MaterialView(BaseModel):
    """An uploaded material."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str
    created_at: datetime
