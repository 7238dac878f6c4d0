"""Tables of svc-matters: the versioned catalogue of matters (事项), applications (办件) and their
append-only timeline of steps."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata


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
    licence_type: Mapped[str | None] = mapped_column(String(100))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("uq_matter_versions_current", "code", unique=True, postgresql_where="is_current"),
    )


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    applicant_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    applicant_org_code: Mapped[str | None] = mapped_column(String(32))
    form: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    materials: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    # The latest step's status, kept with the step in one transaction so lists can filter on it.
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_applications_applicant_created", "applicant_subject", "created_at", "id"),
        Index("ix_applications_created", "created_at", "id"),
        Index("ix_applications_status", "status"),
    )


class ApplicationStep(Base):
    """One entry of an application's timeline; never updated or deleted."""

    __tablename__ = "application_steps"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
