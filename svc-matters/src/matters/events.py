"""What svc-matters consumes. It publishes (contracts in ``kit.contracts.matters``, through the outbox):
``lvrong.matters.application.submitted``, ``.application.status_changed``, ``.clock.warning``,
``.stall.opened``, ``.bundle.completed`` and ``.benefit.granted``."""
from __future__ import annotations

from kit.contracts import LicenceIssued, PrereviewVerdictIssued
from kit.events import EventSubscription
from matters.service import applications, lifecycle

SUBSCRIPTIONS = [
    EventSubscription(name="prequal-verdicts", producer="prequal", subjects=[PrereviewVerdictIssued.event_type],
                      handler=applications.apply_prereview_verdict),
    EventSubscription(name="licences-issued", producer="licences", subjects=[LicenceIssued.event_type],
                      handler=lifecycle.record_licence_issued),
]
