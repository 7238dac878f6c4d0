"""Domain rules of svc-prequal: the pre-review (智能预审) of a submitted application.

Review rules are data (审查规则指标化): each matter has versioned rule sets (``rulesets`` table, seeded
from ``prequal/rulesets/*.json`` by migration 0002), one active at a time; their logic is CEL
(``prequal.service.rules``), and they are managed by ``prequal.service.rulesets``. A matter without an
active rule set is checked by generic rules generated from the requirements it was submitted under, so
nothing goes unchecked. Every rule yields a result
(passed / failed with a message telling the applicant what to fix / not applicable / error); the
verdict is ``returned`` on any blocking failure, ``needs_human_review`` when only warnings failed or
a rule could not be evaluated, else ``passed``.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, staff_of
from kit.contracts import ApplicationSubmitted, Finding, MatterRequirements, PrereviewVerdictIssued
from kit.db import Database
from kit.errors import NotFound
from kit.events import outbox, outbox_row
from prequal import messages
from prequal.models import MatterRequirementsRow, RuleSet, Verdict
from prequal.schemas import CheckResult
from prequal.service import compare, prefill, shadow
from prequal.service.rules import CompiledRuleSet, RuleResult, compile_rules, dumped, generic_rules, verdict_of

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
    return (await active_rulesets(session, [requirements]))[requirements.code, requirements.version]


async def active_rulesets(session: AsyncSession, matters: list[MatterRequirements]
                          ) -> dict[tuple[str, int], tuple[CompiledRuleSet, int | None]]:
    """``active_ruleset`` of each matter (by code and requirements version), in one query (two when a
    version is new to this process)."""
    active = {row.matter_code: row for row in (await session.execute(
        select(RuleSet.matter_code, RuleSet.version, RuleSet.created_at).where(
            RuleSet.matter_code.in_({m.code for m in matters}), RuleSet.status == "active"))).all()}
    await _compile_versions(session, list(active.values()))
    out = {}
    for m in matters:
        row = active.get(m.code)
        out[m.code, m.version] = ((_VERSIONS[row.matter_code, row.version, row.created_at], row.version)
                                  if row is not None else
                                  (compile_rules(f"generic:{m.code}@m{m.version}", generic_rules(m)), None))
    return out


# A version's rules never change once created (publishing and retiring change its status only), so they
# are read and compiled once per process, not for every batch. The creation time tells a version from
# one of the same number in a database made anew.
_VERSIONS: dict[tuple[str, int, dt.datetime], CompiledRuleSet] = {}


async def _compile_versions(session: AsyncSession, versions: list[Any]) -> None:
    if len(_VERSIONS) > 1024:  # cleared before looking, so every version asked for is there afterwards
        _VERSIONS.clear()
    missing = [(v.matter_code, v.version) for v in versions if (v.matter_code, v.version, v.created_at) not in _VERSIONS]
    if not missing:
        return
    for row in (await session.scalars(select(RuleSet).where(
            tuple_(RuleSet.matter_code, RuleSet.version).in_(missing)))).all():
        _VERSIONS[row.matter_code, row.version, row.created_at] = compile_rules(f"{row.matter_code}@v{row.version}",
                                                                                row.rules)


async def remember_requirements(session: AsyncSession, matters: list[MatterRequirements]) -> None:
    """Keep each matter's requirements as received (the latest version's are what dry runs check).
    Written only when new or changed: every submission carries them, and a row written by every batch
    would be locked by every replica's transaction in turn."""
    latest = {(m.code, m.version): m for m in matters}  # each version dumped once, not once per submission
    docs = {key: m.model_dump(mode="json") for key, m in latest.items()}
    stored = dict(((code, version), doc) for code, version, doc in (await session.execute(
        select(MatterRequirementsRow.code, MatterRequirementsRow.version, MatterRequirementsRow.requirements)
        .where(tuple_(MatterRequirementsRow.code, MatterRequirementsRow.version).in_(docs)))).all())
    rows = [{"code": code, "version": version, "requirements": doc} for (code, version), doc in sorted(docs.items())
            if stored.get((code, version)) != doc]  # sorted: one lock order for every replica
    if rows:
        stmt = insert(MatterRequirementsRow).values(rows)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["code", "version"],
            set_={"requirements": stmt.excluded.requirements, "seen_at": func.now()}))


async def stored_requirements(session: AsyncSession, versions: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """The requirements kept for these (code, version) pairs, as received."""
    return list((await session.execute(select(MatterRequirementsRow.requirements).where(
        tuple_(MatterRequirementsRow.code, MatterRequirementsRow.version).in_(sorted(versions))))).scalars())


def _inputs(form: dict[str, Any], materials: dict[str, Any]) -> dict[str, Any]:
    return {"form": form, "materials": {k: (v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
                                        for k, v in materials.items()}}


def _rounds(batch: list[ApplicationSubmitted]) -> list[list[int]]:
    """The batch's positions in rounds where each application comes at most once, in order: a second
    attempt of an application is reviewed after its first, as one at a time would."""
    rounds: list[list[int]] = []
    seen: list[set[str]] = []
    for i, s in enumerate(batch):
        k = next((n for n in range(len(rounds)) if s.application_id in seen[n]), -1) + 1
        if k == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[k].append(i)
        seen[k].add(s.application_id)
    return rounds


def _no_scope(_: int) -> AbstractContextManager[None]:
    return nullcontext()


async def review_submissions(session: AsyncSession, batch: list[ApplicationSubmitted],
                             scope: Callable[[int], AbstractContextManager[None]] = _no_scope) -> None:
    """Pre-review submitted applications and publish each verdict (one per application attempt), in the
    caller's transaction with a few statements for the whole batch; each verdict is the one it would
    get alone. ``scope(i)`` is entered for the i-th submission's own part (its trace and logs)."""
    matters = [s.requirements for s in batch]
    await remember_requirements(session, matters)
    rulesets = await active_rulesets(session, matters)
    for positions in _rounds(batch):
        await _review_round(session, [(i, batch[i]) for i in positions], rulesets, scope)


# One statement, compiled once, for every batch of verdicts (executemany); those already given are skipped.
_INSERT_VERDICT = insert(Verdict).on_conflict_do_nothing().returning(Verdict.application_id, Verdict.attempt)


@dataclass
class _Review:
    position: int
    submitted: ApplicationSubmitted
    ruleset: CompiledRuleSet
    inputs: dict[str, Any]
    on: dt.date
    results: list[RuleResult]
    dumped: list[dict[str, Any]]  # the results as stored and published
    findings: list[Finding]
    verdict: str


async def _review_round(session: AsyncSession, round_: list[tuple[int, ApplicationSubmitted]],
                        rulesets: dict[tuple[str, int], tuple[CompiledRuleSet, int | None]],
                        scope: Callable[[int], AbstractContextManager[None]]) -> None:
    compared = await compare.compare_batch(session, [s for _, s in round_])  # 数据比对, independent of the rule set
    now = dt.datetime.now(dt.UTC)
    reviews, rows = [], []
    for (i, submitted), compare_results in zip(round_, compared, strict=True):
        ruleset, version = rulesets[submitted.matter.code, submitted.matter.version]
        inputs = _inputs(submitted.form, submitted.materials)
        on = submitted.submitted_at.astimezone(SHANGHAI).date()
        results = ruleset.evaluate(inputs["form"], inputs["materials"], on) + compare_results
        review = _Review(i, submitted, ruleset, inputs, on, results, [dumped(r) for r in results],
                         findings_of(results), verdict_of(results))
        reviews.append(review)
        rows.append(dict(
            id=uuid.uuid4().hex, application_id=submitted.application_id, attempt=submitted.attempt,
            matter_code=submitted.matter.code, matter_version=submitted.matter.version,
            applicant_subject=submitted.applicant.subject, department=submitted.department, verdict=review.verdict,
            findings=[f.model_dump() for f in review.findings], ruleset=ruleset.name, ruleset_version=version,
            results=review.dumped, inputs=inputs, submitted_at=submitted.submitted_at,
            checked_at=now))
    inserted = {(row.application_id, row.attempt) for row in await session.execute(_INSERT_VERDICT, rows)}
    new = []
    for review in reviews:
        s = review.submitted
        if (s.application_id, s.attempt) in inserted:
            new.append(review)
        else:
            with scope(review.position):
                log.info("verdict_exists", application_id=s.application_id, attempt=s.attempt)
    await shadow.review_in_shadow(session, [
        shadow.Reviewed(r.submitted, r.inputs, r.on, r.ruleset.name, r.verdict, r.results) for r in new])
    published = []
    for review in new:
        s = review.submitted
        with scope(review.position):  # the verdict event continues the submission's trace
            # Validated whole, the results as the plain values stored with the verdict (the fields
            # ``RuleOutcome`` does not have are ignored): one call of pydantic's, where a model per rule
            # was a visible share of the pre-review.
            published.append(outbox_row(session, PrereviewVerdictIssued.model_validate(dict(
                application_id=s.application_id, attempt=s.attempt, verdict=review.verdict,
                findings=review.findings, ruleset=review.ruleset.name, checked_at=now,
                results=review.dumped)), subject=s.application_id))
            log.info("prereview_done", application_id=s.application_id, verdict=review.verdict,
                     findings=len(review.findings), ruleset=review.ruleset.name)
    if published:
        await session.execute(outbox.insert(), published)


async def verdicts_for(database: Database, principal: Principal, application_id: str) -> list[Verdict]:
    """The verdicts of an application for its applicant, or for staff of its department (as svc-matters
    scopes the application itself); anyone else gets 404, so ids leak nothing. A staff read is audited."""
    async with database.transaction() as session:
        rows = (await session.scalars(select(Verdict).where(Verdict.application_id == application_id)
                                      .order_by(Verdict.attempt))).all()
        owner = rows[0].applicant_subject if rows else None
        department = next((v.department for v in reversed(rows) if v.department), None)
        if not rows or not (owner == principal.subject or staff_of(principal, department)):
            raise NotFound(messages.NO_VERDICT)
        if owner != principal.subject:
            await record_audit(session, principal, "prereview.read", "application", application_id, owner=owner,
                               details={"verdicts": len(rows)})
    return list(rows)


async def latest_review(database: Database, principal: Principal, application_id: str) -> Verdict:
    return (await verdicts_for(database, principal, application_id))[-1]


async def dry_run(session: AsyncSession, principal: Principal, matter_code: str, form: dict[str, Any],
                  materials: dict[str, Any]) -> CheckResult:
    """Check the caller's draft against the matter's active rules and the comparison (数据比对): every
    problem at once, with the messages a submission would get, nothing stored."""
    requirements = await prefill.latest_requirements(session, matter_code)
    ruleset, version = await active_ruleset(session, requirements)
    results = ruleset.evaluate(form, materials, dt.datetime.now(SHANGHAI).date())
    results += await compare.draft_results(session, principal, requirements, form, materials)
    return CheckResult.model_validate({
        "matter_code": matter_code, "matter_version": requirements.version, "ruleset": ruleset.name,
        "ruleset_version": version, "verdict": verdict_of(results), "problems": findings_of(results),
        "results": [r.model_dump() for r in results]})
