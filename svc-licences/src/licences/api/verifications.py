"""Online verification of presentations (亮证) and credentials, and redemption of 亮数 handles."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy import text

from kit.auth import needs_scope
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from licences.api.deps import Verifier
from licences.issuer import IssuerDep
from licences.schemas import VerificationRequest, VerificationResult
from licences.service import verification

ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
router = APIRouter(tags=["verification"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})


@router.post("/v1/verifications", dependencies=[needs_scope("licences:verify")], response_model=VerificationResult,
             openapi_extra=business_rules((422, "exactly one of `presentation` and `credential` is given")),
             summary="Verify a presentation (亮证 QR text) or a credential (SD-JWT VC); the check is recorded",
             description="Answers `valid`, `invalid` with the reason (malformed, bad_signature, unknown_key, "
                         "presentation_expired, replayed, ...), `revoked`, `suspended`, `expired` or `not_yet_valid`, "
                         "and the visible fields. A presentation is accepted once: a replay is `invalid`/`replayed`.",
             responses={422: PROBLEM_RESPONSES[422]})
async def verify(request: Request, issuer: IssuerDep, principal: Verifier, body: VerificationRequest) -> dict[str, Any]:
    async with request.app.state.database.transaction() as session:
        # The verification record and the replay mark need not wait for the WAL flush: a crash can
        # lose the last fraction of a second of them, and a presentation lives two minutes anyway.
        await session.execute(ASYNC_COMMIT)
        return await verification.verify(session, issuer, principal, presentation=body.presentation,
                                         credential=body.credential)


@router.post("/v1/verifications/data/{handle}", dependencies=[needs_scope("licences:verify")],
             summary="亮数: redeem a one-time handle for the live data behind a construction-waste disposal certificate",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def redeem(request: Request, principal: Verifier,
                 handle: Annotated[str, Path(min_length=10, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]) -> dict[str, Any]:
    async with request.app.state.database.transaction() as session:
        return await verification.redeem_data_handle(session, principal, handle)
