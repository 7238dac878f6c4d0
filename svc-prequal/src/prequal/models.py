"""Tables of svc-prequal: one pre-review verdict per application attempt."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from kit.db import Base as KitBase
from kit.db import new_metadata
from kit.licence_read_model import KnownLicenceColumns
from kit.protection import ProtectedForm, protect_form, reveal_form


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class ReviewedInputs(TypeDecorator[dict[str, Any]]):
    """``{"form": ..., "materials": ...}`` as reviewed, with the form's personal values encrypted."""

    impl = JSONB
    cache_ok = True
    protected_json = True  # found by the key-rotation job (kit.reencryption)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return {**value, "form": protect_form(value["form"])} if isinstance(value, dict) and "form" in value else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return {**value, "form": reveal_form(value["form"])} if isinstance(value, dict) and "form" in value else value


class Verdict(Base):
    __tablename__ = "verdicts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    # The department handling the application (from the submission, or its first status change for
    # verdicts given before submissions carried it): staff of other departments do not see the verdict.
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    verdict: Mapped[str] = mapped_column(String(24), nullable=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    ruleset: Mapped[str] = mapped_column(String(64), nullable=False)
    ruleset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    # What was reviewed (form, materials), so a draft rule set can be tried against real applications.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(ReviewedInputs, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (UniqueConstraint("application_id", "attempt", name="uq_verdicts_application_attempt"),)


class RuleSet(Base):
    """A versioned rule set of one matter: draft → active (one per matter) → retired."""

    __tablename__ = "rulesets"

    matter_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("uq_rulesets_one_active", "matter_code", unique=True,
                            postgresql_where=text("status = 'active'")),)


class MatterRequirementsRow(Base):
    """Read model: each matter version's requirements, from the catalogue's ``matter.published`` events
    (and as carried by each submission); the highest version of a code is its current one."""

    __tablename__ = "matter_requirements"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirements: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


# ---- pre-fill (智能预填) and measures: read models built from events only ---------------------------

class SubmissionSeen(Base):
    """Read model: every (re)submission consumed (``ApplicationSubmitted``), with its form and materials."""

    __tablename__ = "prefill_submissions"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    applicant_org_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Digests beside the encrypted values: the measures compare forms in SQL (``prequal.measures``).
    form: Mapped[dict[str, Any]] = mapped_column(ProtectedForm(digests=True), nullable=False)
    materials: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    field_types: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_prefill_submissions_subject", "applicant_subject", "submitted_at"),
        Index("ix_prefill_submissions_org", "applicant_org_code", "submitted_at",
              postgresql_where=text("applicant_org_code IS NOT NULL")),
        Index("ix_prefill_submissions_matter", "matter_code", "submitted_at"),
    )


class StatusSeen(Base):
    """Read model: application status changes (``ApplicationStatusChanged``), for the measures."""

    __tablename__ = "prefill_status_changes"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), nullable=False)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_prefill_status_changes_app", "application_id", "occurred_at"),
        Index("ix_prefill_status_changes_matter", "matter_code", "to_status", "occurred_at"),
    )


class Prefill(Base):
    """One pre-fill handed to an applicant: what was filled, to compare with what they submit."""

    __tablename__ = "prefills"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    applicant_org_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    fields_total: Mapped[int] = mapped_column(Integer, nullable=False)
    filled: Mapped[dict[str, Any]] = mapped_column(ProtectedForm(digests=True), nullable=False)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_prefills_matter", "matter_code", "created_at"),
        Index("ix_prefills_subject", "applicant_subject", "matter_code", "created_at"),
    )


class RuleSetShadow(Base):
    """A draft rule-set version running in shadow beside the active one (at most one per matter)."""

    __tablename__ = "ruleset_shadows"

    matter_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    started_by: Mapped[str] = mapped_column(String(128), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ShadowVerdict(Base):
    """What the shadow version said of one application attempt, beside the published verdict."""

    __tablename__ = "shadow_verdicts"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    shadow_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    active_ruleset: Mapped[str] = mapped_column(String(64), nullable=False)
    active_verdict: Mapped[str] = mapped_column(String(24), nullable=False)
    shadow_verdict: Mapped[str] = mapped_column(String(24), nullable=False)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    differing_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_shadow_verdicts_matter_version", "matter_code", "shadow_version"),)


class KnownLicence(KnownLicenceColumns, Base):
    """Read model of the licences svc-licences issued, their versions and status changes
    (``kit.licence_read_model``), for the comparison (数据比对) and for pre-fill."""


class KnownApplication(Base):
    """Read model (数据比对): each application's object (from its submission) and status (from
    ``lvrong.matters.application.status_changed``), to find a second open application of one object."""

    __tablename__ = "known_applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    # Keyed hash (kit.protection lookup_hash) of the declared applicant: a credit code or an ID number.
    applicant_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    object_key: Mapped[str | None] = mapped_column(String(400), nullable=True)
    object_label: Mapped[str | None] = mapped_column(String(400), nullable=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_known_applications_object", "applicant_subject", "matter_code", "object_key"),)


class KnownBusiness(Base):
    """Read model of registered businesses (``lvrong.matters.business.changed``): the newest data per
    unified social credit code, for the name comparison (数据比对) and for pre-fill. The legal
    representative is not kept: neither needs it."""

    __tablename__ = "known_businesses"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    district: Mapped[str] = mapped_column(String(20), nullable=False)
    address: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    licences: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    # When the producer held this data (the event's as_of): an older event never overwrites a newer one.
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
