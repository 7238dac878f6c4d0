"""Entries (staff, except reading a published one): create, change, history and versions, the review
steps, JSON Lines import and export. Editors (knowledge_editor) write, reviewers (reviewer) publish
and retire."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from kit.auth import PUBLIC_ROUTE, needs_scope
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.openapi import business_rules
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDate
from knowledge.api.deps import ROUTER_PROBLEMS, Editor, EntryId, Importer, MaybePrincipal, Publisher, Reader
from knowledge.schemas import (
    EntryCreate,
    EntryPatch,
    EntryStatus,
    EntryView,
    HistoryItem,
    ImportReport,
    PublicEntry,
    Transition,
)
from knowledge.service import entries

router = APIRouter(tags=["knowledge"], responses=ROUTER_PROBLEMS)

STEP_PROBLEMS: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]}


@router.get("/v1/knowledge/entries", dependencies=[needs_scope("knowledge:read")],
            summary="Entries, newest change first (staff)")
async def list_entries(session: SessionDep, _: Reader, limit: LimitQuery = 20, cursor: CursorQuery = None,
                       status: Annotated[EntryStatus | None, Query()] = None,
                       matter: Annotated[str | None, Query(max_length=128)] = None,
                       category: Annotated[str | None, Query(max_length=32)] = None,
                       inspection_due: Annotated[bool, Query(description="Only published entries due for 巡检")] = False,
                       ) -> Page[EntryView]:
    rows, next_cursor = await entries.list_entries(session, status=status, matter=matter, category=category,
                                                   inspection_due=inspection_due, cursor=cursor, limit=limit)
    return Page[EntryView](items=[await entries.view(session, e) for e in rows], next_cursor=next_cursor)


@router.post("/v1/knowledge/entries", dependencies=[needs_scope("knowledge:write")],
             status_code=201, summary="Create a draft entry (knowledge_editor)",
             responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_entry(database: DatabaseDep, principal: Editor, body: EntryCreate, response: Response,
                       idempotency_key: IdempotencyKey = None) -> EntryView:
    created = await entries.create_entry(database, principal, body, idempotency_key)
    response.headers["Location"] = f"/v1/knowledge/entries/{created.id}"
    return created


@router.get("/v1/knowledge/entries/{entry_id}", dependencies=[PUBLIC_ROUTE],
            summary="An entry: staff see the newest version; the public "
            "(no token) the published one, or as it was published on `as_of`",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_entry(session: SessionDep, principal: MaybePrincipal, entry_id: EntryId,
                    as_of: Annotated[IsoDate | None, Query(description="The day (Asia/Shanghai) to look the answer up on")] = None,
                    ) -> EntryView | PublicEntry:
    return await entries.read_entry(session, principal, entry_id, as_of)


@router.patch("/v1/knowledge/entries/{entry_id}", dependencies=[needs_scope("knowledge:write")],
              summary="Change an entry: a new draft version (knowledge_editor); "
              "the published version stays live until the new one is published",
              responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def change_entry(database: DatabaseDep, principal: Editor, entry_id: EntryId, body: EntryPatch) -> EntryView:
    return await entries.change_entry(database, principal, entry_id, body)


@router.get("/v1/knowledge/entries/{entry_id}/history", dependencies=[needs_scope("knowledge:read")],
            summary="Who changed what, when (staff)",
            responses={404: PROBLEM_RESPONSES[404]})
async def entry_history(session: SessionDep, _: Reader, entry_id: EntryId) -> Page[HistoryItem]:
    rows = await entries.history(session, entry_id)
    return Page[HistoryItem](items=[HistoryItem.model_validate(r, from_attributes=True) for r in rows])


@router.get("/v1/knowledge/entries/{entry_id}/versions/{version}", dependencies=[needs_scope("knowledge:read")],
            summary="One version's content (staff)",
            responses={404: PROBLEM_RESPONSES[404]})
async def entry_version(session: SessionDep, _: Reader, entry_id: EntryId,
                        version: Annotated[int, Path(ge=1, le=1_000_000)]) -> dict:
    return await entries.version_of(session, entry_id, version)


@router.post("/v1/knowledge/entries/{entry_id}/submit", dependencies=[needs_scope("knowledge:write")],
             summary="Send a draft to review (knowledge_editor)", responses=STEP_PROBLEMS)
async def submit_entry(database: DatabaseDep, principal: Editor, entry_id: EntryId, body: Transition | None = None
                       ) -> EntryView:
    return await entries.take_action(database, principal, entry_id, "submit", body.note if body else None)


@router.post("/v1/knowledge/entries/{entry_id}/publish", dependencies=[needs_scope("knowledge:publish")],
             summary="Publish the newest version (reviewer); searchable at once", responses=STEP_PROBLEMS)
async def publish_entry(database: DatabaseDep, principal: Publisher, entry_id: EntryId, body: Transition | None = None
                        ) -> EntryView:
    return await entries.take_action(database, principal, entry_id, "publish", body.note if body else None)


@router.post("/v1/knowledge/entries/{entry_id}/retire", dependencies=[needs_scope("knowledge:publish")],
             summary="Take an entry off line (reviewer)", responses=STEP_PROBLEMS)
async def retire_entry(database: DatabaseDep, principal: Publisher, entry_id: EntryId, body: Transition | None = None
                       ) -> EntryView:
    return await entries.take_action(database, principal, entry_id, "retire", body.note if body else None)


@router.post("/v1/knowledge/entries/{entry_id}/confirm", dependencies=[needs_scope("knowledge:write")],
             summary="巡检: confirm a published answer is still right "
             "(knowledge_editor); to revise it, PATCH and publish", responses=STEP_PROBLEMS)
async def confirm_entry(database: DatabaseDep, principal: Editor, entry_id: EntryId, body: Transition | None = None
                        ) -> EntryView:
    return await entries.take_action(database, principal, entry_id, "confirm", body.note if body else None)


@router.post("/v1/knowledge/import", dependencies=[needs_scope("knowledge:write")],
             summary="Bulk import JSON Lines (the format of faq.jsonl); good lines are "
             "stored, bad ones reported. `publish=true` needs the reviewer or ops_admin role",
             responses={422: PROBLEM_RESPONSES[422]},
             openapi_extra={**business_rules((422, "the body holds at least one line")),
                            "requestBody": {"required": True, "description": "JSON Lines (sent as text/plain or "
                                            "application/x-ndjson): one entry per line, the format of faq.jsonl",
                                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def import_entries(request: Request, database: DatabaseDep, principal: Importer,
                         publish: Annotated[bool, Query(description="Publish every imported entry at once")] = False,
                         ) -> ImportReport:
    # The body is read raw: JSON Lines is not one JSON document, and bad lines are reported, not refused.
    return await entries.import_entries(database, principal, await request.body(), publish_now=publish)


@router.get("/v1/knowledge/export", dependencies=[needs_scope("knowledge:read")],
            summary="Export as JSON Lines: published versions, or the newest of every entry "
            "(`all=true`)", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_entries(session: SessionDep, _: Reader,
                         all_: Annotated[bool, Query(alias="all", description="Every entry's newest version")] = False,
                         ) -> Response:
    lines = await entries.export_lines(session, published_only=not all_)
    return Response("\n".join(lines) + ("\n" if lines else ""), media_type="application/x-ndjson")
