"""HTTP routes of svc-prequal."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from kit.pagination import Page
from kit.params import IsoDate
from prequal import service
from prequal.schemas import (
    CheckRequest,
    CheckResult,
    ReviewView,
    RuleSetCreate,
    RuleSetSummary,
    RuleSetTestResult,
    RuleSetView,
    VerdictView,
)

router = APIRouter(tags=["pre-review"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})
rules_router = APIRouter(tags=["review rules"],
                         responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 503)})

AppId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MatterCode = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
# Bounded like the column (PostgreSQL integer): a larger number is a 422, not a database error.
RuleSetVersion = Annotated[int, Path(ge=1, le=2**31 - 1)]
RuleAdmin = Annotated[Principal, Depends(require_roles(Role.REVIEWER, Role.OPS_ADMIN))]


@router.get("/v1/prequal/applications/{application_id}/verdicts", dependencies=[needs_scope("applications:read")],
            summary="Pre-review (预审) verdicts of an application, one per submission attempt",
            responses={404: PROBLEM_RESPONSES[404]})
async def application_verdicts(session: SessionDep, principal: CurrentPrincipal, application_id: AppId,
                               ) -> Page[VerdictView]:
    rows = await service.verdicts_for(session, principal, application_id)
    return Page[VerdictView](items=[VerdictView.model_validate(v) for v in rows])


@router.get("/v1/prequal/reviews/{application_id}", dependencies=[needs_scope("applications:read")],
            summary="The latest pre-review of an application with every rule's result (owner or staff)",
            responses={404: PROBLEM_RESPONSES[404]})
async def latest_review(session: SessionDep, principal: CurrentPrincipal, application_id: AppId) -> ReviewView:
    return ReviewView.model_validate(await service.latest_review(session, principal, application_id))


@router.post("/v1/prequal/check", dependencies=[needs_scope("applications:read")],
             summary="Dry-run the pre-review on the caller's draft, the comparison (数据比对) included: every problem "
                     "at once, nothing stored",
             responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def check(session: SessionDep, principal: CurrentPrincipal, body: CheckRequest) -> CheckResult:
    return CheckResult.model_validate(await service.dry_run(session, principal, body.matter_code, body.form,
                                                            body.materials))


@rules_router.get("/v1/prequal/rulesets", dependencies=[needs_scope("rulesets:read")],
                  summary="Rule sets of every matter, or of one (reviewer, ops_admin)")
async def list_rulesets(session: SessionDep, _: RuleAdmin,
                        matter: Annotated[str | None, Query(max_length=32)] = None) -> Page[RuleSetSummary]:
    rows = await service.list_rulesets(session, matter)
    return Page[RuleSetSummary](items=[RuleSetSummary.model_validate(r) for r in rows])


@rules_router.get("/v1/prequal/rulesets/{matter}/versions/{version}", dependencies=[needs_scope("rulesets:read")],
                  summary="One version of a matter's rule set")
async def get_ruleset(session: SessionDep, _: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await service.get_ruleset(session, matter, version))


@rules_router.post("/v1/prequal/rulesets/{matter}", dependencies=[needs_scope("rulesets:write")], status_code=201,
                   openapi_extra=business_rules((422, "every rule record is complete (id, targets, when, expr, severity, messages) and its CEL compiles")),
                   summary="Create a draft version; every rule is compiled, invalid CEL is refused (422)",
                   responses={422: PROBLEM_RESPONSES[422]})
async def create_ruleset(session: SessionDep, principal: RuleAdmin, matter: MatterCode, body: RuleSetCreate) -> RuleSetView:
    return RuleSetView.model_validate(await service.create_draft(session, principal, matter, body.rules))


@rules_router.post("/v1/prequal/rulesets/{matter}/versions/{version}/test", dependencies=[needs_scope("rulesets:write")],
                   summary="Dry-run a version against its examples and the last reviewed applications")
async def test_ruleset(session: SessionDep, principal: RuleAdmin, matter: MatterCode, version: RuleSetVersion,
                       last: Annotated[int, Query(ge=0, le=500)] = 50) -> RuleSetTestResult:
    return RuleSetTestResult.model_validate(await service.test_ruleset(session, matter, version, last, principal))


@rules_router.post("/v1/prequal/rulesets/{matter}/versions/{version}/publish", dependencies=[needs_scope("rulesets:write")],
                   summary="Make a version the active one (the previous active one is retired)",
                   responses={409: PROBLEM_RESPONSES[409]})
async def publish_ruleset(session: SessionDep, principal: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await service.publish(session, matter, version, principal))


@rules_router.post("/v1/prequal/rulesets/{matter}/versions/{version}/retire", dependencies=[needs_scope("rulesets:write")],
                   summary="Retire a version")
async def retire_ruleset(session: SessionDep, principal: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> RuleSetView:
    return RuleSetView.model_validate(await service.retire(session, matter, version, principal))


# ---- pre-fill (智能预填) and measures ------------------------------------------------------------------

from prequal import measures as measures_service  # noqa: E402
from prequal import prefill as prefill_service  # noqa: E402
from prequal.schemas import MeasuresView, PrefillRequest, PrefillResult  # noqa: E402

prefill_router = APIRouter(tags=["pre-fill"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})
Applicant = Annotated[Principal, Depends(require_roles(Role.APPLICANT))]
MeasuresReader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]


@prefill_router.post("/v1/prequal/prefill", dependencies=[needs_scope("applications:write")],
                     summary="A draft form with every field the platform can fill, each with its source and freshness",
                     responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def prefill(session: SessionDep, principal: Applicant, body: PrefillRequest) -> PrefillResult:
    return PrefillResult.model_validate(await prefill_service.build_prefill(session, principal, body.matter_code))


@prefill_router.get("/v1/prequal/measures", dependencies=[needs_scope("ops:read")],
                    openapi_extra=business_rules((422, "`to` is not before `from`")),
                    summary="Pre-review coverage, first-time acceptance, pre-fill and wrongly-blocked rates per matter "
                            "and period (ops_admin, inspector)",
                    responses={422: PROBLEM_RESPONSES[422]})
async def get_measures(session: SessionDep, _: MeasuresReader,
                       matter: Annotated[str | None, Query(max_length=32)] = None,
                       from_: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai)")] = None,
                       to: Annotated[IsoDate | None, Query(description="Last day, inclusive")] = None) -> MeasuresView:
    return MeasuresView.model_validate(await measures_service.measures(session, matter, from_, to))


# ---- shadow mode (影子运行) ------------------------------------------------------------------------------
from prequal import shadow as shadow_service  # noqa: E402
from prequal.schemas import ShadowReport, ShadowState  # noqa: E402


@rules_router.post("/v1/prequal/rulesets/{matter}/versions/{version}/shadow", dependencies=[needs_scope("rulesets:write")],
                   summary="Run a draft version in shadow beside the active one (one per matter); verdicts are "
                           "not affected", responses={409: PROBLEM_RESPONSES[409]})
async def shadow_ruleset(session: SessionDep, principal: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> ShadowState:
    return ShadowState.model_validate(await shadow_service.start(session, principal, matter, version))


@rules_router.post("/v1/prequal/rulesets/{matter}/versions/{version}/unshadow", dependencies=[needs_scope("rulesets:write")],
                   summary="Stop running a version in shadow")
async def unshadow_ruleset(session: SessionDep, _: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> ShadowState:
    return ShadowState.model_validate(await shadow_service.stop(session, matter, version))


@rules_router.get("/v1/prequal/rulesets/{matter}/versions/{version}/shadow-report", dependencies=[needs_scope("rulesets:read")],
                  summary="Where the shadow version and the active rules disagreed on submissions, with counts")
async def shadow_report(session: SessionDep, _: RuleAdmin, matter: MatterCode, version: RuleSetVersion) -> ShadowReport:
    return ShadowReport.model_validate(await shadow_service.report(session, matter, version))
