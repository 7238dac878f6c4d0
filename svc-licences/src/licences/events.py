"""What svc-licences consumes and does on its own. It publishes (contracts in ``kit.contracts.licences``,
through the outbox): ``lvrong.licences.licence.issued`` (also for new versions), ``.licence.status_changed``,
``.licence.expiring``, ``lvrong.licences.trustlist.changed``, ``.partner_document.recognised`` and
``.partner_document.status_changed``."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from kit.app import BackgroundJob, Runtime
from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted
from kit.events import EventSubscription
from kit.events.consumer import handling
from kit.events.envelope import CloudEvent
from kit.scheduling import every
from licences.service import imports, issuance, onecode, partner_recheck, partners, reminders, sm2backfill, status
from licences.service.checks import PresentationChecks
from licences.service.issuer import Issuer

log = structlog.get_logger("licences.events")


def subscriptions(issuer: Issuer) -> list[EventSubscription]:
    # One consumer for both subjects of the one stream, so a submission is read before its approval.
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        await handle_batch(session, [event])

    async def handle_batch(session: AsyncSession, events: list[CloudEvent]) -> None:
        """Every submission and status change of every application passes through here: the submissions
        of a fetched batch are kept by one statement, the status changes that are not approvals of a
        licence matter (most of them) cost only a look, and every application's status (the open
        applications a scanned 一人（企）一码 shows) is kept by one more statement for the batch."""
        submissions: list[CloudEvent] = []
        for event in events:
            if event.type == ApplicationSubmitted.event_type:
                submissions.append(event)
            elif issuance.may_issue(event):
                await issuance.remember_submissions(session, submissions)  # what the approval issues from
                submissions = []
                with handling(event):
                    await issuance.on_decision(session, event, issuer)
        await issuance.remember_submissions(session, submissions)
        await onecode.remember_applications(session, events)  # every application's status (一人一码)

    return [EventSubscription(name="matters-applications", producer="matters",
                              subjects=[ApplicationSubmitted.event_type, *ApplicationStatusChanged.subjects()],
                              handler=handle, batch_handler=handle_batch)]


def background_jobs(issuer: Issuer, checks: PresentationChecks) -> list[BackgroundJob]:
    settings = issuer.settings

    async def write_presentation_checks(runtime: Runtime) -> None:
        await checks.run(runtime.database)

    async def reload_keys(runtime: Runtime) -> None:
        """Ops add or retire keys by adding or deleting files; every replica picks them up."""
        while True:
            await asyncio.sleep(settings.key_reload_seconds)
            await asyncio.to_thread(issuer.keys.reload)

    async def expiry_reminders(runtime: Runtime) -> None:
        async def tick(session: AsyncSession) -> int:
            return await reminders.send_due(session, datetime.now(UTC), settings.reminder_days)

        await every(runtime.database, "licences.expiry-reminders", settings.reminder_interval_seconds, tick)

    async def expire_licences(runtime: Runtime) -> None:
        async def tick(session: AsyncSession) -> int:
            return await status.expire_due(session, datetime.now(UTC))

        await every(runtime.database, "licences.expiry", settings.expiry_interval_seconds, tick)

    async def sm2_backfill(runtime: Runtime) -> None:
        """Every licence version carries an SM2 document: the ones issued before SM2 signatures get theirs
        (once per interval across the replicas, in batches of their own transactions after the tick)."""
        async def tick(session: AsyncSession) -> int:
            return await sm2backfill.missing(session)

        async def sign() -> None:
            await sm2backfill.sign_missing(runtime.database, issuer, settings.sm2_backfill_batch)

        await every(runtime.database, "licences.sm2-backfill", settings.sm2_backfill_interval_seconds, tick,
                    then=sign)

    async def partner_keys(runtime: Runtime) -> None:
        """长三角 partners registered with a jwks_uri: their keys are fetched again when due (Cache-Control, or
        the default interval), once per check interval across the replicas, each partner in its own transaction."""
        async def tick(session: AsyncSession) -> int:
            return len(await partners.due_for_refresh(session, datetime.now(UTC)))

        async def refresh() -> None:
            await partners.refresh_due(runtime.database, issuer.partners)

        try:
            await every(runtime.database, "licences.partner-keys", settings.partner_refresh_check_seconds, tick,
                        then=refresh)
        finally:
            await issuer.partners.aclose()

    async def import_licences(runtime: Runtime) -> None:
        """应归尽归: the pending lines of recorded imports issued in batches (licences.service.imports)."""
        async def tick(session: AsyncSession) -> int:
            return await imports.pending(session)

        async def issue() -> None:
            await imports.issue_pending(runtime.database, issuer, settings.import_batch)

        await every(runtime.database, "licences.imports", settings.import_interval_seconds, tick, then=issue)

    async def partner_recheck_job(runtime: Runtime) -> None:
        """Recognised partner documents re-checked against their partners' status lists: a revocation, suspension
        or reinstatement is announced to the licence read models (once per interval across the replicas; the
        round itself after the tick, each change in a transaction of its own)."""
        async def tick(session: AsyncSession) -> int:  # the round runs after it: fetches stay out of transactions
            return await partner_recheck.count_due(session, datetime.now(UTC))

        async def round_() -> None:
            changed = await partner_recheck.recheck(runtime.database, issuer.partners, settings.partner_recheck_batch)
            if changed:
                log.info("partner_recheck_ran", changed=changed)

        await every(runtime.database, "licences.partner-recheck", settings.partner_recheck_seconds, tick, then=round_)

    return [write_presentation_checks, reload_keys, expiry_reminders, expire_licences, sm2_backfill, partner_keys,
            partner_recheck_job, import_licences]
