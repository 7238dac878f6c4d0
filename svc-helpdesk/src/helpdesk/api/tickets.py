"""Routes of help sessions and tickets (帮办), the agents' desk and SLA policies."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from helpdesk.api.deps import ERROR_RESPONSES, Agent, Ops, SettingsDep, Staff
from helpdesk.schemas import (
    AgentUpdate,
    AgentView,
    MessageCreate,
    MessageView,
    PolicyCreate,
    PolicyView,
    TicketAction,
    TicketCreate,
    TicketListItem,
    TicketStatus,
    TicketStepView,
    TicketView,
)
from helpdesk.service import assignment, policies
from helpdesk.service import tickets as service
from kit.auth import CurrentPrincipal, needs_scope, needs_scope_by
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from kit.pagination import CursorQuery, LimitQuery, Page
from kit.params import IsoDateTime

router = APIRouter(tags=["tickets"], responses=ERROR_RESPONSES)
desk_router = APIRouter(tags=["help desk"], responses=ERROR_RESPONSES)

TicketId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# The person's own steps (reopen, close) are theirs to write; the rest is staff handling the ticket.
ACTION_SCOPES = needs_scope_by("action", {action: "helpdesk:write" if action in service.APPLICANT_ACTIONS
                                          else "helpdesk:handle" for action in service.ACTIONS})


@router.post("/v1/tickets", dependencies=[needs_scope("helpdesk:write")], status_code=201, response_model=TicketView,
             summary="Ask for professional human help (专业人工帮办), or register a hotline / hall request",
             description="An applicant asks online; help-desk staff may register a request taken by phone or in "
                         "a hall for someone. The ticket is assigned at once to the least-loaded available agent "
                         "of the matter's department, and its SLA clocks start.",
             responses={201: {"model": TicketView}, 422: PROBLEM_RESPONSES[422]})
async def create_ticket(request: Request, response: Response, database: DatabaseDep, settings: SettingsDep,
                        body: TicketCreate, principal: CurrentPrincipal,
                        idempotency_key: IdempotencyKey = None) -> TicketView:
    ticket = await service.create_ticket(
        database, principal, body, idempotency_key, matters_url=settings.matters_base_url,
        authorization=request.headers.get("authorization"))
    response.headers["Location"] = f"/v1/tickets/{ticket.id}"
    return ticket


@router.get("/v1/tickets", dependencies=[needs_scope("helpdesk:read")],
            summary="Tickets the caller may see: an applicant their own, staff their department's")
async def list_tickets(
    session: SessionDep, principal: CurrentPrincipal, limit: LimitQuery = 20, cursor: CursorQuery = None,
    status: TicketStatus | None = None,
    channel: Annotated[str | None, Query(pattern=r"^(online|hotline|hall|assistant)$")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    matter: Annotated[str | None, Query(max_length=32)] = None,
    mine: Annotated[bool, Query(description="Staff: only tickets assigned to me")] = False,
    created_from: Annotated[IsoDateTime | None, Query(alias="from", description="Created at or after (with offset)")] = None,
    created_to: Annotated[IsoDateTime | None, Query(alias="to", description="Created before (with offset)")] = None,
) -> Page[TicketListItem]:
    return await service.list_tickets(session, principal, limit=limit, cursor=cursor, status=status, channel=channel,
                                      department=department, matter_code=matter, mine=mine,
                                      created_from=created_from, created_to=created_to)


@router.get("/v1/tickets/{ticket_id}", dependencies=[needs_scope("helpdesk:read")],
            summary="A ticket with its SLA clocks and the actions open to the caller",
            responses={404: PROBLEM_RESPONSES[404]})
async def get_ticket(session: SessionDep, principal: CurrentPrincipal, ticket_id: TicketId) -> TicketView:
    ticket = await service.load_ticket(session, principal, ticket_id)
    return await service.ticket_view(session, ticket, principal)


@router.get("/v1/tickets/{ticket_id}/messages", dependencies=[needs_scope("helpdesk:read")],
            summary="Messages of a ticket, oldest first",
            responses={404: PROBLEM_RESPONSES[404]})
async def list_messages(database: DatabaseDep, principal: CurrentPrincipal, ticket_id: TicketId,
                        after: Annotated[int, Query(ge=0, le=2**62, description="Only messages after this id")] = 0,
                        limit: Annotated[int, Query(ge=1, le=200)] = 100) -> list[MessageView]:
    return await service.messages(database, principal, ticket_id, limit=limit, after_id=after)


@router.post("/v1/tickets/{ticket_id}/messages", dependencies=[needs_scope("helpdesk:write")], status_code=201,
             summary="Write in a ticket: an agent's message answers (stops the response clock), the person's "
                     "reply resumes a ticket waiting for them",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def post_message(database: DatabaseDep, principal: CurrentPrincipal, ticket_id: TicketId,
                       body: MessageCreate) -> MessageView:
    return await service.post_message(database, principal, ticket_id, body)


@router.get("/v1/tickets/{ticket_id}/history", dependencies=[needs_scope("helpdesk:read")],
            summary="Every step of a ticket with the status before and after",
            responses={404: PROBLEM_RESPONSES[404]})
async def ticket_history(session: SessionDep, principal: CurrentPrincipal, ticket_id: TicketId) -> list[TicketStepView]:
    return await service.history(session, principal, ticket_id)


@router.post("/v1/tickets/{ticket_id}/actions/{action}", dependencies=[ACTION_SCOPES],
             summary=f"Act on a ticket: {', '.join(service.ACTIONS)}",
             description="A transition not possible now answers 409 with `allowed_actions`; staff of another "
                         "department answer 403.",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def act(database: DatabaseDep, principal: CurrentPrincipal, ticket_id: TicketId,
              action: Annotated[str, Path(max_length=32, pattern=r"^[a-z_]+$")],
              body: TicketAction | None = None) -> TicketView:
    return await service.act(database, principal, ticket_id, action, body or TicketAction())


@desk_router.get("/v1/helpdesk/queue", dependencies=[needs_scope("helpdesk:read")],
                 summary="My queue, most urgent first (earliest SLA breach)")
async def my_queue(session: SessionDep, principal: Agent, limit: LimitQuery = 20, cursor: CursorQuery = None,
                   include_unassigned: bool = True) -> Page[TicketListItem]:
    return await service.queue(session, principal, limit=limit, cursor=cursor, include_unassigned=include_unassigned)


@desk_router.put("/v1/helpdesk/agents/me", dependencies=[needs_scope("helpdesk:handle")],
                 summary="Go available or away; set how many open tickets I take at once")
async def set_availability(database: DatabaseDep, principal: Agent, body: AgentUpdate) -> AgentView:
    return await assignment.set_availability(database, principal, body)


@desk_router.get("/v1/helpdesk/agents", dependencies=[needs_scope("helpdesk:read")],
                 summary="Agents with availability and load")
async def list_agents(session: SessionDep, principal: Staff,
                      department: Annotated[str | None, Query(max_length=200)] = None) -> list[AgentView]:
    return await assignment.list_agents(session, department)


@desk_router.get("/v1/helpdesk/policies", dependencies=[needs_scope("helpdesk:read")],
                 summary="SLA policies per channel / matter / priority")
async def list_policies(session: SessionDep, principal: Staff) -> list[PolicyView]:
    return await policies.list_policies(session)


@desk_router.post("/v1/helpdesk/policies", dependencies=[needs_scope("helpdesk:admin")],
                  status_code=201, summary="Ops: add an SLA policy (applies to new tickets)",
                  responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_policy(database: DatabaseDep, principal: Ops, body: PolicyCreate) -> PolicyView:
    return await policies.create_policy(database, body)


@desk_router.post("/v1/helpdesk/sla/recompute", dependencies=[needs_scope("helpdesk:admin")],
                  summary="Ops: recompute every open SLA clock (after a calendar change)")
async def recompute(database: DatabaseDep, principal: Ops) -> dict[str, int]:
    return {"clocks": await service.recompute(database)}
