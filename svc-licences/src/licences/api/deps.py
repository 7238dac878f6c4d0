"""Typed dependencies shared by the routes: who may do what, and the issuer."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from kit.app import state_dependency
from kit.auth import CurrentPrincipal, Principal, Role, require_roles
from kit.errors import Forbidden
from licences import messages
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
