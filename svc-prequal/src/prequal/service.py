"""Domain rules of svc-prequal: the pre-review (智能预审) of a submitted application.

Review rules are data (审查规则指标化): each matter has versioned rule sets (``rulesets`` table, seeded
from ``prequal/rulesets/*.json`` by migration 0002), one active at a time; their logic is CEL
(``prequal.rules``). A matter without an active rule set is checked by generic rules generated from
the requirements it was submitted under, so nothing goes unchecked. Every rule yields a result
(passed / failed with a message telling the applicant what to fix / not applicable / error); the
verdict is ``returned`` on any blocking failure, ``needs_human_review`` when only warnings failed or
a rule could not be evaluated, else ``passed``.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal
from kit.contracts import ApplicationSubmitted, Finding, MatterRequirements, PrereviewVerdictIssued
from kit.contracts.prequal import RuleOutcome
from kit.errors import Conflict, NotFound, ValidationFailed
from kit.events import add_event
from prequal import compare, shadow
from prequal.models import MatterRequirementsRow, RuleSet, Verdict
from prequal.rules import (
    CompiledRuleSet,
    RuleCompileError,
    RuleResult,
    compile_rules,
    generic_rules,
    run_examples,
    verdict_of,
)

log = structlog.get_logger("prequal.service")

SHANGHAI = ZoneInfo("Asia/Shanghai")


def findings_of(results: list[RuleResult]) -> list[Finding]:
    """The failed (and errored, as warnings) rules as findings, in rule order."""
    out = []
    for r in results:
        if r.outcome in ("failed", "error"):
            out.append(Finding(rule_id=r.finding_code or r.rule_id, target=(r.targets or ["application"])[0],
                               severity=r.severity if r.outcome == "failed" else "warning",
                               message_zh=r.message_zh or "", message_en=r.message_en or ""))
    return out


async def active_ruleset(session: AsyncSession, requirements: MatterRequirements) -> tuple[CompiledRuleSet, int | None]:
    """The matter's active rule set compiled (cached), or the generic rules of its requirements."""
    row = await session.scalar(select(RuleSet).where(RuleSet.matter_code == requirements.code,
                                                     RuleSet.status == "active"))
    if row is not None:
        return compile_rules(f"{row.matter_code}@v{row.version}", row.rules), row.version
    return compile_rules(f"generic:{requirements.code}@m{requirements.version}", generic_rules(requirements)), None


async def remember_requirements(session: AsyncSession, requirements: MatterRequirements) -> None:
    stmt = insert(MatterRequirementsRow).values(code=requirements.code, version=requirements.version,
                                                requirements=requirements.model_dump(mode="json"))
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["code", "version"],
        set_={"requirements": stmt.excluded.requirements, "seen_at": func.now()}))


def _inputs(form: dict[str, Any], materials: dict[str, Any]) -> dict[str, Any]:
    return {"form": form, "materials": {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
                                        for k, v in materials.items()}}


async def review_submission(session: AsyncSession, submitted: ApplicationSubmitted) -> None:
    """Pre-review one submitted application and publish the verdict (one per application attempt)."""
    await remember_requirements(session, submitted.matter)
    ruleset, version = await active_ruleset(session, submitted.matter)
    inputs = _inputs(submitted.form, submitted.materials)
    on = submitted.submitted_at.astimezone(SHANGHAI).date()
    results = ruleset.evaluate(inputs["form"], inputs["materials"], on)
    results += await compare.compare_results(session, submitted)  # 数据比对, independent of the rule set
    findings = findings_of(results)
    verdict = verdict_of(results)
    now = dt.datetime.now(dt.UTC)
    inserted = await session.execute(
        insert(Verdict).values(
            id=uuid.uuid4().hex, application_id=submitted.application_id, attempt=submitted.attempt,
            matter_code=submitted.matter.code, matter_version=submitted.matter.version,
            applicant_subject=submitted.applicant.subject, verdict=verdict,
            findings=[f.model_dump() for f in findings], ruleset=ruleset.name, ruleset_version=version,
            results=[r.model_dump() for r in results], inputs=inputs, submitted_at=submitted.submitted_at,
            checked_at=now,
        ).on_conflict_do_nothing().returning(Verdict.id)
    )
    if inserted.first() is None:
        log.info("verdict_exists", application_id=submitted.application_id, attempt=submitted.attempt)
        return
    await shadow.review_in_shadow(session, submitted, inputs, on, ruleset.name, verdict, results)
    await add_event(session, PrereviewVerdictIssued(
        application_id=submitted.application_id, attempt=submitted.attempt, verdict=verdict,  # type: ignore[arg-type]
        findings=findings, ruleset=ruleset.name, checked_at=now,
        results=[RuleOutcome.model_validate(r.model_dump()) for r in results]), subject=submitted.application_id)
    log.info("prereview_done", application_id=submitted.application_id, verdict=verdict, findings=len(findings),
             ruleset=ruleset.name)


async def verdicts_for(session: AsyncSession, principal: Principal, application_id: str) -> list[Verdict]:
    rows = (await session.scalars(select(Verdict).where(Verdict.application_id == application_id)
                                  .order_by(Verdict.attempt))).all()
    if not rows or not (principal.is_staff or rows[0].applicant_subject == principal.subject):
        raise NotFound("没有该办件的预审结果 / no pre-review verdict for this application")
    return list(rows)


async def latest_review(session: AsyncSession, principal: Principal, application_id: str) -> Verdict:
    return (await verdicts_for(session, principal, application_id))[-1]


async def dry_run(session: AsyncSession, matter_code: str, form: dict[str, Any],
                  materials: dict[str, Any]) -> dict[str, Any]:
    """Check a draft against the matter's active rules: every problem at once, nothing stored."""
    row = await session.scalar(select(MatterRequirementsRow).where(MatterRequirementsRow.code == matter_code)
                               .order_by(MatterRequirementsRow.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"预审尚不知道事项 {matter_code} 的申请要求（尚无该事项的申报） / the pre-review does not know "
                       f"the requirements of matter {matter_code} yet (no application of it has been submitted)")
    requirements = MatterRequirements.model_validate(row.requirements)
    ruleset, version = await active_ruleset(session, requirements)
    results = ruleset.evaluate(form, materials, dt.datetime.now(SHANGHAI).date())
    return {"matter_code": matter_code, "matter_version": requirements.version, "ruleset": ruleset.name,
            "ruleset_version": version, "verdict": verdict_of(results), "problems": findings_of(results),
            "results": [r.model_dump() for r in results]}


# ---- rule-set management -------------------------------------------------------------------------

async def list_rulesets(session: AsyncSession, matter: str | None) -> list[RuleSet]:
    stmt = select(RuleSet).order_by(RuleSet.matter_code, RuleSet.version)
    if matter:
        stmt = stmt.where(RuleSet.matter_code == matter)
    return list((await session.scalars(stmt)).all())


async def get_ruleset(session: AsyncSession, matter: str, version: int, *, lock: bool = False) -> RuleSet:
    row = await session.get(RuleSet, (matter, version), with_for_update=lock)
    if row is None:
        raise NotFound(f"事项 {matter} 没有第 {version} 版规则集 / matter {matter} has no rule set version {version}")
    return row


def validate_rules(matter: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compile every rule; invalid CEL or record → 422 with the parser's / validator's message."""
    ids = [r.get("id") for r in rules]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("规则 id 不能重复 / rule ids must be unique")
    try:
        compiled = compile_rules(f"{matter}@draft", rules)
    except RuleCompileError as exc:
        raise ValidationFailed(str(exc), rule_id=exc.rule_id, cel_error=exc.message) from exc
    except ValidationError as exc:
        raise ValidationFailed(f"规则记录不完整 / invalid rule record: {exc.errors(include_url=False)}") from exc
    return [r.model_dump(mode="json", by_alias=True) for r in compiled.rules]


async def create_draft(session: AsyncSession, principal: Principal, matter: str,
                       rules: list[dict[str, Any]]) -> RuleSet:
    clean = validate_rules(matter, rules)
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"prequal-ruleset:{matter}"))))
    latest = await session.scalar(select(func.max(RuleSet.version)).where(RuleSet.matter_code == matter))
    row = RuleSet(matter_code=matter, version=(latest or 0) + 1, status="draft", rules=clean,
                  created_by=principal.subject, created_at=dt.datetime.now(dt.UTC))
    session.add(row)
    await session.commit()
    return row


async def test_ruleset(session: AsyncSession, matter: str, version: int, last: int,
                       principal: Principal | None = None) -> dict[str, Any]:
    """Dry-run a version against its own examples and the last ``last`` reviewed applications of the
    matter (comparing with the verdict they got). Those applications' forms (personal data included)
    are decrypted for it, so the run is audited."""
    row = await get_ruleset(session, matter, version)
    examples = run_examples(row.rules)
    compiled = compile_rules(f"{matter}@v{version}", row.rules)
    recent = (await session.scalars(select(Verdict).where(Verdict.matter_code == matter, Verdict.inputs.is_not(None))
                                    .order_by(Verdict.checked_at.desc()).limit(last))).all()
    applications = []
    for v in recent:
        results = compiled.evaluate(v.inputs["form"], v.inputs["materials"], v.submitted_at.astimezone(SHANGHAI).date())
        new = verdict_of(results)
        applications.append({"application_id": v.application_id, "attempt": v.attempt, "verdict_then": v.verdict,
                             "ruleset_then": v.ruleset, "verdict_now": new, "changed": new != v.verdict,
                             "failed_rules": [r.rule_id for r in results if r.outcome in ("failed", "error")]})
    if applications:
        await record_audit(session, principal, "application.inputs_read", "ruleset", f"{matter}@v{version}",
                           details={"applications": [a["application_id"] for a in applications]})
        await session.commit()
    return {"matter_code": matter, "version": version,
            "examples_passed": all(e["ok"] for e in examples), "examples": examples,
            "applications": applications, "changed": sum(a["changed"] for a in applications)}


async def publish(session: AsyncSession, matter: str, version: int, principal: Principal | None = None) -> RuleSet:
    row = await get_ruleset(session, matter, version, lock=True)
    if row.status == "active":
        return row
    if not all(e["ok"] for e in run_examples(row.rules)):
        raise Conflict("规则集的示例未全部通过，不能发布 / the rule set's own examples do not all pass; not published")
    now = dt.datetime.now(dt.UTC)
    await session.execute(update(RuleSet).where(RuleSet.matter_code == matter, RuleSet.status == "active")
                          .values(status="retired", retired_at=now))
    row.status, row.published_at, row.retired_at = "active", now, None
    # What decides applications changed: recorded like a permission change.
    await record_audit(session, principal, "ruleset.publish", "ruleset", f"{matter}@v{version}")
    await session.commit()
    return row


async def retire(session: AsyncSession, matter: str, version: int, principal: Principal | None = None) -> RuleSet:
    row = await get_ruleset(session, matter, version, lock=True)
    if row.status != "retired":
        row.status, row.retired_at = "retired", dt.datetime.now(dt.UTC)
        await record_audit(session, principal, "ruleset.retire", "ruleset", f"{matter}@v{version}")
        await session.commit()
    return row
