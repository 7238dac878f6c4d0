"""Events published by svc-licences (stream ``LVRONG_LICENCES``)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from kit.events.envelope import EventContract


class LicenceIssued(EventContract):
    """A licence was issued for an approved application (出证), or a new version of it (变更, 延续, 补发)."""

    event_type: ClassVar[str] = "lvrong.licences.licence.issued"
    source_service: ClassVar[str] = "licences"

    licence_id: str
    licence_number: str
    licence_type: str
    application_id: str
    holder_subject: str
    issued_at: datetime
    # Added with svc-licences' own issuing; optional so consumers of earlier events keep working.
    identifier: str | None = None
    licence_type_code: str | None = None
    holder_org_code: str | None = None
    version: int = 1
    change: str = "issue"  # issue | change | renewal | reissue
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class LicenceStatusChanged(EventContract):
    """A licence was suspended, revoked, reinstated or expired."""

    event_type: ClassVar[str] = "lvrong.licences.licence.status_changed"
    source_service: ClassVar[str] = "licences"

    licence_id: str
    licence_number: str
    holder_subject: str
    from_status: str
    to_status: str  # active | suspended | revoked | expired
    reason: str | None = None
    actor: str
    occurred_at: datetime


class PartnerDocumentRecognised(EventContract):
    """A partner province's (长三角) document was verified against the trust list and recognised: it may
    stand in for a material (两个免于提交 across provinces) like a licence of ours, for its holder."""

    event_type: ClassVar[str] = "lvrong.licences.partner_document.recognised"
    source_service: ClassVar[str] = "licences"

    recognition_id: str  # what an applicant names for the material (as a licence id)
    province: str  # JS | ZJ | AH
    document_identifier: str  # the partner's 证照标识
    document_type: str  # its type's name, e.g. 林业有害生物调运检疫要求书
    document_type_code: str
    holder_org_code: str  # the holder's unified social credit code (a company's; not personal data)
    recognised_at: datetime
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class PartnerDocumentStatusChanged(EventContract):
    """A recognised partner document's status changed in the partner's own status list (Token Status List), as
    svc-licences' scheduled re-check found it: revoked, suspended, or reinstated (``active``). Once per change."""

    event_type: ClassVar[str] = "lvrong.licences.partner_document.status_changed"
    source_service: ClassVar[str] = "licences"

    recognition_id: str  # the read model's row (``PartnerDocumentRecognised.recognition_id``)
    province: str  # JS | ZJ | AH
    document_identifier: str
    from_status: str  # active | suspended | revoked
    to_status: str
    occurred_at: datetime  # when the re-check saw it


class LicenceExpiring(EventContract):
    """Expiry reminder: the licence expires in ``days_before`` days (sent once per threshold and version)."""

    event_type: ClassVar[str] = "lvrong.licences.licence.expiring"
    source_service: ClassVar[str] = "licences"

    licence_id: str
    licence_number: str
    licence_type: str
    holder_subject: str
    valid_until: datetime
    days_before: int
    message_zh: str
    message_en: str


class TrustListChanged(EventContract):
    """The 长三角 trust list has a new version: a partner issuer was added, changed or removed, or a partner's keys
    fetched from its ``jwks_uri`` changed (a key rotated in or removed). Fetch ``GET /v1/trust-list`` for it."""

    event_type: ClassVar[str] = "lvrong.licences.trustlist.changed"
    source_service: ClassVar[str] = "licences"

    version: int
    digest: str  # SHA-256 (hex) of the RFC 8785 form of the version's issuers
    reason: str  # issuer_added | issuer_changed | issuer_removed | partner_approved | partner_keys_refreshed
    issuers: list[str]
    changed_at: datetime
