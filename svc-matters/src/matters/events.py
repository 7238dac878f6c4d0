"""What svc-matters consumes. It publishes ``lvrong.matters.application.submitted`` and
``lvrong.matters.application.status_changed`` (contracts in ``kit.contracts.matters``) through the outbox."""
from __future__ import annotations

from kit.contracts import PrereviewVerdictIssued
from kit.events import EventSubscription
from matters import service

SUBSCRIPTIONS = [
    EventSubscription(name="prequal-verdicts", producer="prequal", subjects=[PrereviewVerdictIssued.event_type],
                      handler=service.apply_prereview_verdict),
]
