"""The JetStream streams of the platform and the limits each is kept within: declared here, once.

Every stream is bounded by age and by size. When a stream is full, ``discard new`` refuses the
publish instead of silently dropping the oldest message: for an event stream that means the outbox
relay keeps the event in its table and retries (nothing is lost; ops get an alert on the outbox
backlog), for the dead letters that the failing message stays unsettled and is copied later.

| stream | what | max age | max size | duplicate window |
|---|---|---|---|---|
| ``LVRONG_<SERVICE>`` | one producing service's events (``LVRONG_MATTERS``: the catalogue too) | 7 days | 1 GiB (``LVRONG_EVENT_STREAM_MAX_MB``) | 1 hour |
| ``LVRONG_DEADLETTER`` | messages a consumer gave up on, waiting for ops | 90 days | 256 MiB (``LVRONG_DEAD_LETTER_STREAM_MAX_MB``) | 1 hour |
| ``LVRONG_UNSETTLED`` | the server's MaxDeliver advisories, turned into dead letters | 7 days | 16 MiB | 2 min |

A consumer that has been away longer than an event stream's max age misses the expired events;
the services keep the ids of handled events (``processed_events``) at least that long so that any
redelivery of a message still in a stream is recognised (see ``kit.pruning``). A durable deleted while
its service runs is created again where that process had settled, not from the stream's start.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from kit.events.envelope import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM

DAY = 86_400.0
MIB = 1 << 20

UNSETTLED_STREAM = "LVRONG_UNSETTLED"
# The server's advisory when a message reached its consumer's max_deliver without being settled
# (ack/term): ``...MAX_DELIVERIES.<stream>.<consumer>``.
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


@dataclass(frozen=True)
class StreamLimits:
    max_age_seconds: float
    max_bytes: int
    duplicate_window_seconds: float
    discard: DiscardPolicy = DiscardPolicy.NEW


# The server reserves each stream's max size out of its JetStream storage (by default 75% of the free
# disk) and refuses a stream that does not fit: the sizes can be set for a small disk (a laptop).
EVENT_STREAM_LIMITS = StreamLimits(max_age_seconds=7 * DAY,
                                   max_bytes=int(os.environ.get("LVRONG_EVENT_STREAM_MAX_MB", "1024")) * MIB,
                                   duplicate_window_seconds=3600.0)
DEAD_LETTER_LIMITS = StreamLimits(max_age_seconds=90 * DAY,
                                  max_bytes=int(os.environ.get("LVRONG_DEAD_LETTER_STREAM_MAX_MB", "256")) * MIB,
                                  duplicate_window_seconds=3600.0)
UNSETTLED_LIMITS = StreamLimits(max_age_seconds=7 * DAY, max_bytes=16 * MIB, duplicate_window_seconds=120.0)
# ``LVRONG_MATTERS`` also carries the catalogue (``lvrong.matters.matter.published``) from which svc-prequal
# builds its requirements, also when reinstalled from scratch. It keeps the normal limits all the same:
# without an age limit, a million application events fill it and ``discard new`` then refuses every
# event of svc-matters (its outbox backs up, the platform stops). Instead svc-matters announces every
# current matter version again once a day (``matters.service.catalogue.reannounce_current``), so the
# whole catalogue is always among the last 7 days' events. Chosen over a KV bucket or a per-subject
# stream (a second place for the catalogue, new NATS permissions for two services, a second reader in
# svc-prequal) and over svc-prequal asking svc-matters at start (a start-up dependency on another service).

# The longest an event stays in an age-limited event stream: how long a redelivery of it can still come.
LONGEST_EVENT_AGE_SECONDS = EVENT_STREAM_LIMITS.max_age_seconds


def limits_of(stream: str) -> StreamLimits:
    if stream == DEAD_LETTER_STREAM:
        return DEAD_LETTER_LIMITS
    if stream == UNSETTLED_STREAM:
        return UNSETTLED_LIMITS
    return EVENT_STREAM_LIMITS


def declared_config(name: str, subjects: list[str]) -> StreamConfig:
    """The configuration stream ``name`` is created with and reconciled to at every start."""
    limits = limits_of(name)
    return StreamConfig(name=name, subjects=subjects, storage=StorageType.FILE, retention=RetentionPolicy.LIMITS,
                        max_age=limits.max_age_seconds, max_bytes=limits.max_bytes, discard=limits.discard,
                        duplicate_window=limits.duplicate_window_seconds)


_DECLARED_SETTINGS = ("subjects", "retention", "max_age", "max_bytes", "discard", "duplicate_window")


def reconciled(current: StreamConfig, declared: StreamConfig) -> StreamConfig:
    """``current`` with the declared settings; what ops set by hand (replicas, placement) is kept."""
    return replace(current, **{name: getattr(declared, name) for name in _DECLARED_SETTINGS})


def differences(current: StreamConfig, declared: StreamConfig) -> list[str]:
    """The names of the settings in which ``current`` departs from ``declared`` (empty when in line)."""
    changed = []
    if sorted(current.subjects or []) != sorted(declared.subjects or []):
        changed.append("subjects")
    for name in ("max_age", "duplicate_window"):
        if abs(float(getattr(current, name) or 0) - float(getattr(declared, name) or 0)) > 0.001:
            changed.append(name)
    for name in ("max_bytes", "discard", "retention"):
        if getattr(current, name) != getattr(declared, name):
            changed.append(name)
    return changed


DEAD_LETTER_SUBJECTS = [DEAD_LETTER_PREFIX + ".>"]
UNSETTLED_SUBJECTS = [MAX_DELIVERIES_ADVISORY + ".>"]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)
