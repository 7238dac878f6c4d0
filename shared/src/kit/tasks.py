"""Helpers for long-running background tasks."""
from __future__ import annotations

import asyncio


def cancellation_requested() -> bool:
    """True when the current task has been asked to stop.

    Some libraries turn a cancellation into their own exception (nats-py's publish_async raises
    TooManyStalledMsgsError when cancelled while waiting for a slot); a loop that retries on errors
    checks this so it stops instead of retrying forever.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
