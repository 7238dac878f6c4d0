"""Events: CloudEvents envelope, contracts, transactional outbox, relay, bus and idempotent consumers."""
from kit.events.bus import Bus, ConsumerSpec, Delivery, DeliveryOutcome, JetStreamBus
from kit.events.consumer import EventConsumer, EventSubscription, handle_once
from kit.events.envelope import CloudEvent, EventContract, stream_name, stream_subjects
from kit.events.outbox import OutboxRelay, add_event, outbox, outbox_backlog, outbox_row, processed_events

__all__ = [
    "Bus", "CloudEvent", "ConsumerSpec", "Delivery", "DeliveryOutcome", "EventConsumer", "EventContract",
    "EventSubscription", "JetStreamBus", "OutboxRelay", "add_event", "handle_once", "outbox", "outbox_row",
    "outbox_backlog", "processed_events", "stream_name", "stream_subjects",
]
