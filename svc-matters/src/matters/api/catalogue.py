"""HTTP routes of the catalogue of matters (事项)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from kit.auth import CurrentPrincipal
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.pagination import CursorQuery, LimitQuery, Page
from matters.schemas import MatterDetail, MatterSummary
from matters.service import catalogue

router = APIRouter(tags=["matters"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

MatterCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/v1/matters", tags=["matters"], summary="List the matters (事项) of the catalogue")
async def list_matters(session: SessionDep, _: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
                       kind: Annotated[Literal["licence", "filing"] | None, Query()] = None,
                       q: Annotated[str | None, Query(max_length=50, description="Text in the code or name")] = None,
                       ) -> Page[MatterSummary]:
    return await catalogue.list_matters(session, limit=limit, cursor=cursor, kind=kind, q=q)


@router.get("/v1/matters/{code}", tags=["matters"], summary="One matter with its form fields and materials",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_matter(session: SessionDep, _: CurrentPrincipal, code: MatterCode) -> MatterDetail:
    return await catalogue.get_matter(session, code)
