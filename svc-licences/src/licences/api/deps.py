"""Typed dependencies shared by the routes: who may do what."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import CurrentPrincipal, Principal, Role, require_roles
from kit.errors import Forbidden
from kit.idempotency import create_once_with_status as create_once

LicenceId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                              description="Repeat a request safely: same key, same result")]

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
    raise Forbidden("核验需要检查人员角色或 licences:verify 权限 / verifying needs an inspector or the licences:verify scope")


Verifier = Annotated[Principal, Depends(_verifier)]


async def created(request: Request, scope: str, key: str | None, fingerprint: Any,
                  make: Callable[[AsyncSession], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """Run ``make`` once per ``Idempotency-Key`` (kit.idempotency) and answer what it made."""
    code, payload = await create_once(request.app.state.database, scope, key, fingerprint, make)
    return JSONResponse(payload, status_code=code)
