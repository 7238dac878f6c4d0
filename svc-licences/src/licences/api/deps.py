"""Typed dependencies shared by the routes: who may do what, and the issuer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from kit.app import state_dependency, state_of
from kit.auth import (
    CurrentPrincipal,
    Principal,
    Role,
    SubjectKind,
    bearer_token,
    get_principal,
    public,
    require_roles,
)
from kit.db import Database, database_of
from kit.errors import Forbidden
from licences import messages
from licences.service.checks import PresentationChecks
from licences.service.issuer import Issuer

LicenceId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]

# The issuer (its URL, keys and signed status lists) that create_app puts on the app's state.
IssuerDep = Annotated[Issuer, Depends(state_dependency("issuer", Issuer))]

# Staff who change a licence's status or issue new versions of it.
LicenceOfficer = Annotated[Principal, Depends(require_roles(Role.REVIEWER, Role.WINDOW_OFFICER, Role.OPS_ADMIN))]
OpsAdmin = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
RecognitionOfficer = Annotated[Principal, Depends(require_roles(Role.REVIEWER, Role.WINDOW_OFFICER, Role.INSPECTOR,
                                                                Role.OPS_ADMIN))]


async def _verifier(principal: CurrentPrincipal) -> Principal:
    """Inspectors and staff, or a partner system whose token carries ``licences:verify``."""
    if principal.has_role(Role.INSPECTOR, Role.WINDOW_OFFICER, Role.REVIEWER, Role.OPS_ADMIN) \
            or "licences:verify" in principal.scopes:
        return principal
    raise Forbidden(messages.VERIFIER_REQUIRED)


Verifier = Annotated[Principal, Depends(_verifier)]


# Who checked a presentation without a token (an inspector's or a partner officer's phone, rate-limited
# per address at the gateway); the verification record names them so.
ANONYMOUS_VERIFIER = Principal(subject="anonymous", kind=SubjectKind.PERSON, name="匿名核验 (anonymous)")


async def _presentation_checker(request: Request) -> Principal:
    """Anyone may check a presentation: without a token as the anonymous verifier, with one as its holder
    (a bad or expired token is refused, never taken for anonymous)."""
    if bearer_token(request.headers.get("authorization")) is None:
        return ANONYMOUS_VERIFIER
    return await get_principal(request)


@dataclass(frozen=True, slots=True)
class OnlineCheck:
    """What ``POST /v1/verifications`` needs, resolved by one dependency: the database, the issuer, the queue the
    checks are committed through in batches, and who checks. The busiest route: FastAPI resolves each dependency
    with work of its own (~30 µs of CPU per request for the five this replaces, ``PUBLIC_ROUTE`` among them: this
    one declares the route public); nothing of this is in the OpenAPI document."""
    database: Database
    issuer: Issuer
    checks: PresentationChecks
    principal: Principal


@public  # anyone may check a presentation (``_presentation_checker``)
async def _online_check(request: Request) -> OnlineCheck:
    return OnlineCheck(database=database_of(request), issuer=state_of(request, "issuer", Issuer),
                       checks=state_of(request, "presentation_checks", PresentationChecks),
                       principal=await _presentation_checker(request))


OnlineCheckDep = Annotated[OnlineCheck, Depends(_online_check)]
