"""Routes of help sessions and tickets (帮办), the agents' desk and SLA policies."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from helpdesk.api.common import ERROR_RESPONSES, Agent, IdempotencyKey, Ops, Staff, database, settings
from helpdesk.models import Agent as AgentRow
from helpdesk.models import SlaPolicy
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
from helpdesk.service import assignment
from helpdesk.service import tickets as service
from kit.auth import CurrentPrincipal, needs_scope, needs_scope_by
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES, Conflict
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
async def create_ticket(request: Request, body: TicketCreate, principal: CurrentPrincipal,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    status, payload = await service.create_ticket(
        database(request), principal, body, idempotency_key, matters_url=settings(request).matters_base_url,
        authorization=request.headers.get("authorization"))
    return JSONResponse(payload, status_code=status, headers={"Location": f"/v1/tickets/{payload['id']}"})


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
async def list_messages(session: SessionDep, principal: CurrentPrincipal, ticket_id: TicketId,
                        after: Annotated[int, Query(ge=0, le=2**62, description="Only messages after this id")] = 0,
                        limit: Annotated[int, Query(ge=1, le=200)] = 100) -> list[MessageView]:
    return await service.messages(session, principal, ticket_id, limit=limit, after_id=after)


@router.post("/v1/tickets/{ticket_id}/messages", dependencies=[needs_scope("helpdesk:write")], status_code=201,
             summary="Write in a ticket: an agent's message answers (stops the response clock), the person's "
                     "reply resumes a ticket waiting for them",
             responses={404: PROBLEM_RESPONSES[404], 409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def post_message(request: Request, principal: CurrentPrincipal, ticket_id: TicketId,
                       body: MessageCreate) -> MessageView:
    async with database(request).transaction() as session:
        return await service.post_message(session, principal, ticket_id, body)


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
async def act(request: Request, principal: CurrentPrincipal, ticket_id: TicketId,
              action: Annotated[str, Path(max_length=32, pattern=r"^[a-z_]+$")],
              body: TicketAction | None = None) -> TicketView:
    async with database(request).transaction() as session:
        return await service.act(session, principal, ticket_id, action, body or TicketAction())


@desk_router.get("/v1/helpdesk/queue", dependencies=[needs_scope("helpdesk:read")],
                 summary="My queue, most urgent first (earliest SLA breach)")
async def my_queue(session: SessionDep, principal: Agent, limit: LimitQuery = 20, cursor: CursorQuery = None,
                   include_unassigned: bool = True) -> Page[TicketListItem]:
    return await service.queue(session, principal, limit=limit, cursor=cursor, include_unassigned=include_unassigned)


@desk_router.put("/v1/helpdesk/agents/me", dependencies=[needs_scope("helpdesk:handle")],
                 summary="Go available or away; set how many open tickets I take at once")
async def set_availability(request: Request, principal: Agent, body: AgentUpdate) -> AgentView:
    async with database(request).transaction() as session:
        agent = await session.get(AgentRow, principal.subject, with_for_update=True)
        if agent is None:
            agent = AgentRow(subject=principal.subject, department=principal.department or "")
            session.add(agent)
        agent.department = principal.department or agent.department
        agent.available, agent.max_open = body.available, body.max_open
        await session.flush()
        open_tickets = dict((a.subject, n) for a, n in await assignment.agents_with_load(session, agent.department))
        return AgentView(subject=agent.subject, department=agent.department, available=agent.available,
                         max_open=agent.max_open, open_tickets=open_tickets.get(agent.subject, 0),
                         last_assigned_at=agent.last_assigned_at)


@desk_router.get("/v1/helpdesk/agents", dependencies=[needs_scope("helpdesk:read")],
                 summary="Agents with availability and load")
async def list_agents(session: SessionDep, principal: Staff,
                      department: Annotated[str | None, Query(max_length=200)] = None) -> list[AgentView]:
    return [AgentView(subject=a.subject, department=a.department, available=a.available, max_open=a.max_open,
                      open_tickets=n, last_assigned_at=a.last_assigned_at)
            for a, n in await assignment.agents_with_load(session, department)]


def _policy_view(p: SlaPolicy) -> PolicyView:
    return PolicyView(id=p.id, name=p.name, channel=p.channel, matter_code=p.matter_code, priority=p.priority,
                      first_response=p.first_response, next_response=p.next_response, resolution=p.resolution,
                      warn_percent=p.warn_percent, escalation_percents=p.escalation_percents, active=p.active)


@desk_router.get("/v1/helpdesk/policies", dependencies=[needs_scope("helpdesk:read")],
                 summary="SLA policies per channel / matter / priority")
async def list_policies(session: SessionDep, principal: Staff) -> list[PolicyView]:
    return [_policy_view(p) for p in (await session.scalars(select(SlaPolicy).order_by(SlaPolicy.id))).all()]


@desk_router.post("/v1/helpdesk/policies", dependencies=[needs_scope("helpdesk:admin")],
                  status_code=201, summary="Ops: add an SLA policy (applies to new tickets)",
                  responses={409: PROBLEM_RESPONSES[409], 422: PROBLEM_RESPONSES[422]})
async def create_policy(request: Request, principal: Ops, body: PolicyCreate) -> PolicyView:
    async with database(request).transaction() as session:
        if await session.get(SlaPolicy, body.id) is not None:
            raise Conflict("策略已存在 / the policy already exists")
        policy = SlaPolicy(**body.model_dump(mode="json"), active=True)
        session.add(policy)
        await session.flush()
        return _policy_view(policy)


@desk_router.post("/v1/helpdesk/sla/recompute", dependencies=[needs_scope("helpdesk:admin")],
                  summary="Ops: recompute every open SLA clock (after a calendar change)")
async def recompute(request: Request, principal: Ops) -> dict[str, int]:
    async with database(request).transaction() as session:
        return {"clocks": await service.recompute_open_clocks(session)}
