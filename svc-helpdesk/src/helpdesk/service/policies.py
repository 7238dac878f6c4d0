"""SLA policies (服务时限策略): targets per channel, matter and priority, kept by ops."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import messages
from helpdesk.models import SlaPolicy
from helpdesk.schemas import PolicyCreate, PolicyView
from kit.db import Database
from kit.errors import Conflict


def policy_view(p: SlaPolicy) -> PolicyView:
    return PolicyView(id=p.id, name=p.name, channel=p.channel, matter_code=p.matter_code, priority=p.priority,
                      first_response=p.first_response, next_response=p.next_response, resolution=p.resolution,
                      warn_percent=p.warn_percent, escalation_percents=p.escalation_percents, active=p.active)


async def list_policies(session: AsyncSession) -> list[PolicyView]:
    return [policy_view(p) for p in (await session.scalars(select(SlaPolicy).order_by(SlaPolicy.id))).all()]


async def create_policy(database: Database, body: PolicyCreate) -> PolicyView:
    """A new policy applies to tickets opened from now on."""
    async with database.transaction() as session:
        if await session.get(SlaPolicy, body.id) is not None:
            raise Conflict(messages.POLICY_EXISTS)
        policy = SlaPolicy(**body.model_dump(mode="json"), active=True)
        session.add(policy)
        await session.flush()
        return policy_view(policy)
