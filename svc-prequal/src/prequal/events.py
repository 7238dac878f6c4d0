"""What svc-prequal consumes. It publishes ``lvrong.prequal.verdict.issued`` (``kit.contracts.prequal``)."""
from __future__ import annotations

from kit.contracts import ApplicationSubmitted
from kit.events import EventSubscription
from prequal import service

SUBSCRIPTIONS = [
    EventSubscription(name="submissions", producer="matters", subjects=[ApplicationSubmitted.event_type],
                      handler=service.review_submission),
]
