"""What svc-prequal consumes. It publishes ``lvrong.prequal.verdict.issued`` (``kit.contracts.prequal``).

One durable consumer per subject: every read model fed by a subject is updated in the same
transaction, so an event costs one delivery and one transaction, not one per read model.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kit.contracts import (
    ApplicationStatusChanged,
    ApplicationSubmitted,
    BusinessDataChanged,
    MatterPublished,
    MatterRequirements,
    MatterVersionRef,
)
from kit.events import CloudEvent, EventSubscription
from kit.events.consumer import handling
from kit.protection import reveal_form
from prequal.service import business, compare, prefill
from prequal.service import prereview as service


async def on_submitted(session: AsyncSession, event: CloudEvent) -> None:
    """Pre-review the submission (publishing the verdict), then keep it for pre-fill and the measures
    (also how a failed batch is handled again, one event at a time)."""
    await on_submitted_batch(session, [event])


# The requirements of the matter versions submissions were made under, as received and validated: a
# submission carries its matter's (most of the event) or, since svc-matters names the current version
# instead, their digest. Carried ones are equal to what was received before, down to the last value, or
# validated anew (a version number means nothing across databases made anew); named ones are found by
# their digest, which covers code, version and content alike.
_MATTERS: dict[tuple[Any, Any], tuple[dict[str, Any], MatterRequirements]] = {}
_BY_DIGEST: dict[str, MatterRequirements] = {}


class UnknownMatterVersion(LookupError):
    """A submission names a matter version whose ``matter.published`` svc-prequal has not kept (yet: the
    catalogue's consumer may be behind the submissions'); the event is delivered again later."""

    def __init__(self, code: str, version: int) -> None:
        super().__init__(f"matter {code} version {version}: requirements not received yet")


def _carried(raw: dict[str, Any]) -> MatterRequirements:
    key = (raw.get("code"), raw.get("version"))
    known = _MATTERS.get(key)
    if known is None or known[0] != raw:
        if len(_MATTERS) > 1024:
            _MATTERS.clear()
        known = _MATTERS[key] = (raw, MatterRequirements.model_validate(raw))
    return known[1]


async def _learn(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Bring the requirements of the versions the batch's events name into ``_BY_DIGEST``, with one read."""
    named = {(raw["code"], raw["version"]) for event in events
             if isinstance(raw := event.data.get("matter"), dict) and "digest" in raw and "fields" not in raw
             and raw["digest"] not in _BY_DIGEST and isinstance(raw.get("code"), str) and isinstance(raw.get("version"), int)}
    if not named:
        return
    if len(_BY_DIGEST) > 1024:
        _BY_DIGEST.clear()
    for doc in await service.stored_requirements(session, named):
        requirements = MatterRequirements.model_validate(doc)
        _BY_DIGEST[requirements.digest] = requirements


def _submitted(event: CloudEvent) -> ApplicationSubmitted:
    if event.type != ApplicationSubmitted.event_type or not isinstance(raw := event.data.get("matter"), dict):
        return ApplicationSubmitted.from_event(event)  # and its error
    if "fields" in raw or "digest" not in raw:
        matter = _carried(raw)
    else:
        ref = MatterVersionRef.model_validate(raw)
        if (found := _BY_DIGEST.get(ref.digest)) is None:
            raise UnknownMatterVersion(ref.code, ref.version)
        matter = found
    # An instance is taken as it is (pydantic does not validate model instances again); none is changed.
    return ApplicationSubmitted.model_validate({**event.data, "matter": matter})


async def on_submitted_batch(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Pre-review a fetched batch of submissions with bulk reads and writes, then keep them for pre-fill."""
    await _learn(session, events)
    submissions = []
    for event in events:
        with handling(event):
            submitted = _submitted(event)
            # svc-matters sends personal values encrypted (outbox and bus never hold them in clear).
            submitted.form = reveal_form(submitted.form)
            submissions.append(submitted)
    await service.review_submissions(session, submissions, lambda i: handling(events[i]))
    await prefill.record_submissions(session, submissions)


async def on_matter_published(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the requirements of every matter version the catalogue publishes, so the dry run, pre-fill
    and pre-review know a matter before its first application (the highest version is the current one)."""
    await service.remember_requirements(session, [MatterPublished.from_event(event).matter])


async def on_status_changed(session: AsyncSession, event: CloudEvent) -> None:
    await on_status_changed_batch(session, [event])


async def on_status_changed_batch(session: AsyncSession, events: list[CloudEvent]) -> None:
    """Open applications for the comparison (数据比对); status history for the measures: a statement each
    for the whole fetched batch (every step of every application passes here, three or more each)."""
    changes = []
    for event in events:
        with handling(event):
            changes.append(ApplicationStatusChanged.from_event(event))
    await compare.record_status_changes(session, changes)
    await prefill.record_statuses(session, [(event.id, changed) for event, changed in zip(events, changes, strict=True)])


SUBSCRIPTIONS = [
    EventSubscription(name="catalogue", producer="matters", subjects=[MatterPublished.event_type],
                      handler=on_matter_published),  # every matter version, from the stream's start
    EventSubscription(name="submissions", producer="matters", subjects=[ApplicationSubmitted.event_type],
                      handler=on_submitted, batch_handler=on_submitted_batch),
    EventSubscription(name="status-changes", producer="matters", subjects=ApplicationStatusChanged.subjects(),
                      handler=on_status_changed, batch_handler=on_status_changed_batch),
    compare.KNOWN_LICENCES.subscription(),  # issues and status changes; read by pre-fill too
    EventSubscription(name="business-data", producer="matters", subjects=[BusinessDataChanged.event_type],
                      handler=business.on_business_changed),  # the name comparison and pre-fill
]
