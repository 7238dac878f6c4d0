"""Assistant conversations: each user turn goes through ``knowledge.service.assistant.respond``; a hand-over
publishes ``AssistantHandedOver`` and records the unanswered question; "my application" questions
from a logged-in applicant are answered from svc-matters.

Under each answer the assistant asks "这个回答解决了您的问题吗" (``confirm`` in the reply); the person
answers once per answer (``confirm``): yes, or no — a "no" offers a human desk, and with ``hand_over``
passes the conversation to one. The resolution rate (智能客服解决率, the plan's target ≥ 60%) counts only
the person's own word: conversations whose latest confirmation is "yes" (by the question, the feedback
button or saying "解决了") over the conversations with at least one question in the period;
conversations answered but never confirmed are counted separately, never as resolved (``resolution``).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit import kpi
from kit.audit import record_audit
from kit.auth import Principal, Role
from kit.calendar import CalendarError, default_calendar
from kit.calendar import local_date as today
from kit.contracts.knowledge import AssistantHandedOver, ConversationTurn
from kit.db import Database
from kit.errors import Conflict, Forbidden, NotFound
from kit.events import add_event
from kit.http import call_service
from kit.idempotency import create_once
from kit.identifiers import scrub_identifiers
from knowledge import messages
from knowledge.models import AnswerConfirmation, Conversation, Message, UnansweredGroup, UnansweredQuestion
from knowledge.schemas import (
    AssistantReply,
    ConfirmationIn,
    ConfirmationView,
    ConfirmPrompt,
    HandoverOffer,
    SessionCreate,
    SessionView,
)
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
        await _confirm_latest(session, conversation, True)
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
    seq = conversation.turns * 2
    if reply.action in ("answer", "progress"):
        conversation.answered = True
        result["answer_seq"] = seq
        result["confirm"] = ConfirmPrompt(question_zh=messages.CONFIRM_QUESTION.zh,
                                          question_en=messages.CONFIRM_QUESTION.en)
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
    """The conversation-wide button: the person's word on the conversation, and on its latest answer when that
    answer has none yet."""
    async with database.transaction() as session:
        conversation = await get(session, principal, conversation_id, lock=True)
        conversation.solved = solved
        conversation.updated_at = datetime.now(UTC)
        await _confirm_latest(session, conversation, solved)
        return session_view(conversation)


async def _confirm_latest(session: AsyncSession, conversation: Conversation, resolved: bool) -> None:
    """Record the person's word on the latest answer of the conversation, unless it has one already."""
    latest = (await session.execute(
        select(Message.seq).where(Message.conversation_id == conversation.id, Message.role == "assistant",
                                  Message.action.in_(ANSWER_ACTIONS))
        .order_by(Message.seq.desc()).limit(1))).scalar_one_or_none()
    if latest is not None and await session.get(AnswerConfirmation, (conversation.id, latest)) is None:
        session.add(AnswerConfirmation(conversation_id=conversation.id, answer_seq=latest, resolved=resolved,
                                       confirmed_at=datetime.now(UTC)))


ANSWER_ACTIONS = ("answer", "progress")


def _single(matters: list[str]) -> str | None:
    return matters[0] if len(matters) == 1 else None


def _confirmation_view(row: AnswerConfirmation, conversation: Conversation) -> ConfirmationView:
    offer = None
    if not row.resolved and not conversation.handed_over:
        offer = HandoverOffer(text_zh=messages.HANDOVER_OFFER.zh, text_en=messages.HANDOVER_OFFER.en)
    return ConfirmationView(conversation_id=row.conversation_id, answer_seq=row.answer_seq, resolved=row.resolved,
                            confirmed_at=row.confirmed_at, handed_over=row.handed_over, handover_offer=offer)


async def confirm(database: Database, principal: Principal | None, conversation_id: str, answer_seq: int,
                  body: ConfirmationIn) -> ConfirmationView:
    """The person's answer to "这个回答解决了您的问题吗" for one answer: given once (the same word again is
    answered as before; the other word is a conflict), only by the conversation's owner. A "no" offers a
    human desk; with ``hand_over`` the conversation goes to one (once), its question recorded as unanswered."""
    async with database.transaction() as session:
        conversation = await get(session, principal, conversation_id, lock=True)
        # Staff may read anyone's conversation, but only its owner says whether an answer helped.
        if (conversation.user_subject or (principal is not None and principal.is_staff)) and (
                principal is None or principal.subject != conversation.user_subject):
            raise Forbidden(messages.NOT_YOUR_CONVERSATION_TO_CONFIRM)
        answer = await session.get(Message, (conversation.id, answer_seq))
        if answer is None or answer.role != "assistant" or answer.action not in ANSWER_ACTIONS:
            raise NotFound(messages.ANSWER_NOT_FOUND.format(seq=answer_seq))
        now = datetime.now(UTC)
        row = await session.get(AnswerConfirmation, (conversation.id, answer_seq))
        if row is None:
            row = AnswerConfirmation(conversation_id=conversation.id, answer_seq=answer_seq, resolved=body.resolved,
                                     handed_over=False, confirmed_at=now)
            session.add(row)
            conversation.solved = body.resolved  # the person's latest word
            conversation.updated_at = now
        elif row.resolved != body.resolved:
            said = messages.YES if row.resolved else messages.NO
            raise Conflict(messages.ANSWER_ALREADY_CONFIRMED.format(said=said), status_now="resolved" if row.resolved
                           else "not_resolved")
        if body.hand_over and not conversation.handed_over:
            question = (await session.get(Message, (conversation.id, answer_seq - 1)))
            row.handed_over = True
            await _hand_over(session, conversation, Reply(action="handover", handover_reason="not_resolved",
                                                          matter=_single(DialogueState.from_json(conversation.state).matters)),
                             question.text if question is not None else answer.text, now)
        await session.flush()
        return _confirmation_view(row, conversation)


async def resolution(session: AsyncSession, period: kpi.Period) -> dict[str, Any]:
    """The assistant's figures for the conversations started in the period (Asia/Shanghai days)."""
    in_period = (Conversation.turns > 0, Conversation.created_at >= period.start, Conversation.created_at < period.end)
    row = (await session.execute(select(
        func.count().label("sessions"),
        func.count().filter(Conversation.answered.is_(True)).label("answered"),
        func.count().filter(Conversation.solved.is_(True)).label("resolved"),
        func.count().filter(Conversation.solved.is_(False)).label("not_resolved"),
        func.count().filter(Conversation.answered.is_(True), Conversation.solved.is_(None),
                            Conversation.handed_over.is_(False)).label("unconfirmed"),
        func.count().filter(Conversation.handed_over.is_(True)).label("handed_over"),
    ).where(*in_period))).one()
    answers = (await session.execute(select(
        func.count().label("answers"),
        func.count(AnswerConfirmation.answer_seq).filter(AnswerConfirmation.resolved.is_(True)).label("yes"),
        func.count(AnswerConfirmation.answer_seq).filter(AnswerConfirmation.resolved.is_(False)).label("no"),
    ).select_from(Message).join(Conversation, Conversation.id == Message.conversation_id)
     .outerjoin(AnswerConfirmation, (AnswerConfirmation.conversation_id == Message.conversation_id)
                & (AnswerConfirmation.answer_seq == Message.seq))
     .where(Message.role == "assistant", Message.action.in_(ANSWER_ACTIONS), *in_period))).one()
    return {"sessions": row.sessions, "answered": row.answered, "resolved": row.resolved,
            "not_resolved": row.not_resolved, "unconfirmed": row.unconfirmed, "handed_over": row.handed_over,
            "resolution_rate": kpi.ratio(row.resolved, row.sessions),
            "confirmation_rate": kpi.ratio(row.resolved + row.not_resolved, row.answered),
            "answers": answers.answers, "answers_confirmed_resolved": answers.yes,
            "answers_confirmed_not_resolved": answers.no,
            "answers_unconfirmed": answers.answers - answers.yes - answers.no}
