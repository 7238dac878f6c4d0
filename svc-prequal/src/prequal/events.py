"""What svc-prequal consumes. It publishes ``lvrong.prequal.verdict.issued`` (``kit.contracts.prequal``)."""
from __future__ import annotations

from kit.contracts import ApplicationStatusChanged, ApplicationSubmitted
from kit.contracts.licences import LicenceIssued
from kit.events import EventSubscription
from prequal import compare, prefill, service

SUBSCRIPTIONS = [
    EventSubscription(name="submissions", producer="matters", subjects=[ApplicationSubmitted.event_type],
                      handler=service.review_submission),
    # 数据比对 read models (prequal.compare): applications' statuses and licences issued.
    EventSubscription(name="compare-status", producer="matters", subjects=[ApplicationStatusChanged.event_type],
                      handler=compare.on_status_changed),
    EventSubscription(name="compare-licences", producer="licences", subjects=[LicenceIssued.event_type],
                      handler=compare.on_licence_issued),
    # Read models of the pre-fill and the measures (prequal.prefill), each with its own durable consumer.
    EventSubscription(name="prefill-submissions", producer="matters", subjects=[ApplicationSubmitted.event_type],
                      handler=prefill.record_submission),
    EventSubscription(name="prefill-status", producer="matters", subjects=[ApplicationStatusChanged.event_type],
                      handler=prefill.record_status),
    EventSubscription(name="prefill-licences", producer="licences", subjects=[LicenceIssued.event_type],
                      handler=prefill.record_licence),
]
