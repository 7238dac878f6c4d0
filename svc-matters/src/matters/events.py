"""What svc-matters consumes. It publishes (contracts in ``kit.contracts.matters``, through the outbox):
``lvrong.matters.application.submitted``, ``.application.status_changed``, ``.clock.warning``,
``.stall.opened``, ``.bundle.completed``, ``.benefit.granted``, ``.business.changed`` (business data from
ops imports, for svc-prequal's name comparison and pre-fill), ``.matter.published`` (every matter version
of the catalogue, with its requirements, for svc-prequal's pre-review, dry run and pre-fill) and
``.application.due_date_changed`` (a due date recomputed on a newly approved calendar year)."""
from __future__ import annotations

from kit.contracts import LicenceIssued, PrereviewVerdictIssued
from kit.contracts.helpdesk import CalendarYearApproved
from kit.events import EventSubscription
from matters.service import applications, calendar_years, licences, lifecycle

SUBSCRIPTIONS = [
    EventSubscription(name="prequal-verdicts", producer="prequal", subjects=[PrereviewVerdictIssued.event_type],
                      handler=applications.apply_prereview_verdict, batch_handler=applications.apply_prereview_verdicts),
    EventSubscription(name="licences-issued", producer="licences", subjects=[LicenceIssued.event_type],
                      handler=lifecycle.record_licence_issued),
    # The read model of licences held (两个免于提交): a consumer of its own, so that its issues and
    # status changes are applied in the order they were published, apart from the lifecycle's.
    licences.KNOWN_LICENCES.subscription(),
    # Ops approved a year of the working-day calendar: due dates counted on it provisionally are recomputed.
    EventSubscription(name="calendar-approved", producer="helpdesk", subjects=[CalendarYearApproved.event_type],
                      handler=calendar_years.on_year_approved),
]
