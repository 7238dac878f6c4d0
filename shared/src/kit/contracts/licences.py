"""Events published by svc-licences (stream ``LVRONG_LICENCES``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from kit.events.envelope import EventContract


class LicenceIssued(EventContract):
    """A licence was issued for an approved application (出证)."""

    event_type: ClassVar[str] = "lvrong.licences.licence.issued"
    source_service: ClassVar[str] = "licences"

    licence_id: str
    licence_number: str
    licence_type: str
    application_id: str
    holder_subject: str
    issued_at: datetime
