"""HTTP routes of the catalogue of matters (事项): listing, versions, import and guide completeness."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from kit.auth import CurrentPrincipal, Principal, Role, needs_scope, require_roles
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.page_cache import CACHED_RESPONSES, IfNoneMatch, respond
from kit.pagination import CursorQuery, LimitQuery, Page
from matters.api.deps import CataloguePages
from matters.schemas import (
    GuideCompletenessReport,
    ImportReport,
    MatterDetail,
    MatterImport,
    MatterKind,
    MatterSummary,
    MatterVersionDetail,
    MatterVersionSummary,
)
from matters.service import catalogue

router = APIRouter(tags=["matters"], responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 503)})

MatterCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
OpsAdmin = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN))]
Overseer = Annotated[Principal, Depends(require_roles(Role.OPS_ADMIN, Role.INSPECTOR))]

# The catalogue changes a few times a year and is read on every visit: its list and guides are answered
# from serialised pages (kit.page_cache) with an ETag, and a client holding the current one gets a 304.
# The answer is the same for every caller and every language (names, labels and notes come in both
# Chinese and English fields), so neither the token nor Accept-Language is part of a page's key; the
# token is still checked on every request, a 304 included.
_CACHED = ("Answered from this replica's copy of the catalogue, dropped within a second of any change: "
           "`ETag` names the answer, `If-None-Match` with it gets a 304 without a body.")


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined, to stand alone inside an OpenAPI operation."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


# The body is taken as a list of objects and each entry validated on its own, so one bad entry is
# reported with its field errors instead of failing the whole request: the document names the full
# MatterImport model of an entry, and says that any other object is accepted and reported.
_IMPORT_BODY_SCHEMA = {"type": "array", "minItems": 1, "maxItems": catalogue.MAX_IMPORT_ENTRIES,
                       "items": {"anyOf": [_inline_refs(MatterImport.model_json_schema()), {
                           "type": "object", "description": "An entry that is not a valid matter: reported with "
                                                            "its field errors in the 200 answer, not refused"}]}}


# Fixed paths first: `/v1/matters/{code}` would otherwise take "guide-completeness" for a code.
@router.get("/v1/matters/guide-completeness", dependencies=[needs_scope("matters:read")],
            summary="Matters whose service guide (办事指南) misses an element",
            description="Every current matter whose guide lacks an element (name, department, legal basis, conditions, "
                        "time limits, fee note, channels, help video, licence issued, materials, material names and "
                        "file types, field labels), with the missing elements; the summary counts all current matters. "
                        "For ops and inspectors.")
async def guide_completeness(session: SessionDep, _: Overseer, limit: LimitQuery = 100, cursor: CursorQuery = None,
                             kind: Annotated[MatterKind | None, Query()] = None) -> GuideCompletenessReport:
    return await catalogue.guide_completeness(session, limit=limit, cursor=cursor, kind=kind)


@router.post(
    "/v1/matters/import", dependencies=[needs_scope("matters:admin")],
    summary="Import matters (JSON): publish new matters and new versions",
    description="Ops only. The body is a list of matters in the format of the packaged catalogue. Each entry is "
                "validated strictly and on its own: a new code is published as version 1, an existing code whose "
                "content changed as version n+1 (which becomes current; open applications keep their version), an "
                "unchanged one writes nothing, and a rejected one writes nothing and is reported with field-level "
                "errors. The valid entries are published together in one transaction. With `dry_run=true` the same "
                "report is answered and nothing is written. A body that is not a list of 1–500 objects is a 422.",
    responses={200: {"model": ImportReport}, 422: PROBLEM_RESPONSES[422]}, response_model=ImportReport,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _IMPORT_BODY_SCHEMA}}}})
async def import_matters(
    database: DatabaseDep, pages: CataloguePages, principal: OpsAdmin,
    entries: Annotated[list[dict[str, Any]], Body(min_length=1, max_length=catalogue.MAX_IMPORT_ENTRIES)],
    dry_run: Annotated[bool, Query(description="Validate and report without publishing")] = False,
    idempotency_key: IdempotencyKey = None,
) -> ImportReport:
    report = await catalogue.import_matters(database, principal, entries, dry_run=dry_run, idempotency_key=idempotency_key)
    if not dry_run:
        # Committed: this replica drops its pages now, so the importer's next read shows what they
        # published (the other replicas within a second, kit.page_cache.follow_generation).
        pages.forget()
    return report


@router.get("/v1/matters", dependencies=[needs_scope("matters:read")],
            tags=["matters"], summary="List the matters (事项) of the catalogue",
            description="Current versions in catalogue order: the 18 high-volume matters first, then the public-service "
                        f"items (公共服务事项) and other imported matters. {_CACHED}",
            response_model=Page[MatterSummary], responses=CACHED_RESPONSES)
async def list_matters(database: DatabaseDep, pages: CataloguePages, _: CurrentPrincipal,
                       if_none_match: IfNoneMatch = None, limit: LimitQuery = 20, cursor: CursorQuery = None,
                       kind: Annotated[MatterKind | None, Query()] = None,
                       q: Annotated[str | None, Query(max_length=50, description="Text in the code or name")] = None,
                       ) -> Response:
    # The database, not a session: a page found in memory opens none.
    page = await pages.page(("list", limit, cursor, kind, q), lambda: catalogue.matters_json(
        database, limit=limit, cursor=cursor, kind=kind, q=q))
    return respond(page, if_none_match)


@router.get("/v1/matters/{code}", dependencies=[needs_scope("matters:read")],
            tags=["matters"], summary="One matter (its current version) with its form fields and materials",
            description=_CACHED, response_model=MatterDetail, responses={404: PROBLEM_RESPONSES[404], **CACHED_RESPONSES})
async def get_matter(database: DatabaseDep, pages: CataloguePages, _: CurrentPrincipal, code: MatterCode,
                     if_none_match: IfNoneMatch = None) -> Response:
    return respond(await pages.page(("matter", code), lambda: catalogue.matter_json(database, code)), if_none_match)


@router.get("/v1/matters/{code}/versions", dependencies=[needs_scope("matters:read")],
            summary="Every published version of a matter, newest first",
            responses={404: PROBLEM_RESPONSES[404]})
async def list_versions(session: SessionDep, _: CurrentPrincipal, code: MatterCode, limit: LimitQuery = 20,
                        cursor: CursorQuery = None) -> Page[MatterVersionSummary]:
    return await catalogue.list_versions(session, code, limit=limit, cursor=cursor)


@router.get("/v1/matters/{code}/versions/{version}", dependencies=[needs_scope("matters:read")],
            summary="One version of a matter, as applications filed under it see it", responses={404: PROBLEM_RESPONSES[404]})
async def get_version(session: SessionDep, _: CurrentPrincipal, code: MatterCode,
                      version: Annotated[int, Path(ge=1, le=1_000_000)]) -> MatterVersionDetail:
    return await catalogue.get_version(session, code, version)
