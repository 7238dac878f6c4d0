"""Events published by svc-matters (stream ``LVRONG_MATTERS``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from kit.events.envelope import EventContract

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
        return bool(self.required_when) and all(form.get(k) == v for k, v in self.required_when.items())


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
    kind: Literal["licence", "filing"]
    fields: list[FormFieldSpec]
    materials: list[MaterialSpec]


class ApplicantRef(BaseModel):
    subject: str
    kind: str
    org_code: str | None = None


class ApplicationSubmitted(EventContract):
    event_type: ClassVar[str] = "lvrong.matters.application.submitted"
    source_service: ClassVar[str] = "matters"

    application_id: str
    attempt: int = 1
    matter: MatterRequirements
    applicant: ApplicantRef
    form: dict[str, Any]
    materials: dict[str, str]
    submitted_at: datetime


class ApplicationStatusChanged(EventContract):
    event_type: ClassVar[str] = "lvrong.matters.application.status_changed"
    source_service: ClassVar[str] = "matters"

    application_id: str
    matter_code: str
    applicant_subject: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None = None
    occurred_at: datetime
