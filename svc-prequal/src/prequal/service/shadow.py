"""Shadow mode: a draft rule-set version runs beside the active one without affecting verdicts.

While a draft version of a matter is in shadow (at most one per matter), every new submission of that
matter is evaluated by the active rules (the published verdict) and by the shadow version; the shadow's
verdict and results are stored in ``shadow_verdicts``, and the report lists where the two disagree,
so staff see what publishing the version would change before they publish it. The ``compare.*``
results (数据比对) do not depend on the rule set: the shadow verdict includes the same ones.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.contracts import ApplicationSubmitted
from kit.db import Database
from kit.errors import Conflict
from prequal import messages
from prequal.models import RuleSet, RuleSetShadow, ShadowVerdict
from prequal.schemas import ShadowReport, ShadowState
from prequal.service.rules import RuleResult, compile_rules, verdict_of
from prequal.service.rulesets import RULE_SET_LIFECYCLE, get_ruleset, lock_matter

log = structlog.get_logger("prequal.shadow")


def _view(shadow: RuleSetShadow | None, matter: str, version: int) -> ShadowState:
    running = shadow is not None and shadow.version == version
    return ShadowState(matter_code=matter, version=version, in_shadow=running,
                       started_by=shadow.started_by if shadow is not None and running else None,
                       started_at=shadow.started_at if shadow is not None and running else None)


async def start(database: Database, principal: Principal, matter: str, version: int) -> ShadowState:
    async with database.transaction() as session:
        row = await get_ruleset(session, matter, version)
        await lock_matter(session, matter)
        current = await session.get(RuleSetShadow, matter)
        if current is not None and current.version == version:
            return _view(current, matter, version)
        RULE_SET_LIFECYCLE.check(row.status, "shadow", principal)
        if current is not None:
            raise Conflict(messages.SHADOW_TAKEN.format(matter=matter, version=current.version))
        shadow = RuleSetShadow(matter_code=matter, version=version, started_by=principal.subject,
                               started_at=dt.datetime.now(dt.UTC))
        session.add(shadow)
    return _view(shadow, matter, version)


async def stop(database: Database, principal: Principal, matter: str, version: int) -> ShadowState:
    async with database.transaction() as session:
        row = await get_ruleset(session, matter, version)
        RULE_SET_LIFECYCLE.check(row.status, "unshadow", principal)
        await session.execute(delete(RuleSetShadow).where(RuleSetShadow.matter_code == matter,
                                                          RuleSetShadow.version == version))
    return _view(None, matter, version)


def differing(active: list[RuleResult], shadow: list[RuleResult]) -> list[dict[str, Any]]:
    """Rules whose outcome differs (a rule only one side has counts as ``absent`` on the other)."""
    a = {r.rule_id: r.outcome for r in active}
    s = {r.rule_id: r.outcome for r in shadow}
    ids = list(a) + [k for k in s if k not in a]
    return [{"rule_id": k, "active": a.get(k, "absent"), "shadow": s.get(k, "absent")}
            for k in ids if a.get(k, "absent") != s.get(k, "absent")]


@dataclass
class Reviewed:
    """A submission as the active rules reviewed it."""

    submitted: ApplicationSubmitted
    inputs: dict[str, Any]
    on: dt.date
    active_ruleset: str
    active_verdict: str
    active_results: list[RuleResult]


async def review_in_shadow(session: AsyncSession, reviewed: list[Reviewed]) -> None:
    """Evaluate each submission's matter's shadow version (if any) and store it beside the verdict: one
    query for the matters' shadows, one insert."""
    if not reviewed:
        return
    drafts = {row.matter_code: row for row in (await session.scalars(
        select(RuleSet).join(RuleSetShadow, (RuleSetShadow.matter_code == RuleSet.matter_code)
                             & (RuleSetShadow.version == RuleSet.version))
        .where(RuleSetShadow.matter_code.in_({r.submitted.matter.code for r in reviewed})))).all()}
    rows = []
    for r in reviewed:
        row = drafts.get(r.submitted.matter.code)
        if row is None or row.status != "draft":
            continue  # no shadow, or published or retired since: nothing left to compare
        try:
            rules = compile_rules(f"{row.matter_code}@v{row.version}", row.rules)
            results = rules.evaluate(r.inputs["form"], r.inputs["materials"], r.on)
        except Exception:  # the shadow must never break the real pre-review
            log.exception("shadow_failed", matter=row.matter_code, version=row.version)
            continue
        results += [x for x in r.active_results if x.rule_id.startswith("compare.")]
        rows.append(dict(
            application_id=r.submitted.application_id, attempt=r.submitted.attempt, shadow_version=row.version,
            matter_code=row.matter_code, active_ruleset=r.active_ruleset, active_verdict=r.active_verdict,
            shadow_verdict=verdict_of(results), results=[x.model_dump() for x in results],
            differing_rules=differing(r.active_results, results), checked_at=dt.datetime.now(dt.UTC)))
    if rows:
        await session.execute(insert(ShadowVerdict).on_conflict_do_nothing(), rows)


async def report(session: AsyncSession, matter: str, version: int, limit: int = 200) -> ShadowReport:
    await get_ruleset(session, matter, version)
    where = (ShadowVerdict.matter_code == matter, ShadowVerdict.shadow_version == version)
    disagree = ShadowVerdict.active_verdict != ShadowVerdict.shadow_verdict
    evaluated, disagreed = (await session.execute(
        select(func.count(), func.count().filter(disagree)).where(*where))).one()
    by_kind = (await session.execute(
        select(ShadowVerdict.active_verdict, ShadowVerdict.shadow_verdict, func.count())
        .where(*where, disagree).group_by(ShadowVerdict.active_verdict, ShadowVerdict.shadow_verdict)
        .order_by(func.count().desc()))).all()
    rows = (await session.scalars(select(ShadowVerdict).where(*where, disagree)
                                  .order_by(ShadowVerdict.checked_at.desc()).limit(limit))).all()
    rule_counts: dict[str, int] = {}
    for r in rows:
        for d in r.differing_rules:
            rule_counts[d["rule_id"]] = rule_counts.get(d["rule_id"], 0) + 1
    current = await session.get(RuleSetShadow, matter)
    return ShadowReport.model_validate({
        **_view(current, matter, version).model_dump(),
        "evaluated": evaluated, "agreed": evaluated - disagreed, "disagreed": disagreed,
        "by_verdicts": [{"active_verdict": a, "shadow_verdict": s, "count": n} for a, s, n in by_kind],
        "by_rule": [{"rule_id": k, "count": n} for k, n in sorted(rule_counts.items(), key=lambda kv: -kv[1])],
        "disagreements": [{"application_id": r.application_id, "attempt": r.attempt, "active_ruleset": r.active_ruleset,
                           "active_verdict": r.active_verdict, "shadow_verdict": r.shadow_verdict,
                           "differing_rules": r.differing_rules, "checked_at": r.checked_at} for r in rows],
    })
