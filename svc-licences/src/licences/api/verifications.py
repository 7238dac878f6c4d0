"""Online verification of presentations (亮证) and credentials, and redemption of 亮数 handles."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from kit.auth import needs_scope
from kit.db import DatabaseDep
from kit.errors import PROBLEM_RESPONSES
from kit.openapi import business_rules
from licences.api.deps import OnlineCheckDep, Verifier
from licences.schemas import LiveData, VerificationRequest, VerificationResult
from licences.service import verification

router = APIRouter(tags=["verification"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})


# Public: declared by OnlineCheckDep (kit.auth.public), one dependency fewer on the busiest route than PUBLIC_ROUTE.
@router.post("/v1/verifications", response_model=VerificationResult,
             openapi_extra=business_rules((422, "exactly one of `presentation`, `credential` and `sm2_document` is given")),
             summary="Verify a presentation (亮证 QR text), a credential (SD-JWT VC, ES256) or an SM2 document "
                     "(SM2-with-SM3); the check is recorded",
             description="Answers `valid`, `invalid` with the reason (malformed, bad_signature, unknown_key, "
                         "presentation_expired, replayed, ...), `revoked`, `suspended`, `expired` or `not_yet_valid`, "
                         "and the visible fields. A presentation is accepted once: a replay is `invalid`/`replayed`, "
                         "unless the licence is revoked, suspended or expired by now (that state is answered). "
                         "No token needed (rate-limited per address); with a token the record names its holder.",
             responses={422: PROBLEM_RESPONSES[422]})
async def verify(online: OnlineCheckDep, body: VerificationRequest) -> dict[str, Any]:
    return await verification.verify(online.database, online.issuer, online.checks, online.principal,
                                     presentation=body.presentation, credential=body.credential,
                                     sm2_document=body.sm2_document)


@router.post("/v1/verifications/data/{handle}", dependencies=[needs_scope("licences:verify")],
             summary="亮数: redeem a one-time handle for the live data behind a construction-waste disposal certificate",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def redeem(database: DatabaseDep, principal: Verifier,
                 handle: Annotated[str, Path(min_length=10, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]) -> LiveData:
    return await verification.redeem_data_handle(database, principal, handle)
