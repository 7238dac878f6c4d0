"""Tables of svc-matters: the versioned catalogue of matters (事项), applications (办件) and their
append-only timeline of steps."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.licence_read_model import KnownLicenceColumns
from kit.protection import ProtectedForm

# Predicates of partial indexes; queries repeat them literally so the planner can use the index.
RUNNING_UNPAUSED_CLOCK = "clock_started_on IS NOT NULL AND clock_stopped_at IS NULL AND clock_paused_since IS NULL"
OPEN_STATUSES = ("status IN ('submitted', 'prereviewed', 'returned', 'accepted', 'under_review', "
                 "'correction_requested', 'approved', 'licence_issued')")


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class MatterVersion(Base):
    """One published version of a matter; applications keep the version they were filed under."""

    __tablename__ = "matter_versions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    complexity: Mapped[str] = mapped_column(String(16), nullable=False)
    statutory_days: Mapped[int] = mapped_column(Integer, nullable=False)
    promised_days: Mapped[int] = mapped_column(Integer, nullable=False)
    fee: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    legal_basis: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    conditions_zh: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    channels: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    help_video_url: Mapped[str | None] = mapped_column(Text)
    # The help video (帮办微视频) this guide version carries, as HelpVideoView describes it (revision 0014);
    # None for a guide version without one or with only a link imported in its content.
    help_video: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    licence_type: Mapped[str | None] = mapped_column(String(100))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("uq_matter_versions_current", "code", unique=True, postgresql_where="is_current"),
    )


class HelpVideo(Base):
    """A help video (帮办微视频) an editor set for a matter: an uploaded file (its bytes in the material blob
    store, by SHA-256) or a link. Each one is carried by the guide versions published with it; the rows
    stay, so the history of a matter's videos is kept (revision 0014)."""

    __tablename__ = "help_videos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # upload, link
    url: Mapped[str | None] = mapped_column(Text)  # the link; None for an upload
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_help_videos_matter_created", "matter_code", "created_at"),)


class CatalogueState(Base):
    """The catalogue's generation, moved by a trigger on every change of ``matter_versions`` (revision
    0013): replicas compare it with the one their cached catalogue pages were built under."""

    __tablename__ = "catalogue_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (CheckConstraint("id = 1", name="ck_catalogue_state_one_row"),)


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    applicant_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    applicant_org_code: Mapped[str | None] = mapped_column(String(32))
    # Personal values (ID numbers, phones, names of people) encrypted at rest, the rest in clear (revision 0005).
    form: Mapped[dict[str, Any]] = mapped_column(ProtectedForm, nullable=False)
    # Material code → {"material_id"} | {"licence_id"} | {"from_application"} as submitted (latest attempt).
    materials: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # Copied from the matter version at submission, so staff scoping and filters need no join.
    department: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    matter_kind: Mapped[str] = mapped_column(String(16), nullable=False, default="licence")
    # How it came to be: "application", "bundle" (一件事) or "benefit" (免申即享).
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="application")
    bundle_id: Mapped[str | None] = mapped_column(String(32))
    exempted_materials: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The latest step's status, kept with the step in one transaction so lists can filter on it.
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the current status began: what stall detection measures idleness from.
    status_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    prereviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The statutory clock (法定时限), in working days of the platform calendar (Asia/Shanghai dates).
    clock_started_on: Mapped[date | None] = mapped_column(Date)
    clock_limit_days: Mapped[int | None] = mapped_column(Integer)
    clock_due_date: Mapped[date | None] = mapped_column(Date)
    clock_paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clock_stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clock_warned_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clock_next_warning_on: Mapped[date | None] = mapped_column(Date)
    # The due date counts on a year without an approved calendar (kit.calendar's provisional year);
    # recomputed when ops approve it (revision 0008_provisional_due_dates).
    clock_due_provisional: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # Who holds the application now (claimed, or assigned by a colleague); None: unassigned (revision 0012).
    assignee_subject: Mapped[str | None] = mapped_column(String(128))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_applications_applicant_created", "applicant_subject", "created_at", "id"),
        Index("ix_applications_created", "created_at", "id"),
        Index("ix_applications_status", "status"),
        # Covering (revision 0004): the cockpit's per-matter period figures come from the index alone.
        Index("ix_applications_matter_created", "matter_code", "created_at",
              postgresql_include=["id", "status", "attempt", "submitted_at", "prereviewed_at", "accepted_at",
                                  "decided_at", "clock_due_date", "clock_stopped_at", "exempted_materials"]),
        Index("ix_applications_department_created", "department", "created_at", "id"),
        Index("ix_applications_org_created", "applicant_org_code", "created_at", "id"),
        Index("ix_applications_bundle", "bundle_id"),
        # Running clocks by due date: the overdue lists and the warning scheduler.
        Index("ix_applications_running_clock", "department", "clock_due_date",
              postgresql_where="clock_started_on IS NOT NULL AND clock_stopped_at IS NULL"),
        Index("ix_applications_status_since", "status", "status_since"),
        Index("ix_applications_next_warning", "clock_next_warning_on",
              postgresql_where="clock_next_warning_on IS NOT NULL"),
        # Revision 0008_provisional_due_dates: the due dates to recompute when a calendar year is approved.
        Index("ix_applications_provisional_due", "clock_due_date", postgresql_where="clock_due_provisional"),
        # Revision 0004: the overdue list, the cockpit's overdue and backlog counts.
        Index("ix_applications_overdue_department", "department", "created_at", "id",
              postgresql_include=["clock_due_date"], postgresql_where=RUNNING_UNPAUSED_CLOCK),
        Index("ix_applications_overdue_matter", "matter_code", "clock_due_date", postgresql_where=RUNNING_UNPAUSED_CLOCK),
        Index("ix_applications_backlog", "matter_code", "department", postgresql_where=OPEN_STATUSES),
        ForeignKeyConstraint(["matter_code", "matter_version"], ["matter_versions.code", "matter_versions.version"],
                             name="fk_applications_matter_version"),
        # Revision 0012: a handler's own queue ("mine").
        Index("ix_applications_assignee", "assignee_subject", "clock_due_date",
              postgresql_where="assignee_subject IS NOT NULL"),
    )


class ApplicationHandler(Base):
    """A member of staff who handles applications (window officer, reviewer): registered when they open the
    workbench or take an application, so colleagues can assign to them by name (revision 0012)."""

    __tablename__ = "application_handlers"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_application_handlers_department", "department"),)


class ApplicationStep(Base):
    """One entry of an application's timeline; never updated or deleted."""

    __tablename__ = "application_steps"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # Copied from the application when the step is written (revision 0004), so the cockpit's time per
    # stage is one index range scan per matter and period instead of a timeline lookup per application.
    matter_code: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(200))
    application_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # For a step that changes the status: how long the application was in ``from_status``.
    from_status_seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_application_steps_application_id", "application_id", "id"),
        # By status within a matter, so the rows of each (matter, status) group come in one range.
        Index("ix_application_steps_stage_times", "matter_code", "from_status", "application_created_at",
              postgresql_include=["department", "from_status_seconds"],
              postgresql_where="from_status_seconds IS NOT NULL"),
    )


class ClockPause(Base):
    """A stretch of time the statutory clock stood still, waiting for the applicant (补正)."""

    __tablename__ = "clock_pauses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    working_days: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class ClockExtension(Base):
    __tablename__ = "clock_extensions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    working_days: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    actor_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    extended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Material(Base):
    """An uploaded file; its bytes live in the blob store under ``storage_key``."""

    __tablename__ = "materials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_subject: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class MaterialBlob(Base):
    """The bytes of uploaded materials when ``MATTERS_BLOB_STORE=postgres`` (matters.service.blobs):
    one row per distinct content, keyed by its SHA-256; the bytes are in ``material_blob_chunks``."""

    __tablename__ = "material_blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class MaterialBlobChunk(Base):
    __tablename__ = "material_blob_chunks"

    key: Mapped[str] = mapped_column(ForeignKey("material_blobs.key", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ApplicationMaterial(Base):
    """What stands for one required material in one attempt: an upload, or an exemption (两个免于提交)."""

    __tablename__ = "application_materials"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)  # upload | licence | earlier_application
    material_id: Mapped[str | None] = mapped_column(ForeignKey("materials.id"), index=True)
    licence_id: Mapped[str | None] = mapped_column(String(128))
    from_application_id: Mapped[str | None] = mapped_column(String(32))
    exemption_reason: Mapped[str | None] = mapped_column(Text)


class Bundle(Base):
    """一件事: one submission spanning several matters and departments."""

    __tablename__ = "bundles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bundle_type: Mapped[str] = mapped_column(String(64), nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegisteredBusiness(Base):
    """Business data the government already holds (from events or ops imports), for 免申即享."""

    __tablename__ = "registered_businesses"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    business_scope: Mapped[str] = mapped_column(Text, nullable=False)
    district: Mapped[str] = mapped_column(String(20), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False)
    licences: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # active | deregistered
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class BenefitGrant(Base):
    __tablename__ = "benefit_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    benefit: Mapped[str] = mapped_column(String(64), nullable=False)
    uscc: Mapped[str] = mapped_column(String(18), nullable=False)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False)
    rule_version: Mapped[str] = mapped_column(String(32), nullable=False)
    matched_rules: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (UniqueConstraint("benefit", "uscc", name="uq_benefit_grants_benefit_uscc"),)


class Stall(Base):
    """堵点: an application idle in one status longer than that status's threshold."""

    __tablename__ = "stalls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    idle_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    threshold_hours: Mapped[float] = mapped_column(nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    owner: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_stalls_open", "application_id", "status", unique=True, postgresql_where="resolved_at IS NULL"),
        Index("ix_stalls_matter_status", "matter_code", "status"),
        Index("ix_stalls_opened", "opened_at", "id"),
        Index("ix_stalls_department_opened", "department", "opened_at", "id"),
    )


class CompanyAuthorisation(Base):
    """A company letting one of its staff act on and see its applications (多级授权)."""

    __tablename__ = "company_authorisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_code: Mapped[str] = mapped_column(String(18), nullable=False)
    grantee_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_company_authorisations_active", "org_code", "grantee_subject", unique=True,
              postgresql_where="revoked_at IS NULL"),
        Index("ix_company_authorisations_grantee", "grantee_subject"),
    )


class KnownLicence(KnownLicenceColumns, Base):
    """The licences svc-licences has issued, as its events tell (``kit.licence_read_model``): what a
    material exempted by a licence (两个免于提交) is checked against at submission."""
