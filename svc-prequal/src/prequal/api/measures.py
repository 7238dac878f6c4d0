"""HTTP route of the measures: pre-review coverage, first-time acceptance, pre-fill rates."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kit.auth import needs_scope
from kit.db import SessionDep
from kit.openapi import business_rules
from kit.params import IsoDate
from prequal.api.deps import MeasuresReader, problems
from prequal.schemas import MeasuresView
from prequal.service import measures

router = APIRouter(tags=["pre-fill"], responses=problems(401, 403, 503))


@router.get("/v1/prequal/measures", dependencies=[needs_scope("ops:read")],
            openapi_extra=business_rules((422, "`from` is not after `to`, the period spans at most 366 days within the years 2000–2100")),
            summary="Pre-review coverage, first-time acceptance, pre-fill and wrongly-blocked rates per matter "
                    "and period (ops_admin, inspector)",
            responses=problems(422))
async def get_measures(session: SessionDep, _: MeasuresReader,
                       matter: Annotated[str | None, Query(max_length=32)] = None,
                       from_: Annotated[IsoDate | None, Query(alias="from", description="First day (Asia/Shanghai)")] = None,
                       to: Annotated[IsoDate | None, Query(description="Last day, inclusive")] = None) -> MeasuresView:
    return await measures.measures(session, matter, from_, to)
