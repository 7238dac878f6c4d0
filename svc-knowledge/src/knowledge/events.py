"""What svc-knowledge consumes; it publishes ``AssistantHandedOver`` and ``PolicyDeadlineMissed``
(``kit.contracts.knowledge``) through the outbox."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal, SubjectKind
from kit.contracts.helpdesk import AnswerProposed
from kit.events import CloudEvent, EventSubscription
from knowledge.models import Entry
from knowledge.schemas import EntryCreate
from knowledge.service import entries, unanswered
from knowledge.service.retrieval import analyzer


async def on_answer_proposed(session: AsyncSession, event: CloudEvent) -> None:
    """A help-desk agent's good answer becomes a draft entry for an editor to review (never published
    by itself); the unanswered group of its conversation points at the draft."""
    proposal = AnswerProposed.from_event(event)
    existing = (await session.execute(select(Entry.id).where(Entry.source_proposal_id == proposal.proposal_id))).first()
    if existing:
        return
    author = Principal(subject=proposal.proposed_by, kind=SubjectKind.STAFF)
    entry = await entries.create(session, author, EntryCreate(
        question=proposal.question[:500], answer=proposal.answer[:20_000],
        matter=analyzer().lexicon.matter_named(proposal.matter_code),
        category="general", owner_department=proposal.department[:128] or None), proposal_id=proposal.proposal_id)
    if proposal.conversation_id:
        await unanswered.link_conversation(session, proposal.conversation_id, entry.id)


SUBSCRIPTIONS = [
    EventSubscription(name="answers-proposed", producer="helpdesk", subjects=[AnswerProposed.event_type],
                      handler=on_answer_proposed),
]
