"""Request and response bodies of svc-matters."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

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
    APPROVED = "approved"  # 决定: 准予
    DENIED = "denied"  # 决定: 不予
    LICENCE_ISSUED = "licence_issued"  # 出证
    COMPLETED = "completed"  # 办结
    WITHDRAWN = "withdrawn"


STATUS_LABELS_ZH = {
    ApplicationStatus.DRAFT: "草稿", ApplicationStatus.SUBMITTED: "已提交", ApplicationStatus.PREREVIEWED: "预审通过",
    ApplicationStatus.RETURNED: "退回补正", ApplicationStatus.ACCEPTED: "已受理", ApplicationStatus.REFUSED: "不予受理",
    ApplicationStatus.UNDER_REVIEW: "审查中", ApplicationStatus.APPROVED: "准予许可", ApplicationStatus.DENIED: "不予许可",
    ApplicationStatus.LICENCE_ISSUED: "已出证", ApplicationStatus.COMPLETED: "已办结", ApplicationStatus.WITHDRAWN: "已撤回",
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


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "matter_code": "LR-XK-008",
        "form": {"tree_species": "香樟", "tree_count": 3},
        "materials": {"site_plan": "mat_0f8c2a"},
    }]})

    matter_code: str = Field(min_length=1, max_length=32)
    form: dict[str, Any] = Field(default_factory=dict, description="Values by field key of the matter's form")
    materials: dict[str, str] = Field(default_factory=dict, description="Uploaded material ids by material code")


class TimelineStep(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: ApplicationStatus
    status_label_zh: str
    action: str
    actor: str = Field(description="Who took the step: a user subject or a service (e.g. `svc-prequal`)")
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
    attempt: int = Field(description="1 for the first submission, +1 for each resubmission after correction")
    applicant: str
    form: dict[str, Any]
    materials: dict[str, str]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    last_step: TimelineStep | None = None


class ApplicationListItem(BaseModel):
    id: str
    matter_code: str
    status: ApplicationStatus
    status_label_zh: str
    created_at: datetime
    updated_at: datetime
