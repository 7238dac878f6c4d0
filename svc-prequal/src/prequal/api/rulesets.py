"""HTTP routes of the review rules (审查规则指标化): versioned rule sets per matter, in CEL."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kit.auth import needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from kit.pagination import Page
from prequal.api.deps import MatterCode, RuleAdmin, RuleSetVersion, problems
from prequal.schemas import RuleSetCreate, RuleSetSummary, RuleSetTestResult, RuleSetView
from prequal.service import rulesets

router = APIRouter(tags=["review rules"], responses=problems(401, 403, 404, 503))


@router.get("/v1/prequal/rulesets", dependencies=[needs_scope("rulesets:read")],
            summary="Rule sets of every matter, or of one (reviewer, ops_admin)")
async def list_rulesets(session: SessionDep, _: RuleAdmin,
                        matter: Annotated[str | None, Query(max_length=32)] = None) -> Page[RuleSetSummary]:
    rows = await rulesets.list_rulesets(session, matter)
    return Page[RuleSetSummary](items=[RuleSetSummary.model_validate(r) for r in rows])


@router.get("/v1/prequal/rulesets/{matter}/versions/{version}", dependencies=[needs_scope("rulesets:read")],
            summary="One version of a matter's rule set")
async def get_ruleset(session: SessionDep, _: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await rulesets.get_ruleset(session, matter, version))


@router.post("/v1/prequal/rulesets/{matter}", dependencies=[needs_scope("rulesets:write")], status_code=201,
             response_model=RuleSetView,
             openapi_extra=business_rules((422, "every rule record is complete (id, targets, when, expr, severity, "
                                                "messages) and its CEL compiles")),
             summary="Create a draft version; every rule is compiled, invalid CEL is refused (422)",
             responses=problems(422))
async def create_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode, body: RuleSetCreate,
                         idempotency_key: IdempotencyKey = None) -> RuleSetView:
    return await rulesets.create_draft(database, principal, matter, body.rules, idempotency_key)


@router.post("/v1/prequal/rulesets/{matter}/versions/{version}/test", dependencies=[needs_scope("rulesets:write")],
             summary="Dry-run a version against its examples and the last reviewed applications")
async def test_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode, version: RuleSetVersion,
                       last: Annotated[int, Query(ge=0, le=500)] = 50) -> RuleSetTestResult:
    return await rulesets.test_ruleset(database, principal, matter, version, last)


@router.post("/v1/prequal/rulesets/{matter}/versions/{version}/publish", dependencies=[needs_scope("rulesets:write")],
             summary="Make a version the active one (the previous active one is retired)",
             responses=problems(409))
async def publish_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode,
                          version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await rulesets.publish(database, principal, matter, version))


@router.post("/v1/prequal/rulesets/{matter}/versions/{version}/retire", dependencies=[needs_scope("rulesets:write")],
             summary="Retire a version")
async def retire_ruleset(database: DatabaseDep, principal: RuleAdmin, matter: MatterCode,
                         version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await rulesets.retire(database, principal, matter, version))
