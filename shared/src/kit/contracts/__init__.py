"""Event contracts: the ``data`` of every event, as pydantic models, so a consumer never imports a
producer. One module per producing service; ``EVENT_TYPES`` maps each type to its model."""
from kit.contracts.licences import LicenceIssued
from kit.contracts.matters import (
    ApplicantRef,
    ApplicationStatusChanged,
    ApplicationSubmitted,
    BenefitGranted,
    BundleCompleted,
    ClockWarning,
    FormFieldSpec,
    MaterialRef,
    MaterialSpec,
    MatterRequirements,
    StallOpened,
)
from kit.contracts.prequal import Finding, PrereviewVerdictIssued
from kit.events.envelope import EventContract

EVENT_TYPES: dict[str, type[EventContract]] = {
    c.event_type: c for c in (ApplicationSubmitted, ApplicationStatusChanged, ClockWarning, StallOpened, BundleCompleted,
                              BenefitGranted, PrereviewVerdictIssued, LicenceIssued)
}

__all__ = [
    "EVENT_TYPES", "ApplicantRef", "ApplicationStatusChanged", "ApplicationSubmitted", "BenefitGranted",
    "BundleCompleted", "ClockWarning", "Finding", "FormFieldSpec", "LicenceIssued", "MaterialRef", "MaterialSpec",
    "MatterRequirements", "PrereviewVerdictIssued", "StallOpened",
]
