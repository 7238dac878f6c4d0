"""Typed dependencies and inputs shared by svc-prequal's routes."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

from kit.auth import Principal, Role, require_roles
from kit.errors import PROBLEM_RESPONSES

AppId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MatterCode = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
# Bounded like the column (PostgreSQL integer): a larger number is a 422, not a database error.
RuleSetVersion = Annotated[int, Path(ge=1, le=2**31 - 1)]

RuleAdmin = Annotated[Principal, Depends(require_roles(Role.REVIEWER, Role.OPS_ADMIN))]
Applicant = Annotated[Principal, Depends(require_roles(Role.APPLICANT))]
MeasuresReader = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented problem answers of a router or route, by status code."""
    return {code: PROBLEM_RESPONSES[code] for code in codes}
