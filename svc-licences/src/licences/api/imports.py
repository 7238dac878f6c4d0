"""应归尽归: bulk import of licences issued before the platform, and the imports' reports (ops)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from kit.auth import needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, ProblemDocument
from kit.openapi import business_rules
from licences.api.deps import IssuerDep, OpsAdmin
from licences.schemas import ImportReport
from licences.service import imports

router = APIRouter(tags=["licences"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})
ImportId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]

# Each item is one line of the register, validated on its own: an item that is not a licence (not an object, a
# field of the wrong type) is reported as an invalid line, never refused with the file, so the items' schema
# names the fields without constraining them.
_REGISTER = {"type": "object", "required": ["licences"], "properties": {"licences": {"type": "array", "items": {
    "description": "One licence: an object of the fields named (text; `data` an object); anything else is "
                   "reported as an invalid line",
    "properties": {name: {"description": "required" if name in imports.REQUIRED else "optional"}
                   for name in (*imports.REQUIRED, *imports.OPTIONAL)}}}}}


@router.post("/v1/licences/imports", dependencies=[needs_scope("licences:manage")], status_code=202,
             response_model=ImportReport,
             summary="应归尽归: import licences issued on paper (CSV or JSON); each line validated, the valid ones issued",
             description="Columns: `licence_number` (kept as the licence number), `matter_code`, `holder_name`, "
                         "`holder_code_type` (`uscc`|`resident_id`), `holder_code`, `issued_on`, `valid_until` "
                         "(YYYY-MM-DD), optional `valid_from`, `holder_subject`, `data` (JSON object). A line already "
                         "imported is reported `already_imported`: a rerun creates nothing. Answered `202` once validated "
                         "and recorded (valid lines `pending`); the import job issues them — follow `Location`. At "
                         "most `LICENCES_IMPORT_MAX_LINES` lines a file.",
             responses={413: {"model": ProblemDocument, "content": {PROBLEM_MEDIA_TYPE: {}},
                              "description": "More lines than a file may hold"},
                        415: {"model": ProblemDocument, "content": {PROBLEM_MEDIA_TYPE: {}},
                              "description": "Neither text/csv nor application/json"},
                        422: PROBLEM_RESPONSES[422]},
             openapi_extra={**business_rules((422, "the file is UTF-8, has the required columns and at least one line")),
                            "requestBody": {"required": True, "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/json": {"schema": _REGISTER}}}})
async def import_licences(request: Request, response: Response, database: DatabaseDep, issuer: IssuerDep,
                          principal: OpsAdmin) -> ImportReport:
    # Read raw: a CSV is not JSON, and a bad line is reported in the report, not refused with the file.
    report = await imports.start_import(database, principal, await request.body(), request.headers.get("content-type"),
                                        issuer.settings.import_max_lines)
    response.headers["Location"] = f"/v1/licences/imports/{report.id}"
    return report


@router.get("/v1/licences/imports", dependencies=[needs_scope("licences:read")],
            summary="The latest imports of earlier licences with their counts (newest 50)")
async def list_imports(session: SessionDep, _: OpsAdmin) -> dict[str, Any]:
    return {"items": await imports.recent(session)}


@router.get("/v1/licences/imports/{import_id}", dependencies=[needs_scope("licences:read")],
            response_model=ImportReport, summary="An import's report: counts and every line's outcome",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_import(session: SessionDep, _: OpsAdmin, import_id: ImportId) -> ImportReport:
    return await imports.report(session, import_id)
