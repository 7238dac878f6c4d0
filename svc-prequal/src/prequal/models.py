"""Tables of svc-prequal: one pre-review verdict per application attempt."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.db import Base as KitBase
from kit.db import new_metadata


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()


class Verdict(Base):
    __tablename__ = "verdicts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    matter_code: Mapped[str] = mapped_column(String(32), nullable=False)
    matter_version: Mapped[int] = mapped_column(Integer, nullable=False)
    applicant_subject: Mapped[str] = mapped_column(String(128), nullable=False)
    verdict: Mapped[str] = mapped_column(String(24), nullable=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    ruleset: Mapped[str] = mapped_column(String(64), nullable=False)
    ruleset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    # What was reviewed (form, materials), so a draft rule set can be tried against real applications.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
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
    """Read model: each matter version's requirements, as seen in the submissions consumed."""

    __tablename__ = "matter_requirements"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    requirements: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
