"""svc-booking's configuration (``BOOKING_*`` variables): the only place it is read."""
from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="BOOKING_")
    service_name: ClassVar[str] = "booking"
    port: int = 8006
    # How far ahead a day may be booked (today included).
    horizon_days: int = 30
    # A booking may be cancelled until this many minutes before its slot starts.
    cancel_cutoff_minutes: int = 120
    # The gate admits from this many minutes before the slot starts until the slot ends.
    entry_early_minutes: int = 30
    # No-show rule: this many no-shows within the window block new bookings for block_days.
    no_show_limit: int = 3
    no_show_window_days: int = 90
    no_show_block_days: int = 30
    # A booking not entered by this many minutes after its slot ended counts as a no-show.
    no_show_grace_minutes: int = 30
    no_show_interval_seconds: float = 60.0
    # Seed the demo venues of the four provinces at start (development; `make run` sets it).
    seed_demo_venues: bool = False
