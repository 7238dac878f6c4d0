"""The assistant (public: anonymous visitors ask before logging in; a token, when sent, is verified and
the conversation is the caller's own)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from kit.auth import PUBLIC_ROUTE
from kit.db import DatabaseDep, SessionDep
from kit.errors import PROBLEM_RESPONSES
from kit.idempotency import IdempotencyKey
from knowledge.api.deps import ROUTER_PROBLEMS, BearerToken, MaybePrincipal, SessionId, SettingsDep
from knowledge.schemas import (
    AssistantReply,
    ConfirmationIn,
    ConfirmationView,
    FeedbackIn,
    MessageIn,
    SessionCreate,
    SessionView,
)
from knowledge.service import conversations

router = APIRouter(tags=["assistant"], responses=ROUTER_PROBLEMS)


@router.post("/v1/assistant/sessions", dependencies=[PUBLIC_ROUTE],
             status_code=201, summary="Start a conversation (public; with a token it is the caller's own)")
async def start_session(database: DatabaseDep, principal: MaybePrincipal, response: Response,
                        body: SessionCreate | None = None, idempotency_key: IdempotencyKey = None) -> SessionView:
    started = await conversations.start_session(database, principal, body or SessionCreate(), idempotency_key)
    response.headers["Location"] = f"/v1/assistant/sessions/{started.id}"
    return started


@router.get("/v1/assistant/sessions/{session_id}", dependencies=[PUBLIC_ROUTE],
            summary="A conversation with its messages")
async def get_session(session: SessionDep, principal: MaybePrincipal, session_id: SessionId) -> SessionView:
    return await conversations.read(session, principal, session_id)


@router.post("/v1/assistant/sessions/{session_id}/messages", dependencies=[PUBLIC_ROUTE],
             summary="Ask: an answer with its entry, a "
             "confidence and up to three suggestions, or one clarifying question, or a hand-over to a human")
async def ask(database: DatabaseDep, principal: MaybePrincipal, token: BearerToken, settings: SettingsDep,
              session_id: SessionId, body: MessageIn) -> AssistantReply:
    # The caller's own token asks svc-matters for "my application" answers, so they hold what the caller may see.
    return await conversations.ask_in(database, principal, session_id, body.text, token=token,
                                      gateway_url=settings.gateway_url)


@router.post("/v1/assistant/sessions/{session_id}/feedback", dependencies=[PUBLIC_ROUTE],
             summary="Say whether the answer solved the problem")
async def give_feedback(database: DatabaseDep, principal: MaybePrincipal, session_id: SessionId, body: FeedbackIn
                        ) -> SessionView:
    return await conversations.feedback(database, principal, session_id, body.solved)


@router.put("/v1/assistant/sessions/{session_id}/answers/{answer_seq}/confirmation", dependencies=[PUBLIC_ROUTE],
            summary="Say whether one answer solved the problem (这个回答解决了您的问题吗): once per answer, by the "
            "conversation's owner; a 'no' offers a human desk, and with hand_over passes the conversation to one",
            responses={409: PROBLEM_RESPONSES[409]})
async def confirm_answer(database: DatabaseDep, principal: MaybePrincipal, session_id: SessionId,
                         answer_seq: Annotated[int, Path(ge=1, le=1_000_000, description="The reply's answer_seq")],
                         body: ConfirmationIn) -> ConfirmationView:
    return await conversations.confirm(database, principal, session_id, answer_seq, body)
