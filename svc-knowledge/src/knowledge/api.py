"""HTTP routes of svc-knowledge. Search and the assistant are public (anonymous visitors of the portal
and hall kiosks ask before logging in; a token, when sent, is verified and used); everything else
needs a staff role: editors (knowledge_editor) write, reviewers (reviewer) publish and retire."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from kit import idempotency
from kit.auth import PUBLIC_ROUTE, Principal, Role, bearer_token, needs_scope, require_roles
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES, Forbidden, NotFound, ValidationFailed
from kit.openapi import business_rules
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDate
from knowledge.retrieval import analyzer
from knowledge.schemas import (
    MAX_QUESTION_CHARS,
    AssistantReply,
    EntryCreate,
    EntryPatch,
    EntryView,
    FeedbackIn,
    HistoryItem,
    ImportReport,
    MessageIn,
    PolicyDeadlines,
    PublicEntry,
    ResolveGroup,
    SearchResult,
    SessionCreate,
    SessionView,
    Transition,
    UnansweredGroupView,
)
from knowledge.service import conversations, entries, reports, unanswered
from knowledge.service.index import holder

router = APIRouter(tags=["knowledge"],
                   responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)})
assistant_router = APIRouter(tags=["assistant"],
                             responses={k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)})

EntryId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SessionId = Annotated[str, Path(pattern=r"^[a-f0-9]{32}$")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                              description="Repeat a request safely: same key, same result")]
Editor = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR))]
Publisher = Annotated[Principal, Depends(require_roles(Role.REVIEWER))]
Staff = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN,
                                                   Role.INSPECTOR, Role.HELPDESK_AGENT))]
Importer = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN))]
Reader = Annotated[Principal, Depends(require_roles(Role.KNOWLEDGE_EDITOR, Role.REVIEWER, Role.OPS_ADMIN, Role.INSPECTOR))]


async def optional_principal(request: Request) -> Principal | None:
    """The caller when a bearer token is sent (and valid), else None: the public routes serve both."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return None
    return await request.app.state.token_verifier.verify(token)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


# ---- search ------------------------------------------------------------------------------------------

@router.get("/v1/knowledge/search", dependencies=[PUBLIC_ROUTE],
            summary="Ranked published entries with scores (public)",
            responses={422: PROBLEM_RESPONSES[422]})
async def search(q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS)],
                 limit: Annotated[int, Query(ge=1, le=50)] = 10) -> SearchResult:
    if not q.strip():
        raise ValidationFailed("问题不能为空 / the question must not be blank")
    a = analyzer()
    index = holder.index
    understanding = index.understand(a, q)
    hits = index.search(a, q, limit=limit, understanding=understanding)
    return SearchResult(
        items=[{"id": h.entry.id, "question": h.entry.question, "answer": h.entry.answer, "score": h.score,
                "matter": h.entry.matter, "category": h.entry.category} for h in hits],
        matter=understanding.matters[0] if len(understanding.matters) == 1 else None,
        intent=understanding.intents[0] if understanding.intents else None)


# ---- entries -----------------------------------------------------------------------------------------

@router.get("/v1/knowledge/entries", dependencies=[needs_scope("knowledge:read")],
            summary="Entries, newest change first (staff)")
async def list_entries(session: SessionDep, _: Reader, limit: LimitQuery = 20, cursor: CursorQuery = None,
                       status: Annotated[Literal["draft", "in_review", "published", "retired"] | None, Query()] = None,
                       matter: Annotated[str | None, Query(max_length=128)] = None,
                       category: Annotated[str | None, Query(max_length=32)] = None,
                       inspection_due: Annotated[bool, Query(description="Only published entries due for 巡检")] = False,
                       ) -> Page[EntryView]:
    rows, next_cursor = await entries.list_entries(session, status=status, matter=matter, category=category,
                                                   inspection_due=inspection_due, cursor=cursor, limit=limit)
    return Page[EntryView](items=[EntryView.model_validate(await entries.view(session, e)) for e in rows],
                           next_cursor=next_cursor)


@router.post("/v1/knowledge/entries", dependencies=[needs_scope("knowledge:write")],
             status_code=201, summary="Create a draft entry (knowledge_editor)",
             responses={201: {"model": EntryView}, 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_entry(request: Request, principal: Editor, body: EntryCreate, idempotency_key: IdempotencyKey = None
                       ) -> JSONResponse:
    async def create(session):  # noqa: ANN001, ANN202
        entry = await entries.create(session, principal, body)
        await session.flush()
        return 201, EntryView.model_validate(await entries.view(session, entry)).model_dump(mode="json")

    status, payload = await idempotency.create_once(request.app.state.database, f"entries:{principal.subject}",
                                                    idempotency_key, body.model_dump(mode="json"), create)
    return JSONResponse(payload, status_code=status, headers={"Location": f"/v1/knowledge/entries/{payload['id']}"})


@router.get("/v1/knowledge/entries/{entry_id}", dependencies=[PUBLIC_ROUTE],
            summary="An entry: staff see the newest version; the public "
            "(no token) the published one, or as it was published on `as_of`",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_entry(session: SessionDep, principal: MaybePrincipal, entry_id: EntryId,
                    as_of: Annotated[IsoDate | None, Query(description="The day (Asia/Shanghai) to look the answer up on")] = None,
                    ) -> EntryView | PublicEntry:
    if as_of is None and principal is not None and principal.is_staff:
        return EntryView.model_validate(await entries.view(session, await entries.get_entry(session, entry_id)))
    content = await entries.published_as_of(session, entry_id, as_of)
    return PublicEntry(id=entry_id, version=content["version"], question=content["question"],
                       similar=content.get("similar") or [], answer=content["answer"], matter=content.get("matter"),
                       category=content["category"], policy_ref=content.get("policy_ref"))


@router.patch("/v1/knowledge/entries/{entry_id}", dependencies=[needs_scope("knowledge:write")],
              summary="Change an entry: a new draft version (knowledge_editor); "
              "the published version stays live until the new one is published",
              responses={404: PROBLEM_RESPONSES[404], 422: PROBLEM_RESPONSES[422]})
async def change_entry(request: Request, principal: Editor, entry_id: EntryId, body: EntryPatch) -> EntryView:
    async with request.app.state.database.transaction() as session:
        entry = await entries.change(session, principal, entry_id, body)
        return EntryView.model_validate(await entries.view(session, entry))


@router.get("/v1/knowledge/entries/{entry_id}/history", dependencies=[needs_scope("knowledge:read")],
            summary="Who changed what, when (staff)",
            responses={404: PROBLEM_RESPONSES[404]})
async def entry_history(session: SessionDep, _: Reader, entry_id: EntryId) -> Page[HistoryItem]:
    rows = await entries.history(session, entry_id)
    return Page[HistoryItem](items=[HistoryItem.model_validate(r, from_attributes=True) for r in rows])


@router.get("/v1/knowledge/entries/{entry_id}/versions/{version}", dependencies=[needs_scope("knowledge:read")],
            summary="One version's content (staff)",
            responses={404: PROBLEM_RESPONSES[404]})
async def entry_version(session: SessionDep, _: Reader, entry_id: EntryId, version: Annotated[int, Path(ge=1, le=1_000_000)]) -> dict:
    entry = await entries.get_entry(session, entry_id)
    if version > entry.version:
        raise NotFound(f"版本 {version} 不存在 / version {version} not found")
    return {"id": entry_id, "version": version, "content": await entries.version_content(session, entry_id, version)}


async def _transition(request: Request, action, principal: Principal, entry_id: str, body: Transition | None  # noqa: ANN001
                      ) -> EntryView:
    async with request.app.state.database.transaction() as session:
        entry = await action(session, principal, entry_id, body.note if body else None)
        view = EntryView.model_validate(await entries.view(session, entry))
    if action in (entries.publish, entries.retire):
        await holder.refresh(request.app.state.database)  # this replica at once; the others within a second
    return view


@router.post("/v1/knowledge/entries/{entry_id}/submit", dependencies=[needs_scope("knowledge:write")],
             summary="Send a draft to review (knowledge_editor)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def submit_entry(request: Request, principal: Editor, entry_id: EntryId, body: Transition | None = None) -> EntryView:
    return await _transition(request, entries.submit, principal, entry_id, body)


@router.post("/v1/knowledge/entries/{entry_id}/publish", dependencies=[needs_scope("knowledge:publish")],
             summary="Publish the newest version (reviewer); searchable at once",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def publish_entry(request: Request, principal: Publisher, entry_id: EntryId, body: Transition | None = None) -> EntryView:
    return await _transition(request, entries.publish, principal, entry_id, body)


@router.post("/v1/knowledge/entries/{entry_id}/retire", dependencies=[needs_scope("knowledge:publish")],
             summary="Take an entry off line (reviewer)",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def retire_entry(request: Request, principal: Publisher, entry_id: EntryId, body: Transition | None = None) -> EntryView:
    return await _transition(request, entries.retire, principal, entry_id, body)


@router.post("/v1/knowledge/entries/{entry_id}/confirm", dependencies=[needs_scope("knowledge:write")],
             summary="巡检: confirm a published answer is still right "
             "(knowledge_editor); to revise it, PATCH and publish", responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def confirm_entry(request: Request, principal: Editor, entry_id: EntryId, body: Transition | None = None) -> EntryView:
    return await _transition(request, entries.confirm, principal, entry_id, body)


# ---- import and export -------------------------------------------------------------------------------

@router.post("/v1/knowledge/import", dependencies=[needs_scope("knowledge:write")],
             summary="Bulk import JSON Lines (the format of faq.jsonl); good lines are "
             "stored, bad ones reported. `publish=true` needs the reviewer or ops_admin role",
             responses={422: PROBLEM_RESPONSES[422]},
             openapi_extra={**business_rules((422, "the body holds at least one line")),
                            "requestBody": {"required": True, "description": "JSON Lines (sent as text/plain or "
                                            "application/x-ndjson): one entry per line, the format of faq.jsonl",
                                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def import_entries(request: Request, principal: Importer,
                         publish: Annotated[bool, Query(description="Publish every imported entry at once")] = False,
                         ) -> ImportReport:
    if publish and not principal.has_role(Role.REVIEWER, Role.OPS_ADMIN):
        raise Forbidden("导入并发布需要审核或运维角色 / publishing on import needs the reviewer or ops_admin role")
    body = await request.body()
    if not body.strip():
        raise ValidationFailed("导入内容为空 / the body is empty")
    async with request.app.state.database.transaction() as session:
        report = await entries.import_lines(session, principal, body, publish_now=publish)
    if report.published:
        await holder.refresh(request.app.state.database)
    return report


@router.get("/v1/knowledge/export", dependencies=[needs_scope("knowledge:read")],
            summary="Export as JSON Lines: published versions, or the newest of every entry "
            "(`all=true`)", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_entries(session: SessionDep, _: Reader,
                         all_: Annotated[bool, Query(alias="all", description="Every entry's newest version")] = False,
                         ) -> Response:
    lines = await entries.export_lines(session, published_only=not all_)
    return Response("\n".join(lines) + ("\n" if lines else ""), media_type="application/x-ndjson")


# ---- policy deadlines, unanswered questions, reports --------------------------------------------------

@router.get("/v1/knowledge/policy-deadlines", dependencies=[needs_scope("knowledge:read")],
            summary="Entries linked to a policy that are at risk of missing, or "
            "missed, publication one working day before the policy takes effect (staff)")
async def policy_deadlines(session: SessionDep, _: Reader) -> PolicyDeadlines:
    return PolicyDeadlines.model_validate(await entries.policy_deadlines(session))


@router.get("/v1/knowledge/unanswered", dependencies=[needs_scope("knowledge:read")],
            summary="Groups of questions the assistant could not answer, each due in 5 "
            "working days (staff)")
async def list_unanswered(session: SessionDep, _: Staff,
                          state: Annotated[Literal["open", "due", "late", "resolved", "all"], Query()] = "open",
                          limit: LimitQuery = 50) -> Page[UnansweredGroupView]:
    groups = await unanswered.list_groups(session, state, limit)
    return Page[UnansweredGroupView](items=[UnansweredGroupView.model_validate(g) for g in groups])


@router.post("/v1/knowledge/unanswered/{group_id}/resolve", dependencies=[needs_scope("knowledge:write")],
             summary="Resolve a group by linking the entry that "
             "answers it (knowledge_editor)", responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409]})
async def resolve_unanswered(request: Request, principal: Editor, group_id: SessionId, body: ResolveGroup
                             ) -> UnansweredGroupView:
    async with request.app.state.database.transaction() as session:
        return UnansweredGroupView.model_validate(await unanswered.resolve(session, principal, group_id, body.entry_id))


@router.get("/v1/knowledge/reports", dependencies=[needs_scope("knowledge:read")],
            summary="Resolution rate, unanswered questions, inspection and confirmation "
            "rates, policy deadlines (staff)")
async def get_reports(session: SessionDep, _: Staff) -> dict:
    return await reports.build(session)


# ---- the assistant -----------------------------------------------------------------------------------

def _session_view(c, messages: list[dict] | None = None) -> SessionView:  # noqa: ANN001
    return SessionView(id=c.id, channel=c.channel, turns=c.turns or 0, answered=bool(c.answered),
                       handed_over=bool(c.handed_over), solved=c.solved, created_at=c.created_at, messages=messages or [])


@assistant_router.post("/v1/assistant/sessions", dependencies=[PUBLIC_ROUTE],
                       status_code=201, summary="Start a conversation (public; with a "
                       "token it is the caller's own)", responses={201: {"model": SessionView}})
async def start_session(request: Request, principal: MaybePrincipal, body: SessionCreate | None = None,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    body = body or SessionCreate()

    async def create(session):  # noqa: ANN001, ANN202
        c = await conversations.start(session, principal, body.channel)
        return 201, _session_view(c).model_dump(mode="json")

    scope = f"assistant:{principal.subject if principal else 'anonymous'}"
    if principal is None:
        idempotency_key = None  # an anonymous key could collide between visitors
    status, payload = await idempotency.create_once(request.app.state.database, scope, idempotency_key,
                                                    body.model_dump(mode="json"), create)
    return JSONResponse(payload, status_code=status, headers={"Location": f"/v1/assistant/sessions/{payload['id']}"})


@assistant_router.get("/v1/assistant/sessions/{session_id}", dependencies=[PUBLIC_ROUTE],
                      summary="A conversation with its messages")
async def get_session(session: SessionDep, principal: MaybePrincipal, session_id: SessionId) -> SessionView:
    return _session_view(*await conversations.read(session, principal, session_id))


@assistant_router.post("/v1/assistant/sessions/{session_id}/messages", dependencies=[PUBLIC_ROUTE],
                       summary="Ask: an answer with its entry, a "
                       "confidence and up to three suggestions, or one clarifying question, or a hand-over to a human")
async def ask(request: Request, principal: MaybePrincipal, session_id: SessionId, body: MessageIn) -> AssistantReply:
    token = bearer_token(request.headers.get("authorization"))
    async with request.app.state.database.transaction() as session:
        reply = await conversations.ask(session, principal, session_id, body.text, token=token,
                                        gateway_url=request.app.state.runtime.settings.gateway_url)
    return AssistantReply.model_validate(reply)


@assistant_router.post("/v1/assistant/sessions/{session_id}/feedback", dependencies=[PUBLIC_ROUTE],
                       summary="Say whether the answer solved the problem")
async def give_feedback(request: Request, principal: MaybePrincipal, session_id: SessionId, body: FeedbackIn) -> SessionView:
    async with request.app.state.database.transaction() as session:
        return _session_view(await conversations.feedback(session, principal, session_id, body.solved))

