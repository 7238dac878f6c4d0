"""What svc-knowledge consumes, and its background jobs; it publishes ``AssistantHandedOver`` and
``PolicyDeadlineMissed`` (``kit.contracts.knowledge``) through the outbox."""
from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import BackgroundJob, Runtime
from kit.auth import Principal, SubjectKind
from kit.contracts.helpdesk import AnswerProposed
from kit.events import CloudEvent, EventSubscription
from kit.scheduling import every
from knowledge.models import Entry
from knowledge.schemas import EntryCreate
from knowledge.service import entries, unanswered
from knowledge.service.index import REFRESH_SECONDS, holder
from knowledge.service.retrieval import analyzer
from knowledge.service.seed import seed_if_empty
from knowledge.settings import Settings

log = structlog.get_logger("knowledge.events")


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


def _settings(runtime: Runtime) -> Settings:
    settings = runtime.settings
    if not isinstance(settings, Settings):
        raise TypeError(f"the running service's settings are {type(settings).__name__}, not Settings")
    return settings


async def policy_job(runtime: Runtime) -> None:
    """Once across replicas per interval: deadlines the calendar can now give, and late policies reported."""
    await every(runtime.database, "knowledge-policy-late", _settings(runtime).policy_check_interval_seconds,
                entries.report_late_policies)


async def seed_job(runtime: Runtime) -> None:
    """The shipped FAQ corpus, imported and published into an empty knowledge base (first start)."""
    if not _settings(runtime).seed_on_empty:
        return
    delay = 0.5
    while True:  # the database may not be reachable yet when the process starts
        try:
            if await seed_if_empty(runtime.database):
                await holder.refresh(runtime.database)
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("knowledge_seed_retrying", error=type(e).__name__, cause=type(getattr(e, "orig", None)).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def refresh_job(runtime: Runtime) -> None:
    """Keep this process's index equal to the database's live entries (``service.index``)."""
    while True:
        try:
            await holder.refresh(runtime.database)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # database away: keep serving the index we have
            log.warning("search_index_refresh_failed", error=type(e).__name__,
                        cause=type(getattr(e, "orig", None)).__name__)
        await asyncio.sleep(REFRESH_SECONDS)


BACKGROUND_JOBS: list[BackgroundJob] = [seed_job, refresh_job, policy_job]
