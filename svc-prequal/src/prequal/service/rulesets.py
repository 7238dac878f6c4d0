"""Managing the review rules (审查规则指标化): versioned rule sets per matter, one active at a time.

A version is created as a draft (every rule compiled first), tried against its own examples and the
latest reviewed applications, then published (the active one is retired) or retired. Publishing an
active version and retiring a retired one change nothing, so a repeated request answers the same.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import local_date
from kit.db import Database
from kit.errors import Conflict, NotFound, ValidationFailed
from kit.idempotency import create_once
from kit.statemachine import StateMachine, Transition
from prequal import messages
from prequal.models import RuleSet, Verdict
from prequal.schemas import RuleSetTestResult, RuleSetView
from prequal.service.rules import RuleCompileError, RuleResult, compile_rules, run_examples, verdict_of


class RuleSetStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


RULE_ADMINS = frozenset({Role.REVIEWER, Role.OPS_ADMIN})
EVERY_STATUS = frozenset(RuleSetStatus)

RULE_SET_LIFECYCLE = StateMachine(messages.RULE_SET, [
    Transition("publish", EVERY_STATUS, RuleSetStatus.ACTIVE, RULE_ADMINS),
    Transition("retire", EVERY_STATUS, RuleSetStatus.RETIRED, RULE_ADMINS),
    # Shadow mode (prequal.service.shadow) tries a version before it is published: drafts only.
    Transition("shadow", frozenset({RuleSetStatus.DRAFT}), None, RULE_ADMINS),
    Transition("unshadow", EVERY_STATUS, None, RULE_ADMINS),
])


async def list_rulesets(session: AsyncSession, matter: str | None) -> list[RuleSet]:
    stmt = select(RuleSet).order_by(RuleSet.matter_code, RuleSet.version)
    if matter:
        stmt = stmt.where(RuleSet.matter_code == matter)
    return list((await session.scalars(stmt)).all())


async def get_ruleset(session: AsyncSession, matter: str, version: int, *, lock: bool = False) -> RuleSet:
    row = await session.get(RuleSet, (matter, version), with_for_update=lock)
    if row is None:
        raise NotFound(messages.RULE_SET_NOT_FOUND.format(matter=matter, version=version))
    return row


async def lock_matter(session: AsyncSession, matter: str) -> None:
    """Serialise the changes to one matter's rule sets (new versions, shadows) until the transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"prequal-ruleset:{matter}"))))


def validate_rules(matter: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compile every rule; invalid CEL or record → 422 with the parser's / validator's message."""
    ids = [r.get("id") for r in rules]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(messages.RULE_IDS_NOT_UNIQUE)
    try:
        compiled = compile_rules(f"{matter}@draft", rules)
    except RuleCompileError as exc:
        raise ValidationFailed(exc.text, rule_id=exc.rule_id, cel_error=exc.message) from exc
    except ValidationError as exc:
        raise ValidationFailed(messages.RULE_RECORD_INVALID.format(errors=exc.errors(include_url=False))) from exc
    return [r.model_dump(mode="json", by_alias=True) for r in compiled.rules]


async def create_draft(database: Database, principal: Principal, matter: str, rules: list[dict[str, Any]],
                       idempotency_key: str | None = None) -> RuleSetView:
    clean = validate_rules(matter, rules)

    async def create(session: AsyncSession) -> RuleSetView:
        await lock_matter(session, matter)
        latest = await session.scalar(select(func.max(RuleSet.version)).where(RuleSet.matter_code == matter))
        row = RuleSet(matter_code=matter, version=(latest or 0) + 1, status=RuleSetStatus.DRAFT, rules=clean,
                      created_by=principal.subject, created_at=dt.datetime.now(dt.UTC))
        session.add(row)
        await session.flush()
        return RuleSetView.model_validate(row)

    return await create_once(database, f"rulesets:{principal.subject}", idempotency_key,
                             {"matter": matter, "rules": rules}, create, RuleSetView)


async def test_ruleset(database: Database, principal: Principal | None, matter: str, version: int,
                       last: int) -> RuleSetTestResult:
    """Dry-run a version against its own examples and the last ``last`` reviewed applications of the
    matter (comparing with the verdict they got). The comparison (数据比对) does not depend on the rule
    set: each application keeps the ``compare.*`` results it got then, so a change of verdict is the
    version's doing, not that of data that changed since. Those applications' forms (personal data
    included) are decrypted for it, so the run is audited."""
    async with database.transaction() as session:
        row = await get_ruleset(session, matter, version)
        examples = run_examples(row.rules)
        compiled = compile_rules(f"{matter}@v{version}", row.rules)
        recent = (await session.scalars(select(Verdict)
                                        .where(Verdict.matter_code == matter, Verdict.inputs.is_not(None))
                                        .order_by(Verdict.checked_at.desc()).limit(last))).all()
        applications = []
        for v in recent:
            assert v.inputs is not None  # selected so
            results = compiled.evaluate(v.inputs["form"], v.inputs["materials"], local_date(v.submitted_at))
            results += [RuleResult.model_validate(r) for r in v.results if r["rule_id"].startswith("compare.")]
            new = verdict_of(results)
            applications.append({"application_id": v.application_id, "attempt": v.attempt, "verdict_then": v.verdict,
                                 "ruleset_then": v.ruleset, "verdict_now": new, "changed": new != v.verdict,
                                 "failed_rules": [r.rule_id for r in results if r.outcome in ("failed", "error")]})
        if applications:
            await record_audit(session, principal, "application.inputs_read", "ruleset", f"{matter}@v{version}",
                               details={"applications": [a["application_id"] for a in applications]})
    return RuleSetTestResult(matter_code=matter, version=version, examples_passed=all(e["ok"] for e in examples),
                             examples=examples, applications=applications,
                             changed=sum(a["changed"] for a in applications))


async def publish(database: Database, principal: Principal | None, matter: str, version: int) -> RuleSet:
    async with database.transaction() as session:
        row = await get_ruleset(session, matter, version, lock=True)
        RULE_SET_LIFECYCLE.check(row.status, "publish", principal)
        if row.status == RuleSetStatus.ACTIVE:
            return row
        if not all(e["ok"] for e in run_examples(row.rules)):
            raise Conflict(messages.RULE_SET_EXAMPLES_FAIL)
        now = dt.datetime.now(dt.UTC)
        await session.execute(update(RuleSet).where(RuleSet.matter_code == matter, RuleSet.status == RuleSetStatus.ACTIVE)
                              .values(status=RuleSetStatus.RETIRED, retired_at=now))
        row.status, row.published_at, row.retired_at = RuleSetStatus.ACTIVE, now, None
        # What decides applications changed: recorded like a permission change.
        await record_audit(session, principal, "ruleset.publish", "ruleset", f"{matter}@v{version}")
    return row


async def retire(database: Database, principal: Principal | None, matter: str, version: int) -> RuleSet:
    async with database.transaction() as session:
        row = await get_ruleset(session, matter, version, lock=True)
        RULE_SET_LIFECYCLE.check(row.status, "retire", principal)
        if row.status != RuleSetStatus.RETIRED:
            row.status, row.retired_at = RuleSetStatus.RETIRED, dt.datetime.now(dt.UTC)
            await record_audit(session, principal, "ruleset.retire", "ruleset", f"{matter}@v{version}")
    return row
