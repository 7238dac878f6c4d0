"""The typed dependencies of svc-knowledge's routes: ids in paths, who may do what, the optional caller
of the public routes, the service's settings."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from kit.app import settings_dependency, state_dependency
from kit.auth import Principal, Role, TokenVerifier, bearer_token, require_roles
from kit.errors import PROBLEM_RESPONSES
from knowledge.schemas import ENTRY_ID_PATTERN
from knowledge.settings import Settings

# What any route of the service may answer besides its own success.
ROUTER_PROBLEMS: dict[int | str, dict[str, Any]] = {
    k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)}

EntryId = Annotated[str, Path(pattern=ENTRY_ID_PATTERN)]
SessionId = Annotated[str, Path(pattern=r"^[a-f0-9]{32}$")]
GroupId = SessionId  # unanswered groups have the same kind of id as conversations

Editor = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR))]
Publisher = Annotated[Principal, Depends(require_roles(Role.REVIEWER))]
Staff = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN,
                                                   Role.INSPECTOR, Role.HELPDESK_AGENT))]
Importer = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN))]
Reader = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN,
                                                    Role.INSPECTOR))]

SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
TokenVerifierDep = Annotated[TokenVerifier, Depends(state_dependency("token_verifier", TokenVerifier))]


async def sent_bearer_token(request: Request) -> str | None:
    """The bearer token of the request, when one was sent (not a documented parameter: it is the security scheme)."""
    return bearer_token(request.headers.get("authorization"))


BearerToken = Annotated[str | None, Depends(sent_bearer_token)]


async def optional_principal(token: BearerToken, verifier: TokenVerifierDep) -> Principal | None:
    """The caller when a bearer token is sent (and valid), else None: the public routes serve both."""
    if token is None:
        return None
    return await verifier.verify(token)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
