"""Search (public: visitors of the portal and hall kiosks search before logging in)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kit.auth import PUBLIC_ROUTE
from kit.errors import PROBLEM_RESPONSES
from knowledge.api.deps import ROUTER_PROBLEMS
from knowledge.schemas import MAX_QUESTION_CHARS, SearchResult
from knowledge.service import search as searching

router = APIRouter(tags=["knowledge"], responses=ROUTER_PROBLEMS)


@router.get("/v1/knowledge/search", dependencies=[PUBLIC_ROUTE],
            summary="Ranked published entries with scores (public)",
            responses={422: PROBLEM_RESPONSES[422]})
async def search(q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS)],
                 limit: Annotated[int, Query(ge=1, le=50)] = 10) -> SearchResult:
    return searching.search(q, limit)
