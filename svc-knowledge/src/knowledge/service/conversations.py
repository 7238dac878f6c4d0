"""Assistant conversations: each user turn goes through ``knowledge.service.assistant.respond``; a hand-over
publishes ``AssistantHandedOver`` and records the unanswered question; "my application" questions
from a logged-in applicant are answered from svc-matters.

Resolution rate (解决率), as published: conversations the person marked solved, plus those that
got at least one answer and were neither handed over nor marked unsolved, over all conversations
with at least one question.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import CalendarError, default_calendar
from kit.calendar import local_date as today
from kit.contracts.knowledge import AssistantHandedOver, ConversationTurn
from kit.db import Database
from kit.errors import Forbidden, NotFound
from kit.events import add_event
from kit.http import call_service
from kit.idempotency import create_once
from kit.identifiers import scrub_identifiers
from knowledge import messages
from knowledge.models import Conversation, Message, UnansweredGroup, UnansweredQuestion
from knowledge.schemas import AssistantReply, SessionCreate, SessionView
from knowledge.service.assistant import DialogueState, Reply, respond
from knowledge.service.index import holder, plain_text
from knowledge.service.retrieval import analyzer

log = structlog.get_logger("knowledge.conversations")

UNANSWERED_WORKING_DAYS = 5
GROUP_SIMILARITY = 0.5

HANDOVER_ZH = "这个问题我暂时无法准确回答，已为您转接人工帮办，工作人员会尽快联系您。"
HANDOVER_EN = "I cannot answer this reliably, so I have passed it to a member of staff, who will contact you soon."
ASKED_HUMAN_ZH = "好的，已为您转接人工帮办，请稍候。"
ASKED_HUMAN_EN = "Certainly, I am passing you to a member of staff."
THANKS_ZH = "不客气，很高兴帮到您。"
THANKS_EN = "You are welcome; glad it helped."
PROGRESS_LOGIN_ZH = "登录后我可以直接为您查询办件进度。"
OUT_OF_SCOPE_ZH = "您问的是{department}的事项，不在绿化市容局的办理范围内。请拨打12345市民服务热线，或在“一网通办”搜索相应部门的事项。"
OUT_OF_SCOPE_EN = ("This is a matter for {department}, not for the greening and city-appearance bureau. Please call "
                   "the 12345 citizen hotline, or search for that department's service on the one-stop portal.")


def session_view(conversation: Conversation, said: list[dict[str, Any]] | None = None) -> SessionView:
    c = conversation
    return SessionView(id=c.id, channel=c.channel, turns=c.turns or 0, answered=bool(c.answered),
                       handed_over=bool(c.handed_over), solved=c.solved, created_at=c.created_at, messages=said or [])


async def start_session(database: Database, principal: Principal | None, body: SessionCreate,
                        idempotency_key: str | None) -> SessionView:
    """A new conversation, once per ``Idempotency-Key`` of a logged-in caller."""
    async def create(session: AsyncSession) -> SessionView:
        return session_view(await start(session, principal, body.channel))

    scope = f"assistant:{principal.subject if principal else 'anonymous'}"
    if principal is None:
        idempotency_key = None  # an anonymous key could collide between visitors
    return await create_once(database, scope, idempotency_key, body.model_dump(mode="json"), create, SessionView)


async def start(session: AsyncSession, principal: Principal | None, channel: str) -> Conversation:
    conversation = Conversation(id=uuid.uuid4().hex, user_subject=principal.subject if principal else None,
                                channel=channel, state={})
    session.add(conversation)
    await session.flush()
    return conversation


async def get(session: AsyncSession, principal: Principal | None, conversation_id: str, *, lock: bool = False
              ) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id)
    conversation = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if conversation is None:
        raise NotFound(messages.CONVERSATION_NOT_FOUND)
    # A conversation started by a logged-in person is theirs alone; staff may read any.
    if conversation.user_subject and not (principal and (principal.subject == conversation.user_subject
                                                          or principal.is_staff)):
        raise Forbidden(messages.NOT_YOUR_CONVERSATION)
    return conversation


async def read(session: AsyncSession, principal: Principal | None, conversation_id: str) -> SessionView:
    """A conversation with its messages; a staff member reading someone else's is audited."""
    conversation = await get(session, principal, conversation_id)
    said = await messages_of(session, conversation.id)
    if principal is not None and principal.is_staff and principal.subject != conversation.user_subject:
        await record_audit(session, principal, "conversation.read", "conversation", conversation.id,
                           owner=conversation.user_subject, details={"messages": len(said)})
        await session.commit()
    return session_view(conversation, said)


async def messages_of(session: AsyncSession, conversation_id: str) -> list[dict[str, Any]]:
    rows = (await session.execute(select(Message).where(Message.conversation_id == conversation_id)
                                  .order_by(Message.seq))).scalars()
    return [{"role": m.role, "text": m.text, "action": m.action, "entry_id": m.entry_id, "confidence": m.confidence,
             "at": m.at} for m in rows]


async def ask_in(database: Database, principal: Principal | None, conversation_id: str, text: str, *,
                 token: str | None, gateway_url: str) -> AssistantReply:
    """One turn of the conversation, in one transaction."""
    async with database.transaction() as session:
        return AssistantReply.model_validate(await ask(session, principal, conversation_id, text, token=token,
                                                       gateway_url=gateway_url))


async def ask(session: AsyncSession, principal: Principal | None, conversation_id: str, text: str, *,
              token: str | None, gateway_url: str) -> dict[str, Any]:
    conversation = await get(session, principal, conversation_id, lock=True)
    state = DialogueState.from_json(conversation.state)
    result: dict[str, Any]
    if conversation.answered and analyzer().says_solved(text):
        # “解决了，谢谢”: the person's own word that the answer solved it, as the feedback button says.
        conversation.solved = True
        reply = Reply(action="thanks")
        result = {"answer": THANKS_ZH, "answer_en": THANKS_EN, "entry": None, "confidence": 1.0, "suggestions": [],
                  "handover": False, "clarify": None}
    else:
        reply = respond(holder.index, analyzer(), state, text)
        result = _render(reply)
    if reply.action == "progress":
        result.update(await _progress(principal, token, gateway_url, result))
    now = datetime.now(UTC)
    conversation.state = state.to_json()
    conversation.turns += 1
    conversation.updated_at = now
    if reply.action in ("answer", "progress"):
        conversation.answered = True
    seq = conversation.turns * 2
    session.add(Message(conversation_id=conversation.id, seq=seq - 1, role="user", text=text, at=now))
    session.add(Message(conversation_id=conversation.id, seq=seq, role="assistant", text=result["answer"],
                        action=reply.action, entry_id=reply.hit.entry.id if reply.hit else None,
                        confidence=reply.confidence, at=now))
    if reply.action == "handover":
        await _hand_over(session, conversation, reply, text, now)
    log.info("assistant_turn", action=reply.action, confidence=reply.confidence,
             entry=reply.hit.entry.id if reply.hit else None)
    return result


def _render(reply: Reply) -> dict[str, Any]:
    hit = reply.hit
    suggestions = [{"id": h.entry.id, "question": h.entry.question} for h in reply.suggestions
                   if not hit or h.entry.id != hit.entry.id]
    base = {"entry": None, "confidence": reply.confidence, "suggestions": suggestions[:3], "handover": False,
            "handover_reason": None, "referral": None, "clarify": None, "intent": reply.intent, "matter": reply.matter}
    if reply.action in ("answer", "progress") and hit:
        e = hit.entry
        return base | {"answer": plain_text(e.answer), "answer_en": None,
                       "entry": {"id": e.id, "question": e.question, "matter": e.matter, "category": e.category}}
    if reply.action == "clarify":
        return base | {"answer": reply.clarify_zh, "answer_en": reply.clarify_en, "clarify": reply.clarify_zh}
    handed = base | {"handover": True, "handover_reason": reply.handover_reason}
    if reply.handover_reason == "out_of_scope":
        department = reply.department or ""
        return handed | {"answer": OUT_OF_SCOPE_ZH.format(department=department),
                         "answer_en": OUT_OF_SCOPE_EN.format(department=department), "suggestions": [],
                         "referral": {"department": department, "name": "12345市民服务热线",
                                      "name_en": "12345 citizen hotline", "phone": "12345"}}
    asked = reply.handover_reason == "user_asked"
    return handed | {"answer": ASKED_HUMAN_ZH if asked else HANDOVER_ZH,
                     "answer_en": ASKED_HUMAN_EN if asked else HANDOVER_EN}


async def _progress(principal: Principal | None, token: str | None, gateway_url: str, result: dict[str, Any]
                    ) -> dict[str, Any]:
    """The caller's latest applications from svc-matters, asked with the caller's own token so the
    answer holds exactly what they may see."""
    if principal is None or token is None or not principal.has_role(Role.APPLICANT):
        return {"answer": result["answer"] + PROGRESS_LOGIN_ZH}
    try:
        response = await call_service("GET", gateway_url, "/v1/applications", params={"limit": 5},
                                      authorization=f"Bearer {token}", timeout_seconds=3)
        response.raise_for_status()
        items = response.json().get("items", [])
    except (httpx.HTTPError, ValueError) as e:
        log.warning("progress_lookup_failed", error=type(e).__name__)
        return {}  # the general answer on where to look stays
    applications = [{"id": a.get("id"), "matter_code": a.get("matter_code"), "status": a.get("status"),
                     "stage": a.get("stage"), "due_date": a.get("due_date")} for a in items]
    if not applications:
        return {"answer": "您目前没有在办的申请。", "applications": []}
    lines = [f"{a['matter_code']}（{a['id']}）：{a['status']}" + (f"，办理期限 {a['due_date']}" if a.get("due_date") else "")
             for a in applications]
    return {"answer": "您最近的申请：\n" + "\n".join(lines), "applications": applications}


async def _hand_over(session: AsyncSession, conversation: Conversation, reply: Reply, text: str, now: datetime) -> None:
    conversation.handed_over = True
    if reply.handover_reason == "out_of_scope":
        return  # 12345 takes it: neither the bureau's help desk nor a gap in the bureau's knowledge base
    turns = [ConversationTurn(role="user" if m["role"] == "user" else "assistant", text=m["text"], at=m["at"])
             for m in await messages_of(session, conversation.id)]
    reason = reply.handover_reason or "no_answer"
    await add_event(session, AssistantHandedOver(
        conversation_id=conversation.id, user_subject=conversation.user_subject,
        matter_code=analyzer().lexicon.matter_codes.get(reply.matter or ""), question=text,
        reason=reason, turns=turns, handed_over_at=now), subject=conversation.id)
    if reason != "user_asked":
        context = DialogueState.from_json(conversation.state).context
        await record_unanswered(session, " ".join(context[-2:]) if context else text, conversation.id, reason,
                                reply.matter, now)


async def record_unanswered(session: AsyncSession, question: str, conversation_id: str | None, reason: str,
                            matter: str | None, now: datetime) -> UnansweredGroup:
    """Add the question to the open group of similar questions (word overlap), or open a new group
    due in 5 working days. ID and mobile numbers a person typed are masked: editors need the
    question, not them."""
    question = scrub_identifiers(question)
    terms = sorted(set(analyzer().tokens(question)))
    # The most recently asked open groups are compared without locks; only the chosen one is locked.
    candidates = (await session.execute(select(UnansweredGroup.id, UnansweredGroup.terms)
                                        .where(UnansweredGroup.status == "open")
                                        .order_by(UnansweredGroup.last_asked_at.desc()).limit(500))).all()
    best_id, best_similarity = None, 0.0
    for group_id, group_terms in candidates:
        similarity = _jaccard(terms, group_terms)
        if similarity > best_similarity:
            best_id, best_similarity = group_id, similarity
    best = None
    if best_id is not None and best_similarity >= GROUP_SIMILARITY:
        best = (await session.execute(select(UnansweredGroup).where(
            UnansweredGroup.id == best_id, UnansweredGroup.status == "open").with_for_update())).scalar_one_or_none()
    if best is None:
        try:
            due = default_calendar().add_working_days(today(), UNANSWERED_WORKING_DAYS)
        except CalendarError:
            due = today()
        best = UnansweredGroup(id=uuid.uuid4().hex, question=question[:500], terms=terms, matter=matter, count=0,
                               status="open", due_date=due, first_asked_at=now, last_asked_at=now)
        session.add(best)
        await session.flush()
    best.count += 1
    best.last_asked_at = now
    session.add(UnansweredQuestion(id=uuid.uuid4().hex, group_id=best.id, conversation_id=conversation_id,
                                   question=question[:500], reason=reason, asked_at=now))
    return best


def _jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


async def feedback(database: Database, principal: Principal | None, conversation_id: str, solved: bool) -> SessionView:
    async with database.transaction() as session:
        conversation = await get(session, principal, conversation_id, lock=True)
        conversation.solved = solved
        conversation.updated_at = datetime.now(UTC)
        return session_view(conversation)


async def resolution(session: AsyncSession, since: datetime | None = None) -> dict[str, Any]:
    query = select(
        func.count().label("sessions"),
        func.count().filter(Conversation.solved.is_(True)).label("marked_solved"),
        func.count().filter(Conversation.answered.is_(True), Conversation.handed_over.is_(False),
                            Conversation.solved.is_(None)).label("answered_not_handed_over"),
        func.count().filter(Conversation.handed_over.is_(True)).label("handed_over"),
        func.count().filter(Conversation.solved.is_(False)).label("marked_unsolved"),
    ).where(Conversation.turns > 0)
    if since:
        query = query.where(Conversation.created_at >= since)
    row = (await session.execute(query)).one()
    resolved = row.marked_solved + row.answered_not_handed_over
    return {"sessions": row.sessions, "resolved": resolved, "marked_solved": row.marked_solved,
            "handed_over": row.handed_over, "marked_unsolved": row.marked_unsolved,
            "resolution_rate": round(resolved / row.sessions, 4) if row.sessions else None,
            "definition": "(sessions marked solved + sessions with an answer, no hand-over and no 'unsolved' mark) "
                          "/ sessions with at least one question"}
