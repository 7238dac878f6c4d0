"""Domain rules of svc-prequal: the pre-review (智能预审) of a submitted application.

Every check yields a ``Finding`` that tells the applicant exactly what to fix, in Chinese and
English. A blocking finding returns the application for correction (退回补正); warnings do not.
These built-in checks are the ones every matter needs; per-matter rule sets written as data
(审查规则指标化) come on top of them.
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.contracts import ApplicationSubmitted, Finding, FormFieldSpec, MatterRequirements, PrereviewVerdictIssued
from kit.errors import NotFound
from kit.events import CloudEvent, add_event
from kit.identifiers import (
    district_of_address,
    is_shanghai_district,
    is_valid_mainland_mobile,
    is_valid_resident_id,
    is_valid_uscc,
)
from prequal.models import Verdict

log = structlog.get_logger("prequal.service")

BUILTIN_RULESET = "builtin-1"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _finding(rule_id: str, target: str, zh: str, en: str, severity: str = "blocking") -> Finding:
    return Finding(rule_id=rule_id, target=target, severity=severity, message_zh=zh, message_en=en)  # type: ignore[arg-type]


def _check_value(spec: FormFieldSpec, value: Any) -> Finding | None:
    target, label, label_en = f"form.{spec.key}", spec.label, spec.label_en or spec.key
    if spec.type == "uscc" and not is_valid_uscc(str(value).strip().upper()):
        return _finding("format-uscc", target, f"{label}不是有效的统一社会信用代码，请核对后重新填写",
                        f"{label_en} is not a valid unified social credit code")
    if spec.type == "resident_id" and not is_valid_resident_id(str(value).strip()):
        return _finding("format-resident-id", target, f"{label}不是有效的居民身份证号码，请核对后重新填写",
                        f"{label_en} is not a valid resident ID number")
    if spec.type == "mobile" and not is_valid_mainland_mobile(str(value)):
        return _finding("format-mobile", target, f"{label}不是有效的手机号码", f"{label_en} is not a valid mobile number")
    if spec.type == "district" and not is_shanghai_district(str(value).strip()) and not district_of_address(str(value)):
        return _finding("format-district", target, f"{label}应为上海市的区，例如“浦东新区”",
                        f"{label_en} must be a district of Shanghai")
    if spec.type in ("integer", "decimal") and isinstance(value, int | float) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            return _finding("range-min", target, f"{label}不能小于 {spec.min:g}", f"{label_en} must be at least {spec.min:g}")
        if spec.max is not None and value > spec.max:
            return _finding("range-max", target, f"{label}不能大于 {spec.max:g}", f"{label_en} must be at most {spec.max:g}")
    return None


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def prereview(requirements: MatterRequirements, form: dict[str, Any], materials: dict[str, Any]) -> list[Finding]:
    """All findings of the built-in checks, in form order then material order."""
    findings: list[Finding] = []
    for spec in requirements.fields:
        value = form.get(spec.key)
        if _blank(value):
            if spec.required_for(form):
                findings.append(_finding("required-field", f"form.{spec.key}", f"请填写“{spec.label}”",
                                         f"please fill in {spec.label_en or spec.key}"))
            continue
        finding = _check_value(spec, value)
        if finding:
            findings.append(finding)
    start, end = _parse_date(form.get("start_date")), _parse_date(form.get("end_date"))
    if start and end and end < start:
        findings.append(_finding("dates-order", "form.end_date", "结束日期不能早于开始日期",
                                 "the end date cannot be before the start date"))
    for material in requirements.materials:
        if material.required and _blank(materials.get(material.code)):
            findings.append(_finding("required-material", f"materials.{material.code}", f"请上传“{material.name}”",
                                     f"please upload {material.name_en or material.code}"))
    return findings


async def review_submission(session: AsyncSession, event: CloudEvent) -> None:
    """Pre-review one submitted application and publish the verdict (one per application attempt)."""
    submitted = ApplicationSubmitted.from_event(event)
    findings = prereview(submitted.matter, submitted.form, submitted.materials)
    verdict = "returned" if any(f.severity == "blocking" for f in findings) else "passed"
    now = datetime.now(UTC)
    inserted = await session.execute(
        insert(Verdict).values(
            id=uuid.uuid4().hex, application_id=submitted.application_id, attempt=submitted.attempt,
            matter_code=submitted.matter.code, matter_version=submitted.matter.version,
            applicant_subject=submitted.applicant.subject, verdict=verdict,
            findings=[f.model_dump() for f in findings], ruleset=BUILTIN_RULESET, submitted_at=submitted.submitted_at,
            checked_at=now,
        ).on_conflict_do_nothing().returning(Verdict.id)
    )
    if inserted.first() is None:
        log.info("verdict_exists", application_id=submitted.application_id, attempt=submitted.attempt)
        return
    await add_event(session, PrereviewVerdictIssued(
        application_id=submitted.application_id, attempt=submitted.attempt, verdict=verdict,  # type: ignore[arg-type]
        findings=findings, ruleset=BUILTIN_RULESET, checked_at=now), subject=submitted.application_id)
    log.info("prereview_done", application_id=submitted.application_id, verdict=verdict, findings=len(findings))


async def verdicts_for(session: AsyncSession, principal: Principal, application_id: str) -> list[Verdict]:
    rows = (await session.scalars(select(Verdict).where(Verdict.application_id == application_id)
                                  .order_by(Verdict.attempt))).all()
    if not rows or not (principal.is_staff or rows[0].applicant_subject == principal.subject):
        raise NotFound("没有该办件的预审结果 / no pre-review verdict for this application")
    return list(rows)
