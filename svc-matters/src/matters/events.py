"""What svc-matters consumes. It publishes (contracts in ``kit.contracts.matters``, through the outbox):
``lvrong.matters.application.submitted``, ``.application.status_changed``, ``.clock.warning``,
``.stall.opened``, ``.bundle.completed``, ``.benefit.granted``, ``.business.changed`` (business data from
ops imports, for svc-prequal's name comparison and pre-fill) and ``.matter.published`` (every matter version
of the catalogue, with its requirements, for svc-prequal's pre-review, dry run and pre-fill)."""
from __future__ import annotations

from kit.contracts import LicenceIssued, PrereviewVerdictIssued
from kit.contracts.licences import LicenceStatusChanged
from kit.events import EventSubscription
from matters.service import applications, licences, lifecycle

SUBSCRIPTIONS = [
    EventSubscription(name="prequal-verdicts", producer="prequal", subjects=[PrereviewVerdictIssued.event_type],
                      handler=applications.apply_prereview_verdict, batch_handler=applications.apply_prereview_verdicts),
    EventSubscription(name="licences-issued", producer="licences", subjects=[LicenceIssued.event_type],
                      handler=lifecycle.record_licence_issued),
    # The read model of licences held (两个免于提交): a consumer of its own, so that its issues and
    # status changes are applied in the order they were published, apart from the lifecycle's.
    EventSubscription(name="licences-held", producer="licences",
                      subjects=[LicenceIssued.event_type, LicenceStatusChanged.event_type],
                      handler=licences.record_event),
]
