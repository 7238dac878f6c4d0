"""Events published by svc-matters (stream ``LVRONG_MATTERS``)."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from functools import cached_property
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, Field, field_validator

from kit.events.envelope import CloudEvent, EventContract
from kit.protection import is_token

FieldType = Literal["string", "text", "integer", "decimal", "date", "boolean", "enum", "uscc", "resident_id",
                    "mobile", "district", "address"]


class FieldOption(BaseModel):
    value: str
    label: str


class FormFieldSpec(BaseModel):
    """One field of a matter's form, as the matter version under which the application was filed defines it."""

    key: str
    label: str
    label_en: str | None = None
    type: FieldType
    required: bool = False
    # Required only when other fields have these values, e.g. {"applicant_type": "organisation"}.
    required_when: dict[str, str] | None = None
    options: list[FieldOption] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None

    def required_for(self, form: dict[str, Any]) -> bool:
        if self.required:
            return True
        if not self.required_when:
            return False
        return all(form.get(k) == v for k, v in self.required_when.items())


class MaterialSpec(BaseModel):
    code: str
    name: str
    name_en: str | None = None
    required: bool = True
    file_types: list[str] = []
    max_size_mb: int | None = None
    substitutes: list[str] = []


class MatterRequirements(BaseModel):
    """What a complete application of one matter version holds: travels with the submission so the
    pre-review checks exactly the version the applicant filed under."""

    code: str
    version: int
    kind: Literal["licence", "filing", "public_service"]  # public_service: 公共服务事项
    fields: list[FormFieldSpec]
    materials: list[MaterialSpec]

    @cached_property
    def digest(self) -> str:
        """A fingerprint of these requirements (sorted JSON, SHA-256): tells a consumer whether the
        requirements it keeps for this code and version are the ones the producer means."""
        canonical = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def reference(self) -> MatterVersionRef:
        return MatterVersionRef(code=self.code, version=self.version, kind=self.kind, digest=self.digest)


class MatterVersionRef(BaseModel):
    """A matter version named instead of carried: its code, version, kind and ``MatterRequirements.digest``.
    A consumer takes the requirements from the ``matter.published`` event of that version it kept."""

    code: str
    version: int
    kind: Literal["licence", "filing", "public_service"]
    digest: str


class MatterPublished(EventContract):
    """A version of a matter was published in the catalogue: version 1 of the shipped matters at
    migration time, and every matter or new version an import publishes. Carries what the pre-review,
    its dry run and pre-fill need, so they work for the first applicant of any matter.

    Versions are immutable and numbered upwards, and every published version becomes the current one:
    a consumer keeps each (code, version) once and takes the highest version as current, so an event
    delivered again or late never replaces a newer version. The event id is a function of (code,
    version) (``event_id_for``): publishing the same version twice is one event.

    svc-matters also announces every current version again once per round (daily by default), with an
    id that is a function of (code, version, round) (``announcement_id_for``), so the catalogue is always
    in ``LVRONG_MATTERS`` although the stream forgets events older than its max age: each round is a
    new message (not a duplicate the stream or the outbox would refuse), and the consumer recognises a
    version it already keeps by (code, version)."""

    event_type: ClassVar[str] = "lvrong.matters.matter.published"
    source_service: ClassVar[str] = "matters"

    matter: MatterRequirements
    name_zh: str
    department: str

    @staticmethod
    def event_id_for(code: str, version: int) -> str:
        return uuid.uuid5(_MATTER_VERSION_NAMESPACE, f"{code}@{version}").hex

    @staticmethod
    def announcement_id_for(code: str, version: int, round_: int) -> str:
        """The id of the re-announcement of (code, version) in round ``round_`` (never an ``event_id_for``)."""
        return uuid.uuid5(_MATTER_VERSION_NAMESPACE, f"{code}@{version} round {round_}").hex

    def envelope(self, *, subject: str | None = None, event_id: str | None = None) -> CloudEvent:
        return super().envelope(subject=subject,
                                event_id=event_id or self.event_id_for(self.matter.code, self.matter.version))


# Fixed forever: the ids of events already published are derived from it.
_MATTER_VERSION_NAMESPACE = uuid.UUID("6f1c2b9e-4d7a-5e3f-9a81-2c6b0d4e7f15")


class ApplicantRef(BaseModel):
    subject: str
    kind: str
    org_code: str | None = None


class MaterialRef(BaseModel):
    """What stands for one material: an upload, or an exemption (两个免于提交) by a licence the
    applicant holds or by the same material of an earlier application of theirs."""

    kind: Literal["upload", "licence", "earlier_application"]
    material_id: str | None = None
    licence_id: str | None = None
    from_application: str | None = None
    content_type: str | None = None
    sha256: str | None = None
    # A partner province's recognised document (长三角) standing in: ``licence_id`` is its recognition's id;
    # the province (JS, ZJ, AH) and the number printed on the document, for the application's readers.
    partner_province: str | None = None
    document_number: str | None = None


class ApplicationSubmitted(EventContract):
    event_type: ClassVar[str] = "lvrong.matters.application.submitted"
    source_service: ClassVar[str] = "matters"

    application_id: str
    attempt: int = 1
    # The matter version's requirements in full (every event before the reference existed, and a
    # resubmission, whose version may be older than any a consumer set up since has seen), or only a
    # reference to them (a new application: its version is the current one, published before it).
    matter: MatterRequirements | MatterVersionRef
    applicant: ApplicantRef
    form: dict[str, Any]
    materials: dict[str, MaterialRef]
    submitted_at: datetime
    # The department (部门) handling the application, which scopes staff reads of its verdicts in
    # svc-prequal; absent from events published before it was added.
    department: str | None = None

    @property
    def requirements(self) -> MatterRequirements:
        """The matter version's requirements, once a consumer has put them in place of a reference."""
        if not isinstance(self.matter, MatterRequirements):
            raise LookupError(f"requirements of {self.matter.code} version {self.matter.version} not resolved")
        return self.matter


# The statuses after which nothing more happens to an application (svc-matters' ``TERMINAL``): every other
# status of ``ApplicationStatusChanged.to_status`` is an open application (在办).
FINAL_APPLICATION_STATUSES = frozenset({"refused", "denied", "withdrawn", "completed"})


class ApplicationStatusChanged(EventContract):
    """Published on ``lvrong.matters.application.status_changed.<to_status>``: the subject names the new
    status, so a consumer that acts on a few statuses only (svc-notifications) has the server filter them
    and never receives the others. Events published before issue 18 are on the bare ``event_type``; the
    stream keeps them 7 days, so a consumer subscribes to that too (``subjects``, ``status_subjects``)."""

    event_type: ClassVar[str] = "lvrong.matters.application.status_changed"
    source_service: ClassVar[str] = "matters"

    application_id: str
    matter_code: str
    applicant_subject: str
    applicant_org_code: str | None = None
    department: str | None = None
    bundle_id: str | None = None
    step_id: int | None = None
    from_status: str | None
    to_status: str
    stage: str | None = None
    action: str | None = None
    actor: str
    reason: str | None = None
    occurred_at: datetime

    def nats_subject(self) -> str:
        return self.subject_below(self.to_status)

    @classmethod
    def subjects(cls) -> list[str]:
        """Every status change: the bare subject (events from before the status was in the subject) and
        every status's subject."""
        return [cls.event_type, f"{cls.event_type}.>"]

    @classmethod
    def status_subjects(cls, statuses: Iterable[str]) -> list[str]:
        """The status changes to one of ``statuses`` only (and the bare subject's, which may be any)."""
        return [cls.event_type, *(cls.subject_below(status) for status in sorted(set(statuses)))]


class ClockWarning(EventContract):
    """The statutory clock of an application reached 50%, 80% or 100% of its limit."""

    event_type: ClassVar[str] = "lvrong.matters.clock.warning"
    source_service: ClassVar[str] = "matters"

    application_id: str
    matter_code: str
    department: str
    percent: int
    due_date: str
    working_days_left: int
    # Who holds the application (the officer or reviewer the warning is for); absent from earlier events
    # and when nobody holds it.
    assignee_subject: str | None = None


class ApplicationDueDateChanged(EventContract):
    """The statutory clock's due date of an application was recomputed without any action on it: ops
    approved the working-day calendar of a year its clock had been counted on provisionally (or a
    corrected one). ``provisional`` says whether the new due date still counts on a provisional year."""

    event_type: ClassVar[str] = "lvrong.matters.application.due_date_changed"
    source_service: ClassVar[str] = "matters"

    application_id: str
    matter_code: str
    applicant_subject: str
    applicant_org_code: str | None = None
    department: str
    step_id: int | None = None
    previous_due_date: date
    due_date: date
    provisional: bool
    previous_provisional: bool
    reason: str = Field(description="Why it changed: `calendar_year_approved`")
    calendar_year: int
    occurred_at: datetime


class StallOpened(EventContract):
    event_type: ClassVar[str] = "lvrong.matters.stall.opened"
    source_service: ClassVar[str] = "matters"

    stall_id: str
    application_id: str
    matter_code: str
    department: str
    status: str
    idle_since: datetime
    threshold_hours: float


class BundleCompleted(EventContract):
    event_type: ClassVar[str] = "lvrong.matters.bundle.completed"
    source_service: ClassVar[str] = "matters"

    bundle_id: str
    bundle_type: str
    applicant_subject: str
    application_ids: list[str]
    completed_at: datetime


class BenefitGranted(EventContract):
    """免申即享: a business got a result without applying; the notification channel delivers it."""

    event_type: ClassVar[str] = "lvrong.matters.benefit.granted"
    source_service: ClassVar[str] = "matters"

    benefit: str
    uscc: str
    business_name: str
    application_id: str
    matter_code: str
    matched_rules: list[str]
    granted_at: datetime


class BusinessLicenceRecord(BaseModel):
    """A licence in a registered business's data (营业执照, 排水许可证, …), as the registration gives it."""

    type: str
    number: str
    valid_until: date | None = None  # None: without a time limit (长期)
    issued_on: date | None = None


class BusinessDataChanged(EventContract):
    """A registered business's data, as svc-matters holds it after an import created or changed it (not
    sent for a business an import left unchanged). Consumers keep the newest ``as_of`` per code.

    ``legal_representative`` is personal data: when a producer has it, it travels as a
    ``kit.protection`` token (``Keyring.encrypt(name, context=LEGAL_REPRESENTATIVE_CONTEXT)``), never in
    clear. svc-matters' import holds no legal representative, so it sends none.
    """

    event_type: ClassVar[str] = "lvrong.matters.business.changed"
    source_service: ClassVar[str] = "matters"
    LEGAL_REPRESENTATIVE_CONTEXT: ClassVar[str] = "business.legal_representative"

    uscc: str = Field(max_length=18)
    name: str = Field(max_length=200)
    district: str = Field(max_length=20)
    address: str = Field(max_length=300)
    status: Literal["active", "suspended", "deregistered"]
    licences: list[BusinessLicenceRecord] = []
    legal_representative: str | None = None
    source: str = Field(max_length=32)
    as_of: datetime

    @field_validator("legal_representative")
    @classmethod
    def _protected(cls, value: str | None) -> str | None:
        if value is not None and not is_token(value):
            raise ValueError("the legal representative travels encrypted (a kit.protection token), never in clear")
        return value
