"""Request and response bodies of svc-matters."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit.contracts.matters import FieldType, FormFieldSpec, MaterialSpec
from kit.errors import FieldError


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


# licence: 行政许可; filing: 备案; public_service: 公共服务事项 (the bureau's other public-service items).
MatterKind = Literal["licence", "filing", "public_service"]


class Fee(BaseModel):
    amount_fen: int = Field(description="Fee in fen (分); 0 when free of charge")
    note_zh: str | None = None


class MatterSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    name_zh: str
    name_en: str
    kind: MatterKind
    department: str
    complexity: Literal["general", "complex"]
    statutory_days: int = Field(description="Statutory time limit (法定时限) in working days")
    promised_days: int = Field(description="Promised time limit (承诺时限) in working days")


class HelpVideoView(BaseModel):
    """A matter's help video (帮办微视频), as an editor set it."""

    id: str
    source: Literal["upload", "link"]
    url: str = Field(description="Where to watch it: the link, or `/v1/help-videos/{id}/content` for an upload (public)")
    content_type: str | None = Field(None, description="For an upload: video/mp4 or video/webm")
    size: int | None = None
    filename: str | None = None
    set_at: datetime


class MatterDetail(MatterSummary):
    fee: Fee
    legal_basis: list[str]
    conditions_zh: list[str]
    channels: list[str]
    help_video_url: str | None
    help_video: HelpVideoView | None = Field(None, description=(
        "The help video this guide version carries, when an editor set one (help_video_url is its url); null "
        "when the guide has none or only a link imported with the catalogue"))
    licence_type: str | None
    fields: list[FormFieldSpec]
    materials: list[MaterialSpec]
    published_at: datetime


class LicenceExemption(BaseModel):
    """两个免于提交: a licence the applicant holds stands in for the material."""

    model_config = ConfigDict(extra="forbid")
    licence_id: str = Field(
        min_length=1, max_length=128,
        description="The licence, as `GET /v1/licences` lists the caller's: its `id`, its `licence_number` or its "
                    "current `identifier` (证照标识); the application keeps its `id`. Accepted only when the "
                    "licence was issued to the applicant's account (or, for a company applicant, to its credit code), is of a type the material's `substitutes` "
                    "name, is valid today and is not suspended or revoked; otherwise 422 with "
                    "`materials.<code>`: `unknown_licence` (also for a licence issued seconds ago and not yet "
                    "known here: submit again shortly), `licence_not_held`, `licence_type_not_accepted`, "
                    "`licence_not_valid`. A company's business licence (营业执照) is named by the company's credit "
                    "code or the licence's number, and checked against the business registration data held here.")


class EarlierApplicationExemption(BaseModel):
    """两个免于提交: the same material of an earlier application of the same applicant stands in for it."""

    model_config = ConfigDict(extra="forbid")
    from_application: str = Field(min_length=1, max_length=32)


MaterialInput = Annotated[str, Field(min_length=1, max_length=64)] | LicenceExemption | EarlierApplicationExemption


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "matter_code": "LR-XK-008",
        "form": {"tree_species": "香樟", "tree_count": 3},
        "materials": {"site_plan": "0f8c2a9d41b34c55a1e2a7d3c9b0e111",
                      "business_licence": {"from_application": "5d0c7e2b9a8f4e31b6c2d4a7e9f01234"}},
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
    assignee: str | None = Field(default=None, min_length=1, max_length=128,
                                 description="For `assign`: the colleague (user subject, see `GET /v1/applications/handlers`) "
                                             "who holds the application from now on")


class ClockView(BaseModel):
    """The statutory clock (法定时限) in working days of the platform calendar."""

    started_on: date | None
    limit_days: int | None = Field(description="Statutory working days, extensions included")
    due_date: date | None
    due_date_provisional: bool = Field(description=(
        "The due date counts on a year whose holiday arrangement ops have not approved yet (暂定): the "
        "regulation's holidays without make-up working days. It is recomputed, with a timeline note and a "
        "`lvrong.matters.application.due_date_changed` event, when the year is approved"))
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
    assignee: str | None = Field(default=None, description="Staff only: who holds the application (claim/assign), None when nobody does")
    assigned_at: datetime | None = None
    allowed_actions: list[str] = Field(default_factory=list, description=(
        "The actions the caller may take now (`POST …/actions/{action}`), for showing only those"))


class ApplicationListItem(BaseModel):
    id: str
    matter_code: str
    status: ApplicationStatus
    status_label_zh: str
    stage: Stage
    department: str
    due_date: date | None
    due_date_provisional: bool = Field(description="The due date counts on a year not yet approved (see ClockView)")
    overdue: bool
    paused: bool = Field(default=False, description="The statutory clock is paused (correction requested)")
    assignee: str | None = Field(default=None, description="Staff only: who holds the application, None when nobody does")
    created_at: datetime
    updated_at: datetime


class ApplicationSort(StrEnum):
    """The order of ``GET /v1/applications``: newest first, or by statutory due date (earliest first; those
    without a running clock last, oldest first)."""

    CREATED = "created"
    DUE_DATE = "due_date"


class HandlerView(BaseModel):
    """A window officer or reviewer an application can be assigned to."""

    subject: str
    name: str | None
    department: str
    roles: list[str]
    open_applications: int = Field(description="Applications they hold that wait on staff")


class MaterialView(BaseModel):
    """An uploaded material."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str
    created_at: datetime


# =============================================================================================
# 一件事 bundles and 免申即享 benefits
# =============================================================================================

class BundleStatus(StrEnum):
    """The one combined status of a bundle (一件事), from the statuses of its parts.

    ``in_progress`` while any part is still open; once none is: ``completed`` when every part was
    completed (办结), ``partially_completed`` when some were and others ended without a grant
    (refused, denied or withdrawn), ``closed`` when none was completed.
    """

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    CLOSED = "closed"


BUNDLE_STATUS_LABELS_ZH = {
    BundleStatus.IN_PROGRESS: "办理中", BundleStatus.COMPLETED: "已办结",
    BundleStatus.PARTIALLY_COMPLETED: "部分办结", BundleStatus.CLOSED: "已终止",
}


class BundleMember(BaseModel):
    code: str
    name_zh: str
    name_en: str
    kind: str
    department: str
    preset_form: dict[str, Any] = Field(description="Form values the bundle fixes for this matter")


class BundleTypeView(BaseModel):
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    matters: list[BundleMember]
    shared_fields: list[str] = Field(description="Form fields of more than one member matter: fill them once in `shared`")
    shared_materials: list[str] = Field(description="Materials of more than one member matter: give them once in `shared_materials`")


class BundlePartInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form: dict[str, Any] = Field(default_factory=dict, description="Values of this matter only; they win over `shared`")
    materials: dict[str, MaterialInput] = Field(default_factory=dict)


class BundleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "bundle_type": "road-excavation-greening",
        "shared": {"applicant_uscc": "91310115MA1H7GXQ3E", "contact_name": "张三", "contact_mobile": "13912345678"},
        "shared_materials": {"business_licence": {"licence_id": "L-2026-0001"}, "owner_opinion": "0f8c2a9d41b34c55a1e2a7d3c9b0e111"},
        "parts": {"LR-XK-007": {"form": {"area_m2": 120.5}, "materials": {}},
                  "LR-XK-008": {"form": {"tree_species": "香樟", "tree_count": 3}, "materials": {}}},
    }]})

    bundle_type: str = Field(min_length=1, max_length=64)
    shared: dict[str, Any] = Field(default_factory=dict,
                                   description="Form values for every part whose matter has the field (e.g. applicant and contact)")
    shared_materials: dict[str, MaterialInput] = Field(
        default_factory=dict, description="Materials for every part whose matter lists that material code")
    parts: dict[str, BundlePartInput] = Field(description="By matter code: exactly the member matters of the bundle type")


class BundlePart(BaseModel):
    application_id: str
    matter_code: str
    matter_name_zh: str
    department: str
    status: ApplicationStatus
    status_label_zh: str
    stage: Stage
    stage_label_zh: str
    updated_at: datetime


class BundleView(BaseModel):
    id: str
    bundle_type: str
    name_zh: str
    name_en: str
    status: BundleStatus
    status_label_zh: str
    stage: Stage = Field(description="The least advanced stage of the parts still open; `completed` once every part "
                                     "ended with at least one completed, `closed` when none was")
    stage_label_zh: str
    needs_applicant: bool = Field(description="A part waits for the applicant (returned or correction requested)")
    parts_total: int
    parts_completed: int
    parts_closed: int
    parts: list[BundlePart]
    applicant: str
    created_at: datetime
    completed_at: datetime | None = Field(description="When the last part ended (the bundle's 办结)")


class LicenceRecord(BaseModel):
    """A licence or permit a registered business holds, as the registry reports it."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=50, description="e.g. 营业执照, 排水许可证")
    number: str = Field(min_length=1, max_length=100)
    valid_until: date | None = Field(default=None, description="Null: valid without a time limit (长期)")
    issued_on: date | None = None


class RegisteredBusinessInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uscc: str = Field(min_length=1, max_length=32, description="Unified social credit code (统一社会信用代码)")
    name: str = Field(min_length=1, max_length=200)
    business_scope: str = Field(min_length=1, max_length=4000, description="经营范围")
    district: str = Field(min_length=1, max_length=20)
    address: str = Field(min_length=1, max_length=300)
    status: Literal["active", "suspended", "deregistered"]
    licences: list[LicenceRecord] = Field(default_factory=list, max_length=50)


class BusinessImportLine(BaseModel):
    line: int = Field(description="1-based position in the imported list")
    uscc: str | None
    result: Literal["created", "updated", "rejected"]
    errors: list[FieldError] = Field(default_factory=list, description="Why a rejected line was rejected")


class BusinessImportReport(BaseModel):
    received: int
    accepted: int
    rejected: int
    lines: list[BusinessImportLine]


class EligibilityRuleView(BaseModel):
    id: str
    description_zh: str
    description_en: str


class BenefitRulesView(BaseModel):
    benefit: str
    matter_code: str
    version: str
    rules: list[EligibilityRuleView]


class GrantedBusiness(BaseModel):
    uscc: str
    name: str
    application_id: str


class IneligibleBusiness(BaseModel):
    uscc: str
    name: str
    failed_rules: list[str]


class BenefitRunReport(BaseModel):
    benefit: str
    rule_version: str
    ran_at: datetime
    examined: int
    matched: int = Field(description="Businesses meeting every rule (granted now or before)")
    granted_now: int
    already_granted: int
    ineligible: int
    ineligible_by_rule: dict[str, int] = Field(description="Rule id → businesses failing it")
    granted: list[GrantedBusiness]
    ineligible_businesses: list[IneligibleBusiness] = Field(description="At most 200, by USCC")


class BenefitGrantView(BaseModel):
    id: str
    benefit: str
    uscc: str
    business_name: str | None
    application_id: str
    rule_version: str
    matched_rules: list[str]
    granted_at: datetime


# --- the catalogue: versions, import, guide completeness (办事指南) ------------------------------

SNAKE_CASE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
MATTER_CODE = r"^[A-Z]{2,4}-[A-Z]{2,4}-[0-9]{3,4}$"
# The file types an upload may have; service.catalogue checks at import that this matches the
# signatures service.materials knows how to verify.
FileType = Literal["pdf", "jpg", "jpeg", "png", "ofd"]
Channel = Literal["online", "hall", "mobile", "kiosk"]
# `\S`: at least one character that is not white space, so "   " counts as missing.
_Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
_Sentence = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]
_Snake = Annotated[str, Field(max_length=64, pattern=SNAKE_CASE)]


class _StrictImport(BaseModel):
    # Strict: "20" is not 20 and 12.5 is not a fee in fen; unknown properties are typos, not data.
    model_config = ConfigDict(extra="forbid", strict=True)


class FieldOptionImport(_StrictImport):
    value: Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")]
    label: _Name


class FormFieldImport(_StrictImport):
    key: _Snake
    label: Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
    label_en: Annotated[str, Field(max_length=200)] | None = None
    type: FieldType
    required: bool = False
    required_when: dict[_Snake, Annotated[str, Field(max_length=64)]] | None = None
    options: list[FieldOptionImport] | None = Field(default=None, max_length=200)
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=1, le=4000)


class MaterialImport(_StrictImport):
    code: _Snake
    name: _Name
    name_en: Annotated[str, Field(max_length=300)] | None = None
    required: bool = True
    file_types: list[FileType] = Field(default_factory=list, max_length=5)
    max_size_mb: int | None = Field(default=None, ge=1, le=100)
    substitutes: list[Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]] = Field(
        default_factory=list, max_length=20, description="Licence types or earlier materials that can stand in (两个免于提交)")


class FeeImport(_StrictImport):
    amount_fen: int = Field(ge=0, le=10**10, description="Fee in fen (分), an integer; 0 when free of charge")
    note_zh: Annotated[str, Field(max_length=500)] | None = None


class MatterImport(_StrictImport):
    """One matter as ``POST /v1/matters/import`` takes it: the format of the packaged ``matters.json``.

    Only shape and consistency are enforced here; a guide that lacks elements (no legal basis, no
    help video…) is accepted and reported by ``GET /v1/matters/guide-completeness``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "code": "LR-GG-001", "name_zh": "绿化养护技术咨询", "name_en": "Technical advice on green-space maintenance",
        "kind": "public_service", "department": "市绿化市容局", "complexity": "general", "statutory_days": 10,
        "promised_days": 5, "fee": {"amount_fen": 0, "note_zh": "不收费"}, "legal_basis": ["《上海市绿化条例》"],
        "conditions_zh": ["本市绿地的养护单位或个人"], "channels": ["online", "hall"],
        "help_video_url": "https://lhsr.sh.gov.cn/videos/LR-GG-001.mp4", "licence_type": None,
        "fields": [{"key": "contact_name", "label": "联系人", "label_en": "Contact", "type": "string", "required": True}],
        "materials": [{"code": "request_letter", "name": "咨询函", "name_en": "Request letter", "required": True,
                       "file_types": ["pdf"], "max_size_mb": 10, "substitutes": []}],
    }]})

    code: Annotated[str, Field(max_length=32, pattern=MATTER_CODE, description="e.g. LR-XK-001")]
    name_zh: _Name
    name_en: Annotated[str, Field(max_length=300)] = ""
    kind: MatterKind
    department: _Name
    complexity: Literal["general", "complex"]
    statutory_days: int = Field(ge=1, le=365, description="Statutory time limit (法定时限) in working days")
    promised_days: int = Field(ge=0, le=365, description="Promised time limit (承诺时限) in working days, at most the "
                                                         "statutory one; 0 for 即办 (done on the spot)")
    fee: FeeImport
    legal_basis: list[_Sentence] = Field(default_factory=list, max_length=50)
    conditions_zh: list[_Sentence] = Field(default_factory=list, max_length=50)
    channels: list[Channel] = Field(default_factory=list, max_length=4)
    help_video_url: Annotated[str, Field(max_length=500, pattern=r"^https://\S+$")] | None = None
    licence_type: Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")] | None = None
    fields: list[FormFieldImport] = Field(default_factory=list, max_length=100)
    materials: list[MaterialImport] = Field(default_factory=list, max_length=50)


class ImportOutcome(StrEnum):
    CREATED = "created"  # a new code: version 1
    NEW_VERSION = "new_version"  # an existing code whose content changed: version n+1 is current
    UNCHANGED = "unchanged"  # same content as the current version: nothing written
    REJECTED = "rejected"  # did not pass validation: nothing written; see `errors`


class ImportEntryResult(BaseModel):
    index: int = Field(description="Position of the entry in the request body, from 0")
    code: str | None
    outcome: ImportOutcome
    version: int | None = Field(description="The current version after the import (on a dry run: what it would be)")
    previous_version: int | None = None
    changed: list[str] = Field(default_factory=list, description="For a new version: the elements that changed")
    errors: list[FieldError] = Field(default_factory=list, description="For a rejected entry: what is wrong, field by field")


class ImportSummary(BaseModel):
    created: int
    new_version: int
    unchanged: int
    rejected: int


class ImportReport(BaseModel):
    dry_run: bool
    summary: ImportSummary
    results: list[ImportEntryResult]


class MatterVersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    is_current: bool
    name_zh: str
    kind: MatterKind
    statutory_days: int
    promised_days: int
    published_at: datetime


class MatterVersionDetail(MatterDetail):
    is_current: bool


class HelpVideoLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(max_length=500, pattern=r"^https://\S+$", description="An https:// link to the video")]


class HelpVideoVersion(BaseModel):
    """One guide version and the help video it carried."""

    version: int
    is_current: bool
    published_at: datetime
    help_video_url: str | None
    help_video: HelpVideoView | None


class GuideGap(BaseModel):
    element: str = Field(description="Stable name of the missing guide element, e.g. `legal_basis`")
    label_zh: str
    label_en: str
    detail: list[str] = Field(default_factory=list,
                              description="Which parts lack it, e.g. the keys of fields without an English label")


class IncompleteGuide(BaseModel):
    code: str
    version: int
    name_zh: str
    kind: MatterKind
    department: str
    missing: list[GuideGap]


class GuideCompletenessSummary(BaseModel):
    current_matters: int
    complete: int
    incomplete: int
    by_element: dict[str, int] = Field(description="How many current matters miss each element")


class GuideCompletenessReport(BaseModel):
    summary: GuideCompletenessSummary
    items: list[IncompleteGuide] = Field(description="The current matters whose guide misses an element")
    next_cursor: str | None = None


# --- company authorisation (多级授权) ------------------------------------------------------------

class AuthorisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grantee": "u-applicant-person"}]})

    grantee: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@|-]*$",
                         description="Subject of the person who may see and act on the company's applications")


class AuthorisationView(BaseModel):
    id: str
    org_code: str = Field(description="The granting company's unified social credit code")
    grantee: str
    granted_by: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool
